"""Workers and their leases: which sending process owns which claims and which binds.

Every sending process (``stopsms worker``, ``campaign send``) registers a row in ``workers``
whose id is the claim token of the messages it holds, and renews its lease every
:data:`HEARTBEAT_SECONDS`; the lease runs :data:`LEASE_SECONDS`. The rule that makes many
workers safe on one database:

- only claims **not held by a live worker** are taken over (:func:`reap`): ``claimed`` go back
  to ``pending`` (never on the wire), ``submitting`` become ``unknown`` (maybe on the wire:
  never re-sent);
- a renewal refused (the worker's row is gone: another's reap took what it held) means the
  process must stop sending (:func:`renew` returns ``False``);
- :func:`~stopsms.services.messages.outbox.begin_submit` marks only the messages whose claim
  still carries the worker's token, so a chunk whose claim was taken is never sent.

Lease times are the processes' wall clocks (UTC): hosts sharing one database keep NTP time;
a skew shortens or lengthens a lease by as much.

Bind slots (``bind_leases``): a provider account allows ``binds`` sessions; each slot row is
free when nobody holds it or its holder's lease ran out, so a dead worker's binds return with
its lease, however it died.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stopsms.domain.campaign import MessageStatus
from stopsms.store import tables as t

__all__ = [
    "HEARTBEAT_SECONDS",
    "LEASE_SECONDS",
    "Reaped",
    "acquire_binds",
    "bind_holders",
    "expire",
    "leave",
    "live_workers",
    "on_host",
    "reap",
    "register",
    "release_binds",
    "renew",
]

#: A worker's lease: how long after its last heartbeat its claims and binds stay its own. A
#: dead worker's are served again within LEASE + HEARTBEAT seconds (12 s; goal ≤ 15 s).
LEASE_SECONDS = 9.0
#: How often a worker renews its lease (and reaps the expired).
HEARTBEAT_SECONDS = 3.0

_W = t.workers
_M = t.messages
_B = t.bind_leases


@dataclass(frozen=True, slots=True)
class Reaped:
    """What :func:`reap` took over from processes whose lease ran out."""

    released: int  # claimed, never on the wire: back to pending
    unknown: int  # submitting: maybe on the wire, never re-sent
    workers: tuple[str, ...]  # "host pid" of each expired worker removed


def register(
    conn: Connection, worker_id: str, *, host: str, pid: int, role: str, now: datetime
) -> None:
    """Record a sending process as live for :data:`LEASE_SECONDS` from ``now``."""
    conn.execute(
        insert(_W).values(
            id=worker_id,
            host=host[:255],
            pid=pid,
            role=role,
            started_at=now,
            heartbeat_at=now,
            lease_expires_at=now + timedelta(seconds=LEASE_SECONDS),
        )
    )


def renew(conn: Connection, worker_id: str, now: datetime) -> bool:
    """Push the worker's lease forward; ``False`` when its row is gone: another worker's
    :func:`reap` took what it held (the process must stop sending).

    A lease that ran out but was not reaped yet is renewed: :func:`reap` takes a worker's
    claims and removes its row in one transaction, and :func:`acquire_binds` reaps before
    taking a slot, so a row still there means nothing of the worker's was taken (a process
    stalled by a long transaction on SQLite carries on).
    """
    renewed = conn.execute(
        update(_W)
        .where(_W.c.id == worker_id)
        .values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=LEASE_SECONDS))
    ).rowcount
    return bool(renewed)


def _live(now: datetime) -> object:
    return select(_W.c.id).where(_W.c.lease_expires_at > now).scalar_subquery()


def reap(conn: Connection, now: datetime, *, campaign_id: int | None = None) -> Reaped:
    """Take over the claims no live worker holds, and remove the expired workers' rows.

    ``claimed`` → ``pending``; ``submitting`` → ``unknown`` (error code ``reconciled``,
    never re-sent). A claim whose token names no worker at all (a process of an older version,
    or whose row was already removed) counts as not held. ``campaign_id`` limits the messages
    to that campaign's and those of no campaign (a ``campaign send`` settles its own).
    """
    live = _live(now)
    orphan = or_(_M.c.claim_token.is_(None), _M.c.claim_token.not_in(live))  # type: ignore[arg-type]

    def scoped(status: str) -> list[object]:
        where: list[object] = [_M.c.status == status, orphan]
        if campaign_id is not None:
            where.append(or_(_M.c.campaign_id == campaign_id, _M.c.campaign_id.is_(None)))
        return where

    released = conn.execute(
        update(_M)
        .where(*scoped(MessageStatus.CLAIMED.value))  # type: ignore[arg-type]
        .values(status=MessageStatus.PENDING.value, claim_token=None, claimed_at=None)
    ).rowcount
    unknown = conn.execute(
        update(_M)
        .where(*scoped(MessageStatus.SUBMITTING.value))  # type: ignore[arg-type]
        .values(status=MessageStatus.UNKNOWN.value, error_code="reconciled", claim_token=None)
    ).rowcount
    expired = conn.execute(
        delete(_W).where(_W.c.lease_expires_at <= now).returning(_W.c.host, _W.c.pid)
    ).all()
    if expired:
        conn.execute(
            update(_B)
            .where(_B.c.worker_id.is_not(None), _B.c.worker_id.not_in(live))  # type: ignore[arg-type]
            .values(worker_id=None, acquired_at=None)
        )
    return Reaped(released, unknown, tuple(f"{row.host} pid {row.pid}" for row in expired))


def on_host(conn: Connection, host: str, now: datetime) -> list[tuple[str, int]]:
    """(id, pid) of the live workers registered from ``host``."""
    rows = conn.execute(
        select(_W.c.id, _W.c.pid).where(_W.c.host == host, _W.c.lease_expires_at > now)
    ).all()
    return [(row.id, row.pid) for row in rows]


def expire(conn: Connection, worker_ids: Sequence[str], now: datetime) -> int:
    """End the leases of workers known to be dead (their process is gone): the next
    :func:`reap` takes their claims over at once instead of at lease expiry."""
    if not worker_ids:
        return 0
    return conn.execute(
        update(_W).where(_W.c.id.in_(list(worker_ids))).values(lease_expires_at=now)
    ).rowcount


def leave(conn: Connection, worker_id: str) -> int:
    """A worker stopping cleanly: its ``claimed`` messages back to ``pending``, its bind slots
    and its row given up; returns how many claims were put back. (Its ``submitting`` ones, if
    any, stay for :func:`reap`: they may be on the wire.)"""
    released = conn.execute(
        update(_M)
        .where(_M.c.claim_token == worker_id, _M.c.status == MessageStatus.CLAIMED.value)
        .values(
            status=MessageStatus.PENDING.value,
            claim_token=None,
            claimed_at=None,
            submitted_at=None,
        )
    ).rowcount
    conn.execute(
        update(_B).where(_B.c.worker_id == worker_id).values(worker_id=None, acquired_at=None)
    )
    conn.execute(delete(_W).where(_W.c.id == worker_id))
    return released


def live_workers(conn: Connection, now: datetime) -> list[tuple[str, str, int, str]]:
    """(id, host, pid, role) of the workers whose lease runs at ``now``."""
    rows = conn.execute(
        select(_W.c.id, _W.c.host, _W.c.pid, _W.c.role)
        .where(_W.c.lease_expires_at > now)
        .order_by(_W.c.started_at)
    ).all()
    return [(row.id, row.host, row.pid, row.role) for row in rows]


def acquire_binds(
    conn: Connection, provider: str, worker_id: str, *, needed: int, allowed: int, now: datetime
) -> list[int]:
    """Take ``needed`` free bind slots of ``provider`` (of ``allowed``) for the worker, all
    or none; returns the slots held (those it already held count). Slots are locked
    (``FOR UPDATE`` on PostgreSQL, the write lock on SQLite), so two workers never take one.
    Expired workers are reaped first: a slot is never taken from a worker whose row stays
    (see :func:`renew`)."""
    reap(conn, now)
    existing = set(conn.execute(select(_B.c.slot).where(_B.c.provider == provider)).scalars())
    missing = [{"provider": provider, "slot": s} for s in range(allowed) if s not in existing]
    if missing:
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(dialect_insert(_B).on_conflict_do_nothing(), missing)
    free = or_(
        _B.c.worker_id.is_(None),
        _B.c.worker_id == worker_id,
        _B.c.worker_id.not_in(_live(now)),  # type: ignore[arg-type]
    )
    query = (
        select(_B.c.slot, _B.c.worker_id)
        .where(_B.c.provider == provider, _B.c.slot < allowed, free)
        .order_by(_B.c.slot)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = conn.execute(query).all()
    mine = [row.slot for row in rows if row.worker_id == worker_id]
    others = [row.slot for row in rows if row.worker_id != worker_id]
    if len(mine) >= needed:
        return mine[:needed]
    take = others[: needed - len(mine)]
    if len(mine) + len(take) < needed:
        return []
    conn.execute(
        update(_B)
        .where(_B.c.provider == provider, _B.c.slot.in_(take))
        .values(worker_id=worker_id, acquired_at=now)
    )
    return sorted([*mine, *take])


def release_binds(conn: Connection, provider: str, worker_id: str) -> int:
    """Give up the worker's bind slots of ``provider``."""
    return conn.execute(
        update(_B)
        .where(_B.c.provider == provider, _B.c.worker_id == worker_id)
        .values(worker_id=None, acquired_at=None)
    ).rowcount


def bind_holders(conn: Connection, provider: str, now: datetime) -> Sequence[tuple[int, str]]:
    """(slot, worker id) of the slots of ``provider`` held by a live worker."""
    rows = conn.execute(
        select(_B.c.slot, _B.c.worker_id)
        .where(_B.c.provider == provider, _B.c.worker_id.in_(_live(now)))  # type: ignore[arg-type]
        .order_by(_B.c.slot)
    ).all()
    return [(row.slot, row.worker_id) for row in rows]
