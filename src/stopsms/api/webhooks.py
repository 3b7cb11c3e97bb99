"""``/v1/webhooks``: the account's endpoints, their deliveries and attempts, replays.

Every route calls :mod:`stopsms.app.webhooks`, the use cases ``stopsms webhooks`` calls too,
so the API and the CLI share one rule for each (the SSRF check of the URL, events, secrets,
rotation, replay). Reading is the viewer's; every change is the owner's and is audited
(``webhook.*``, never the secret). The secret (``whsec_…``) is in the answer of creation and
rotation only. After a rotation the previous secret keeps signing for 24 hours: every request
carries two signatures meanwhile. Deliveries are paged newest first by id: ``next_cursor`` is
the ``before`` of the next page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from stopsms.api.deps import AppDep, ClockDep, Owner, Viewer
from stopsms.api.problems import Problem, problem_responses
from stopsms.app import results
from stopsms.app import webhooks as use
from stopsms.errors import InvalidInput
from stopsms.services.webhooks.deliveries import Attempt, Delivery
from stopsms.services.webhooks.endpoints import DESCRIPTION_LIMIT, Endpoint
from stopsms.services.webhooks.events import EVENT_TYPES
from stopsms.services.webhooks.targets import FIELD as _URL_FIELD

__all__ = ["router"]

router = APIRouter(tags=["webhooks"])
#: Endpoint and delivery ids (``webhook_endpoints.id`` is 32-bit, deliveries 64-bit).
EndpointId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DeliveryId = Annotated[int, Path(ge=1, le=2**62)]
_READ = problem_responses(401, 404, 422, 429, 503)
_WRITE = problem_responses(401, 403, 404, 422, 429, 503)
_EVENTS = f"Event types, or `*` for all: {', '.join(EVENT_TYPES)}."


class EndpointIn(BaseModel):
    """A new endpoint."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000, description="http(s) URL of the receiver.")
    events: list[str] = Field(min_length=1, max_length=20, description=_EVENTS)
    description: str | None = Field(default=None, max_length=DESCRIPTION_LIMIT)


class EndpointPatch(BaseModel):
    """What to change; a field left out stays, ``description: ""`` clears it."""

    model_config = ConfigDict(extra="forbid")

    events: list[str] | None = Field(default=None, min_length=1, max_length=20, description=_EVENTS)
    enabled: bool | None = Field(
        default=None, description="false stops deliveries (kept pending); true sends them now."
    )
    description: str | None = Field(default=None, max_length=DESCRIPTION_LIMIT)


class EndpointOut(BaseModel):
    """An endpoint as listed: never its secret."""

    id: int
    url: str
    description: str | None
    events: list[str]
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None
    consecutive_failures: int
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the previous secret signs too (a second signature)."
    )
    created_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="The signing secret (whsec_…): shown this once.")


class DeliveryOut(BaseModel):
    """One event's delivery to one endpoint."""

    id: int
    event_id: str = Field(description="The `webhook-id` header the receiver sees.")
    event_type: str
    endpoint_id: int
    status: str = Field(description="pending, delivered or failed.")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class AttemptOut(BaseModel):
    id: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None


class DeliveryDetail(DeliveryOut):
    attempt_log: list[AttemptOut] = Field(description="Every attempt, oldest first.")


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: int | None = Field(description="Give it as `before` for the next page.")


def _endpoint(endpoint: Endpoint) -> dict[str, Any]:
    shown = results.plain(endpoint)
    shown.pop("account_id", None)
    shown.pop("secret", None)
    shown["events"] = list(endpoint.events)
    return shown


def _delivery(delivery: Delivery) -> DeliveryOut:
    return DeliveryOut(**results.plain(delivery))


def _attempt(attempt: Attempt) -> AttemptOut:
    shown = results.plain(attempt)
    shown.pop("delivery_id", None)
    return AttemptOut(**shown)


@router.get("/webhooks", response_model=list[EndpointOut], responses=_READ)
def endpoints(who: Viewer, app: AppDep) -> list[EndpointOut]:
    """The account's endpoints, oldest first."""
    return [EndpointOut(**_endpoint(e)) for e in use.list_endpoints(app, who.account)]


@router.post("/webhooks", status_code=201, response_model=EndpointWithSecret, responses=_WRITE)
def create(body: EndpointIn, who: Owner, app: AppDep, clock: ClockDep) -> EndpointWithSecret:
    """A new endpoint; the answer holds its secret, once. A URL on loopback or a private
    network is refused (``url``) unless the installation allows it."""
    try:
        created = use.add_endpoint(
            app,
            who.account,
            body.url,
            body.events,
            description=body.description,
            actor=who.actor,
            now=clock.now(),
        )
    except InvalidInput as refused:
        field = "url" if refused.field == _URL_FIELD else refused.field
        raise Problem(422, "invalid_field", str(refused), field=field) from None
    assert created.secret is not None
    return EndpointWithSecret(secret=created.secret, **_endpoint(created))


@router.get("/webhooks/{endpoint_id}", response_model=EndpointOut, responses=_READ)
def endpoint(endpoint_id: EndpointId, who: Viewer, app: AppDep) -> EndpointOut:
    """One endpoint: its events, state and failures."""
    return EndpointOut(**_endpoint(use.get_endpoint(app, who.account, endpoint_id)))


@router.patch("/webhooks/{endpoint_id}", response_model=EndpointOut, responses=_WRITE)
def change(
    endpoint_id: EndpointId, body: EndpointPatch, who: Owner, app: AppDep, clock: ClockDep
) -> EndpointOut:
    """Change the events, enable or disable, describe."""
    updated = use.update_endpoint(
        app,
        who.account,
        endpoint_id,
        events=body.events,
        enabled=body.enabled,
        description=body.description,
        actor=who.actor,
        now=clock.now(),
    )
    return EndpointOut(**_endpoint(updated))


@router.delete("/webhooks/{endpoint_id}", response_model=EndpointOut, responses=_WRITE)
def remove(endpoint_id: EndpointId, who: Owner, app: AppDep, clock: ClockDep) -> EndpointOut:
    """Delete the endpoint with its deliveries (the events stay)."""
    removed = use.remove_endpoint(app, who.account, endpoint_id, actor=who.actor, now=clock.now())
    return EndpointOut(**_endpoint(removed))


@router.post(
    "/webhooks/{endpoint_id}/rotate-secret",
    response_model=EndpointWithSecret,
    responses=_WRITE,
)
def rotate(endpoint_id: EndpointId, who: Owner, app: AppDep, clock: ClockDep) -> EndpointWithSecret:
    """A new secret (in the answer, once); the previous one also signs for 24 hours."""
    rotated = use.rotate_secret(app, who.account, endpoint_id, actor=who.actor, now=clock.now())
    assert rotated.secret is not None
    return EndpointWithSecret(secret=rotated.secret, **_endpoint(rotated))


@router.get("/webhooks/{endpoint_id}/deliveries", response_model=DeliveryPage, responses=_READ)
def deliveries(
    endpoint_id: EndpointId,
    who: Viewer,
    app: AppDep,
    failed: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> DeliveryPage:
    """The endpoint's deliveries, newest first (``failed``: only those that gave up)."""
    found = use.list_deliveries(
        app,
        who.account,
        endpoint_id=endpoint_id,
        failed_only=failed,
        limit=limit + 1,
        before=before,
    )
    page = found[:limit]
    cursor = page[-1].id if len(found) > limit else None
    return DeliveryPage(deliveries=[_delivery(d) for d in page], next_cursor=cursor)


@router.get("/webhooks/deliveries/{delivery_id}", response_model=DeliveryDetail, responses=_READ)
def delivery(delivery_id: DeliveryId, who: Viewer, app: AppDep) -> DeliveryDetail:
    """One delivery with every attempt (time, status code, latency, error)."""
    found, attempts = use.get_delivery(app, who.account, delivery_id)
    return DeliveryDetail(
        attempt_log=[_attempt(a) for a in attempts], **_delivery(found).model_dump()
    )


@router.post(
    "/webhooks/deliveries/{delivery_id}/replay",
    response_model=DeliveryOut,
    responses=_WRITE,
)
def replay(delivery_id: DeliveryId, who: Owner, app: AppDep, clock: ClockDep) -> DeliveryOut:
    """Send the delivery again (same ``webhook-id``), due now with a fresh day of retries."""
    replayed = use.replay_delivery(app, who.account, delivery_id, actor=who.actor, now=clock.now())
    return _delivery(replayed)
