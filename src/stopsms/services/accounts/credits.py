"""Credits (rule 12): a balance per account, changed only through the ledger.

Money is integer millicredits (1 credit = 1,000). Every change is one ``credit_ledger`` row plus
an atomic ``UPDATE accounts SET balance = balance + delta`` in the same transaction, so the
balance always equals the sum of the ledger. A debit that would take the balance below zero is
refused by the ``UPDATE``'s own condition — safe under concurrent dispatchers without locks
held across statements. Credits never expire. Transfers move credits between two accounts in
one transaction (two ledger rows with the same reference).

Sending debits ``parts × price`` when a message actually leaves (issue 4 calls :func:`debit`);
nothing is reserved at scheduling time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from sqlalchemy import Connection, insert, select, update

from stopsms.errors import InvalidInput, ServiceError
from stopsms.services.accounts.accounts import Account, AccountRef, get_account, resolve_account
from stopsms.services.webhooks.events import CREDITS_LOW, record_event
from stopsms.store import tables as t

__all__ = [
    "CreditBalance",
    "InsufficientCredit",
    "LedgerEntry",
    "add_credits",
    "balance",
    "debit",
    "format_credits",
    "ledger",
    "parse_credits",
    "record_if_low",
    "transfer",
]

MILLI = 1000
#: The largest amount one command may move: far above any real top-up, far below the 64-bit
#: integers both databases store balances in (a larger number overflowed them).
MAX_AMOUNT_MILLICREDITS = 1_000_000_000 * MILLI


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    account: str
    delta_millicredits: int
    balance_after_millicredits: int
    reason: str
    reference: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class CreditBalance:
    account: str
    balance_millicredits: int
    alert_threshold_millicredits: int

    @property
    def below_threshold(self) -> bool:
        """The balance alert (rule 12): at or under the account's threshold."""
        return self.balance_millicredits <= self.alert_threshold_millicredits


#: Between digits of the whole part, in groups of three: a space (also no-break or narrow
#: no-break, as French writes ``1 000``) or an underscore (``1_000``).
_GROUP_SEPARATORS: Final = " _\u00a0\u202f"
_AMOUNT: Final = re.compile(
    r"(?P<whole>[0-9]+|[0-9]{1,3}(?:[ _\u00a0\u202f][0-9]{3})+)"
    r"(?:(?P<point>[.,])(?P<decimals>[0-9]+))?"
)


def parse_credits(text: str) -> int:
    """``"12.5"`` credits → 12,500 millicredits (at most 3 decimals, never a float).

    The decimal mark is ``.`` or ``,`` (``12.5``, ``12,5``); thousands may be grouped by a
    space or ``_`` (``1 000``, ``1_000``), never by ``.`` or ``,``. A single ``,`` followed by
    exactly three digits after a 1–3 digit whole part (``1,000``) is refused as ambiguous (a
    thousand, or one?), and so is a ``.`` there when the three digits end with ``0``
    (``1.000``, ``2.500``): :func:`format_credits` never writes either (it writes ``.``, drops
    trailing zeros and groups by spaces), so every amount it prints reads back the same.
    """
    value = text.strip()
    match = _AMOUNT.fullmatch(value)
    if match is None and re.fullmatch(r"[0-9]+(?:[.,][0-9]+){2,}", value):
        raise InvalidInput(
            "credits", text, "group thousands by a space or '_' (1 000 000), never by '.' or ','"
        )
    if match is None:
        raise InvalidInput(
            "credits", text, "a positive amount with at most 3 decimals, e.g. 1000, 12.5 or 1 000"
        )
    written_whole, point, decimals = match["whole"], match["point"], match["decimals"] or ""
    whole = "".join(c for c in written_whole if c not in _GROUP_SEPARATORS)
    if (
        point is not None
        and whole == written_whole
        and len(whole) <= 3
        and not whole.startswith("0")
        and len(decimals) == 3
        and (point == "," or decimals.endswith("0"))
    ):
        raise InvalidInput(
            "credits",
            text,
            f"ambiguous ('{point}' may group thousands or mark decimals): write"
            f" {whole}{decimals} or {whole}.{decimals.rstrip('0') or '0'}",
        )
    if len(decimals) > 3:
        raise InvalidInput("credits", text, "at most 3 decimals")
    amount = int(Decimal(f"{whole}.{decimals or '0'}") * MILLI)
    if amount > MAX_AMOUNT_MILLICREDITS:
        limit = format_credits(MAX_AMOUNT_MILLICREDITS)
        raise InvalidInput("credits", text, f"at most {limit} at a time")
    return amount


def format_credits(millicredits: int) -> str:
    """12,500 → ``"12.5"``; 12,000 → ``"12"``; 1,234,500 → ``"1 234.5"`` (thousands grouped by
    a space, ``.`` for decimals, no trailing zero: :func:`parse_credits` reads it back)."""
    sign = "-" if millicredits < 0 else ""
    whole, milli = divmod(abs(millicredits), MILLI)
    grouped = f"{whole:,}".replace(",", " ")
    return f"{sign}{grouped}" + (f".{milli:03d}".rstrip("0") if milli else "")


class InsufficientCredit(ServiceError):
    """A debit larger than the account's balance (credits never go below zero)."""

    def __init__(self, account: str, balance: int, needed: int) -> None:
        super().__init__(
            f"account {account!r} has {format_credits(balance)} credits,"
            f" {format_credits(needed)} needed"
        )
        self.account = account
        self.balance_millicredits = balance
        self.needed_millicredits = needed


def _apply(
    connection: Connection,
    account: Account,
    delta: int,
    reason: str,
    reference: str | None,
    at: datetime,
    *,
    allow_negative: bool,
) -> LedgerEntry:
    condition = [t.accounts.c.id == account.id]
    if delta < 0 and not allow_negative:
        condition.append(t.accounts.c.balance_millicredits + delta >= 0)
    changed = connection.execute(
        update(t.accounts)
        .where(*condition)
        .values(balance_millicredits=t.accounts.c.balance_millicredits + delta)
        .returning(t.accounts.c.balance_millicredits, t.accounts.c.alert_threshold_millicredits)
    ).one_or_none()
    if changed is None:
        current = balance(connection, account).balance_millicredits
        raise InsufficientCredit(account.name, current, -delta)
    after, threshold = changed
    record_if_low(connection, account.id, after - delta, after, threshold, at)
    entry_id = connection.execute(
        insert(t.credit_ledger)
        .values(
            account_id=account.id,
            delta_millicredits=delta,
            balance_after_millicredits=after,
            reason=reason,
            reference=reference,
            at=at,
        )
        .returning(t.credit_ledger.c.id)
    ).scalar_one()
    return LedgerEntry(entry_id, account.name, delta, after, reason, reference, at)


def record_if_low(
    connection: Connection,
    account_id: int,
    before: int,
    after: int,
    threshold: int,
    now: datetime,
) -> bool:
    """Record ``credits.low`` when a change takes the balance from above the account's alert
    threshold to at or under it (once per crossing, not on every debit under it); returns
    whether the threshold was crossed."""
    if not before > threshold >= after:
        return False
    record_event(
        connection,
        account_id,
        CREDITS_LOW,
        {
            "balance_millicredits": after,
            "alert_threshold_millicredits": threshold,
            "balance": format_credits(after),
        },
        now,
    )
    return True


def add_credits(
    connection: Connection,
    account: AccountRef,
    millicredits: int,
    *,
    reason: str = "top_up",
    reference: str | None = None,
    now: datetime | None = None,
) -> LedgerEntry:
    """Credit the account (a purchase, a gift, a correction)."""
    if millicredits <= 0:
        raise InvalidInput("credits", millicredits, "must be positive")
    acc = resolve_account(connection, account)
    return _apply(
        connection,
        acc,
        millicredits,
        reason,
        reference,
        now or datetime.now(UTC),
        allow_negative=False,
    )


def debit(
    connection: Connection,
    account: AccountRef,
    millicredits: int,
    *,
    reason: str = "send",
    reference: str | None = None,
    allow_negative: bool = False,
    now: datetime | None = None,
) -> LedgerEntry:
    """Debit the account; :class:`InsufficientCredit` if the balance would go below zero.

    ``allow_negative`` is for charges that must happen whatever the balance, such as the
    mandatory STOP confirmation SMS.
    """
    if millicredits < 0:
        raise InvalidInput("credits", millicredits, "must not be negative")
    acc = resolve_account(connection, account)
    return _apply(
        connection,
        acc,
        -millicredits,
        reason,
        reference,
        now or datetime.now(UTC),
        allow_negative=allow_negative,
    )


def transfer(
    connection: Connection,
    source: AccountRef,
    target: AccountRef,
    millicredits: int,
    *,
    reference: str | None = None,
    now: datetime | None = None,
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move credits from ``source`` to ``target`` atomically (both ledgers, one transaction)."""
    if millicredits <= 0:
        raise InvalidInput("credits", millicredits, "must be positive")
    src = resolve_account(connection, source)
    dst = resolve_account(connection, target)
    if src.id == dst.id:
        raise InvalidInput("target account", dst.name, "same as the source")
    at = now or datetime.now(UTC)
    note = reference or f"{src.name} → {dst.name}"
    out = _apply(connection, src, -millicredits, "transfer_out", note, at, allow_negative=False)
    into = _apply(connection, dst, millicredits, "transfer_in", note, at, allow_negative=False)
    return out, into


def balance(connection: Connection, account: AccountRef) -> CreditBalance:
    """The account's current balance and alert threshold."""
    name = account.name if isinstance(account, Account) else account
    acc = get_account(connection, name)
    return CreditBalance(acc.name, acc.balance_millicredits, acc.alert_threshold_millicredits)


def ledger(
    connection: Connection, account: AccountRef, *, limit: int = 50, offset: int = 0
) -> list[LedgerEntry]:
    """The account's latest ledger entries, newest first, after skipping ``offset``."""
    acc = resolve_account(connection, account)
    c = t.credit_ledger.c
    rows = connection.execute(
        select(t.credit_ledger)
        .where(c.account_id == acc.id)
        .order_by(c.id.desc())
        .offset(offset)
        .limit(limit)
    ).mappings()
    return [
        LedgerEntry(
            row["id"],
            acc.name,
            row["delta_millicredits"],
            row["balance_after_millicredits"],
            row["reason"],
            row["reference"],
            row["at"],
        )
        for row in rows
    ]
