"""Webhook use cases for every interface: ``stopsms webhooks …`` and ``/v1/webhooks``.

Each function takes the process's :class:`~stopsms.app.App` and the acting account's name
(``None``: the configured default), runs in one transaction and returns the services' plain
dataclasses, so the CLI and the API's router are thin translations of these calls. Another
account's endpoint or delivery is :class:`~stopsms.errors.NotFound`, never a refusal that
confirms it exists.

Every change is recorded in the audit log in its own transaction (``webhook.created``,
``webhook.updated``, ``webhook.removed``, ``webhook.secret_rotated``, ``webhook.replayed``),
under ``actor`` (the API key's name) or else the process's :attr:`App.actor` (the CLI's
``cli:<login>``); no secret is ever written there. ``now`` is the caller's clock (the API's,
which tests move), else the system's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from stopsms.app.application import App
from stopsms.services.access.audit import record
from stopsms.services.webhooks import deliveries, endpoints
from stopsms.services.webhooks.deliveries import Attempt, Delivery
from stopsms.services.webhooks.endpoints import Endpoint

__all__ = [
    "add_endpoint",
    "delivery_attempts",
    "enable_endpoint",
    "get_delivery",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "remove_endpoint",
    "replay_delivery",
    "rotate_secret",
    "update_endpoint",
]


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _audit(
    app: App,
    connection: Connection,
    account_id: int,
    actor: str | None,
    action: str,
    detail: Mapping[str, Any],
    now: datetime,
) -> None:
    record(connection, account_id, actor or app.actor, action, detail, now)


def add_endpoint(
    app: App,
    account: str | None,
    url: str,
    events: Iterable[str],
    *,
    description: str | None = None,
    actor: str | None = None,
    now: datetime | None = None,
) -> Endpoint:
    """Create an endpoint for the account (the installation's SSRF rule applied); the result
    carries its secret, shown once."""
    at = _now(now)
    with app.transaction() as conn:
        acc = app.account(conn, account)
        created = endpoints.add_endpoint(
            conn,
            acc.id,
            url,
            events,
            at,
            allow_private=app.settings.webhooks_allow_private,
            description=description,
        )
        detail = {"endpoint": created.id, "url": created.url, "events": list(created.events)}
        _audit(app, conn, acc.id, actor, "webhook.created", detail, at)
        return created


def list_endpoints(app: App, account: str | None) -> list[Endpoint]:
    """The account's endpoints (without their secrets), oldest first."""
    with app.reader() as conn:
        return endpoints.list_endpoints(conn, app.account(conn, account).id)


def get_endpoint(app: App, account: str | None, endpoint_id: int) -> Endpoint:
    """One of the account's endpoints (without its secret)."""
    with app.reader() as conn:
        return endpoints.get_endpoint(conn, app.account(conn, account).id, endpoint_id)


def update_endpoint(
    app: App,
    account: str | None,
    endpoint_id: int,
    *,
    events: Iterable[str] | None = None,
    enabled: bool | None = None,
    description: str | None = None,
    actor: str | None = None,
    now: datetime | None = None,
) -> Endpoint:
    """Change the endpoint's events, state or description (what is given)."""
    at = _now(now)
    with app.transaction() as conn:
        acc = app.account(conn, account)
        updated = endpoints.update_endpoint(
            conn,
            acc.id,
            endpoint_id,
            at,
            events=events,
            enabled=enabled,
            description=description,
            actor=actor or app.actor,
        )
        detail: dict[str, Any] = {"endpoint": endpoint_id}
        if events is not None:
            detail["events"] = list(updated.events)
        if enabled is not None:
            detail["enabled"] = enabled
        if description is not None:
            detail["description"] = updated.description
        _audit(app, conn, acc.id, actor, "webhook.updated", detail, at)
        return updated


def remove_endpoint(
    app: App,
    account: str | None,
    endpoint_id: int,
    *,
    actor: str | None = None,
    now: datetime | None = None,
) -> Endpoint:
    """Delete one of the account's endpoints and its deliveries."""
    at = _now(now)
    with app.transaction() as conn:
        acc = app.account(conn, account)
        removed = endpoints.remove_endpoint(conn, acc.id, endpoint_id)
        detail = {"endpoint": endpoint_id, "url": removed.url}
        _audit(app, conn, acc.id, actor, "webhook.removed", detail, at)
        return removed


def rotate_secret(
    app: App,
    account: str | None,
    endpoint_id: int,
    *,
    actor: str | None = None,
    now: datetime | None = None,
) -> Endpoint:
    """A new secret for the endpoint (returned once); the old one still signs for 24 h."""
    at = _now(now)
    with app.transaction() as conn:
        acc = app.account(conn, account)
        rotated = endpoints.rotate_secret(conn, acc.id, endpoint_id, at)
        _audit(app, conn, acc.id, actor, "webhook.secret_rotated", {"endpoint": endpoint_id}, at)
        return rotated


def enable_endpoint(
    app: App,
    account: str | None,
    endpoint_id: int,
    *,
    actor: str | None = None,
    now: datetime | None = None,
) -> Endpoint:
    """Enable a disabled endpoint; its pending deliveries are due at once."""
    at = _now(now)
    with app.transaction() as conn:
        acc = app.account(conn, account)
        enabled = endpoints.enable_endpoint(conn, acc.id, endpoint_id, at)
        detail = {"endpoint": endpoint_id, "enabled": True}
        _audit(app, conn, acc.id, actor, "webhook.updated", detail, at)
        return enabled


def list_deliveries(
    app: App,
    account: str | None,
    *,
    endpoint_id: int | None = None,
    failed_only: bool = False,
    limit: int = 50,
    before: int | None = None,
) -> list[Delivery]:
    """The account's latest deliveries, newest first (``before``: older than that id)."""
    with app.reader() as conn:
        acc = app.account(conn, account)
        if endpoint_id is not None:
            endpoints.get_endpoint(conn, acc.id, endpoint_id)  # another account's: NotFound
        return deliveries.list_deliveries(
            conn,
            acc.id,
            endpoint_id=endpoint_id,
            failed_only=failed_only,
            limit=limit,
            before=before,
        )


def get_delivery(app: App, account: str | None, delivery_id: int) -> tuple[Delivery, list[Attempt]]:
    """One of the account's deliveries with every attempt, oldest first."""
    with app.reader() as conn:
        acc = app.account(conn, account)
        return (
            deliveries.get_delivery(conn, acc.id, delivery_id),
            deliveries.attempts_of(conn, acc.id, delivery_id),
        )


def delivery_attempts(app: App, account: str | None, delivery_id: int) -> list[Attempt]:
    """Every attempt of one of the account's deliveries, oldest first."""
    with app.reader() as conn:
        return deliveries.attempts_of(conn, app.account(conn, account).id, delivery_id)


def replay_delivery(
    app: App,
    account: str | None,
    delivery_id: int,
    *,
    actor: str | None = None,
    now: datetime | None = None,
) -> Delivery:
    """Make one of the account's deliveries due now, with a fresh day of retries."""
    at = _now(now)
    with app.transaction() as conn:
        acc = app.account(conn, account)
        deliveries.replay(conn, acc.id, delivery_id, at)
        _audit(app, conn, acc.id, actor, "webhook.replayed", {"delivery": delivery_id}, at)
        return deliveries.get_delivery(conn, acc.id, delivery_id)
