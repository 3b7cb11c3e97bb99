"""Webhook deliveries per second to a local receiver (goal ≥ 1,000/s), beside its ceiling.

- receiver ceiling: the same number of signed POSTs sent straight to the receiver at the same
  concurrency, each lane an ``httpx.AsyncClient`` of one connection (as the sender's lanes),
  no database — what this receiver and this HTTP client can do together on this machine now;
- stopsms: ``N`` events recorded on SQLite for one endpoint, then
  :class:`~stopsms.engine.webhooks.WebhookSender` claims, signs, POSTs and records every
  attempt until all are ``delivered`` (checked in the database).

The receiver (:mod:`tests.webhook_receiver`: raw asyncio streams, here on uvloop) runs in its
own process, as a real receiver would (2 cores: one each). Rounds alternate, best of 2 each.
``python -m bench webhooks``; ``STOPSMS_BENCH_WEBHOOKS_N`` sets ``N`` (2,000). Each line also
gives the CPU time this process spent per delivery, a figure a loaded machine distorts less
than wall-clock rates.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench import Rate, report
from stopsms.clock import SystemClock
from stopsms.engine.database_thread import DatabaseThread
from stopsms.engine.webhooks import WebhookSender
from stopsms.services.webhooks.deliveries import payload
from stopsms.services.webhooks.endpoints import add_endpoint
from stopsms.services.webhooks.events import record_events
from stopsms.services.webhooks.signing import headers, new_secret
from stopsms.store import tables as t
from stopsms.store.database import open_database

N = int(os.environ.get("STOPSMS_BENCH_WEBHOOKS_N", "2000"))
#: Requests in flight (lanes). One httpx pool costs more CPU per request as its connections
#: grow (measured here under load: 1.8 ms at 1, 3.8 ms at 16, 6.0 ms at 64): hence a client per
#: lane (:data:`stopsms.engine.webhooks.LANE_CONNECTIONS`).
CONCURRENCY = 16

_RECEIVER = """
import asyncio
import sys
import uvloop
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # the receiver's loop: C, not the ceiling
from tests.webhook_receiver import Receiver
receiver = Receiver(keep=False).start()
print(receiver.port, flush=True)
sys.stdin.read()
print(receiver.count, flush=True)
receiver.stop()
"""


@contextmanager
def receiver_process() -> Iterator[tuple[str, list[int]]]:
    """A receiver in its own process: yields its URL and, after, how many it answered."""
    child = subprocess.Popen(
        [sys.executable, "-c", _RECEIVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    )
    assert child.stdout is not None
    port = int(child.stdout.readline())
    answered: list[int] = []
    try:
        yield f"http://127.0.0.1:{port}/hook", answered
    finally:
        out, _ = child.communicate(b"")
        answered.append(int(out.split()[-1]))


async def _ceiling(n: int, url: str) -> Rate:
    secret = new_secret()
    body = payload("message.sent", datetime.now(UTC), {"message_id": 1, "to": "+33612345678"})
    limits = httpx.Limits(max_connections=1)
    clients = [httpx.AsyncClient(limits=limits, trust_env=False) for _ in range(CONCURRENCY)]
    codes: list[int] = []
    waiting = iter(range(n))

    async def lane(client: httpx.AsyncClient) -> None:
        for i in waiting:
            signed = headers(f"evt_{i}", datetime.now(UTC), body, [secret])
            response = await client.post(url, content=body, headers=signed)
            codes.append(response.status_code)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(lane(client) for client in clients))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    for client in clients:
        await client.aclose()
    assert len(codes) == n, len(codes)
    assert set(codes) == {204}, set(codes)
    return Rate(f"receiver ceiling, httpx alone ({cpu / n * 1000:.2f} ms CPU each)", n, elapsed)


async def _stopsms(n: int, url: str, directory: Path) -> Rate:
    db = open_database(f"sqlite:///{directory / 'stopsms.db'}")
    now = datetime.now(UTC)
    with db.transaction() as conn:
        add_endpoint(conn, 1, url, ["message.sent"], now, allow_private=True)
        data = [(1, {"message_id": i, "to": "+33612345678", "kind": "marketing"}) for i in range(n)]
        record_events(conn, "message.sent", data, now)
    thread = DatabaseThread(db)
    sender = WebhookSender(thread, SystemClock(), allow_private=True, concurrency=CONCURRENCY)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        while sender.stats.delivered < n:
            if await sender.run_once() == 0:
                await asyncio.sleep(0.01)
    finally:
        await sender.close()
        thread.close()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    with db.reader() as conn:
        d = t.webhook_deliveries.c
        statuses: dict[str, int] = dict(
            conn.execute(select(d.status, func.count()).group_by(d.status)).tuples().all()
        )
    db.close()
    assert statuses == {"delivered": n}, statuses
    return Rate(f"WebhookSender, SQLite ({cpu / n * 1000:.2f} ms CPU each)", n, elapsed)


def main() -> None:
    print(f"  load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)", flush=True)
    ceilings: list[Rate] = []
    ours: list[Rate] = []
    with tempfile.TemporaryDirectory() as tmp, receiver_process() as (url, answered):
        for round_ in range(2):
            ceilings.append(asyncio.run(_ceiling(N, url)))
            directory = Path(tmp) / f"round-{round_}"
            directory.mkdir()
            ours.append(asyncio.run(_stopsms(N, url, directory)))
    assert answered == [4 * N], answered
    ceiling = max(ceilings, key=lambda r: r.per_second)
    report(ceiling)
    report(max(ours, key=lambda r: r.per_second), goal=1000, baseline=ceiling)


if __name__ == "__main__":
    main()
