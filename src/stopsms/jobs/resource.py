"""The job resource: a row per job (state, progress, result, error), scoped by account.

States: ``queued → running → succeeded | failed``, and ``cancelled`` before it runs. A job's
work commits in ONE transaction with its ``succeeded`` row (:func:`succeed` takes the work's
connection), so a crash mid-work leaves the job ``running`` with nothing of it applied; the
runner then takes it again (:func:`claim` counts ``attempts``) until :data:`MAX_ATTEMPTS`,
after which it is ``failed`` with a sentence saying so.

:func:`submit` enqueues in the caller's transaction: on PostgreSQL it also defers the
procrastinate job (``procrastinate_defer_jobs_v1``, procrastinate's own SQL function) on the
same connection, so a rolled-back transaction leaves neither the row, nor the queue entry,
nor the data it concerns.

Progress is cheap: at most one write a second per job (:class:`ProgressMeter`). On
PostgreSQL it is written on a connection of its own (autocommit), visible to every process; on
SQLite the work's transaction holds the write lock, so progress stays in this process's memory
(:data:`LIVE`) and :func:`get_job` shows it from there — what ``stopsms serve`` runs, and
shows, in one process.
"""

from __future__ import annotations

import json
import threading
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, or_, select, update

from stopsms.domain.errors import StopsmsError
from stopsms.errors import InvalidInput, NotFound
from stopsms.services.accounts.accounts import Account, AccountRef, resolve_account
from stopsms.store import tables as t

__all__ = [
    "ACTIVE",
    "LIVE",
    "MAX_ATTEMPTS",
    "PROCRASTINATE_QUEUE",
    "PROCRASTINATE_TASK",
    "Job",
    "JobFile",
    "JobTakenOver",
    "ProgressMeter",
    "cancel_job",
    "claim",
    "fail",
    "file_name",
    "get_job",
    "job_file",
    "list_jobs",
    "put_file",
    "submit",
    "succeed",
]

#: How many times a job is started before a crash every time makes it ``failed``.
MAX_ATTEMPTS = 3
#: The states in which a job is still to end.
ACTIVE = ("queued", "running")
#: The procrastinate queue and task every job goes through on PostgreSQL.
PROCRASTINATE_QUEUE = "stopsms"
PROCRASTINATE_TASK = "stopsms.run_job"
#: Progress of the jobs running in this process, ``job id → (done, total)`` (see module doc).
LIVE: dict[int, tuple[int, int | None]] = {}
_LIVE_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Job:
    """A job as its account sees it."""

    id: int
    account_id: int
    kind: str
    state: str
    params: dict[str, Any]
    campaign_id: int | None
    progress_done: int
    progress_total: int | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    queue_job_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class JobFile:
    """A file kept with a job: its input (an uploaded import), a reject report, an export."""

    job_id: int
    role: str
    name: str
    content: bytes


def _job(row: Any) -> Job:
    done, total = row.progress_done, row.progress_total
    if row.state == "running":
        with _LIVE_LOCK:
            live = LIVE.get(row.id)
        if live is not None and live[0] >= done:
            done, total = live
    return Job(
        id=row.id,
        account_id=row.account_id,
        kind=row.kind,
        state=row.state,
        params=dict(row.params or {}),
        campaign_id=row.campaign_id,
        progress_done=done,
        progress_total=total,
        result=None if row.result is None else dict(row.result),
        error=row.error,
        attempts=row.attempts,
        queue_job_id=row.queue_job_id,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _defer(connection: Connection, job_id: int) -> int:
    """Enqueue job ``job_id`` in procrastinate, in the caller's transaction; its queue id."""
    args = json.dumps({"job_id": job_id})
    return int(
        connection.exec_driver_sql(
            "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW("
            "%(queue)s, %(task)s, 0, NULL, NULL, %(args)s::jsonb, NULL"
            ")::procrastinate_job_to_defer_v1]))",
            {"queue": PROCRASTINATE_QUEUE, "task": PROCRASTINATE_TASK, "args": args},
        ).scalar_one()
    )


def submit(
    connection: Connection,
    account: AccountRef,
    kind: str,
    params: Mapping[str, Any],
    now: datetime,
    *,
    campaign_id: int | None = None,
    files: Sequence[tuple[str, str, bytes]] = (),
) -> Job:
    """Create a ``queued`` job of ``kind`` for ``account`` and enqueue it, in the caller's
    transaction (see the module doc); ``files``: ``(role, name, content)`` kept with it."""
    if kind not in t.JOB_KINDS:
        raise InvalidInput("kind", kind, " or ".join(t.JOB_KINDS))
    acc = resolve_account(connection, account)
    job_id = connection.execute(
        insert(t.jobs)
        .values(
            account_id=acc.id,
            kind=kind,
            campaign_id=campaign_id,
            state="queued",
            params=dict(params),
            created_at=now,
        )
        .returning(t.jobs.c.id)
    ).scalar_one()
    for role, name, content in files:
        put_file(connection, job_id, role, name, content)
    if connection.dialect.name == "postgresql":
        queued = _defer(connection, job_id)
        connection.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(queue_job_id=queued))
    return get_job(connection, acc, job_id)


def get_job(connection: Connection, account: AccountRef, job_id: int) -> Job:
    """Job ``job_id`` of ``account``; another account's job is not found, as a missing one."""
    acc = resolve_account(connection, account)
    row = connection.execute(
        select(t.jobs).where(t.jobs.c.id == job_id, t.jobs.c.account_id == acc.id)
    ).one_or_none()
    if row is None:
        raise NotFound("job", job_id)
    return _job(row)


def list_jobs(
    connection: Connection,
    account: AccountRef,
    *,
    state: str | None = None,
    limit: int = 50,
) -> list[Job]:
    """``account``'s jobs, newest first (``state``: only those in it)."""
    if state is not None and state not in t.JOB_STATES:
        raise InvalidInput("state", state, " or ".join(t.JOB_STATES))
    acc: Account = resolve_account(connection, account)
    query = select(t.jobs).where(t.jobs.c.account_id == acc.id)
    if state is not None:
        query = query.where(t.jobs.c.state == state)
    rows = connection.execute(query.order_by(t.jobs.c.id.desc()).limit(limit)).all()
    return [_job(row) for row in rows]


def cancel_job(connection: Connection, account: AccountRef, job_id: int, now: datetime) -> Job:
    """Cancel a job that has not started (a running job finishes: its work is one
    transaction, and stopping it half-way would gain nothing)."""
    job = get_job(connection, account, job_id)
    if job.state != "queued":
        raise InvalidInput("job", job_id, "a queued job (this one is " + job.state + ")")
    _end(connection, job_id, "cancelled", now, expected=("queued",))
    _drop_files(connection, job_id, ("input",))
    return get_job(connection, account, job_id)


# -- the runner's side -------------------------------------------------------------------------


def claim(connection: Connection, job_id: int, now: datetime) -> Job | None:
    """Take job ``job_id`` to run it: ``queued → running``, or ``running → running`` again
    (a run that a crash interrupted: its work was rolled back), ``attempts + 1``; compare and
    set, so two runners never both take it. ``None``: nothing to run (ended, or cancelled)."""
    j = t.jobs.c
    taken = connection.execute(
        update(t.jobs)
        .where(j.id == job_id, j.state.in_(ACTIVE))
        .values(state="running", attempts=j.attempts + 1, started_at=now)
        .returning(t.jobs)
    ).one_or_none()
    return None if taken is None else _job(taken)


def _end(
    connection: Connection,
    job_id: int,
    state: str,
    now: datetime,
    *,
    expected: tuple[str, ...] = ("running",),
    attempt: int | None = None,
    **values: Any,
) -> bool:
    j = t.jobs.c
    query = update(t.jobs).where(j.id == job_id, j.state.in_(expected))
    if attempt is not None:
        query = query.where(j.attempts == attempt)
    ended = connection.execute(query.values(state=state, finished_at=now, **values)).rowcount
    with _LIVE_LOCK:
        LIVE.pop(job_id, None)
    return bool(ended)


def _drop_files(connection: Connection, job_id: int, roles: tuple[str, ...]) -> None:
    f = t.job_files.c
    connection.execute(delete(t.job_files).where(f.job_id == job_id, f.role.in_(roles)))


class JobTakenOver(StopsmsError):
    """The job was claimed again (its runner was thought dead) while this run worked."""


def succeed(
    connection: Connection,
    job: Job,
    result: Mapping[str, Any],
    now: datetime,
    *,
    total: int | None = None,
) -> None:
    """End ``job`` ``succeeded`` with ``result``, in the transaction of its work (its input
    file goes with it). Only the run that holds the latest claim may: a run whose job was
    claimed again meanwhile (``attempts`` moved on) raises :class:`JobTakenOver`, and its
    work is rolled back with it — never applied twice."""
    values: dict[str, Any] = {"result": dict(result), "error": None}
    if total is not None:
        values.update(progress_done=total, progress_total=total)
    if not _end(connection, job.id, "succeeded", now, attempt=job.attempts, **values):
        raise JobTakenOver(
            f"job {job.id} was taken over by another run while this one worked;"
            " this run's work was not applied"
        )
    _drop_files(connection, job.id, ("input",))


def fail(
    connection: Connection, job_id: int, error: str, now: datetime, *, attempt: int | None = None
) -> None:
    """End job ``job_id`` ``failed`` with ``error``, one sentence (its input file goes);
    ``attempt``: only if no later run has claimed it since (see :func:`succeed`)."""
    if _end(connection, job_id, "failed", now, error=error, attempt=attempt):
        _drop_files(connection, job_id, ("input",))


def file_name(name: str, default: str) -> str:
    """The uploaded file's own name, as a job keeps it: its last path part, without control
    characters (a NUL in a multipart file name would end the JSON of the job's parameters on
    PostgreSQL); ``default`` when nothing (or only a ``..``) is left."""
    kept = "".join(
        c for c in PurePath(name.replace("\\", "/")).name if unicodedata.category(c) != "Cc"
    )
    kept = kept.strip()
    return default if kept in ("", ".", "..") else kept


def put_file(connection: Connection, job_id: int, role: str, name: str, content: bytes) -> None:
    """Keep ``content`` with job ``job_id`` as its file of ``role`` (replacing one)."""
    if role not in t.JOB_FILE_ROLES:
        raise InvalidInput("role", role, " or ".join(t.JOB_FILE_ROLES))
    _drop_files(connection, job_id, (role,))
    connection.execute(
        insert(t.job_files).values(job_id=job_id, role=role, name=name, content=content)
    )


def job_file(connection: Connection, account: AccountRef, job_id: int, role: str) -> JobFile:
    """The file of ``role`` kept with ``account``'s job ``job_id`` (an export, a reject
    report)."""
    job = get_job(connection, account, job_id)
    f = t.job_files.c
    row = connection.execute(
        select(f.name, f.content).where(f.job_id == job.id, f.role == role)
    ).one_or_none()
    if row is None:
        raise NotFound(f"{role} file of job", job_id)
    return JobFile(job.id, role, row.name, bytes(row.content))


def interrupted(connection: Connection, now: datetime) -> list[int]:
    """Jobs a crash left ``running`` (SQLite: the only runner is starting, so none is really
    running): those with attempts left become ``queued`` again, the others ``failed`` with
    a sentence; returns the ids queued again."""
    j = t.jobs.c
    connection.execute(
        update(t.jobs)
        .where(j.state == "running", j.attempts >= MAX_ATTEMPTS)
        .values(
            state="failed",
            finished_at=now,
            error=f"interrupted {MAX_ATTEMPTS} times (the process stopped while it ran);"
            " nothing of it was applied",
        )
    )
    return list(
        connection.execute(
            update(t.jobs).where(j.state == "running").values(state="queued").returning(j.id)
        ).scalars()
    )


def next_queued(connection: Connection, after: int = 0) -> int | None:
    """The oldest queued job (by id, above ``after``), or ``None``."""
    j = t.jobs.c
    return connection.execute(
        select(j.id).where(j.state == "queued", j.id > after).order_by(j.id).limit(1)
    ).scalar_one_or_none()


def active_send(connection: Connection, campaign_id: int) -> bool:
    """Whether a send job for campaign ``campaign_id`` is queued or running."""
    j = t.jobs.c
    found = connection.execute(
        select(j.id)
        .where(
            and_(j.campaign_id == campaign_id, j.kind == "campaign_send"),
            or_(j.state == "queued", j.state == "running"),
        )
        .limit(1)
    ).first()
    return found is not None


class ProgressMeter:
    """``progress(done, total)`` for a job's work, written at most once per ``interval``
    seconds (see the module doc: the database on PostgreSQL, this process's memory always)."""

    def __init__(self, job_id: int, engine: Engine | None, interval: float = 1.0) -> None:
        self.job_id = job_id
        self._engine = engine if engine is not None and engine.dialect.name != "sqlite" else None
        self._interval = interval
        self._last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        with _LIVE_LOCK:
            LIVE[self.job_id] = (done, total)
        now = time.monotonic()
        if self._engine is None or now - self._last < self._interval:
            return
        self._last = now
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id == self.job_id, t.jobs.c.state == "running")
                .values(progress_done=done, progress_total=total)
            )
