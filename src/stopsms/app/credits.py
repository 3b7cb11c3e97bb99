"""Credits for every interface: the balance and ledger page by page, the alert threshold,
and transfers between accounts under one owner.

The transfer rule (written in docs/api.md and docs/web.md): only an owner of the source gives,
and only to an account under the same owner. Signed in (the customer area), the user must be
an owner of the target too; with an API key (one account, no user), the target must have a
user who is an owner of both — the two accounts are under one owner, who could have made the
transfer with either account's key. Nothing is ever taken from the target, and an account
outside the owner's is :class:`~stopsms.errors.NotFound` with the same sentence as one that
does not exist, so nothing is learnt of others. An installation admin transfers between any
accounts with ``stopsms credits transfer``.

The source's row is locked first (``FOR UPDATE`` on PostgreSQL; SQLite has one writer at a
time), then the ``Idempotency-Key`` is looked up in the source's ledger, where the transfer
keeps it in its reference: a retry answers the transfer it made (``replayed``), the same key
for another target or amount is :class:`KeyReused`. The balance never goes below zero
(:class:`~stopsms.services.accounts.credits.InsufficientCredit`, nothing written); both
ledger rows and both audit entries (``credits.transferred_out`` in the source,
``credits.transferred_in`` in the target) commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, and_, select

from stopsms.app.access import require
from stopsms.app.application import App
from stopsms.errors import InvalidInput, NotFound, ServiceError
from stopsms.services.access.audit import record
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.services.accounts import credits as money
from stopsms.services.accounts.accounts import (
    AccountChanges,
    get_account,
    get_account_by_id,
    update_account,
)
from stopsms.services.accounts.credits import CreditBalance, LedgerEntry, format_credits
from stopsms.store import tables as t

__all__ = [
    "PAGE",
    "CreditsView",
    "KeyReused",
    "Transfer",
    "set_threshold",
    "transfer",
    "transfer_credits",
    "view",
]


class KeyReused(ServiceError):
    """An Idempotency-Key already used for another transfer."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer made (or found again by its key: ``replayed``)."""

    source: str
    target: str
    millicredits: int
    reference: str
    at: datetime
    source_balance_millicredits: int
    replayed: bool = False


def _reference(source: str, target: str, key: str | None) -> str:
    base = f"{source} → {target}"
    return f"{base}; Idempotency-Key {key}" if key else base


def _shares_an_owner(connection: Connection, first: int, second: int) -> bool:
    m1 = t.memberships.alias("m1")
    m2 = t.memberships.alias("m2")
    found = connection.execute(
        select(m1.c.user_id)
        .join(m2, and_(m2.c.user_id == m1.c.user_id, m2.c.account_id == second))
        .where(m1.c.account_id == first, m1.c.role == "owner", m2.c.role == "owner")
        .limit(1)
    ).first()
    return found is not None


def _replay(
    connection: Connection, account_id: int, key: str, reference: str, millicredits: int
) -> LedgerEntry | None:
    c = t.credit_ledger.c
    row = connection.execute(
        select(c.id, c.delta_millicredits, c.balance_after_millicredits, c.reference, c.at)
        .where(
            c.account_id == account_id,
            c.reason == "transfer_out",
            c.reference.endswith(f"; Idempotency-Key {key}", autoescape=True),
        )
        .order_by(c.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    if row.reference != reference or -row.delta_millicredits != millicredits:
        raise KeyReused(
            f"Idempotency-Key {key!r} was used for another transfer ({row.reference},"
            f" {format_credits(-row.delta_millicredits)} credits)"
        )
    return LedgerEntry(
        row.id,
        "",
        row.delta_millicredits,
        row.balance_after_millicredits,
        "transfer_out",
        row.reference,
        row.at,
    )


def _owns(connection: Connection, user_id: int, account_id: int) -> bool:
    m = t.memberships.c
    found = connection.execute(
        select(m.user_id).where(
            m.user_id == user_id, m.account_id == account_id, m.role == Role.OWNER.value
        )
    ).first()
    return found is not None


def transfer_credits(
    app: App,
    who: Principal,
    target: str,
    millicredits: int,
    *,
    idempotency_key: str | None,
    now: datetime,
    user_id: int | None = None,
) -> Transfer:
    """Move ``millicredits`` from the principal's account to ``target`` (see the module for
    the rule); ``user_id``: the signed-in user, who must own ``target`` too."""
    require(who, Role.OWNER)
    if millicredits <= 0:
        raise InvalidInput("credits", millicredits, "must be positive")
    with app.transaction() as connection:
        a = t.accounts.c
        connection.execute(select(a.id).where(a.id == who.account_id).with_for_update()).one()
        source = get_account_by_id(connection, who.account_id)
        try:
            destination = get_account(connection, target)
        except NotFound:
            destination = None
        if destination is not None and destination.id == source.id:
            raise InvalidInput("target", target, "the key's own account: name another")
        allowed = destination is not None and (
            _owns(connection, user_id, destination.id)
            if user_id is not None
            else _shares_an_owner(connection, source.id, destination.id)
        )
        if destination is None or not allowed:
            raise NotFound("account", target)
        reference = _reference(source.name, destination.name, idempotency_key)
        if idempotency_key is not None:
            found = _replay(connection, source.id, idempotency_key, reference, millicredits)
            if found is not None:
                return Transfer(
                    source.name,
                    destination.name,
                    millicredits,
                    reference,
                    found.at,
                    found.balance_after_millicredits,
                    replayed=True,
                )
        out, _ = money.transfer(
            connection, source, destination, millicredits, reference=reference, now=now
        )
        detail = {"millicredits": millicredits, "reference": reference}
        record(
            connection,
            source.id,
            who.actor,
            "credits.transferred_out",
            {**detail, "to": destination.name},
            now,
        )
        record(
            connection,
            destination.id,
            who.actor,
            "credits.transferred_in",
            {**detail, "from": source.name},
            now,
        )
        return Transfer(
            source.name,
            destination.name,
            millicredits,
            reference,
            now,
            out.balance_after_millicredits,
        )


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
) -> Transfer:
    """The customer area's transfer: ``amount`` as typed (``100``, ``12,5``) from ``who``'s
    account to ``target``, both owned by user ``user_id``."""
    name = target.strip()
    if not name:
        raise InvalidInput("target account", target, "choose one of your other accounts")
    millicredits = money.parse_credits(amount)
    return transfer_credits(
        app, who, name, millicredits, idempotency_key=None, now=now, user_id=user_id
    )
