"""``stopsms jobs …``: background jobs of an account, and the process that runs them.

``list`` and ``show ID`` (``--json``), ``download ID`` (an export's file, an import's reject
report), ``cancel ID`` (a job not started), and ``worker``: on PostgreSQL a procrastinate
worker (run as many as wanted, on any machine), on SQLite the in-process runner in the
foreground (one per database; ``stopsms serve`` runs it itself).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stopsms.app import App, results
from stopsms.cli.console import (
    LARGEST_INTEGER,
    console,
    err_console,
    escape,
    handles_errors,
    print_json,
)
from stopsms.cli.context import application, transaction
from stopsms.cli.options import AccountOption, JsonOption
from stopsms.jobs import resource
from stopsms.jobs.resource import Job
from stopsms.services.exports import written_whole

__all__ = ["jobs_alongside", "jobs_app"]

jobs_app = typer.Typer(help="Background jobs: imports, campaign sends, exports.")

JobId = Annotated[int, typer.Argument(min=1, max=LARGEST_INTEGER, help="The job's id.")]


def _progress(job: Job) -> str:
    if job.progress_total:
        return f"{job.progress_done:,}/{job.progress_total:,}"
    return f"{job.progress_done:,}" if job.progress_done else ""


def _outcome(job: Job) -> str:
    if job.error:
        return job.error
    if job.result is None:
        return ""
    shown = ("imported", "updated", "rejected", "ready", "rows", "file")
    return ", ".join(f"{key} {job.result[key]}" for key in shown if key in job.result)


@jobs_app.command("list")
@handles_errors
def list_jobs(
    state: Annotated[
        str | None, typer.Option("--state", help="Only jobs in this state (queued, running…).")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=LARGEST_INTEGER, help="How many, newest first.")
    ] = 50,
    account: AccountOption = None,
    json_output: JsonOption = False,
) -> None:
    """The account's jobs, newest first: kind, state, progress, outcome."""
    app = application()
    with app.reader() as connection:
        jobs = resource.list_jobs(connection, app.account_name(account), state=state, limit=limit)
    if json_output:
        print_json([results.plain(job) for job in jobs])
        return
    table = Table("id", "kind", "state", "progress", "created", "outcome")
    for job in jobs:
        table.add_row(
            str(job.id),
            job.kind,
            job.state,
            _progress(job),
            f"{job.created_at:%Y-%m-%d %H:%M:%S}",
            escape(_outcome(job)),
        )
    console.print(table)


@jobs_app.command("show")
@handles_errors
def show(job_id: JobId, account: AccountOption = None, json_output: JsonOption = False) -> None:
    """One job: state, progress, attempts, result or error."""
    app = application()
    with app.reader() as connection:
        job = resource.get_job(connection, app.account_name(account), job_id)
    if json_output:
        print_json(results.plain(job))
        return
    console.print(f"job {job.id}: {job.kind} {job.state}", soft_wrap=True)
    if job.campaign_id is not None:
        console.print(f"campaign: {job.campaign_id}")
    if progress := _progress(job):
        console.print(f"progress: {progress}")
    console.print(f"attempts: {job.attempts}")
    if job.error:
        console.print(f"error: {escape(job.error)}", soft_wrap=True)
    if job.result:
        console.print(f"result: {escape(results.dumps(job.result))}", soft_wrap=True)


@jobs_app.command("download")
@handles_errors
def download(
    job_id: JobId,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    rejects: Annotated[
        bool, typer.Option("--rejects", help="The import's reject report, not the export.")
    ] = False,
    account: AccountOption = None,
) -> None:
    """Write a job's file: an export's output, or an import's reject report."""
    app = application()
    with app.reader() as connection:
        kept = resource.job_file(
            connection, app.account_name(account), job_id, "rejects" if rejects else "output"
        )
    with written_whole(output) as target:
        target.write_bytes(kept.content)
    console.print(f"{len(kept.content):,} bytes ({escape(kept.name)}) written to {output}")


@jobs_app.command("cancel")
@handles_errors
def cancel(job_id: JobId, account: AccountOption = None) -> None:
    """Cancel a job that has not started."""
    with transaction() as connection:
        job = resource.cancel_job(
            connection, application().account_name(account), job_id, datetime.now(UTC)
        )
    console.print(f"job {job.id} {job.state}")


@jobs_app.command("worker")
@handles_errors
def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Jobs run at once (PostgreSQL).")
    ] = 1,
) -> None:
    """Run jobs until interrupted: procrastinate on PostgreSQL, the runner on SQLite."""
    app = application()
    if app.database.backend == "postgresql":
        from stopsms.jobs.queue import run_worker

        err_console.print("jobs worker: running jobs (PostgreSQL, procrastinate)")
        run_worker(app, app.settings.database_url, concurrency=concurrency)
        return
    from stopsms.jobs.runner import Runner

    runner = Runner(app)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: runner.stop(timeout=0))
    err_console.print("jobs worker: running jobs (SQLite, in this process)")
    sys.stderr.flush()
    runner.run()


@asynccontextmanager
async def jobs_alongside(app: App) -> AsyncIterator[None]:
    """Run background jobs in this process while the block runs (``stopsms worker --jobs``):
    a procrastinate worker in the event loop on PostgreSQL, the runner's thread on SQLite."""
    if app.database.backend == "postgresql":
        from stopsms.jobs.queue import worker_alongside

        async with worker_alongside(app, app.settings.database_url):
            yield
        return
    from stopsms.jobs.runner import start_in_process

    runner = start_in_process(app)
    try:
        yield
    finally:
        await asyncio.to_thread(runner.stop)
