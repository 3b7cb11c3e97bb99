"""Delivery receipts: final states onto outbox messages, set-based; "blocked" means opt-out.

A receipt names the provider's message id. ``delivered`` and ``failed`` (with the provider's
error code) are final; intermediate states (``ENROUTE``, ``ACCEPTD``) change nothing. Only a
``submitted`` message moves, so a late or repeated receipt never rewrites a final state.

Which message a receipt speaks for: **the most recently submitted message with that provider
id** (latest ``submitted_at``, then highest outbox id), and only if that one is still
``submitted`` — never an older message with the same id. Ids are unique only within what the
SMSC remembers: one that restarts may number from 1 again (issue 11: a new message's receipt
marked an old one ``delivered``), and once it reuses an id it has forgotten the earlier
message, so no receipt for that one can come any more. Why submit time rather than the bind a
receipt arrives on: receipts legitimately arrive on a later bind than their submit (after any
reconnect, the id still unique), on the receiver of a transmitter/receiver pair, or on another
worker's bind — the bind a receipt came on says nothing about which submission it answers,
while the order of submissions does. (An SMSC that kept receipts across a restart yet reused
ids would defeat any rule; none is known to.) The rule holds per provider route: the outbox has
one route today; several routes would need the route in the match. A receipt always finds its
message's submit result recorded first (the dispatcher records results before the provider
hands on the receipts, on the one database thread), so "most recent" is never a message whose
answer is still on its way.

A failure whose error code is one of the provider's "destination blocked" codes (default
``061``, seed ``003_…``) also records an account-wide opt-out with source
``provider_blocked`` (rule 4) for the message's account: the operator says this person must
not be messaged.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.engine import Connection

from stopsms.domain.campaign import MessageStatus
from stopsms.providers.base import DeliveryReceipt, ReceiptStatus
from stopsms.services.accounts.accounts import get_account_by_id
from stopsms.services.optouts.optouts import record_optout
from stopsms.services.webhooks.events import (
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    Subscribers,
    record_events,
    subscriptions_for,
)
from stopsms.store import tables as t
from stopsms.store.types import as_utc

__all__ = ["DEFAULT_BLOCKED_CODES", "ReceiptsApplied", "apply_receipts", "normalise_code"]

DEFAULT_BLOCKED_CODES = frozenset({"061"})
_M = t.messages
_SUBMITTED = MessageStatus.SUBMITTED.value
#: Receipts per statement: 3 parameters each, far below SQLite's 32,766.
_ROWS_PER_STATEMENT = 500
#: No later submission of the same provider id: the message a receipt speaks for.
_NO_NEWER_SUBMISSION = (
    f"NOT EXISTS (SELECT 1 FROM {_M.name} AS newer "
    f"WHERE newer.provider_message_id = r.column1 "
    f"AND (newer.submitted_at > {_M.name}.submitted_at "
    f"OR (newer.submitted_at = {_M.name}.submitted_at AND newer.id > {_M.name}.id)))"
)


def normalise_code(code: str | None) -> str:
    """``"061"``, ``"61"`` and ``"0x3D"``-free forms compare equal: digits without leading
    zeros; anything else upper-cased as given."""
    if code is None:
        return ""
    code = code.strip()
    return (code.lstrip("0") or "0") if code.isdigit() else code.upper()


@dataclass(frozen=True, slots=True)
class ReceiptsApplied:
    """What :func:`apply_receipts` changed; ``blocked`` lists (account id, E.164) opted out."""

    delivered: int = 0
    failed: int = 0
    ignored: int = 0
    blocked: list[tuple[int, str]] = field(default_factory=list)


def apply_receipts(
    conn: Connection,
    receipts: Sequence[DeliveryReceipt],
    now: datetime,
    blocked_codes: Collection[str] = DEFAULT_BLOCKED_CODES,
) -> ReceiptsApplied:
    """Apply receipts inside the caller's transaction (see the module doc)."""
    delivered = [r for r in receipts if r.status is ReceiptStatus.DELIVERED]
    failed = [r for r in receipts if r.status is ReceiptStatus.FAILED]
    wanted = subscriptions_for(conn, (MESSAGE_DELIVERED, MESSAGE_FAILED))
    done_delivered = (
        _update(conn, delivered, MessageStatus.DELIVERED, now, wanted.get(MESSAGE_DELIVERED))
        if delivered
        else 0
    )
    done_failed = (
        _update(conn, failed, MessageStatus.FAILED, now, wanted.get(MESSAGE_FAILED))
        if failed
        else 0
    )
    codes = {normalise_code(code) for code in blocked_codes}
    blocked_ids = [
        r.provider_message_id
        for r in receipts
        if r.status is ReceiptStatus.FAILED and normalise_code(r.error_code) in codes
    ]
    blocked: list[tuple[int, str]] = []
    if blocked_ids:
        newer = _M.alias("newer")
        rows = conn.execute(
            select(_M.c.account_id, _M.c.phone_e164, _M.c.error_code).where(
                _M.c.provider_message_id.in_(blocked_ids),
                _M.c.phone_e164.is_not(None),
                ~exists().where(
                    newer.c.provider_message_id == _M.c.provider_message_id,
                    or_(
                        newer.c.submitted_at > _M.c.submitted_at,
                        and_(newer.c.submitted_at == _M.c.submitted_at, newer.c.id > _M.c.id),
                    ),
                ),
            )
        ).all()
        for row in rows:
            record_optout(
                conn,
                get_account_by_id(conn, row.account_id),
                row.phone_e164,
                source="provider_blocked",
                detail=f"delivery receipt error {row.error_code}",
                scope="account",
                recorded_by="receipt",
                now=now,
            )
            blocked.append((row.account_id, row.phone_e164))
    ignored = len(receipts) - done_delivered - done_failed
    return ReceiptsApplied(done_delivered, done_failed, ignored, blocked)


def _stamp(conn: Connection) -> Callable[[datetime], object]:
    """How a timestamp is bound by hand, as :class:`~stopsms.store.types.UTCDateTime` stores
    it: naive UTC text in SQLAlchemy's SQLite format, aware UTC on PostgreSQL."""
    if conn.dialect.name == "sqlite":
        return lambda at: as_utc(at).strftime("%Y-%m-%d %H:%M:%S.%f")
    return as_utc


#: The receipts of one PostgreSQL statement, as three arrays: the statement's text is the same
#: whatever the batch's size, so the driver prepares it once and the server plans it once.
_POSTGRESQL_RECEIPTS = (
    "SELECT * FROM unnest(CAST(%s AS text[]), CAST(%s AS timestamptz[]), CAST(%s AS text[]))"
    " AS r(column1, column2, column3)"
)


def _postgresql_update(status: MessageStatus, at_column: str, code: str, values: str) -> str:
    """The receipts' ``UPDATE`` on PostgreSQL: each receipt looks up its message by a
    ``LATERAL`` subquery (the provider id index, the newest submission first, ``LIMIT 1``),
    then the messages found (materialised) are updated by primary key, their status
    re-checked through coalesce() so that no status index can drive the join.

    The same rule as the SQLite statement (the newest submission of the id, if it is still
    ``submitted``) in a shape the planner cannot turn into a scan: joined to the ``VALUES``
    list, a campaign's fresh messages (statistics taken while the partial provider id index
    was nearly empty) were hash-joined against a full scan of that index, each batch reading
    every message submitted so far — 7.5 ms for 64 receipts after 6,500 messages, 2.1 s of
    an 8 s, 12,000-message dispatch (``bench_workers``' one-process PostgreSQL line).

    ``values``: the receipts as rows, :data:`_POSTGRESQL_RECEIPTS` (arrays). A ``VALUES`` list
    of a batch's receipts made a new text per batch size, parsed and planned at every batch:
    1.6 ms of planning for 256 receipts, against 3 ms of execution.
    """
    return (
        f"WITH r AS ({values}), found AS MATERIALIZED ("
        f"SELECT latest.id, r.column2, r.column3 FROM r CROSS JOIN LATERAL ("
        f"SELECT m.id, m.status FROM {_M.name} AS m WHERE m.provider_message_id = r.column1 "
        f"ORDER BY m.submitted_at DESC NULLS LAST, m.id DESC LIMIT 1) AS latest "
        f"WHERE latest.status = '{_SUBMITTED}') "
        f"UPDATE {_M.name} SET status = '{status.value}', {at_column} = found.column2"
        f"{code.format('found')} FROM found WHERE {_M.name}.id = found.id "
        f"AND coalesce({_M.name}.status, '') = '{_SUBMITTED}'"
    )


def _update(
    conn: Connection,
    receipts: Sequence[DeliveryReceipt],
    status: MessageStatus,
    now: datetime,
    endpoints: Subscribers | None,
) -> int:
    """Move the ``submitted`` messages named by ``receipts`` to ``status``: one
    ``UPDATE messages … FROM (VALUES …) AS r`` per 500 receipts (SQLite ≥ 3.33; PostgreSQL's
    shape is :func:`_postgresql_update`), parameters formatted here rather than by
    SQLAlchemy per row.
    A message moves only if no message with the same provider id was submitted after it (the
    module doc says why); that ``NOT EXISTS`` probes the same provider id index, one or two rows.

    The status test is wrapped in coalesce() so that no index on ``status`` can serve it:
    without statistics, SQLite would otherwise search the claim index (status, …) and scan
    every submitted message of the outbox, instead of the one row per receipt that the
    provider_message_id index finds (tests/integration/test_receipts_plan.py checks it).

    With ``endpoints`` (the accounts that want ``message.delivered`` or ``message.failed``),
    the statement returns the moved messages and their events are recorded; without, it
    returns nothing (the receipts of an installation without webhooks cost nothing more).
    """
    sqlite = conn.dialect.name == "sqlite"
    row = "(?, ?, ?)"  # SQLite's VALUES row
    at_column = "delivered_at" if status is MessageStatus.DELIVERED else "failed_at"
    # the error code of a failure: the third column of the receipt's VALUES row
    code = ", error_code = {}.column3" if status is MessageStatus.FAILED else ""
    stamp = _stamp(conn)
    stamps: dict[datetime, object] = {}  # a provider stamps a read's receipts alike
    done = 0
    for start in range(0, len(receipts), _ROWS_PER_STATEMENT):
        chunk = receipts[start : start + _ROWS_PER_STATEMENT]
        parameters: list[object] = []
        for receipt in chunk:
            at = stamps.get(receipt.received_at)
            if at is None:
                at = stamps[receipt.received_at] = stamp(receipt.received_at)
            parameters += (receipt.provider_message_id, at, receipt.error_code)
        if sqlite:
            values = ", ".join([row] * len(chunk))
            statement = (  # a VALUES list's columns are column1, … on both backends
                f"UPDATE {_M.name} SET status = '{status.value}', {at_column} = r.column2"
                f"{code.format('r')} FROM (VALUES {values}) AS r "
                f"WHERE {_M.name}.provider_message_id = r.column1 "
                f"AND coalesce({_M.name}.status, '') = '{_SUBMITTED}' "
                f"AND {_NO_NEWER_SUBMISSION}"
            )
        else:
            statement = _postgresql_update(status, at_column, code, _POSTGRESQL_RECEIPTS)
            parameters = [parameters[0::3], parameters[1::3], parameters[2::3]]
        if not endpoints:
            done += conn.exec_driver_sql(statement, tuple(parameters)).rowcount
            continue
        moved = conn.exec_driver_sql(
            f"{statement} RETURNING {_M.name}.id, {_M.name}.account_id, {_M.name}.campaign_id,"
            f" {_M.name}.phone_e164, {_M.name}.provider_message_id, {_M.name}.error_code",
            tuple(parameters),
        ).all()
        done += len(moved)
        event = MESSAGE_DELIVERED if status is MessageStatus.DELIVERED else MESSAGE_FAILED
        events = [
            (
                account_id,
                {
                    "message_id": message_id,
                    "campaign_id": campaign_id,
                    "to": phone,
                    "provider_message_id": provider_id,
                    **({"error_code": error_code} if event == MESSAGE_FAILED else {}),
                },
            )
            for message_id, account_id, campaign_id, phone, provider_id, error_code in moved
        ]
        record_events(conn, event, events, now, endpoints=endpoints)
    return done
