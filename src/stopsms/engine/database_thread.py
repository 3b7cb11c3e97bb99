"""One thread for every database call of a dispatching process, with an urgent lane.

SQLAlchemy is synchronous; calling it on the event loop would stop the loop reading PDUs
(submit responses, receipts, STOP replies) while a batch commits. So all database work of
the dispatcher and of the inbound handler runs on one dedicated thread. One thread, not a
pool: SQLite has one writer anyway, and a FIFO order is what lets a result be recorded
before the receipts that follow it (see ``record_results``).

Two lanes, each FIFO:

- *normal* (the default): claims, submit results, receipts, progress — everything whose
  order matters relative to the rest;
- *urgent*: small transactions that must not wait behind the normal queue — an MO's
  opt-out (STOP latency is a legal promise). An urgent job is started before any normal
  job still waiting; a job already running is never interrupted. At most
  :data:`MAX_URGENT_IN_ROW` urgent jobs run in a row while a normal job waits, so a stream
  of MO cannot starve the receipts.

Only jobs that do not depend on a normal job queued before them may go urgent: the order
between the two lanes is not the order of the calls.

On PostgreSQL the thread keeps its connection from one job to the next (no pool checkout, no
pool pre-ping ``SELECT 1`` before each transaction: 408 of them, ~1.1 ms each, for a one-process
dispatch of 12,000 messages); a connection idle more than :data:`HOLD_IDLE_S` is given back
and a new one checked out (pre-pinged), and a job's failure drops the held connection, so a
lost connection is replaced by the retry below. SQLite takes its connection from the pool
for each job (no pre-ping there; a checkin detaches an import's staging files).

Faults (:mod:`stopsms.store.faults`): a job whose transaction fails on a *retryable* fault — a
lock held by another process beyond SQLite's busy timeout, a PostgreSQL connection lost — is
run again, in a new transaction, after a back-off (0.1 s doubling to 2 s) for up to
``retry_for`` seconds (default :data:`RETRY_FOR_S`, so a writer holding the lock 15 s delays
the engine, it does not stop it). Running it again is safe because the failed transaction was
rolled back and the jobs are plain database work; except when the fault struck the COMMIT
itself: the transaction may then have been written, so it is never run again. A job that
fails for good raises :class:`~stopsms.store.faults.DatabaseFault` (one line) to its caller,
and the jobs after it get one try each — no second wait of ``retry_for`` — until one
succeeds.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from stopsms.store.database import Database
from stopsms.store.faults import database_fault

__all__ = ["HOLD_IDLE_S", "MAX_URGENT_IN_ROW", "RETRY_FOR_S", "DatabaseThread"]

log = logging.getLogger(__name__)

#: How long a job is retried on a retryable fault (a lock, a lost connection) before failing.
RETRY_FOR_S = 60.0
#: A held PostgreSQL connection idle longer than this is given back (a new one is pre-pinged).
HOLD_IDLE_S = 10.0
_BACKOFF_FIRST_S = 0.1
_BACKOFF_MAX_S = 2.0

T = TypeVar("T")

#: Urgent jobs run in a row, at most, while a normal job waits (then one normal job runs).
MAX_URGENT_IN_ROW = 4

_Job = tuple[Future[Any], Callable[[Connection], Any]]

#: Threads not closed yet: finished (queued work done) at interpreter exit, as an executor's.
_LIVE: weakref.WeakSet[DatabaseThread] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for thread in list(_LIVE):
        thread.close()


class DatabaseThread:
    """Runs ``fn(connection)`` in a transaction on the one database thread.

    :meth:`submit` enqueues at once (within a lane, the order of calls is the order of
    transactions) and returns a future to await later; :meth:`run` submits and awaits.
    ``urgent=True`` puts the job in the urgent lane (see the module doc).
    """

    def __init__(self, database: Database, *, retry_for: float = RETRY_FOR_S) -> None:
        self.database = database
        self.retry_for = retry_for
        self.retried = 0  # transactions run again after a retryable fault
        self._failing = False  # the last job failed for good: the next ones get one try
        self._cond = threading.Condition()
        self._urgent: deque[_Job] = deque()
        self._normal: deque[_Job] = deque()
        self._closing = False
        self._worker: threading.Thread | None = None
        engine: Engine | None = getattr(database, "engine", None)
        self._hold = engine is not None and engine.dialect.name == "postgresql"
        self._held: Connection | None = None  # PostgreSQL: the connection kept between jobs
        self._held_since = 0.0  # when the held connection's last job ended (monotonic)
        self._normal_submitted = 0  # normal-lane jobs submitted so far
        self._normal_done = 0  # of which finished (run, failed or skipped: cancelled)
        self._done = threading.Condition()  # notified at each normal job finished
        _LIVE.add(self)

    def _next(self, in_row: int) -> tuple[_Job, bool, bool] | None:
        """Under the lock: the next job to run, whether it went ahead of a waiting normal
        job and whether it is a normal one, or ``None`` once closing with nothing queued."""
        while not self._urgent and not self._normal:
            if self._closing:
                return None
            self._cond.wait()
        if self._urgent and (in_row < MAX_URGENT_IN_ROW or not self._normal):
            return self._urgent.popleft(), bool(self._normal), False
        return self._normal.popleft(), False, True

    def _loop(self) -> None:
        in_row = 0  # urgent jobs run in a row ahead of a waiting normal one
        while True:
            with self._cond:
                picked = self._next(in_row)
            if picked is None:
                self._release()
                return
            (future, fn), jumped, normal = picked
            in_row = in_row + 1 if jumped else 0
            try:
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    result = self._run(fn)
                except BaseException as exc:  # handed to the awaiting caller, as an executor does
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            finally:
                if normal:
                    with self._done:
                        self._normal_done += 1
                        self._done.notify_all()

    def _run(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` in a transaction, run again after a retryable fault (module doc)."""
        deadline = time.monotonic() + (0.0 if self._failing else self.retry_for)
        delay = _BACKOFF_FIRST_S
        while True:
            committing = False
            try:
                if self._hold:
                    connection = self._connection()
                    with connection.begin():
                        result = fn(connection)
                        committing = True  # what fails from here on may have been written
                    self._held_since = time.monotonic()
                else:
                    with self.database.transaction() as connection:
                        result = fn(connection)
                        committing = True
                self._failing = False
                return result
            except (SQLAlchemyError, sqlite3.Error) as error:  # sqlite3: set-based preparation
                self._release()  # a held connection may be the fault: the next job takes another
                fault = database_fault(error, self.database.engine.url)
                if committing or not fault.retryable or time.monotonic() + delay > deadline:
                    self._failing = True
                    raise fault from None
                log.warning("database: %s; trying again in %.1f s", fault.reason, delay)
                self.retried += 1
                time.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX_S)

    def _connection(self) -> Connection:
        """The held connection (PostgreSQL), checked out again when absent or idle too long."""
        if self._held is not None and time.monotonic() - self._held_since > HOLD_IDLE_S:
            self._release()
        if self._held is None:
            self._held = self.database.engine.connect()
        return self._held

    def _release(self) -> None:
        """Give the held connection back to the pool (a broken one is discarded by it)."""
        held, self._held = self._held, None
        if held is not None:
            try:
                held.close()
            except SQLAlchemyError:  # already lost: nothing to give back
                log.debug("database: closing a lost connection failed", exc_info=True)

    def submit(self, fn: Callable[[Connection], T], *, urgent: bool = False) -> asyncio.Future[T]:
        """Enqueue ``fn`` now; the returned future resolves once its transaction committed."""
        loop = asyncio.get_running_loop()
        future: Future[T] = Future()
        with self._cond:
            if self._closing:
                raise RuntimeError("database thread closed")
            (self._urgent if urgent else self._normal).append((future, fn))
            if not urgent:
                self._normal_submitted += 1
            if self._worker is None:
                self._worker = threading.Thread(target=self._loop, name="stopsms-db", daemon=True)
                self._worker.start()
            self._cond.notify()
        return asyncio.wrap_future(future, loop=loop)

    def ticket(self) -> int:
        """How many normal-lane jobs were submitted so far: :meth:`wait_for` that ticket to
        know every one of them has finished."""
        with self._cond:
            return self._normal_submitted

    def wait_for(self, ticket: int) -> None:
        """Block (from another thread) until the first ``ticket`` normal-lane jobs have
        finished — committed, failed, or skipped because their caller cancelled them. One
        thread runs them in order, so a job submitted before :meth:`ticket` was read has then
        committed or failed. How a second thread on PostgreSQL keeps a receipt after its
        message's submit result (:class:`~stopsms.engine.inbound.InboundHandler`)."""
        with self._done:
            self._done.wait_for(lambda: self._normal_done >= ticket)

    async def run(self, fn: Callable[[Connection], T], *, urgent: bool = False) -> T:
        """Run ``fn`` in a transaction on the database thread; return once committed."""
        return await self.submit(fn, urgent=urgent)

    def close(self) -> None:
        """Finish queued transactions and stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join()
        _LIVE.discard(self)
