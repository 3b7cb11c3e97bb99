"""The database thread's two lanes: urgent first, FIFO within a lane, normal never starved."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import pytest

from stopsms.engine.database_thread import MAX_URGENT_IN_ROW, DatabaseThread
from stopsms.engine.group_commit import GroupCommit
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


def test_a_committer_with_a_barrier_waits_for_the_normal_jobs_queued_before_its_items() -> None:
    """Receipts on a second thread (PostgreSQL) start only once the dispatcher's thread has
    finished every normal job it was given before they arrived — a cancelled one counts as
    finished, an urgent one is not waited for — so a receipt finds its submit result."""

    async def scenario() -> list[str]:
        main, _ = _thread()
        other, _ = _thread()
        release = threading.Event()
        ran: list[str] = []

        def results(_: object) -> None:
            release.wait(5)
            ran.append("results")

        def receipts(_: object, items: Sequence[str]) -> list[None]:
            ran.append("receipts " + " ".join(items))
            return [None] * len(items)

        committer: GroupCommit[str, None] = GroupCommit(other, receipts, barrier=main)
        recorded = main.submit(results)
        await asyncio.sleep(0.05)  # the results job is running
        dropped = main.submit(_append(ran, "cancelled"))  # never runs: its caller gave up
        dropped.cancel()
        receipt = asyncio.ensure_future(committer.submit("r1"))
        await asyncio.sleep(0.05)
        mo = main.submit(_append(ran, "mo"), urgent=True)  # after the receipt: not waited for
        await asyncio.sleep(0.05)
        assert ran == []  # the receipt waits behind the results being recorded
        release.set()
        await asyncio.gather(recorded, receipt, mo)
        later = asyncio.ensure_future(committer.submit("r2"))  # nothing before it: at once
        await later
        main.close()
        other.close()
        return ran

    ran = asyncio.run(scenario())
    assert ran.index("results") < ran.index("receipts r1")
    assert ran[-1] == "receipts r2"
    assert "cancelled" not in ran
