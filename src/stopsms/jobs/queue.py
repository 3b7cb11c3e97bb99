"""The job queue on PostgreSQL: procrastinate, on psycopg 3, running :func:`run_job`.

One procrastinate task, ``stopsms.run_job(job_id)``, runs every kind
(:func:`~stopsms.jobs.kinds.run_job`); :func:`~stopsms.jobs.resource.submit` defers it with
procrastinate's SQL function in the transaction of the job's row and data. Two periodic tasks:

- ``stopsms.check_schedules`` every 10 s: a ``campaign_send`` job for each scheduled campaign
  that is due (:func:`~stopsms.jobs.kinds.check_schedules`);
- ``stopsms.retry_stalled`` every minute: the jobs of a worker whose heartbeat stopped
  (SIGKILL, a machine gone) are queued again (:func:`retry_stalled`). Their work was rolled
  back with the process; the job function counts the attempt and fails the job with a
  sentence after :data:`~stopsms.jobs.resource.MAX_ATTEMPTS`.

Workers send a heartbeat every :data:`HEARTBEAT` seconds and count as stalled after
:data:`STALLED_AFTER` (procrastinate's own worker table). ``stopsms jobs worker`` runs
:func:`run_worker`, ``stopsms worker --jobs`` :func:`worker_alongside`; any number of them, on
any machine, share the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from procrastinate import App as Procrastinate
from procrastinate import PsycopgConnector
from sqlalchemy.engine import make_url

from stopsms.jobs.kinds import JobHost, check_schedules, run_job
from stopsms.jobs.resource import PROCRASTINATE_QUEUE, PROCRASTINATE_TASK

__all__ = [
    "HEARTBEAT",
    "STALLED_AFTER",
    "job_queue",
    "retry_stalled",
    "run_worker",
    "worker_alongside",
]

log = logging.getLogger(__name__)

#: Seconds between a worker's heartbeats, and without one after which its jobs are retried.
HEARTBEAT = 5.0
STALLED_AFTER = 30.0
#: Every worker's options: our queue only, the heartbeat above.
WORKER: dict[str, Any] = {
    "queues": [PROCRASTINATE_QUEUE],
    "update_heartbeat_interval": HEARTBEAT,
    "stalled_worker_timeout": STALLED_AFTER,
}


def conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL ``url``."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def job_queue(host: JobHost, url: str) -> Procrastinate:
    """The procrastinate app of the database at ``url`` (PostgreSQL), its tasks bound to
    ``host``."""
    queue = Procrastinate(connector=PsycopgConnector(conninfo=conninfo(url)))

    @queue.task(name=PROCRASTINATE_TASK, queue=PROCRASTINATE_QUEUE)
    def _run_job(job_id: int) -> None:
        run_job(host, job_id)

    @queue.periodic(cron="*/10 * * * * *")
    @queue.task(
        name="stopsms.check_schedules",
        queue=PROCRASTINATE_QUEUE,
        queueing_lock="stopsms.check_schedules",
    )
    def _check_schedules(timestamp: int) -> None:
        submitted = check_schedules(host)
        if submitted:
            log.info("scheduled campaigns due: jobs %s", [job.id for job in submitted])

    @queue.periodic(cron="* * * * *")
    @queue.task(
        name="stopsms.retry_stalled",
        queue=PROCRASTINATE_QUEUE,
        queueing_lock="stopsms.retry_stalled",
    )
    async def _retry_stalled(timestamp: int) -> None:
        await retry_stalled(queue)

    return queue


async def retry_stalled(queue: Procrastinate, seconds: float = STALLED_AFTER) -> list[int]:
    """Queue again the jobs of workers without a heartbeat for ``seconds``; their ids."""
    stalled = await queue.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds)
    retried = []
    for job in stalled:
        if job.queue == PROCRASTINATE_QUEUE:
            await queue.job_manager.retry_job(job)
            assert job.id is not None
            retried.append(job.id)
    if retried:
        log.warning("jobs of stopped workers queued again: %s", retried)
    return retried


def run_worker(host: JobHost, url: str, *, concurrency: int = 1) -> None:
    """Run a procrastinate worker on the database at ``url`` until interrupted."""
    job_queue(host, url).run_worker(concurrency=concurrency, **WORKER)


@asynccontextmanager
async def worker_alongside(host: JobHost, url: str) -> AsyncIterator[None]:
    """Run a procrastinate worker in this event loop while the block runs (``stopsms worker
    --jobs``: the process's own signal handlers stay; the worker stops when the block ends)."""
    queue = job_queue(host, url)
    async with queue.open_async():
        task = asyncio.create_task(queue.run_worker_async(install_signal_handlers=False, **WORKER))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
