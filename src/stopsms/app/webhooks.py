"""Webhook use cases for every interface: ``stopsms webhooks …`` now, ``/v1/webhooks`` next.

Each function takes the process's :class:`~stopsms.app.App` and the acting account's name
(``None``: the configured default), runs in one transaction and returns the services' plain
dataclasses, so the API's router is a thin translation of these calls. Another account's
endpoint or delivery is :class:`~stopsms.errors.NotFound`, never a refusal that confirms it
exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from stopsms.app.application import App
from stopsms.services.webhooks import deliveries, endpoints
from stopsms.services.webhooks.deliveries import Attempt, Delivery
from stopsms.services.webhooks.endpoints import Endpoint

__all__ = [
    "add_endpoint",
    "delivery_attempts",
    "enable_endpoint",
    "list_deliveries",
    "list_endpoints",
    "remove_endpoint",
    "replay_delivery",
    "rotate_secret",
]


def _now() -> datetime:
    return datetime.now(UTC)


def add_endpoint(app: App, account: str | None, url: str, events: Iterable[str]) -> Endpoint:
    """Create an endpoint for the account; the result carries its secret, shown once."""
    with app.transaction() as conn:
        acc = app.account(conn, account)
        return endpoints.add_endpoint(
            conn,
            acc.id,
            url,
            events,
            _now(),
            allow_private=app.settings.webhooks_allow_private,
        )


def list_endpoints(app: App, account: str | None) -> list[Endpoint]:
    """The account's endpoints (without their secrets), oldest first."""
    with app.reader() as conn:
        return endpoints.list_endpoints(conn, app.account(conn, account).id)


def remove_endpoint(app: App, account: str | None, endpoint_id: int) -> Endpoint:
    """Delete one of the account's endpoints and its deliveries."""
    with app.transaction() as conn:
        return endpoints.remove_endpoint(conn, app.account(conn, account).id, endpoint_id)


def rotate_secret(app: App, account: str | None, endpoint_id: int) -> Endpoint:
    """A new secret for the endpoint (returned once); the old one still signs for 24 h."""
    with app.transaction() as conn:
        return endpoints.rotate_secret(conn, app.account(conn, account).id, endpoint_id, _now())


def enable_endpoint(app: App, account: str | None, endpoint_id: int) -> Endpoint:
    """Enable a disabled endpoint; its pending deliveries are due at once."""
    with app.transaction() as conn:
        return endpoints.enable_endpoint(conn, app.account(conn, account).id, endpoint_id, _now())


def list_deliveries(
    app: App,
    account: str | None,
    *,
    endpoint_id: int | None = None,
    failed_only: bool = False,
    limit: int = 50,
) -> list[Delivery]:
    """The account's latest deliveries, newest first."""
    with app.reader() as conn:
        return deliveries.list_deliveries(
            conn,
            app.account(conn, account).id,
            endpoint_id=endpoint_id,
            failed_only=failed_only,
            limit=limit,
        )


def delivery_attempts(app: App, account: str | None, delivery_id: int) -> list[Attempt]:
    """Every attempt of one of the account's deliveries, oldest first."""
    with app.reader() as conn:
        return deliveries.attempts_of(conn, app.account(conn, account).id, delivery_id)


def replay_delivery(app: App, account: str | None, delivery_id: int) -> None:
    """Make one of the account's deliveries due now, with a fresh day of retries."""
    with app.transaction() as conn:
        deliveries.replay(conn, app.account(conn, account).id, delivery_id, _now())
