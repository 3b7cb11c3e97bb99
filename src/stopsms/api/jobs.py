"""``/v1/jobs``: background jobs of the account (imports, campaign sends, exports).

A long piece of work never runs inside a request: the route that starts it submits a job in
the transaction of the data it concerns and answers 202 with the job (:func:`accepted`); the
client follows ``/v1/jobs/{id}`` (state, progress, result, error) and downloads the files the
job kept: an export's ``output``, an import's ``rejects`` report. Another account's job is 404.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from stopsms.api.deps import AppDep, ClockDep, Editor, Viewer
from stopsms.api.problems import problem_responses
from stopsms.app import results
from stopsms.app.principals import acting_account
from stopsms.jobs import resource
from stopsms.jobs.resource import Job

__all__ = ["JobId", "JobOut", "accepted", "router"]

router = APIRouter(tags=["jobs"])

JobId = Annotated[int, Path(ge=1, le=2**62)]
_FILE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file", "content": {"text/csv": {}, "application/octet-stream": {}}}
}
#: What an uploaded file's name may not carry into a header (quotes, controls, non-ASCII).
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")
_MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": "application/octet-stream"}


class JobOut(BaseModel):
    """A job: its kind, state, progress and outcome."""

    id: int
    kind: str
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    campaign_id: int | None
    progress_done: int
    progress_total: int | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    files: list[str] = Field(
        default_factory=list, description="The files to download once it succeeded."
    )


def accepted(job: Job) -> JobOut:
    """The job in its public form (its params and queue id stay inside)."""
    shown = results.plain(job)
    for hidden in ("account_id", "params", "queue_job_id"):
        shown.pop(hidden, None)
    files = []
    if job.state == "succeeded" and job.result is not None:
        if job.kind == "campaign_export":
            files.append("output")
        if job.result.get("rejects_file"):
            files.append("rejects")
    return JobOut(files=files, **shown)


@router.get("/jobs", response_model=list[JobOut], responses=problem_responses(401, 422, 429, 503))
def find_jobs(
    who: Viewer,
    app: AppDep,
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[JobOut]:
    """The account's jobs, newest first (``state``: only those in it)."""
    with app.reader() as connection:
        found = resource.list_jobs(
            connection, acting_account(connection, who), state=state, limit=limit
        )
    return [accepted(job) for job in found]


@router.get(
    "/jobs/{job_id}", response_model=JobOut, responses=problem_responses(401, 404, 422, 429, 503)
)
def read_job(job_id: JobId, who: Viewer, app: AppDep) -> JobOut:
    """One job: state, progress, attempts, result or error."""
    with app.reader() as connection:
        return accepted(resource.get_job(connection, acting_account(connection, who), job_id))


@router.get(
    "/jobs/{job_id}/files/{role}",
    response_class=Response,
    responses=_FILE | problem_responses(401, 404, 422, 429, 503),
)
def download(
    job_id: JobId, role: Literal["output", "rejects"], who: Viewer, app: AppDep
) -> Response:
    """A file the job kept: an export's ``output``, an import's ``rejects`` report."""
    with app.reader() as connection:
        kept = resource.job_file(connection, acting_account(connection, who), job_id, role)
    suffix = kept.name.rsplit(".", 1)[-1].lower()
    return Response(
        kept.content,
        media_type=_MEDIA.get(suffix, "application/octet-stream"),
        headers={"Content-Disposition": f'attachment; filename="{_UNSAFE.sub("_", kept.name)}"'},
    )


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=JobOut,
    responses=problem_responses(401, 403, 404, 422, 429, 503),
)
def cancel(job_id: JobId, who: Editor, app: AppDep, clock: ClockDep) -> JobOut:
    """Cancel a job that has not started (a running one finishes: its work is one
    transaction)."""
    with app.transaction() as connection:
        job = resource.cancel_job(connection, acting_account(connection, who), job_id, clock.now())
    return accepted(job)
