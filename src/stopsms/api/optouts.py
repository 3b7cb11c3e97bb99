"""``/v1/optouts``: the suppression registry: list, check, add, remove, review, export.

An opt-out takes effect when its request's transaction commits. Removing one (a
re-subscription) needs ``evidence``, the person's own request, kept with the revoked record
and in the audit log (``optout.removed``). The review queue holds the uncertain records an
inbound text created ("when in doubt, opt out"): ``approve`` keeps the number suppressed,
``dismiss`` revokes it with the reasoning as evidence. Numbers are read in any format.

Import is a file upload (``multipart/form-data``, a plain list, CSV/TSV or ``.xlsx``, the
formats of ``stopsms optouts import``): the file is kept with an ``optout_import`` job in the
request's transaction and the answer is 202 with the job; its result counts the rows, the
numbers added, those already opted out, the duplicates and the rejects, whose report (line,
value, reason) is the job's ``rejects`` file. Export is a CSV download, the registry as
``stopsms optouts export`` writes it (:mod:`stopsms.services.optouts.files` for both).
"""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from stopsms.api.deps import AppDep, ClockDep, Editor, Owner, Viewer
from stopsms.api.jobs import JobOut, accepted
from stopsms.api.numbers import named
from stopsms.api.problems import Problem, problem_responses
from stopsms.app import results
from stopsms.app.principals import acting_account
from stopsms.jobs.kinds import submit_optout_import
from stopsms.services.access.audit import record
from stopsms.services.optouts import optouts
from stopsms.services.optouts import review as optout_review
from stopsms.services.optouts.files import export_optouts

__all__ = ["router"]

router = APIRouter(tags=["optouts"])
OptOutId = Annotated[int, Path(ge=1, le=2**62)]
_READ = problem_responses(401, 404, 422, 429, 503)
_WRITE = problem_responses(401, 403, 404, 409, 422, 429, 503)
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"description": "CSV, ';'-separated", "content": {"text/csv": {}}}
}
#: The largest blacklist taken over HTTP (larger files: ``stopsms optouts import``).
MAX_UPLOAD = 64 * 1024 * 1024
_SENDER = Field(default=None, min_length=1, max_length=20, description="One sender ID only.")


@router.get("/optouts", responses=_READ)
def find_optouts(
    who: Viewer,
    app: AppDep,
    include_revoked: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> dict[str, Any]:
    """The account's opt-outs, newest first; give ``next_cursor`` as ``cursor`` for the next
    page (null: the last page)."""
    with app.reader() as connection:
        page = optout_review.list_optouts(
            connection,
            acting_account(connection, who),
            include_revoked=include_revoked,
            limit=limit + 1,
            offset=cursor,
        )
    more = len(page) > limit
    return results.to_jsonable(  # type: ignore[no-any-return]
        {
            "optouts": [results.optout(o) for o in page[:limit]],
            "next_cursor": cursor + limit if more else None,
        }
    )


@router.get("/optouts/check", responses=_READ)
def check(
    who: Viewer,
    app: AppDep,
    number: Annotated[str, Query(min_length=1, max_length=40, description="Any format.")],
    sender: Annotated[str | None, Query(min_length=1, max_length=20)] = None,
) -> dict[str, Any]:
    """Whether the number is suppressed (for ``sender``), by which record, with its history."""
    with named(), app.reader() as connection:
        account = acting_account(connection, who)
        found = optouts.is_suppressed(connection, account, number, sender)
        records = optouts.history(connection, account, number)
    return results.to_jsonable(results.optout_check(optouts.to_e164(number), found, records))  # type: ignore[no-any-return]


class OptOutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=40, description="Any format.")
    reason: str | None = Field(default=None, min_length=1, max_length=500)
    sender: str | None = _SENDER


@router.post("/optouts", status_code=201, responses=_WRITE)
def add(body: OptOutIn, who: Editor, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """Opt a number out of the account (of one sender with ``sender`` when the account's
    opt-out scope is ``sender``; else of the whole account: ``widened``)."""
    with named(), app.transaction() as connection:
        done = optouts.record_optout(
            connection,
            acting_account(connection, who),
            body.number,
            source="manual",
            detail=body.reason,
            sender=body.sender,
            scope="sender" if body.sender else "account",
            recorded_by=who.actor,
            now=clock.now(),
        )
    widened = body.sender is not None and done.optout.scope == "account"
    return results.to_jsonable(results.optout_recorded(done, widened=widened))  # type: ignore[no-any-return]


class RemovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=40, description="Any format.")
    evidence: str = Field(
        min_length=1,
        max_length=2000,
        pattern=r"\S",
        description="The person's own request: text, reference.",
    )
    sender: str | None = _SENDER


@router.post("/optouts/removals", responses=_WRITE)
def remove(body: RemovalIn, who: Owner, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """Re-subscribe a number on its owner's evidenced request (owner; audited); the records
    stay, revoked."""
    with named(), app.transaction() as connection:
        account = acting_account(connection, who)
        revoked = optouts.resubscribe(
            connection,
            account,
            body.number,
            evidence=body.evidence,
            by=who.actor,
            sender=body.sender,
            now=clock.now(),
        )
        detail = {"optouts": [r.id for r in revoked], "evidence": body.evidence}
        record(connection, account.id, who.actor, "optout.removed", detail, clock.now())
    return results.to_jsonable({"revoked": [results.optout(r) for r in revoked]})  # type: ignore[no-any-return]


@router.get("/optouts/review", responses=_READ)
def review_queue(who: Viewer, app: AppDep) -> dict[str, Any]:
    """The uncertain opt-outs waiting for a person (already in force)."""
    with app.reader() as connection:
        queue = optout_review.review_queue(connection, acting_account(connection, who))
    return results.to_jsonable({"optouts": [results.optout(o) for o in queue]})  # type: ignore[no-any-return]


@router.post("/optouts/{optout_id}/approve", responses=_WRITE)
def approve(optout_id: OptOutId, who: Editor, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """It was an opt-out: the number stays suppressed."""
    with app.transaction() as connection:
        done = optout_review.confirm_review(
            connection, acting_account(connection, who), optout_id, by=who.actor, now=clock.now()
        )
    return results.to_jsonable(results.optout(done))  # type: ignore[no-any-return]


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evidence: str = Field(
        min_length=1, max_length=2000, pattern=r"\S", description="Why it was no opt-out."
    )


@router.post("/optouts/{optout_id}/dismiss", responses=_WRITE)
def dismiss(
    optout_id: OptOutId, body: DismissIn, who: Editor, app: AppDep, clock: ClockDep
) -> dict[str, Any]:
    """It was no opt-out: the record is revoked with the reasoning."""
    with app.transaction() as connection:
        done = optout_review.dismiss_review(
            connection,
            acting_account(connection, who),
            optout_id,
            evidence=body.evidence,
            by=who.actor,
            now=clock.now(),
        )
    return results.to_jsonable(results.optout(done))  # type: ignore[no-any-return]


@router.get(
    "/optouts/export",
    response_class=Response,
    responses=_CSV | _READ,
)
def export(who: Viewer, app: AppDep, include_revoked: bool = False) -> Response:
    """Every opt-out as CSV (erased people with an empty phone: kept as a hash only)."""
    out = io.StringIO()
    with app.reader() as connection:
        export_optouts(
            connection, acting_account(connection, who), out, include_revoked=include_revoked
        )
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="optouts.csv"'},
    )


@router.post("/optouts/imports", status_code=202, response_model=JobOut, responses=_WRITE)
def import_optouts(
    who: Editor,
    app: AppDep,
    clock: ClockDep,
    file: Annotated[UploadFile, File(description="A list, CSV/TSV or XLSX of numbers.")],
    region: Annotated[str, Form(pattern=r"^[A-Z]{2}$")] = "FR",
) -> JobOut:
    """Upload a blacklist: 202 with the ``optout_import`` job that records it (source
    ``import``); the unusable rows are its ``rejects`` report."""
    content = file.file.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD:
        raise Problem(413, "file_too_large", f"file: more than {MAX_UPLOAD:,} bytes", field="file")
    if not content:
        raise Problem(422, "invalid_field", "file: the file is empty", field="file")
    with app.transaction() as connection:
        account = acting_account(connection, who)
        job = submit_optout_import(
            connection,
            account.name,
            file.filename or "optouts.csv",
            content,
            region=region,
            recorded_by=who.actor,
            now=clock.now(),
        )
    return accepted(job)
