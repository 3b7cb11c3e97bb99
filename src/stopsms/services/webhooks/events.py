"""Events: what happened, written in the same transaction as the data it concerns.

:func:`record_event` (one) and :func:`record_events` (a batch) insert the event and one
delivery row per enabled endpoint of its account that wants its type, in the caller's
transaction: an event exists if and only if its data committed, and a delivery exists for it
before anything is sent (at least once, never "sent but not recorded"). An event that no
enabled endpoint of its account wants is not stored at all: nobody would receive it, and the
hot paths (a dispatch batch's ``message.sent``) must not pay for it.

The subscriptions are read once per batch (:func:`subscribers`: one query over the enabled
endpoints, a handful of rows), so a dispatch of 10,000 messages costs one extra statement per
batch when no endpoint wants ``message.sent``, and two multi-row inserts per batch when one does.

The dispatch's hot paths (a chunk's results, a batch of receipts) ask
:func:`subscriptions_for` instead, which knows from memory that *no* enabled endpoint of the
database wants an event type, for at most :data:`SUBSCRIPTIONS_MAX_AGE_S` (1 s): the one read
per batch was 377 statements (0.33-0.49 s) of a 12,000-message PostgreSQL dispatch, for events
nobody wanted. The rule for a new endpoint (or one enabled again, or given a new event type):

- changed through the services of *this* process (:mod:`~stopsms.services.webhooks.endpoints`
  calls :func:`subscriptions_changed`): honoured by every batch whose transaction starts
  after the change committed (the memory is dropped when the change is made and again when
  its connection goes back to the pool, after its commit);
- changed by another process (the API server while a worker sends): honoured within
  :data:`SUBSCRIPTIONS_MAX_AGE_S`; events of the wanted type recorded before are not made up.

As soon as an event type is wanted by any endpoint, the subscriptions are read in the batch's
own transaction, as before: a removed or disabled endpoint is never served from memory.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, event, insert, select
from sqlalchemy.pool import Pool

from stopsms.store import tables as t

__all__ = [
    "CAMPAIGN_COMPLETED",
    "CREDITS_LOW",
    "EVENT_TYPES",
    "INBOUND_RECEIVED",
    "MESSAGE_DELIVERED",
    "MESSAGE_FAILED",
    "MESSAGE_SENT",
    "OPTOUT_CREATED",
    "OPTOUT_REMOVED",
    "SUBSCRIPTIONS_MAX_AGE_S",
    "Subscribers",
    "record_event",
    "record_events",
    "subscribers",
    "subscriptions",
    "subscriptions_changed",
    "subscriptions_for",
]

MESSAGE_SENT: Final = "message.sent"
MESSAGE_DELIVERED: Final = "message.delivered"
MESSAGE_FAILED: Final = "message.failed"
INBOUND_RECEIVED: Final = "inbound.received"
OPTOUT_CREATED: Final = "optout.created"
OPTOUT_REMOVED: Final = "optout.removed"
CAMPAIGN_COMPLETED: Final = "campaign.completed"
CREDITS_LOW: Final = "credits.low"

#: Every event type, in the order the documentation lists them.
EVENT_TYPES: Final = (
    MESSAGE_SENT,
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    INBOUND_RECEIVED,
    OPTOUT_CREATED,
    OPTOUT_REMOVED,
    CAMPAIGN_COMPLETED,
    CREDITS_LOW,
)

#: account id → the enabled endpoints of that account that want one event type.
Subscribers = Mapping[int, Sequence[int]]

_E = t.webhook_endpoints.c


def subscriptions(connection: Connection) -> Mapping[str, Subscribers]:
    """Every event type's enabled subscribers, by account: one query (a handful of rows)."""
    found: dict[str, dict[int, list[int]]] = {}
    rows = connection.execute(
        select(_E.id, _E.account_id, _E.events).where(_E.enabled.is_(True)).order_by(_E.id)
    )
    for endpoint_id, account_id, events in rows:
        for event_type in events.split():
            found.setdefault(event_type, {}).setdefault(account_id, []).append(endpoint_id)
    return found


#: How long "no enabled endpoint wants this event type" is served from memory (seconds).
SUBSCRIPTIONS_MAX_AGE_S: Final = 1.0
#: The clock of that memory (monotonic; a test may replace it).
monotonic = time.monotonic
#: Key of a connection's ``info``: an endpoint changed on it (see :func:`subscriptions_changed`).
_CHANGED: Final = "stopsms_webhook_endpoints_changed"

_lock = threading.Lock()
_generation = 0  # endpoint changes seen in this process (at write time and at check-in)
#: database (its engine's pool, shared by the engine's option variants) → (generation before
#: the read, when it was read, the event types wanted)
_known: weakref.WeakKeyDictionary[Pool, tuple[int, float, frozenset[str]]] = (
    weakref.WeakKeyDictionary()
)


def _bump() -> None:
    global _generation  # one counter for the process, under _lock
    with _lock:
        _generation += 1


def subscriptions_changed(connection: Connection) -> None:
    """An endpoint's subscriptions changed in ``connection``'s transaction: what this process
    remembers of them is dropped now and again once the connection is back in the pool (after
    the commit), so no batch keeps a read made while the change was not committed yet."""
    connection.info[_CHANGED] = True
    _bump()


@event.listens_for(Pool, "checkin")
def _checked_in(_dbapi_connection: object, record: Any) -> None:
    if record is not None and record.info.pop(_CHANGED, False):
        _bump()


def subscriptions_for(
    connection: Connection, event_types: Collection[str]
) -> Mapping[str, Subscribers]:
    """:func:`subscriptions`, or nothing without a query when this process read, less than
    :data:`SUBSCRIPTIONS_MAX_AGE_S` ago and since its last endpoint change, that no enabled
    endpoint wants any of ``event_types`` (the rule: module doc)."""
    pool = connection.engine.pool
    with _lock:
        generation = _generation
        known = _known.get(pool)
    if (
        known is not None
        and known[0] == generation
        and monotonic() - known[1] <= SUBSCRIPTIONS_MAX_AGE_S
        and known[2].isdisjoint(event_types)
    ):
        return {}
    read_at = monotonic()
    found = subscriptions(connection)
    with _lock:
        _known[pool] = (generation, read_at, frozenset(found))
    return found


def subscribers(connection: Connection, event_type: str) -> Subscribers:
    """The enabled endpoints that want ``event_type``, by account: one query."""
    return subscriptions(connection).get(event_type, {})


def record_events(
    connection: Connection,
    event_type: str,
    items: Iterable[tuple[int, Mapping[str, Any]]],
    now: datetime,
    *,
    endpoints: Subscribers | None = None,
) -> int:
    """Record one ``event_type`` event per ``(account id, data)`` whose account has an
    endpoint that wants it (``endpoints``: :func:`subscribers`, read here when not given);
    returns how many events were stored. ``data`` must be JSON-ready (ids, text, ISO times)."""
    wanted = subscribers(connection, event_type) if endpoints is None else endpoints
    if not wanted:
        return 0
    rows = [
        {"account_id": account_id, "type": event_type, "data": dict(data), "created_at": now}
        for account_id, data in items
        if wanted.get(account_id)
    ]
    if not rows:
        return 0
    ev = t.webhook_events
    # Any order: each id comes back with its account (ordering by parameters would make
    # SQLAlchemy send SQLite one statement per row).
    ids = connection.execute(insert(ev).returning(ev.c.id, ev.c.account_id), rows).all()
    deliveries = [
        {
            "event_id": event_id,
            "endpoint_id": endpoint_id,
            "account_id": account_id,
            "status": "pending",
            "next_attempt_at": now,
            "created_at": now,
        }
        for event_id, account_id in ids
        for endpoint_id in wanted[account_id]
    ]
    connection.execute(insert(t.webhook_deliveries), deliveries)
    return len(rows)


def record_event(
    connection: Connection,
    account_id: int,
    event_type: str,
    data: Mapping[str, Any],
    now: datetime,
) -> bool:
    """Record one event (see :func:`record_events`); returns whether anyone wanted it."""
    return record_events(connection, event_type, [(account_id, data)], now) == 1
