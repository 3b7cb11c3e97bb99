"""Group commit: many events, one transaction, each caller still waits for its commit.

A provider calls our handler once per MO or receipt and acknowledges the event when the
handler returns, so each handler must return only after its event is committed. Committing
each one alone would cap throughput at one fsync per event; instead the handlers queue their
event and await a future, and a *job* on the database thread takes everything queued when it
starts, processes it in one transaction, then the futures are resolved.

When jobs are put on the (FIFO, shared with the dispatcher) database thread:

- an event that ``may_join`` (an MO) joins any job already waiting on the thread; if none is
  waiting, a job is put on the thread at once, in the caller's event-loop step. So an MO
  waits only for the transaction running now and those queued before it arrived, never for
  work the dispatcher queued after it, and everything that arrives before its job starts
  shares its transaction (natural batching: an idle system commits at once, a busy one in
  bigger batches);
- any other event (a receipt) is taken only by a job put on the thread *after* it arrived
  (one per event-loop step, at its end): a receipt must follow the transaction that recorded
  its message's submit result, which the dispatcher queued before the receipt could arrive.

``barrier`` (another :class:`~stopsms.engine.database_thread.DatabaseThread`): the jobs run on
a thread of their own, and a job starts its work only once every normal job put on the
``barrier`` thread before its events arrived has finished. So receipts keep their order after
the dispatcher's results while committing on a second PostgreSQL connection
(:class:`~stopsms.engine.inbound.InboundHandler`).

``urgent=True`` puts the jobs in the database thread's urgent lane (see
:class:`~stopsms.engine.database_thread.DatabaseThread`): for events that depend on nothing
queued before them (MO), so they do not wait behind the dispatcher's and receipts' jobs.
Such a committer must not carry receipts.

If a batch fails, its events are retried one transaction each, so one bad event fails alone
(its handler raises, the provider asks the peer to re-deliver) and the others still commit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Connection

from stopsms.engine.database_thread import DatabaseThread

__all__ = ["GroupCommit"]

I = TypeVar("I")  # noqa: E741 - the conventional name of an item type variable
R = TypeVar("R")


@dataclass(slots=True)
class _Entry(Generic[I, R]):
    item: I
    future: asyncio.Future[R]
    weight: int
    seq: int  # jobs put on the thread before this entry arrived
    early: bool  # may join a job put on the thread before it arrived
    barrier: int  # normal jobs put on the barrier thread before this entry arrived


class GroupCommit(Generic[I, R]):
    """Commits queued items in batches with ``process(connection, items) -> results``.

    ``may_join(item)``: whether ``item`` may be processed by a job queued before it arrived
    (see the module doc); by default none may. ``weight(item)`` (default 1) counts toward
    ``max_batch`` per job — e.g. a batch of receipts weighs its length — so one transaction
    stays bounded whatever the items carry (a job always takes at least one item).
    ``urgent``: jobs go to the database thread's urgent lane (items must all ``may_join``).
    ``barrier``: the thread whose earlier normal jobs a job waits for (module doc).
    """

    def __init__(
        self,
        thread: DatabaseThread,
        process: Callable[[Connection, Sequence[I]], list[R]],
        *,
        max_batch: int = 500,
        may_join: Callable[[I], bool] | None = None,
        weight: Callable[[I], int] | None = None,
        urgent: bool = False,
        barrier: DatabaseThread | None = None,
    ) -> None:
        self._thread = thread
        self._barrier = barrier
        self._process = process
        self._max_batch = max_batch
        self._may_join = may_join
        self._weight = weight
        self._urgent = urgent
        self._lock = threading.Lock()  # guards the four fields below (loop and db thread)
        self._entries: list[_Entry[I, R]] = []
        self._tickets = 0  # jobs put on the thread so far
        self._waiting = 0  # of which not started yet
        self._running = 0  # put on the thread, callback not run yet
        self._kick_scheduled = False
        self._retries: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Nothing to start: jobs are put on the thread as events arrive (kept for callers)."""

    async def close(self) -> None:
        """Return once every queued item is committed (or failed)."""
        while True:
            with self._lock:
                busy = bool(self._entries) or self._running > 0
            if not busy and not self._retries and not self._kick_scheduled:
                return
            await asyncio.sleep(0.001)

    async def submit(self, item: I) -> R:
        """Queue ``item``; return its result once its transaction committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        early = self._may_join is not None and self._may_join(item)
        weight = 1 if self._weight is None else self._weight(item)
        barrier = 0 if self._barrier is None else self._barrier.ticket()
        with self._lock:
            self._entries.append(_Entry(item, future, weight, self._tickets, early, barrier))
            now = early and self._waiting == 0
        if now:
            self._enqueue()
        elif not early and not self._kick_scheduled:
            self._kick_scheduled = True
            loop.call_soon(self._kick)
        return await future

    def _kick(self) -> None:
        self._kick_scheduled = False
        self._enqueue()

    def _enqueue(self) -> None:
        """Put a job on the database thread (called on the event loop)."""
        with self._lock:
            self._tickets += 1
            self._waiting += 1
            self._running += 1
            ticket = self._tickets
        taken: list[_Entry[I, R]] = []
        job = self._thread.submit(lambda conn: self._job(conn, ticket, taken), urgent=self._urgent)
        job.add_done_callback(lambda done: self._finished(done, taken))

    def _job(self, conn: Connection, ticket: int, taken: list[_Entry[I, R]]) -> list[R]:
        """On the database thread: take what this job may take, process it."""
        with self._lock:
            self._waiting -= 1
            keep: list[_Entry[I, R]] = []
            room = self._max_batch
            for entry in self._entries:
                fits = entry.weight <= room or not taken
                if room > 0 and fits and (entry.early or entry.seq < ticket):
                    taken.append(entry)
                    room -= entry.weight
                else:
                    keep.append(entry)
            self._entries = keep
        if not taken:
            return []
        if self._barrier is not None:  # before any statement: nothing held while waiting
            self._barrier.wait_for(max(entry.barrier for entry in taken))
        return self._process(conn, [entry.item for entry in taken])

    def _finished(self, job: asyncio.Future[list[R]], taken: list[_Entry[I, R]]) -> None:
        """On the event loop, once the job's transaction committed (or failed)."""
        with self._lock:
            self._running -= 1
        if not job.cancelled() and job.exception() is None:
            for entry, result in zip(taken, job.result(), strict=True):
                if not entry.future.done():
                    entry.future.set_result(result)
        elif taken:
            retry = asyncio.get_running_loop().create_task(self._one_by_one(taken))
            self._retries.add(retry)
            retry.add_done_callback(self._retries.discard)
        with self._lock:  # left over by ``max_batch`` with no job waiting to take them
            again = bool(self._entries) and self._waiting == 0
        if again:
            self._enqueue()

    def _bound(self, items: Sequence[I]) -> Callable[[Connection], list[R]]:
        process = self._process
        return lambda conn: process(conn, items)

    async def _one_by_one(self, batch: list[_Entry[I, R]]) -> None:
        for entry in batch:
            try:
                results = await self._thread.run(self._bound([entry.item]), urgent=self._urgent)
            except Exception as exc:
                if not entry.future.done():
                    entry.future.set_exception(exc)
            else:
                if not entry.future.done():
                    entry.future.set_result(results[0])
