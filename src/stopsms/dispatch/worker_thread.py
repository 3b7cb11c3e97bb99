"""One thread for every database call of a dispatching process.

SQLAlchemy is synchronous; calling it on the event loop would stop the loop reading PDUs
(submit responses, receipts, STOP replies) while a batch commits. So all database work of
the dispatcher and of the inbound handler runs, in submission order, on one dedicated
thread. One thread, not a pool: SQLite has one writer anyway, and a FIFO order is what
lets a result be recorded before the receipts that follow it (see ``record_results``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection

from stopsms.store.database import Database

__all__ = ["DatabaseThread"]

T = TypeVar("T")


class DatabaseThread:
    """Runs ``fn(connection)`` in a transaction on the one database thread.

    :meth:`submit` enqueues at once (the order of calls is the order of transactions) and
    returns a future to await later; :meth:`run` submits and awaits.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stopsms-db")

    def _transaction(self, fn: Callable[[Connection], T]) -> T:
        with self.database.transaction() as connection:
            return fn(connection)

    def submit(self, fn: Callable[[Connection], T]) -> asyncio.Future[T]:
        """Enqueue ``fn`` now; the returned future resolves once its transaction committed."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._pool, self._transaction, fn)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a transaction on the database thread; return once committed."""
        return await self.submit(fn)

    def close(self) -> None:
        """Finish queued transactions and stop the thread."""
        self._pool.shutdown(wait=True)
