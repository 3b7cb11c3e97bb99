"""The job kinds: what each job does, by its service's one entry point, all or nothing.

:func:`run_job` is the job function both queues call (procrastinate's task on PostgreSQL, the
in-process runner on SQLite): it claims the job in a committed transaction of its own, then
does the work and ends the job ``succeeded`` in ONE transaction, so a crash leaves the job
``running`` with nothing applied, and running it again is safe. What a crash leaves, by kind:

- ``contact_import``: the uploaded file is kept in the database (``job_files``, role
  ``input``) until the job ends — not under the data folder, because on PostgreSQL the worker
  that runs it may be on another machine than the server that took the upload. The import
  (:func:`~stopsms.services.contacts.importing.import_contacts`) is one transaction: a crash
  leaves no contact of the file and the input still kept; the rerun imports it whole (the
  import merges by number, so a rerun after success would change nothing either). The reject
  report is kept with the job (role ``rejects``), committed with the contacts.
- ``campaign_send``: what ``campaign send`` does before the engine takes over — the checks (STOP
  mention, length) and the preparation
  (:func:`~stopsms.services.campaigns.preparation.prepare_campaign`), one transaction that
  moves the campaign to ``sending``; the wire stays the engine's (``stopsms worker`` on
  PostgreSQL, ``stopsms serve`` on SQLite, sends what is ``sending``). A crash leaves the
  campaign as it was; preparing it again is idempotent (a campaign with messages returns their
  summary). A scheduled campaign that cannot start is parked ``paused`` with the reason, as
  the engine's schedule check did.
- ``optout_import``: a blacklist uploaded over the API, kept like a contact import's file;
  :func:`~stopsms.services.optouts.files.import_optouts` and the reject report (line, value,
  reason) commit with the job's ``succeeded`` in one transaction; a rerun adds nothing twice
  (a number already opted out counts as ``already``).
- ``campaign_send`` with ``resume``: a paused campaign resumed over the API that was never
  prepared (:func:`~stopsms.services.campaigns.preparation.resume_sending`), one transaction.
- ``campaign_export``: the per-recipient export written to a temporary file and kept with the
  job (role ``output``, the file to download); a crash keeps nothing and the rerun writes it
  again.

A refusal of the service (a :class:`~stopsms.domain.errors.StopsmsError`) ends the job
``failed`` with its sentence; any other exception too, as "internal error: …" (the job is
never left running by an error, only by a crash).

The schedule check (:func:`check_schedules`, periodic) is not an account's job: it submits a
``campaign_send`` job for each scheduled campaign that is due and has none queued or running.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import tempfile
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, select

from stopsms.clock import Clock, SystemClock
from stopsms.domain.errors import StopsmsError
from stopsms.domain.parts import TooManyParts
from stopsms.errors import InvalidInput
from stopsms.imports.cells import neutralise
from stopsms.jobs import resource
from stopsms.jobs.resource import Job, JobTakenOver, ProgressMeter
from stopsms.services.accounts.accounts import get_account_by_id
from stopsms.services.campaigns.lengths import check_length
from stopsms.services.campaigns.preparation import (
    NothingToSend,
    campaign_of,
    park_scheduled,
    prepare_campaign,
    resume_sending,
)
from stopsms.services.campaigns.reports import export_campaign
from stopsms.services.campaigns.shortfall import CreditShortfall
from stopsms.services.campaigns.stop_mention import MentionRefused, check_sending
from stopsms.services.contacts.importing import ImportOptions, import_contacts
from stopsms.services.exports import CSV_DELIMITER
from stopsms.services.optouts.files import import_optouts
from stopsms.store import tables as t
from stopsms.store.database import Database

__all__ = ["JobHost", "check_schedules", "run_job", "submit_import", "submit_optout_import"]

log = logging.getLogger(__name__)


class JobHost(Protocol):
    """What a job needs of the process running it (:class:`stopsms.app.App` is one)."""

    @property
    def database(self) -> Database: ...

    @property
    def shortcode_substitution(self) -> bool: ...

    @property
    def max_parts(self) -> int: ...


def _default(value: Any) -> Any:
    """JSON for what a summary holds besides JSON types: enums, datetimes."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{value!r} is not JSON")


def _jsonable(summary: Any) -> dict[str, Any]:
    """A service's summary (a dataclass) as the JSON a job's ``result`` keeps."""
    result: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(summary), default=_default))
    return result


# -- contact import -----------------------------------------------------------------------------

#: The fields of :class:`ImportOptions` a job takes (what a person chooses; no paths).
IMPORT_FIELDS = (
    "list_name",
    "consent",
    "consent_source",
    "overrides",
    "delimiter",
    "encoding",
    "region",
)


def submit_import(
    connection: Connection,
    account: str,
    name: str,
    content: bytes,
    options: dict[str, Any],
    now: datetime,
) -> Job:
    """Queue the import of the uploaded file ``name`` (``content``) into ``account`` with
    ``options`` (the fields of :data:`IMPORT_FIELDS`), in the caller's transaction."""
    unknown = sorted(set(options) - set(IMPORT_FIELDS))
    if unknown:
        raise InvalidInput("option", unknown[0], " or ".join(IMPORT_FIELDS))
    for key, value in options.items():
        if isinstance(value, str):
            _plain_option(_OPTION_NAMES.get(key, key), value)
    file_name = resource.file_name(name, "contacts.csv")
    params = {"file": file_name, "options": options}
    return resource.submit(
        connection, account, "contact_import", params, now, files=[("input", file_name, content)]
    )


#: What the API's form and the CLI call an option, where its name in a job differs.
_OPTION_NAMES = {"list_name": "list"}


def _plain_option(field: str, value: str) -> None:
    """``value`` unless it holds a control character other than a tab (a valid delimiter):
    :class:`InvalidInput` naming ``field``. The job keeps its options as JSON, which
    PostgreSQL refuses with a NUL in it (a 503 before this check, found by schemathesis),
    and no list name or consent source is meant to hold one."""
    for character in value:
        if unicodedata.category(character) == "Cc" and character != "\t":
            raise InvalidInput(
                field, value, f"holds the control character U+{ord(character):04X}; remove it"
            )


def _import(host: JobHost, job: Job, clock: Clock) -> None:
    database = host.database
    with database.reader() as connection:
        upload = connection.execute(
            select(t.job_files.c.name, t.job_files.c.content).where(
                t.job_files.c.job_id == job.id, t.job_files.c.role == "input"
            )
        ).one_or_none()
    if upload is None:
        raise StopsmsError(f"the uploaded file of job {job.id} is gone; upload it again")
    meter = ProgressMeter(job.id, database.engine)
    with tempfile.TemporaryDirectory(prefix="stopsms-import-") as folder:
        path = Path(folder) / upload.name
        path.write_bytes(bytes(upload.content))
        rejects = Path(folder) / "rejects.csv"
        options = ImportOptions(**job.params.get("options", {}), rejects_path=rejects)
        with database.transaction() as connection:
            account = get_account_by_id(connection, job.account_id)
            summary = import_contacts(connection, account, path, options, progress=meter)
            if rejects.exists():
                name = f"{Path(upload.name).stem}.rejects.csv"
                resource.put_file(connection, job.id, "rejects", name, rejects.read_bytes())
            result = _jsonable(summary)
            result["file"] = upload.name
            result["rejects_path"] = None
            result["rejects_file"] = rejects.exists()
            resource.succeed(connection, job, result, clock.now(), total=summary.rows)


# -- opt-out import ------------------------------------------------------------------------------


def submit_optout_import(
    connection: Connection,
    account: str,
    name: str,
    content: bytes,
    *,
    region: str,
    recorded_by: str,
    now: datetime,
) -> Job:
    """Queue the import of the uploaded blacklist ``name`` into ``account``'s registry, in the
    caller's transaction (``recorded_by``: who uploaded it, kept with each opt-out)."""
    file_name = resource.file_name(name, "optouts.csv")
    params = {"file": file_name, "region": region, "recorded_by": recorded_by}
    return resource.submit(
        connection, account, "optout_import", params, now, files=[("input", file_name, content)]
    )


def _input(host: JobHost, job: Job) -> tuple[str, bytes]:
    with host.database.reader() as connection:
        upload = connection.execute(
            select(t.job_files.c.name, t.job_files.c.content).where(
                t.job_files.c.job_id == job.id, t.job_files.c.role == "input"
            )
        ).one_or_none()
    if upload is None:
        raise StopsmsError(f"the uploaded file of job {job.id} is gone; upload it again")
    return str(upload.name), bytes(upload.content)


def _optout_import(host: JobHost, job: Job, clock: Clock) -> None:
    """The blacklist's numbers opted out (source ``import``) and the unusable rows kept as the
    job's ``rejects`` report (line, value, reason), one transaction."""
    name, content = _input(host, job)
    with tempfile.TemporaryDirectory(prefix="stopsms-optouts-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        with host.database.transaction() as connection:
            account = get_account_by_id(connection, job.account_id)
            summary = import_optouts(
                connection,
                account,
                path,
                recorded_by=str(job.params.get("recorded_by", "import")),
                default_region=str(job.params.get("region", "FR")),
                now=clock.now(),
            )
            if summary.rejected:
                out = io.StringIO()
                writer = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\n")
                writer.writerow(["line", "value", "reason"])
                for reject in summary.rejected:
                    writer.writerow([reject.line, neutralise(reject.value), reject.reason])
                rejects = out.getvalue().encode("utf-8")
                resource.put_file(
                    connection, job.id, "rejects", f"{path.stem}.rejects.csv", rejects
                )
            result = {
                "file": name,
                "rows": summary.rows,
                "added": summary.added,
                "already": summary.already,
                "duplicates": summary.duplicates,
                "rejected": len(summary.rejected),
                "rejects_file": bool(summary.rejected),
            }
            resource.succeed(connection, job, result, clock.now(), total=summary.rows)


# -- campaign send (preparation) and export -----------------------------------------------------


def _send(host: JobHost, job: Job, clock: Clock) -> None:
    campaign_id = int(job.params["campaign_id"])
    scheduled = bool(job.params.get("scheduled", False))
    substitution = host.shortcode_substitution
    if job.params.get("resume"):
        _resume(host, job, clock)
        return
    try:
        with host.database.transaction() as connection:
            account = get_account_by_id(connection, job.account_id)
            campaign, acc = campaign_of(connection, campaign_id, account.name)
            check_sending(acc, campaign.sender, campaign.type, substitution=substitution)
            check_length(campaign, acc, host.max_parts)
            summary = prepare_campaign(
                connection,
                campaign_id,
                clock,
                allow_partial=bool(job.params.get("allow_partial", False)),
                allow_empty=False,
                shortcode_substitution=substitution,
                max_parts=host.max_parts,
            )
            resource.succeed(connection, job, _jsonable(summary), clock.now())
    except (CreditShortfall, NothingToSend, TooManyParts, MentionRefused) as refusal:
        if not scheduled:
            raise
        with host.database.transaction() as connection:
            park_scheduled(connection, campaign_id, str(refusal), clock)
        raise


def _resume(host: JobHost, job: Job, clock: Clock) -> None:
    """A paused campaign resumed: prepared now if it never was (the checks and refusals of a
    send), else its credit decided again and ``paused → sending`` — one transaction."""
    campaign_id = int(job.params["campaign_id"])
    with host.database.transaction() as connection:
        account = get_account_by_id(connection, job.account_id)
        campaign, acc = campaign_of(connection, campaign_id, account.name)
        check_sending(acc, campaign.sender, campaign.type, substitution=host.shortcode_substitution)
        check_length(campaign, acc, host.max_parts)
        done, summary = resume_sending(
            connection,
            acc,
            campaign_id,
            clock,
            allow_partial=bool(job.params.get("allow_partial", False)),
            shortcode_substitution=host.shortcode_substitution,
            max_parts=host.max_parts,
        )
        result = _jsonable(summary) if summary is not None else {}
        result["status"] = done.status.value
        resource.succeed(connection, job, result, clock.now())


def _export(host: JobHost, job: Job, clock: Clock) -> None:
    campaign_id = int(job.params["campaign_id"])
    fmt = str(job.params.get("format", "csv"))
    with tempfile.TemporaryDirectory(prefix="stopsms-export-") as folder:
        path = Path(folder) / f"campaign-{campaign_id}.{fmt}"
        with host.database.transaction() as connection:
            account = get_account_by_id(connection, job.account_id)
            rows = export_campaign(connection, account, campaign_id, path, format=fmt)
            content = path.read_bytes()
            resource.put_file(connection, job.id, "output", path.name, content)
            result = {"file": path.name, "rows": rows, "bytes": len(content), "format": fmt}
            resource.succeed(connection, job, result, clock.now(), total=rows)


_KINDS: dict[str, Callable[[JobHost, Job, Clock], None]] = {
    "contact_import": _import,
    "campaign_send": _send,
    "campaign_export": _export,
    "optout_import": _optout_import,
}


# -- running one --------------------------------------------------------------------------------


def run_job(host: JobHost, job_id: int, clock: Clock | None = None) -> str | None:
    """Run job ``job_id`` (see the module doc); its state after, ``None`` if there was
    nothing to run (ended, cancelled, unknown, or taken over by a later run)."""
    clock = clock or SystemClock()
    database = host.database
    with database.transaction() as connection:
        job = resource.claim(connection, job_id, clock.now())
        if job is not None and job.attempts > resource.MAX_ATTEMPTS:
            resource.fail(
                connection,
                job_id,
                f"interrupted {resource.MAX_ATTEMPTS} times (the process stopped while it"
                " ran); nothing of it was applied",
                clock.now(),
                attempt=job.attempts,
            )
            return "failed"
    if job is None:
        return None
    try:
        _KINDS[job.kind](host, job, clock)
    except JobTakenOver:
        log.warning("job %s was taken over by a later run; this run's work rolled back", job_id)
        return None
    except StopsmsError as refusal:
        _failed(database, job, str(refusal), clock)
        return "failed"
    except Exception as error:
        log.exception("job %s (%s) failed", job_id, job.kind)
        _failed(database, job, f"internal error: {error.__class__.__name__}: {error}", clock)
        return "failed"
    return "succeeded"


def _failed(database: Database, job: Job, error: str, clock: Clock) -> None:
    with database.transaction() as connection:
        resource.fail(connection, job.id, error, clock.now(), attempt=job.attempts)


def check_schedules(host: JobHost, clock: Clock | None = None) -> list[Job]:
    """Submit a ``campaign_send`` job for each scheduled campaign that is due and has none
    queued or running; returns them (periodic: procrastinate's cron on PostgreSQL, the
    in-process runner's timer on SQLite)."""
    clock = clock or SystemClock()
    now = clock.now()
    c = t.campaigns.c
    submitted: list[Job] = []
    with host.database.transaction() as connection:
        due = connection.execute(
            select(c.id, c.account_id)
            .where(c.status == "scheduled", c.scheduled_at <= now)
            .order_by(c.scheduled_at, c.id)
            .with_for_update(skip_locked=True)
        ).all()
        for campaign_id, account_id in due:
            if resource.active_send(connection, campaign_id):
                continue
            account = get_account_by_id(connection, account_id)
            params = {"campaign_id": campaign_id, "scheduled": True}
            submitted.append(
                resource.submit(
                    connection, account, "campaign_send", params, now, campaign_id=campaign_id
                )
            )
    return submitted
