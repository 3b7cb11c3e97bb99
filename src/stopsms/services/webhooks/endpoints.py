"""Webhook endpoints of an account: where events go, which ones, signed with what.

An endpoint has a URL (checked against server-side request forgery,
:mod:`~stopsms.services.webhooks.targets`), the event types it wants and a ``whsec_`` secret
shown once, at creation or rotation. Rotating keeps the old secret for
:data:`ROTATION_OVERLAP` (24 h): meanwhile every request carries two signatures, so a receiver
can switch its secret whenever it likes during that day. An endpoint disabled after repeated
failures (:mod:`~stopsms.services.webhooks.deliveries`) keeps its pending deliveries; enabling
it again makes them due at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from stopsms.errors import InvalidInput, NotFound
from stopsms.services.webhooks.events import EVENT_TYPES, subscriptions_changed
from stopsms.services.webhooks.signing import new_secret
from stopsms.services.webhooks.targets import check_url
from stopsms.store import tables as t

__all__ = [
    "ROTATION_OVERLAP",
    "Endpoint",
    "add_endpoint",
    "disable_endpoint",
    "enable_endpoint",
    "endpoint_from_row",
    "get_endpoint",
    "list_endpoints",
    "parse_events",
    "remove_endpoint",
    "rotate_secret",
    "signing_secrets",
    "update_endpoint",
]

_E = t.webhook_endpoints.c
#: How long the previous secret still signs after a rotation.
ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint; ``secret`` is only filled when it is shown (creation, rotation)."""

    id: int
    account_id: int
    url: str
    events: tuple[str, ...]
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None
    consecutive_failures: int
    previous_secret_expires_at: datetime | None
    created_at: datetime
    secret: str | None = None
    description: str | None = None


def endpoint_from_row(row: RowMapping, *, secret: str | None = None) -> Endpoint:
    """The endpoint of a row of ``webhook_endpoints`` (its secret left out unless given)."""
    return Endpoint(
        id=row["id"],
        account_id=row["account_id"],
        url=row["url"],
        events=tuple(row["events"].split()),
        enabled=row["enabled"],
        disabled_at=row["disabled_at"],
        disabled_reason=row["disabled_reason"],
        failing_since=row["failing_since"],
        consecutive_failures=row["consecutive_failures"],
        previous_secret_expires_at=row["previous_secret_expires_at"],
        created_at=row["created_at"],
        secret=secret,
        description=row["description"],
    )


def parse_events(events: Iterable[str]) -> tuple[str, ...]:
    """Known event types, deduplicated in the canonical order; ``*`` means all of them."""
    wanted = {e.strip() for item in events for e in item.split(",") if e.strip()}
    if "*" in wanted:
        return EVENT_TYPES
    unknown = sorted(wanted - set(EVENT_TYPES))
    if unknown:
        raise InvalidInput("events", ",".join(unknown), f"known: {', '.join(EVENT_TYPES)}")
    if not wanted:
        raise InvalidInput("events", "", f"name at least one of {', '.join(EVENT_TYPES)}")
    return tuple(e for e in EVENT_TYPES if e in wanted)


def add_endpoint(
    connection: Connection,
    account_id: int,
    url: str,
    events: Iterable[str],
    now: datetime,
    *,
    allow_private: bool,
    description: str | None = None,
) -> Endpoint:
    """Create an endpoint; the returned one carries its secret (shown once)."""
    checked = check_url(url, allow_private=allow_private)
    wanted = parse_events(events)
    description = _description(description)
    secret = new_secret()
    subscriptions_changed(connection)
    endpoint_id = connection.execute(
        insert(t.webhook_endpoints)
        .values(
            account_id=account_id,
            url=checked,
            events=" ".join(wanted),
            secret=secret,
            created_at=now,
            description=description,
        )
        .returning(_E.id)
    ).scalar_one()
    return get_endpoint(connection, account_id, endpoint_id, secret=secret)


def get_endpoint(
    connection: Connection, account_id: int, endpoint_id: int, *, secret: str | None = None
) -> Endpoint:
    """Endpoint ``endpoint_id`` of the account; :class:`NotFound` for another account's."""
    row = (
        connection.execute(
            select(t.webhook_endpoints).where(_E.id == endpoint_id, _E.account_id == account_id)
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound("webhook endpoint", endpoint_id)
    return endpoint_from_row(row, secret=secret)


def list_endpoints(connection: Connection, account_id: int) -> list[Endpoint]:
    """The account's endpoints, oldest first."""
    rows = connection.execute(
        select(t.webhook_endpoints).where(_E.account_id == account_id).order_by(_E.id)
    ).mappings()
    return [endpoint_from_row(row) for row in rows]


def remove_endpoint(connection: Connection, account_id: int, endpoint_id: int) -> Endpoint:
    """Delete the endpoint with its deliveries and their attempts (the events stay)."""
    endpoint = get_endpoint(connection, account_id, endpoint_id)
    deliveries = select(t.webhook_deliveries.c.id).where(
        t.webhook_deliveries.c.endpoint_id == endpoint_id
    )
    connection.execute(
        delete(t.webhook_attempts).where(t.webhook_attempts.c.delivery_id.in_(deliveries))
    )
    connection.execute(
        delete(t.webhook_deliveries).where(t.webhook_deliveries.c.endpoint_id == endpoint_id)
    )
    connection.execute(delete(t.webhook_endpoints).where(_E.id == endpoint_id))
    return endpoint


def rotate_secret(
    connection: Connection, account_id: int, endpoint_id: int, now: datetime
) -> Endpoint:
    """A new secret (returned, shown once); the old one also signs for 24 h."""
    get_endpoint(connection, account_id, endpoint_id)
    secret = new_secret()
    connection.execute(
        update(t.webhook_endpoints)
        .where(_E.id == endpoint_id)
        .values(
            previous_secret=_E.secret,
            previous_secret_expires_at=now + ROTATION_OVERLAP,
            secret=secret,
        )
    )
    return get_endpoint(connection, account_id, endpoint_id, secret=secret)


def enable_endpoint(
    connection: Connection, account_id: int, endpoint_id: int, now: datetime
) -> Endpoint:
    """Enable a disabled endpoint: its failure count restarts and its pending deliveries are
    due at once (those that failed for good stay failed: replay them one by one)."""
    get_endpoint(connection, account_id, endpoint_id)
    subscriptions_changed(connection)
    connection.execute(
        update(t.webhook_endpoints)
        .where(_E.id == endpoint_id)
        .values(
            enabled=True,
            disabled_at=None,
            disabled_reason=None,
            failing_since=None,
            consecutive_failures=0,
        )
    )
    d = t.webhook_deliveries.c
    connection.execute(
        update(t.webhook_deliveries)
        .where(d.endpoint_id == endpoint_id, d.status == "pending")
        .values(next_attempt_at=now, claim_token=None)
    )
    return get_endpoint(connection, account_id, endpoint_id)


#: The longest description an endpoint keeps.
DESCRIPTION_LIMIT = 500


def _description(value: str | None) -> str | None:
    """A description as kept: stripped, ``""`` → none, at most :data:`DESCRIPTION_LIMIT`."""
    if value is None or not value.strip():
        return None
    if len(value) > DESCRIPTION_LIMIT or any(ord(c) < 32 and c not in "\t" for c in value):
        raise InvalidInput(
            "description", value[:40], f"one line of at most {DESCRIPTION_LIMIT} characters"
        )
    return value.strip()


def update_endpoint(
    connection: Connection,
    account_id: int,
    endpoint_id: int,
    now: datetime,
    *,
    events: Iterable[str] | None = None,
    enabled: bool | None = None,
    description: str | None = None,
    actor: str = "its owner",
) -> Endpoint:
    """Change what is given of the endpoint's events, state and description (``""`` clears the
    description). Enabling is :func:`enable_endpoint` (its pending deliveries due at once);
    disabling keeps the pending deliveries for when it is enabled again, and its reason says
    who did it (``disabled by <actor>``)."""
    current = get_endpoint(connection, account_id, endpoint_id)
    values: dict[str, object] = {}
    if events is not None:
        values["events"] = " ".join(parse_events(events))
    if description is not None:
        values["description"] = _description(description)
    if values:
        subscriptions_changed(connection)
        connection.execute(update(t.webhook_endpoints).where(_E.id == endpoint_id).values(**values))
    if enabled is False:
        return disable_endpoint(
            connection, account_id, endpoint_id, now, reason=f"disabled by {actor}"
        )
    if enabled is True and not current.enabled:
        return enable_endpoint(connection, account_id, endpoint_id, now)
    return get_endpoint(connection, account_id, endpoint_id)


def disable_endpoint(
    connection: Connection, account_id: int, endpoint_id: int, now: datetime, *, reason: str
) -> Endpoint:
    """Disable the account's endpoint by a person's choice (``reason`` says whose): nothing is
    sent to it, its pending deliveries wait (:func:`enable_endpoint` makes them due again);
    disabling a disabled endpoint keeps its first date and reason."""
    endpoint = get_endpoint(connection, account_id, endpoint_id)
    if not endpoint.enabled:
        return endpoint
    connection.execute(
        update(t.webhook_endpoints)
        .where(_E.id == endpoint_id)
        .values(enabled=False, disabled_at=now, disabled_reason=reason)
    )
    return get_endpoint(connection, account_id, endpoint_id)


def signing_secrets(row: RowMapping, now: datetime) -> tuple[str, ...]:
    """The secrets that sign a request now: the current one, and the previous one during the
    24 h after a rotation."""
    expires = row["previous_secret_expires_at"]
    if row["previous_secret"] and expires is not None and expires > now:
        return (row["secret"], row["previous_secret"])
    return (row["secret"],)
