"""Deliveries: one per event and endpoint, claimed with a lease, retried for a day.

A delivery is ``pending`` until an attempt gets a 2xx answer (``delivered``) or its retries
are spent (``failed``). Workers claim due deliveries by moving ``next_attempt_at`` a lease
ahead (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and a compare-and-set on both backends), so
a worker that dies mid-request leaves its deliveries due again when the lease expires: at
least once, and the receiver deduplicates on ``webhook-id``.

Back-off (:func:`retry_delay`): 5 s after the first failure, then ×3 each time, at most 6 h
apart — attempts at 0 s, 5 s, 20 s, 65 s, 3 min 20, 10 min, 30 min, 1 h 31, 4 h 33, 10 h 33,
16 h 33 and 22 h 33 (:data:`MAX_ATTEMPTS` = 12 within :data:`RETRY_FOR`, a day); the 12th
failure makes it ``failed``. Every attempt is a ``webhook_attempts`` row (status code,
latency, error); :func:`replay` makes any delivery pending again with a fresh schedule.

An endpoint is disabled (and its owner told, by the reason on the endpoint that
``stopsms webhooks list`` shows) once every attempt to it has failed for a day: for
:data:`DISABLE_AFTER` (24 h) with at least :data:`DISABLE_MIN_FAILURES` in a row, or through
a delivery's whole day of retries (an endpoint with few events). Never for a short outage
during a large campaign, however many attempts fail in it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from stopsms.errors import NotFound
from stopsms.services.webhooks.endpoints import signing_secrets
from stopsms.services.webhooks.signing import event_id
from stopsms.store import tables as t

__all__ = [
    "DISABLE_AFTER",
    "DISABLE_MIN_FAILURES",
    "MAX_ATTEMPTS",
    "RETRY_FOR",
    "Attempt",
    "Delivery",
    "Due",
    "Outcome",
    "attempts_of",
    "claim_due",
    "get_delivery",
    "list_deliveries",
    "next_due",
    "payload",
    "record_outcomes",
    "replay",
    "retry_delay",
    "schedule",
]

_D = t.webhook_deliveries.c
_E = t.webhook_endpoints.c
_V = t.webhook_events.c

RETRY_FOR: Final = timedelta(hours=24)
FIRST_DELAY: Final = timedelta(seconds=5)
MAX_DELAY: Final = timedelta(hours=6)
DISABLE_AFTER: Final = timedelta(hours=24)
DISABLE_MIN_FAILURES: Final = 10
#: How long a claimed delivery belongs to its worker before it is due again.
LEASE: Final = timedelta(seconds=60)


def retry_delay(failures: int) -> timedelta:
    """The wait after the ``failures``-th failed attempt in a row (1 → 5 s, ×3, ≤ 6 h)."""
    factor: int = 3 ** min(failures - 1, 12)  # 3^12 × 5 s is far past the cap already
    return min(FIRST_DELAY * factor, MAX_DELAY)


def schedule() -> list[timedelta]:
    """When each attempt happens, from the first: every one within :data:`RETRY_FOR`."""
    at = [timedelta(0)]
    while at[-1] + retry_delay(len(at)) <= RETRY_FOR:
        at.append(at[-1] + retry_delay(len(at)))
    return at


MAX_ATTEMPTS: Final = len(schedule())


def payload(event_type: str, created_at: datetime, data: Any) -> bytes:
    """The request body: ``{"type", "timestamp", "data"}`` as compact JSON (UTF-8)."""
    document = {"type": event_type, "timestamp": created_at.isoformat(), "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery, with what its request needs."""

    delivery_id: int
    token: str
    endpoint_id: int
    url: str
    secrets: tuple[str, ...]
    message_id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result: ``status_code`` ``None`` when no answer came (``error`` says)."""

    delivery_id: int
    token: str
    endpoint_id: int
    at: datetime
    latency_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim_due(connection: Connection, now: datetime, limit: int) -> list[Due]:
    """Claim up to ``limit`` due deliveries of enabled endpoints for :data:`LEASE`."""
    candidates = (
        select(_D.id)
        .join(t.webhook_endpoints, _E.id == _D.endpoint_id)
        .where(_D.status == "pending", _D.next_attempt_at <= now, _E.enabled.is_(True))
        .order_by(_D.next_attempt_at, _D.id)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        candidates = candidates.with_for_update(of=t.webhook_deliveries, skip_locked=True)
    ids = list(connection.execute(candidates).scalars())
    if not ids:
        return []
    token = secrets.token_hex(16)
    claimed = set(
        connection.execute(
            update(t.webhook_deliveries)
            .where(_D.id.in_(ids), _D.status == "pending", _D.next_attempt_at <= now)
            .values(claim_token=token, next_attempt_at=now + LEASE)
            .returning(_D.id)
        ).scalars()
    )
    rows = connection.execute(
        select(
            _D.id,
            _D.endpoint_id,
            _E.url,
            _E.secret,
            _E.previous_secret,
            _E.previous_secret_expires_at,
            _V.id.label("event_id"),
            _V.type,
            _V.data,
            _V.created_at,
        )
        .join(t.webhook_endpoints, _E.id == _D.endpoint_id)
        .join(t.webhook_events, _V.id == _D.event_id)
        .where(_D.id.in_(claimed))
        .order_by(_D.id)
    ).mappings()
    return [
        Due(
            delivery_id=row["id"],
            token=token,
            endpoint_id=row["endpoint_id"],
            url=row["url"],
            secrets=signing_secrets(row, now),
            message_id=event_id(row["event_id"]),
            body=payload(row["type"], row["created_at"], row["data"]),
        )
        for row in rows
    ]


def next_due(connection: Connection) -> datetime | None:
    """When the earliest pending delivery of an enabled endpoint is due (``None``: none)."""
    due: datetime | None = connection.execute(
        select(func.min(_D.next_attempt_at))
        .join(t.webhook_endpoints, _E.id == _D.endpoint_id)
        .where(_D.status == "pending", _E.enabled.is_(True))
    ).scalar_one()
    return due


def record_outcomes(connection: Connection, outcomes: Sequence[Outcome]) -> list[int]:
    """Record attempts and move their deliveries on; returns the endpoints disabled now.

    An outcome whose claim was lost (its lease expired and another worker claimed it) is
    still recorded as an attempt but moves nothing.
    """
    if not outcomes:
        return []
    connection.execute(
        insert(t.webhook_attempts),
        [
            {
                "delivery_id": o.delivery_id,
                "attempted_at": o.at,
                "status_code": o.status_code,
                "latency_ms": o.latency_ms,
                "error": o.error,
            }
            for o in outcomes
        ],
    )
    mine = and_(_D.id == bindparam("d_id"), _D.claim_token == bindparam("d_token"))
    delivered = [o for o in outcomes if o.ok]
    if delivered:
        connection.execute(
            update(t.webhook_deliveries)
            .where(mine)
            .values(
                status="delivered",
                delivered_at=bindparam("d_at"),
                last_status_code=bindparam("d_code"),
                last_error=None,
                claim_token=None,
                attempts=_D.attempts + 1,
            ),
            [
                {"d_id": o.delivery_id, "d_token": o.token, "d_at": o.at, "d_code": o.status_code}
                for o in delivered
            ],
        )
        healthy = sorted({o.endpoint_id for o in delivered})
        connection.execute(
            update(t.webhook_endpoints)
            .where(_E.id.in_(healthy), _E.consecutive_failures > 0)
            .values(failing_since=None, consecutive_failures=0)
        )
    failed = [o for o in outcomes if not o.ok]
    gave_up = {o.endpoint_id for o in failed if _failed_attempt(connection, o)}
    return _disable_failing(connection, sorted({o.endpoint_id for o in failed}), gave_up, outcomes)


def _failed_attempt(connection: Connection, outcome: Outcome) -> bool:
    """Record a failed attempt on its delivery and endpoint; returns whether the delivery
    failed for good (its day of retries spent)."""
    attempts = connection.execute(
        select(_D.attempts).where(_D.id == outcome.delivery_id, _D.claim_token == outcome.token)
    ).scalar_one_or_none()
    if attempts is None:  # the lease expired and another worker has it now
        return False
    done: int = attempts + 1
    values: dict[str, object] = {
        "attempts": done,
        "claim_token": None,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
    }
    if done >= MAX_ATTEMPTS:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = outcome.at + retry_delay(done)
    connection.execute(
        update(t.webhook_deliveries).where(_D.id == outcome.delivery_id).values(values)
    )
    connection.execute(
        update(t.webhook_endpoints)
        .where(_E.id == outcome.endpoint_id)
        .values(
            consecutive_failures=_E.consecutive_failures + 1,
            failing_since=func.coalesce(_E.failing_since, outcome.at),
        )
    )
    return done >= MAX_ATTEMPTS


def _disable_failing(
    connection: Connection,
    endpoint_ids: list[int],
    gave_up: set[int],
    outcomes: Sequence[Outcome],
) -> list[int]:
    """Disable the endpoints whose every attempt failed for a day (module doc): failing for
    :data:`DISABLE_AFTER` with :data:`DISABLE_MIN_FAILURES` in a row, or a delivery that
    just spent its whole day of retries while no other attempt to the endpoint succeeded."""
    if not endpoint_ids:
        return []
    now = max(o.at for o in outcomes)
    for_a_day = and_(
        _E.failing_since <= now - DISABLE_AFTER,
        _E.consecutive_failures >= DISABLE_MIN_FAILURES,
    )
    spent = and_(_E.id.in_(sorted(gave_up)), _E.consecutive_failures >= MAX_ATTEMPTS)
    rows = connection.execute(
        select(_E.id, _E.failing_since, _E.consecutive_failures).where(
            _E.id.in_(endpoint_ids), _E.enabled.is_(True), or_(for_a_day, spent)
        )
    ).all()
    for endpoint_id, since, failures in rows:
        connection.execute(
            update(t.webhook_endpoints)
            .where(_E.id == endpoint_id)
            .values(
                enabled=False,
                disabled_at=now,
                disabled_reason=(
                    f"every attempt failed since {since:%Y-%m-%d %H:%M} UTC ({failures} in a row)"
                ),
            )
        )
    return [row[0] for row in rows]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery as listed: its event, endpoint, state and last answer."""

    id: int
    event_id: str
    event_type: str
    endpoint_id: int
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt of a delivery."""

    id: int
    delivery_id: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None


def list_deliveries(
    connection: Connection,
    account_id: int,
    *,
    endpoint_id: int | None = None,
    failed_only: bool = False,
    limit: int = 50,
    before: int | None = None,
) -> list[Delivery]:
    """The account's latest deliveries, newest first (of one endpoint; only failed ones;
    ``before``: those older than that delivery id, the next page)."""
    where = [_D.account_id == account_id]
    if before is not None:
        where.append(_D.id < before)
    if endpoint_id is not None:
        where.append(_D.endpoint_id == endpoint_id)
    if failed_only:
        where.append(_D.status == "failed")
    rows = connection.execute(
        select(t.webhook_deliveries, _V.type)
        .join(t.webhook_events, _V.id == _D.event_id)
        .where(*where)
        .order_by(_D.id.desc())
        .limit(limit)
    ).mappings()
    return [_delivery(row) for row in rows]


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row["id"],
        event_id=event_id(row["event_id"]),
        event_type=row["type"],
        endpoint_id=row["endpoint_id"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"] if row["status"] == "pending" else None,
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
        created_at=row["created_at"],
    )


def get_delivery(connection: Connection, account_id: int, delivery_id: int) -> Delivery:
    """One of the account's deliveries; :class:`NotFound` for another account's."""
    row = (
        connection.execute(
            select(t.webhook_deliveries, _V.type)
            .join(t.webhook_events, _V.id == _D.event_id)
            .where(_D.id == delivery_id, _D.account_id == account_id)
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound("webhook delivery", delivery_id)
    return _delivery(row)


def attempts_of(connection: Connection, account_id: int, delivery_id: int) -> list[Attempt]:
    """Every attempt of the account's delivery, oldest first."""
    _owned(connection, account_id, delivery_id)
    a = t.webhook_attempts.c
    rows = connection.execute(
        select(t.webhook_attempts).where(a.delivery_id == delivery_id).order_by(a.id)
    ).mappings()
    return [
        Attempt(
            row["id"],
            row["delivery_id"],
            row["attempted_at"],
            row["status_code"],
            row["latency_ms"],
            row["error"],
        )
        for row in rows
    ]


def _owned(connection: Connection, account_id: int, delivery_id: int) -> None:
    found = connection.execute(
        select(_D.id).where(_D.id == delivery_id, _D.account_id == account_id)
    ).first()
    if found is None:
        raise NotFound("webhook delivery", delivery_id)


def replay(connection: Connection, account_id: int, delivery_id: int, now: datetime) -> None:
    """Send the account's delivery again (same ``webhook-id``), with a fresh day of retries."""
    _owned(connection, account_id, delivery_id)
    connection.execute(
        update(t.webhook_deliveries)
        .where(_D.id == delivery_id)
        .values(status="pending", next_attempt_at=now, claim_token=None, attempts=0)
    )
