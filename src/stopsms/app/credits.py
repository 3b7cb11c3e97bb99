"""Credit transfers between accounts, for the interfaces that act as one account (the API).

The rule (written in docs/api.md): an API key belongs to one account, so a key-based transfer
only **gives**: an owner key of the source account moves its credits to a target account that
has a user who is an owner of both — the two accounts are under one owner, who could have
made the transfer with either account's key. Nothing is ever taken from the target, and a key
cannot name an account outside its owner's: such a target is :class:`~stopsms.errors.NotFound`
with the same sentence as an account that does not exist, so a key learns nothing of others.
An installation admin transfers between any accounts with ``stopsms credits transfer``.

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

from sqlalchemy import Connection, and_, select

from stopsms.app.application import App
from stopsms.errors import InvalidInput, NotFound, ServiceError
from stopsms.services.access.audit import record
from stopsms.services.access.keys import Principal
from stopsms.services.accounts.accounts import get_account, get_account_by_id
from stopsms.services.accounts.credits import LedgerEntry, format_credits, transfer
from stopsms.store import tables as t

__all__ = ["KeyReused", "Transfer", "transfer_credits"]


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


def transfer_credits(
    app: App,
    who: Principal,
    target: str,
    millicredits: int,
    *,
    idempotency_key: str | None,
    now: datetime,
) -> Transfer:
    """Move ``millicredits`` from the principal's account to ``target`` (see the module)."""
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
        if destination is None or not _shares_an_owner(connection, source.id, destination.id):
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
        out, _ = transfer(
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
