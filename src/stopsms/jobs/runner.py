"""The in-process job runner (SQLite): a thread that polls ``jobs`` and runs them one by one.

``stopsms serve`` on the embedded default starts it with :func:`start_in_process` and stops it
with the handle's :meth:`Runner.stop`; ``stopsms jobs worker`` runs the same loop in the
foreground (:meth:`Runner.run`). A job is taken by compare and set
(:func:`~stopsms.jobs.resource.claim`), so a second runner on the same file never runs it
twice — but SQLite has one writer at a time, so one runner per database is what to run.

Starting, the runner first takes back what a crash left ``running`` (nothing of it was applied:
the work commits with its ``succeeded``): queued again, or ``failed`` after
:data:`~stopsms.jobs.resource.MAX_ATTEMPTS` starts. It looks for queued jobs every
``poll`` seconds (0.5 s: a job starts within half a second of being submitted, at the cost of
one indexed read) and, every ``schedules`` seconds, for scheduled campaigns that are due
(:func:`~stopsms.jobs.kinds.check_schedules`).

On PostgreSQL the jobs are procrastinate's (:mod:`stopsms.jobs.queue`, ``stopsms jobs
worker``): :func:`start_in_process` starts nothing there and says so in the log.
"""

from __future__ import annotations

import logging
import threading
import time

from stopsms.clock import Clock, SystemClock
from stopsms.jobs import resource
from stopsms.jobs.kinds import JobHost, check_schedules, run_job

__all__ = ["Runner", "start_in_process"]

log = logging.getLogger(__name__)


class Runner:
    """The polling loop over one database's queued jobs (see the module doc)."""

    def __init__(
        self,
        host: JobHost,
        *,
        poll: float = 0.5,
        schedules: float | None = 5.0,
        clock: Clock | None = None,
    ) -> None:
        self.host = host
        self.poll = poll
        self.schedules = schedules
        self.clock = clock or SystemClock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def recover(self) -> list[int]:
        """Take back the jobs a crash left ``running`` (see the module doc)."""
        with self.host.database.transaction() as connection:
            queued = resource.interrupted(connection, self.clock.now())
        if queued:
            log.warning("jobs %s were interrupted by a stop; running them again", queued)
        return queued

    def run_pending(self) -> int:
        """Run every job queued now, oldest first; returns how many ran."""
        ran = 0
        after = 0
        while not self._stopping.is_set():
            with self.host.database.reader() as connection:
                job_id = resource.next_queued(connection, after)
            if job_id is None:
                break
            after = job_id
            if run_job(self.host, job_id, self.clock) is not None:
                ran += 1
        return ran

    def run(self) -> None:
        """Recover, then run jobs (and the schedule check) until :meth:`stop`."""
        self.recover()
        next_check = 0.0
        while not self._stopping.is_set():
            if self.schedules is not None and time.monotonic() >= next_check:
                next_check = time.monotonic() + self.schedules
                try:
                    check_schedules(self.host, self.clock)
                except Exception:  # the loop outlives one failed check (logged)
                    log.exception("schedule check failed")
            try:
                self.run_pending()
            except Exception:  # a database fault between jobs: logged, tried again
                log.exception("job runner: could not read the queue")
            self._wake.wait(self.poll)
            self._wake.clear()

    def wake(self) -> None:
        """Look for queued jobs now (a job was just submitted), not at the next poll."""
        self._wake.set()

    def start(self) -> Runner:
        """Run :meth:`run` in a daemon thread; returns self (the stop handle)."""
        self._thread = threading.Thread(target=self.run, name="stopsms-jobs", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop after the job running now (its work is one transaction) and wait for it."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


def start_in_process(host: JobHost, *, poll: float = 0.5, schedules: float | None = 5.0) -> Runner:
    """Start the in-process runner for ``host`` (an :class:`stopsms.app.App`) and return its
    stop handle; on PostgreSQL, a handle that runs nothing (``stopsms jobs worker`` does)."""
    runner = Runner(host, poll=poll, schedules=schedules)
    if host.database.backend != "sqlite":
        log.info("jobs run in `stopsms jobs worker` on PostgreSQL; none in this process")
        return runner
    return runner.start()
