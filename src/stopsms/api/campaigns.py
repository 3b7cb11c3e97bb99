"""``/v1/campaigns``: create, update while draft, preview, send or schedule, pause, resume,
cancel, report, export.

Nothing long runs inside a request: ``send`` submits a ``campaign_send`` job (the checks,
the credit and the preparation of every recipient, then the engine sends) and ``exports``
a ``campaign_export`` job, each answered 202 with the job (``/v1/jobs/{id}``); a second send
while one is queued or running is 409 ``send_in_progress``. ``schedule`` only records the
time: the schedule check submits the send job when it is due. Pause, resume and cancel are
the status transitions the CLI makes, each in one transaction; a transition the campaign's
status does not allow is a 422 naming ``status``.

``PATCH`` changes a draft (list, text, sender, name; ``at`` schedules it) after the checks of
creation, on the campaign as it will be; any other status is 409 ``campaign_not_draft``.
``resume`` of a paused campaign that was never prepared (a scheduled one parked for credit)
prepares it: that is long work, so it is a ``campaign_send`` job (202), as a send is; a paused
campaign that was prepared resumes in the request (200 with the campaign).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from stopsms.api.deps import AppDep, ClockDep, Editor, Viewer
from stopsms.api.jobs import JobOut, accepted
from stopsms.api.problems import Problem, problem_responses
from stopsms.app import results
from stopsms.app.principals import acting_account
from stopsms.domain.campaign import CampaignStatus
from stopsms.domain.mention import MessageType
from stopsms.domain.parts import TooManyParts
from stopsms.jobs import resource
from stopsms.services.campaigns import campaigns as svc
from stopsms.services.campaigns import reports
from stopsms.services.campaigns.lengths import check_length
from stopsms.services.campaigns.preparation import never_prepared, resume_sending

__all__ = ["router"]

router = APIRouter(tags=["campaigns"])
#: Campaign ids are 32-bit integers in the database.
CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_READ = problem_responses(401, 404, 422, 429, 503)
_STATUSES = "^(" + "|".join(s.value for s in CampaignStatus) + ")$"
_WRITE = problem_responses(401, 403, 404, 409, 422, 429, 503)


class CampaignIn(BaseModel):
    """A new campaign: ``draft``, or ``scheduled`` when ``at`` is given."""

    model_config = ConfigDict(extra="forbid")

    list: str = Field(min_length=1, max_length=200, description="The list to send to.")
    text: str = Field(min_length=1, max_length=1600, description="$prenom, {first_name}…")
    sender: str = Field(min_length=1, max_length=20, description="A listed sender ID.")
    type: Literal["marketing", "informative"] = "marketing"
    at: datetime | None = Field(default=None, description="Schedule (ISO-8601, with offset).")
    name: str | None = Field(default=None, min_length=1, max_length=200)


@contextmanager
def _links() -> Iterator[None]:
    """A link to an unverified domain is 422 ``url_not_allowed`` naming ``text`` (as for a
    message)."""
    try:
        yield
    except svc.UnverifiedLink as error:
        raise Problem(422, "url_not_allowed", str(error), field="text") from error


@router.get("/campaigns", responses=_READ)
def find_campaigns(
    who: Viewer,
    app: AppDep,
    status: Annotated[str | None, Query(pattern=_STATUSES)] = None,
) -> dict[str, Any]:
    """The account's campaigns with their counts (``status``: only those in it)."""
    with app.reader() as connection:
        found = svc.list_campaigns(
            connection,
            acting_account(connection, who),
            status=CampaignStatus(status) if status is not None else None,
        )
    return {"campaigns": results.to_jsonable(results.campaign_listing(found))}


@router.post("/campaigns", status_code=201, responses=_WRITE)
def create(body: CampaignIn, who: Editor, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """Create a campaign after every check that can be made before preparation (a text too
    long for the account's parts limit is refused and nothing is created)."""
    with _links(), app.transaction() as connection:
        account = acting_account(connection, who)
        created = svc.create_campaign(
            connection,
            account,
            list_name=body.list,
            text=body.text,
            sender=body.sender,
            clock=clock,
            message_type=MessageType(body.type),
            at=body.at,
            name=body.name,
            shortcode_substitution=app.shortcode_substitution,
        )
        long_text = check_length(created.campaign, account, app.max_parts)
    notes = [*created.notes, *([long_text] if long_text else [])]
    return results.to_jsonable({**results.campaign(created.campaign), "notes": notes})  # type: ignore[no-any-return]


class CampaignPatch(BaseModel):
    """What to change in a draft; a field left out stays."""

    model_config = ConfigDict(extra="forbid")

    list: str | None = Field(default=None, min_length=1, max_length=200)
    text: str | None = Field(default=None, min_length=1, max_length=1600)
    sender: str | None = Field(default=None, min_length=1, max_length=20)
    at: datetime | None = Field(default=None, description="Schedule it (draft → scheduled).")
    name: str | None = Field(default=None, min_length=1, max_length=200)


@router.patch("/campaigns/{campaign_id}", responses=_WRITE)
def change(
    campaign_id: CampaignId, body: CampaignPatch, who: Editor, app: AppDep, clock: ClockDep
) -> dict[str, Any]:
    """Change a draft campaign, with the checks of its creation (409 ``campaign_not_draft``
    once it is scheduled, sending or done)."""
    with _links(), app.transaction() as connection:
        account = acting_account(connection, who)
        try:
            updated = svc.update_campaign(
                connection,
                account,
                campaign_id,
                clock,
                list_name=body.list,
                text=body.text,
                sender=body.sender,
                at=body.at,
                name=body.name,
                shortcode_substitution=app.shortcode_substitution,
            )
        except svc.CampaignNotDraft as refused:
            raise Problem(409, "campaign_not_draft", str(refused), field="status") from None
        long_text = check_length(updated.campaign, account, app.max_parts)
    notes = [*updated.notes, *([long_text] if long_text else [])]
    return results.to_jsonable({**results.campaign(updated.campaign), "notes": notes})  # type: ignore[no-any-return]


@router.get("/campaigns/{campaign_id}", responses=_READ)
def report(campaign_id: CampaignId, who: Viewer, app: AppDep) -> dict[str, Any]:
    """The campaign's report: counts by decision and status, STOPs, credits, times."""
    with app.reader() as connection:
        found = reports.campaign_report(connection, acting_account(connection, who), campaign_id)
    return results.to_jsonable(results.campaign_report(found))  # type: ignore[no-any-return]


@router.post("/campaigns/{campaign_id}/preview", responses=_WRITE)
def preview(campaign_id: CampaignId, who: Viewer, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """The exact SMS, counts by decision, parts, credits and the expected finish time
    (nothing is sent or kept)."""
    with app.transaction() as connection:
        account = acting_account(connection, who)
        result = reports.preview_campaign(
            connection,
            account,
            campaign_id,
            clock,
            rate=app.rate,
            shortcode_substitution=app.shortcode_substitution,
            max_parts=app.max_parts,
        )
        try:
            length = check_length(result.campaign, account, app.max_parts)
        except TooManyParts as refused:
            length = f"refused at send: {refused}"
    return results.to_jsonable(results.campaign_preview(result, length))  # type: ignore[no-any-return]


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow_partial: bool = Field(
        default=False, description="Short of credit: send to as many as the credit covers."
    )


@router.post(
    "/campaigns/{campaign_id}/send", status_code=202, response_model=JobOut, responses=_WRITE
)
def send(
    campaign_id: CampaignId, who: Editor, app: AppDep, clock: ClockDep, body: SendIn | None = None
) -> JobOut:
    """Send now: 202 with the ``campaign_send`` job (checks, credit, preparation; then the
    engine sends). Its failure (no credit, nobody to send to) is the job's ``error``."""
    with app.transaction() as connection:
        account = acting_account(connection, who)
        campaign = svc.get_campaign(connection, account, campaign_id)
        if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
            raise Problem(
                422,
                "invalid_field",
                f"status: campaign {campaign_id} is {campaign.status.value}; only a draft or "
                "scheduled campaign is sent",
                field="status",
            )
        if resource.active_send(connection, campaign_id):
            raise Problem(
                409, "send_in_progress", f"campaign {campaign_id} has a send job queued or running"
            )
        params = {"campaign_id": campaign_id, "allow_partial": bool(body and body.allow_partial)}
        job = resource.submit(
            connection, account, "campaign_send", params, clock.now(), campaign_id=campaign_id
        )
    return accepted(job)


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: datetime = Field(description="When to send (ISO-8601 with its offset; in the future).")


@router.post("/campaigns/{campaign_id}/schedule", responses=_WRITE)
def schedule(
    campaign_id: CampaignId, body: ScheduleIn, who: Editor, app: AppDep, clock: ClockDep
) -> dict[str, Any]:
    """``draft → scheduled``: the send job is submitted when the time comes."""
    with app.transaction() as connection:
        done = svc.schedule_campaign(
            connection, acting_account(connection, who), campaign_id, body.at, clock
        )
    return results.to_jsonable(results.campaign(done))  # type: ignore[no-any-return]


@router.post("/campaigns/{campaign_id}/pause", responses=_WRITE)
def pause(campaign_id: CampaignId, who: Editor, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """Pause sending; ``resume`` continues where it stopped."""
    with app.transaction() as connection:
        done = svc.pause_campaign(connection, acting_account(connection, who), campaign_id, clock)
    return results.to_jsonable(results.campaign(done))  # type: ignore[no-any-return]


_PREPARING: dict[int | str, dict[str, Any]] = {
    202: {"model": JobOut, "description": "Never prepared: the campaign_send job preparing it"}
}


@router.post("/campaigns/{campaign_id}/resume", responses=_PREPARING | _WRITE)
def resume(
    campaign_id: CampaignId, who: Editor, app: AppDep, clock: ClockDep, body: SendIn | None = None
) -> Any:
    """A paused campaign sends again, its credit decided again first (never prepared: 202
    with the ``campaign_send`` job that prepares it)."""
    allow_partial = bool(body and body.allow_partial)
    with app.transaction() as connection:
        account = acting_account(connection, who)
        campaign = svc.get_campaign(connection, account, campaign_id)
        if campaign.status is CampaignStatus.PAUSED and never_prepared(connection, campaign_id):
            if resource.active_send(connection, campaign_id):
                raise Problem(
                    409,
                    "send_in_progress",
                    f"campaign {campaign_id} has a send job queued or running",
                )
            params = {"campaign_id": campaign_id, "allow_partial": allow_partial, "resume": True}
            job = resource.submit(
                connection, account, "campaign_send", params, clock.now(), campaign_id=campaign_id
            )
            return JSONResponse(jsonable_encoder(accepted(job)), status_code=202)
        done, _ = resume_sending(
            connection,
            account,
            campaign_id,
            clock,
            allow_partial=allow_partial,
            shortcode_substitution=app.shortcode_substitution,
            max_parts=app.max_parts,
        )
    return results.to_jsonable(results.campaign(done))


@router.post("/campaigns/{campaign_id}/cancel", responses=_WRITE)
def cancel(campaign_id: CampaignId, who: Editor, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """Cancel: messages not yet sent are cancelled (how many: ``cancelled_messages``)."""
    with app.transaction() as connection:
        done, cancelled = svc.cancel_campaign(
            connection, acting_account(connection, who), campaign_id, clock
        )
    return results.to_jsonable({**results.campaign(done), "cancelled_messages": cancelled})  # type: ignore[no-any-return]


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "xlsx"] = "csv"


@router.post(
    "/campaigns/{campaign_id}/exports", status_code=202, response_model=JobOut, responses=_WRITE
)
def export(
    campaign_id: CampaignId, who: Editor, app: AppDep, clock: ClockDep, body: ExportIn | None = None
) -> JobOut:
    """One row per recipient (number, decision, reason, status, times, parts): 202 with the
    ``campaign_export`` job; its file is ``/v1/jobs/{id}/files/output``."""
    with app.transaction() as connection:
        account = acting_account(connection, who)
        svc.get_campaign(connection, account, campaign_id)  # another account's: 404 now
        params = {"campaign_id": campaign_id, "format": body.format if body else "csv"}
        job = resource.submit(
            connection, account, "campaign_export", params, clock.now(), campaign_id=campaign_id
        )
    return accepted(job)
