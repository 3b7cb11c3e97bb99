"""Many workers on PostgreSQL: one process's dispatch, scaling to 4 workers, failover.

- dispatch, one process, to the fast sink (``bench/smpp_sink.py``, own process): the same
  ``send_campaign(..., wait=True)`` (every receipt recorded) on PostgreSQL and on SQLite,
  one after the other in this run (goal ≥ 5,000/s on PostgreSQL);
- scaling: 1, 2 and 4 ``stopsms worker`` processes on one PostgreSQL database against the sink
  playing an account of 4 binds and 8,000 submit_sm/s (2,000 per bind; beyond: refused bind,
  ``ESME_RTHROTTLED``); timed from the campaign's start (every worker bound) to its
  completion; the sink reports the most binds held at once and its busiest second (goal:
  ≥ 3.5× at 4 workers, cap never exceeded);
- failover: 2 workers, an account of 1 bind: SIGKILL the one holding it mid-campaign; time
  until the other holds the bind and until messages are submitted again (goal ≤ 15 s), and
  the messages left in doubt by the kill (goal ≤ one window, 64).

``python -m bench workers``; ``STOPSMS_BENCH_WORKERS_N`` sets the dispatch and failover
campaigns' size (12,000), ``STOPSMS_BENCH_WORKERS_SCALING_N`` the scaling one's (96,000).

The scaling campaign is long enough to measure the sustained throughput, not the start: an
idle worker notices a campaign within ``idle_max`` (1 s) and claims 2,048 messages (about a
second of one bind), so the end of a short campaign waits on one worker. Measured 2026-12-05
on main 2b69065, load 0.9–2.4, 1 → 4 workers: ×2.6 at 12,000 messages (helper, a 1.5 s
campaign at 4 workers), ×3.37 at 48,000 (1,732 → 5,843 /s), ×3.53 at 96,000 (1,738 →
6,128 /s).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select, update
from tests.e2e.support import TUESDAY_10H, ShiftedClock, fr, seed_campaign, stop_processes
from tests.postgres import new_database

from bench import Rate, report
from bench.smpp_sink import sink_process, sink_stop
from stopsms.clock import FakeClock
from stopsms.engine.sending import send_campaign
from stopsms.providers.smpp import SmppProvider
from stopsms.services.accounts import credits
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database, open_database

N = int(os.environ.get("STOPSMS_BENCH_WORKERS_N", "12000"))
SCALING_N = int(os.environ.get("STOPSMS_BENCH_WORKERS_SCALING_N", "96000"))
WORKER = [sys.executable, "-m", "stopsms.cli", "worker", "--provider"]
_M, _C = t.messages, t.campaigns


def _campaign(db: Database, n: int, *, paused: bool) -> int:
    campaign_id = seed_campaign(
        db, [fr(i) for i in range(n)], kind="informative", text="Votre commande est prete"
    )
    if n > 30_000:
        with db.transaction() as conn:
            credits.add_credits(conn, "default", (n - 30_000) * 1000 * 3, now=TUESDAY_10H)
    prepare_campaign(db, campaign_id, FakeClock(TUESDAY_10H))
    if paused:  # the workers start (and bind) before the clock runs
        _set_status(db, campaign_id, "paused")
    return campaign_id


def _set_status(db: Database, campaign_id: int, status: str) -> None:
    with db.transaction() as conn:
        conn.execute(update(_C).where(_C.c.id == campaign_id).values(status=status))


def _until(condition: Callable[[], bool], limit: float = 300.0, every: float = 0.02) -> float:
    """Poll until ``condition``; the perf_counter instant it held."""
    deadline = time.perf_counter() + limit
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the benchmark stopped moving")
        time.sleep(every)
    return time.perf_counter()


def _status(db: Database, campaign_id: int) -> str:
    with db.reader() as conn:
        return str(conn.execute(select(_C.c.status).where(_C.c.id == campaign_id)).scalar_one())


def _count(db: Database, campaign_id: int, *statuses: str) -> int:
    with db.reader() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    _M.c.campaign_id == campaign_id, _M.c.status.in_(statuses)
                )
            ).scalar_one()
        )


def _bind_holders(db: Database) -> list[int]:
    b, w = t.bind_leases, t.workers
    with db.reader() as conn:
        return list(
            conn.execute(
                select(w.c.pid)
                .join(b, b.c.worker_id == w.c.id)
                .where(w.c.lease_expires_at > func.now())
                .order_by(b.c.slot)
            ).scalars()
        )


@contextmanager
def _running(url: str, provider: str, count: int) -> Iterator[None]:
    """``count`` ``stopsms worker`` processes on ``url`` (output discarded), stopped after."""
    env = {**os.environ, "STOPSMS_DATABASE_URL": url}
    workers = [
        subprocess.Popen(
            [*WORKER, provider], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(count)
    ]
    try:
        yield
    finally:
        stop_processes(workers)


def _dispatch(url: str, n: int, label: str) -> Rate:
    """``send_campaign`` with receipts, one process, to the sink."""
    db = open_database(url)
    campaign_id = _campaign(db, n, paused=False)
    child, port = sink_process()
    provider = SmppProvider(f"smpp://bench:pw@127.0.0.1:{port}?window=128")
    start = time.perf_counter()
    result = asyncio.run(
        send_campaign(db, campaign_id, provider, ShiftedClock(TUESDAY_10H), wait=True)
    )
    elapsed = time.perf_counter() - start
    counts = sink_stop(child)
    db.close()
    assert counts["submits"] == n, counts
    assert result.progress.delivered == n, result.progress
    return Rate(f"send_campaign on {label}, receipts [smpp_sink]", n, elapsed)


def _workers(url: str, count: int, n: int) -> tuple[Rate, dict[str, int]]:
    """``count`` workers on one database; the sink as a 4-bind, 8,000/s account."""
    db = open_database(url)
    campaign_id = _campaign(db, n, paused=True)
    child, port = sink_process(max_binds=4, tps=8000)
    provider = f"smpp://bench:pw@127.0.0.1:{port}?window=128&tps=8000&binds=4"
    with _running(url, provider, count):
        _until(lambda: len(_bind_holders(db)) == count, limit=120, every=0.1)
        _set_status(db, campaign_id, "sending")
        start = time.perf_counter()
        end = _until(lambda: _status(db, campaign_id) == "completed")
    counts = sink_stop(child)
    sent = _count(db, campaign_id, "submitted", "delivered")
    db.close()
    assert sent == n, (sent, counts)
    return Rate(f"{count} worker(s), 4 binds x 2,000/s account", n, end - start), counts


def _failover(url: str, n: int) -> tuple[float, float, int]:
    """Seconds from SIGKILL to the bind held again, to messages submitted again; in doubt."""
    db = open_database(url)
    campaign_id = _campaign(db, n, paused=True)
    child, port = sink_process(max_binds=1, tps=2000)
    provider = f"smpp://bench:pw@127.0.0.1:{port}?window=64&tps=2000&binds=1"
    with _running(url, provider, 2):
        _until(lambda: len(_bind_holders(db)) == 1, limit=120, every=0.1)
        _set_status(db, campaign_id, "sending")
        _until(lambda: _count(db, campaign_id, "submitted", "delivered") >= n // 4)
        victim = _bind_holders(db)[0]
        os.kill(victim, signal.SIGKILL)
        killed = time.perf_counter()
        _until(lambda: _count(db, campaign_id, "claimed", "submitting") == 0, every=0.01)
        before = _count(db, campaign_id, "submitted", "delivered")
        bound = _until(lambda: _bind_holders(db) not in ([], [victim]), every=0.05)
        served = _until(
            lambda: _count(db, campaign_id, "submitted", "delivered") > before, every=0.05
        )
        _until(lambda: _status(db, campaign_id) == "completed")
    sink_stop(child)
    doubt = _count(db, campaign_id, "unknown")
    db.close()
    return bound - killed, served - killed, doubt


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, new_database("bench") as pg:
        sqlite = f"sqlite:///{Path(tmp) / 'stopsms.db'}"
        open_database(sqlite).close()
        report(_dispatch(sqlite, N, "SQLite"))
        report(_dispatch(pg, N, "PostgreSQL"), goal=5000)
    one: Rate | None = None
    for count in (1, 2, 4):
        with new_database("bench") as pg:
            rate, counts = _workers(pg, count, SCALING_N)
        report(rate, baseline=one)
        one = one or rate
        print(
            f"{'':<48} sink: most binds {counts['most_binds']} (allowed 4), busiest second "
            f"{counts['busiest']:,} (cap 8,000), {counts['throttled']:,} throttled",
            flush=True,
        )
    with new_database("bench") as pg:
        bound, served, doubt = _failover(pg, N // 2)
    verdict = "meets" if served <= 15 else "MISSES"
    print(
        f"{'failover after SIGKILL of the bind holder':<48} bind again {bound:5.1f} s, "
        f"sending again {served:5.1f} s [{verdict} goal 15 s]; {doubt} in doubt "
        f"[{'meets' if doubt <= 64 else 'MISSES'} goal ≤ 64]",
        flush=True,
    )
