"""The customer area's credits: the balance, the ledger page by page, the alert threshold,
and a transfer between two accounts the same person owns.

A transfer needs the signed-in user to be owner of both accounts: the source is the acting
account (its role read again per request), the target is checked in the user's own
memberships in the transfer's transaction, so an account the user does not own is
``UnknownAccount`` — the same sentence as one that does not exist, revealing nothing. Both
ledgers and both audit entries (``credits.transferred``) commit together
(:func:`stopsms.services.accounts.credits.transfer`: two ledger rows, one reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select

from stopsms.app.access import require
from stopsms.app.application import App
from stopsms.errors import InvalidInput, UnknownAccount
from stopsms.services.access.audit import record
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.services.accounts import credits as money
from stopsms.services.accounts.accounts import AccountChanges, get_account_by_id, update_account
from stopsms.services.accounts.credits import CreditBalance, LedgerEntry
from stopsms.store import tables as t

__all__ = ["PAGE", "CreditsView", "set_threshold", "transfer", "view"]

#: Ledger entries per page, newest first.
PAGE: Final = 50


@dataclass(frozen=True, slots=True)
class CreditsView:
    """The credits page: balance and threshold, a page of the ledger, where it starts,
    whether more follow, and the other accounts the user owns (transfer targets)."""

    balance: CreditBalance
    entries: list[LedgerEntry]
    offset: int
    more: bool
    targets: list[str]


def _owned(app: App, user_id: int) -> list[str]:
    m, a = t.memberships, t.accounts
    query = (
        select(a.c.name)
        .join(m, m.c.account_id == a.c.id)
        .where(m.c.user_id == user_id, m.c.role == Role.OWNER.value)
        .order_by(a.c.name)
    )
    with app.reader() as connection:
        return list(connection.scalars(query))


def view(app: App, who: Principal, user_id: int, offset: int = 0) -> CreditsView:
    """The credits page of ``who``'s account for user ``user_id`` (every role reads it)."""
    start = max(0, offset)
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        current = money.balance(connection, account)
        entries = money.ledger(connection, account, limit=PAGE + 1, offset=start)
    targets = []
    if who.role.allows(Role.OWNER):
        targets = [name for name in _owned(app, user_id) if name != who.account]
    return CreditsView(current, entries[:PAGE], start, len(entries) > PAGE, targets)


def set_threshold(app: App, who: Principal, amount: str, now: datetime) -> int:
    """Set the balance alert threshold (credits as ``parse_credits`` reads them: ``100``,
    ``12,5``, ``1 000``); returns it in millicredits; audited ``account.updated``."""
    require(who, Role.OWNER)
    millicredits = 0 if amount.strip() in ("0", "") else money.parse_credits(amount)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        changes = AccountChanges(alert_threshold_millicredits=millicredits)
        update_account(connection, account, changes)
        detail = {"alert_threshold_millicredits": millicredits}
        record(connection, account.id, who.actor, "account.updated", detail, now)
    return millicredits


def transfer(
    app: App, who: Principal, user_id: int, target: str, amount: str, now: datetime
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move ``amount`` credits from ``who``'s account to ``target``, both owned by user
    ``user_id`` (see the module doc); refused before anything is written when the balance
    is short (``InsufficientCredit``) or the amount unreadable."""
    require(who, Role.OWNER)
    millicredits = money.parse_credits(amount)
    name = target.strip()
    if not name:
        raise InvalidInput("target account", target, "choose one of your other accounts")
    m, a = t.memberships, t.accounts
    owns = (
        select(a.c.id)
        .join(m, m.c.account_id == a.c.id)
        .where(m.c.user_id == user_id, m.c.role == Role.OWNER.value, a.c.name == name)
    )
    with app.transaction() as connection:
        target_id = connection.scalar(owns)
        if target_id is None:
            raise UnknownAccount(name)
        source = get_account_by_id(connection, who.account_id)
        destination = get_account_by_id(connection, int(target_id))
        out, into = money.transfer(connection, source, destination, millicredits, now=now)
        for account_id, other, delta in (
            (source.id, destination.name, -millicredits),
            (destination.id, source.name, millicredits),
        ):
            detail = {"with": other, "delta_millicredits": delta}
            record(connection, account_id, who.actor, "credits.transferred", detail, now)
    return out, into
