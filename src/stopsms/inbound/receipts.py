"""Delivery receipts: final states onto outbox messages, set-based; "blocked" means opt-out.

A receipt names the provider's message id. ``delivered`` and ``failed`` (with the provider's
error code) are final; intermediate states (``ENROUTE``, ``ACCEPTD``) change nothing. Only a
``submitted`` message moves, so a late or repeated receipt never rewrites a final state.

A failure whose error code is one of the provider's "destination blocked" codes (default
``061``, seed ``003_…``) also records an account-wide opt-out with source
``provider_blocked`` (rule 4) for the message's account: the operator says this person must
not be messaged.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from stopsms.domain.campaign import MessageStatus
from stopsms.providers.base import DeliveryReceipt, ReceiptStatus
from stopsms.services.accounts import get_account_by_id
from stopsms.services.optouts import record_optout
from stopsms.store import tables as t

__all__ = ["DEFAULT_BLOCKED_CODES", "ReceiptsApplied", "apply_receipts", "normalise_code"]

DEFAULT_BLOCKED_CODES = frozenset({"061"})
_M = t.messages


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
    delivered = [
        {"r_pid": r.provider_message_id, "r_at": r.received_at}
        for r in receipts
        if r.status is ReceiptStatus.DELIVERED
    ]
    failed = [
        {"r_pid": r.provider_message_id, "r_at": r.received_at, "r_code": r.error_code}
        for r in receipts
        if r.status is ReceiptStatus.FAILED
    ]
    # The status test is wrapped in coalesce() so that no index on ``status`` can serve it:
    # without statistics, SQLite would otherwise search the claim index (status, …) and scan
    # every submitted message of the outbox for each receipt, instead of the one row the
    # provider_message_id index finds (tests/integration/test_receipts_plan.py checks it).
    matching = (_M.c.provider_message_id == bindparam("r_pid")) & (
        func.coalesce(_M.c.status, "") == MessageStatus.SUBMITTED.value
    )
    done_delivered = done_failed = 0
    if delivered:
        done_delivered = conn.execute(
            update(_M)
            .where(matching)
            .values(status=MessageStatus.DELIVERED.value, delivered_at=bindparam("r_at")),
            delivered,
        ).rowcount
    if failed:
        done_failed = conn.execute(
            update(_M)
            .where(matching)
            .values(
                status=MessageStatus.FAILED.value,
                failed_at=bindparam("r_at"),
                error_code=bindparam("r_code"),
            ),
            failed,
        ).rowcount
    codes = {normalise_code(code) for code in blocked_codes}
    blocked_ids = [
        r.provider_message_id
        for r in receipts
        if r.status is ReceiptStatus.FAILED and normalise_code(r.error_code) in codes
    ]
    blocked: list[tuple[int, str]] = []
    if blocked_ids:
        rows = conn.execute(
            select(_M.c.account_id, _M.c.phone_e164, _M.c.error_code).where(
                _M.c.provider_message_id.in_(blocked_ids), _M.c.phone_e164.is_not(None)
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
