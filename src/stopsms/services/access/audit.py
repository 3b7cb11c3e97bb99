"""The audit log: who changed what, written in the transaction of the change itself.

A change and its audit row commit together or not at all, so the log never claims a change
that was rolled back nor misses one that was made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from stopsms.store import tables as t

__all__ = ["AuditEntry", "audit_entries", "record"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    actor: str
    action: str
    detail: dict[str, Any] | None
    at: datetime


def record(
    connection: Connection,
    account_id: int | None,
    actor: str,
    action: str,
    detail: Mapping[str, Any] | None,
    now: datetime,
) -> None:
    """Append one entry (``action`` such as ``api_key.created``; ``detail`` holds no secret)."""
    connection.execute(
        insert(t.audit_log).values(
            account_id=account_id,
            actor=actor,
            action=action,
            detail=dict(detail) if detail is not None else None,
            at=now,
        )
    )


def audit_entries(connection: Connection, account_id: int, *, limit: int = 100) -> list[AuditEntry]:
    """The latest entries of one account, newest first."""
    a = t.audit_log
    rows = connection.execute(
        select(a.c.id, a.c.actor, a.c.action, a.c.detail, a.c.at)
        .where(a.c.account_id == account_id)
        .order_by(a.c.id.desc())
        .limit(limit)
    )
    return [AuditEntry(r.id, r.actor, r.action, r.detail, r.at) for r in rows]
