"""Group commit: many events, one transaction, each caller still waits for its commit.

A provider calls our handler once per MO or receipt and acknowledges the event when the
handler returns, so each handler must return only after its event is committed. Committing
each one alone would cap throughput at one fsync per event; instead the handlers enqueue
their event and await a future, and one task commits everything queued so far in a single
transaction on the database thread, then resolves the futures. Batching is natural: while a
transaction runs, the next batch accumulates, so an idle system commits each event at once
and a busy one amortises the commit.

If a batch fails, its events are retried one transaction each, so one bad event fails alone
(its handler raises, the provider asks the peer to re-deliver) and the others still commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy import Connection

from stopsms.dispatch.worker_thread import DatabaseThread

__all__ = ["GroupCommit"]

I = TypeVar("I")  # noqa: E741 - the conventional name of an item type variable
R = TypeVar("R")


class GroupCommit(Generic[I, R]):
    """Commits queued items in batches with ``process(connection, items) -> results``."""

    def __init__(
        self,
        thread: DatabaseThread,
        process: Callable[[Connection, Sequence[I]], list[R]],
        *,
        max_batch: int = 500,
    ) -> None:
        self._thread = thread
        self._process = process
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[I, asyncio.Future[R]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stopsms-group-commit")

    async def close(self) -> None:
        """Stop after the queued items are committed."""
        if self._task is None:
            return
        while not self._queue.empty():
            await asyncio.sleep(0.001)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def submit(self, item: I) -> R:
        """Queue ``item``; return its result once its transaction committed."""
        self.start()
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            items = [item for item, _ in batch]
            try:
                results = await self._thread.run(self._bound(items))
            except Exception:
                await self._one_by_one(batch)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def _bound(self, items: Sequence[I]) -> Callable[[Connection], list[R]]:
        process = self._process
        return lambda conn: process(conn, items)

    async def _one_by_one(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        for item, future in batch:
            try:
                results = await self._thread.run(self._bound([item]))
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(results[0])
