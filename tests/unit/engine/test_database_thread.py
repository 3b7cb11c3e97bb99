"""The database thread's two lanes: urgent first, FIFO within a lane, normal never starved."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest

from stopsms.engine.database_thread import MAX_URGENT_IN_ROW, DatabaseThread
from stopsms.store.database import Database


class _Database:
    """Only what the thread uses: ``transaction()``; counts the commits."""

    def __init__(self) -> None:
        self.commits = 0

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        yield object()
        self.commits += 1


def _thread() -> tuple[DatabaseThread, _Database]:
    database = _Database()
    return DatabaseThread(cast(Database, database)), database


def _append(ran: list[str], name: str) -> Callable[[object], None]:
    return lambda _: ran.append(name)


async def _order(urgent_flags: list[bool]) -> list[str]:
    """Queue jobs while the thread is busy with a first one; the order they ran in."""
    thread, _ = _thread()
    release = threading.Event()
    ran: list[str] = []
    busy = thread.submit(lambda _: release.wait(5))
    await asyncio.sleep(0.05)  # the blocker is running
    names = {True: 0, False: 0}
    futures = []
    for urgent in urgent_flags:
        names[urgent] += 1
        name = f"{'u' if urgent else 'n'}{names[urgent]}"
        futures.append(thread.submit(_append(ran, name), urgent=urgent))
    release.set()
    await busy
    await asyncio.gather(*futures)
    thread.close()
    return ran


def test_urgent_jobs_run_before_waiting_normal_ones_fifo_within_each_lane() -> None:
    ran = asyncio.run(_order([False, False, True, False, True]))
    assert ran == ["u1", "u2", "n1", "n2", "n3"]


def test_a_stream_of_urgent_jobs_does_not_starve_the_normal_lane() -> None:
    ran = asyncio.run(_order([False, False, False] + [True] * (2 * MAX_URGENT_IN_ROW + 2)))
    k = MAX_URGENT_IN_ROW
    assert ran == (
        [f"u{i}" for i in range(1, k + 1)]
        + ["n1"]
        + [f"u{i}" for i in range(k + 1, 2 * k + 1)]
        + ["n2"]
        + [f"u{2 * k + 1}", f"u{2 * k + 2}", "n3"]
    )


def test_results_errors_commits_and_close() -> None:
    async def scenario() -> None:
        thread, database = _thread()
        assert await thread.run(lambda _: 42) == 42
        assert await thread.run(lambda _: "urgent", urgent=True) == "urgent"

        def fail(_: object) -> None:
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await thread.run(fail)
        assert database.commits == 2  # the failed job's transaction did not commit
        late = thread.submit(lambda _: "late")  # queued: close() finishes it
        thread.close()
        assert await late == "late"
        with pytest.raises(RuntimeError):
            thread.submit(lambda _: None)

    asyncio.run(scenario())
