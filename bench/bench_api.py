"""``POST /v1/messages`` on SQLite: accepted per second and p99 latency at 500/s, beside a bare
FastAPI endpoint that only parses the same body, on the same server (same process, same
uvicorn, same middleware), in the same run, interleaved round by round.

The server runs in a child process (uvicorn, one worker, with ``stopsms serve``'s options:
uvloop, httptools, no access log, the start-up heap frozen; no engine: no provider is
configured, so messages stay queued); the bare endpoint is ``async`` (no thread hop: the
stack's best). The load comes from this process (:mod:`bench.http_load`: keep-alive
connections on asyncio, not httpx, whose own CPU per request capped the ceiling at 108/s) on
the same 2 cores, so both figures include the client's share of the CPU (9–15 % of a core at
500/s; docs/api.md).
Each message goes to its own number (informative: never held), so every request is a real
acceptance: key verified (read once per 5 s, then from the server's cache of verified keys, as
a busy client's key is; checked again, not revoked, in the batch's transaction), account read,
opt-out checked, price, window, outbox insert.

Goal: ≥ 1,500 accepted/s, p99 < 50 ms at 500/s.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine_speed
from bench.http_load import Connection, Pool
from stopsms.api.messages import MessageIn

GOAL_RATE = 1_500
GOAL_P99_MS = 50.0
PACE = 500  # requests per second for the latency figure
#: Requests per throughput round, seconds per paced round, rounds (``BENCH_API_REQUESTS``,
#: ``BENCH_API_SECONDS``: smaller runs on a machine too loaded to finish the default ones).
THROUGHPUT_REQUESTS = int(os.environ.get("BENCH_API_REQUESTS", "1000"))
CONCURRENCY = 32
#: Connections the paced rounds may use (a request waits for a free one, and that counts).
PACED_CONNECTIONS = 64
PACED_SECONDS = int(os.environ.get("BENCH_API_SECONDS", "3"))
ROUNDS = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(url: str, port: int) -> None:
    """The child: the real server plus ``POST /bare`` parsing the same body."""
    import uvicorn

    from stopsms.api.limits import Limits
    from stopsms.app import App
    from stopsms.config import Settings
    from stopsms.server import UVICORN_OPTIONS, create_server

    server = create_server(
        App(Settings(database_url=url)), limits=Limits(per_key=0, per_ip=0), freeze=True
    )

    @server.post("/bare", status_code=202)
    async def bare(body: MessageIn) -> dict[str, Any]:
        return {"to": body.to, "status": "pending"}

    uvicorn.run(server, host="127.0.0.1", port=port, log_level="warning", **UVICORN_OPTIONS)


def _prepare(url: str) -> str:
    """A validated account with a sender and plenty of credits; returns an editor key."""
    from stopsms.app import App
    from stopsms.config import Settings
    from stopsms.services.access.keys import create_key
    from stopsms.services.access.roles import Role
    from stopsms.services.accounts import accounts, credits
    from stopsms.services.accounts.accounts import AccountChanges

    now = datetime.now(UTC)
    app = App(Settings(database_url=url))
    with app.transaction() as connection:
        accounts.update_account(
            connection, "default", AccountChanges(validated=True, shortcode="36034")
        )
        accounts.add_sender(connection, "default", "MaBoutique", now=now)
        credits.add_credits(connection, "default", 10**12, now=now)
        key = create_key(connection, "default", "bench", Role.EDITOR, actor="bench", now=now).key
    app.close()
    return key


class _Numbers:
    def __init__(self) -> None:
        self.next = 0

    def body(self) -> bytes:
        self.next += 1
        return json.dumps(
            {
                "to": f"+3361{self.next % 10_000_000:07d}",
                "text": "Votre code : 4821",
                "type": "informative",
            }
        ).encode()


async def _throughput(pool: Pool, path: str, numbers: _Numbers, headers: dict[str, str]) -> float:
    """Requests per second with ``CONCURRENCY`` in flight; every answer must be 202."""
    remaining = THROUGHPUT_REQUESTS

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status, body = await pool.request("POST", path, numbers.body(), headers)
            assert status == 202, body

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return THROUGHPUT_REQUESTS / (time.perf_counter() - started)


async def _paced(pool: Pool, path: str, numbers: _Numbers, headers: dict[str, str]) -> list[float]:
    """Latencies (ms) of requests started at ``PACE`` per second (open loop: counted from the
    scheduled start, a wait for a free connection included)."""
    latencies: list[float] = []

    async def one(scheduled: float) -> None:
        status, body = await pool.request("POST", path, numbers.body(), headers)
        latencies.append((time.perf_counter() - scheduled) * 1000)
        assert status == 202, body

    tasks = []
    start = time.perf_counter()
    for i in range(PACE * PACED_SECONDS):
        scheduled = start + i / PACE
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return latencies


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


async def _ready(port: int) -> None:
    for _ in range(600):
        try:
            connection = await Connection.open("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        status, _ = await connection.request("GET", "/healthz")
        connection.close()
        if status == 200:
            return
    raise RuntimeError("the server did not start")


async def _measure(port: int, key: str) -> None:
    numbers = _Numbers()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    await _ready(port)
    async with Pool("127.0.0.1", port, CONCURRENCY) as pool:
        await _throughput(pool, "/bare", numbers, headers)  # warm-up, both paths
        await _throughput(pool, "/v1/messages", numbers, headers)
        rates: dict[str, list[float]] = {"/bare": [], "/v1/messages": []}
        for _ in range(ROUNDS):
            for path in rates:
                rates[path].append(await _throughput(pool, path, numbers, headers))
    for path, found in rates.items():
        print(
            f"{path:<14} accepted/s, {THROUGHPUT_REQUESTS:,} requests x {ROUNDS} rounds,"
            f" {CONCURRENCY} in flight: best {max(found):,.0f}, median"
            f" {statistics.median(found):,.0f}",
            flush=True,
        )
    best = max(rates["/v1/messages"])
    verdict = "meets" if best >= GOAL_RATE else "MISSES"
    ratio = best / max(rates["/bare"])
    print(f"POST /v1/messages: {ratio:.0%} of the bare endpoint; [{verdict} goal {GOAL_RATE:,}/s]")
    latencies: dict[str, list[float]] = {"/bare": [], "/v1/messages": []}
    async with Pool("127.0.0.1", port, PACED_CONNECTIONS) as pool:
        for _ in range(2):
            for path in latencies:
                latencies[path].extend(await _paced(pool, path, numbers, headers))
    for path, found in latencies.items():
        print(
            f"{path:<14} at {PACE}/s, {len(found):,} requests: p50 {_p(found, 50):.1f} ms,"
            f" p99 {_p(found, 99):.1f} ms, max {max(found):.1f} ms",
            flush=True,
        )
    p99 = _p(latencies["/v1/messages"], 99)
    verdict = "meets" if p99 < GOAL_P99_MS else "MISSES"
    print(
        f"POST /v1/messages p99 at {PACE}/s: {p99:.1f} ms [{verdict} goal < {GOAL_P99_MS:.0f} ms]"
    )


def main() -> None:
    """Print accepted/s and p99 at 500/s, the API beside the bare endpoint."""
    print(f"machine: sum(range(10**8)) in {machine_speed():.2f} s; load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        key = _prepare(url)
        port = _free_port()
        child = multiprocessing.get_context("spawn").Process(target=_serve, args=(url, port))
        child.start()
        try:
            asyncio.run(_measure(port, key))
        finally:
            child.terminate()
            child.join(10)
    print(f"load after: {os.getloadavg()}")
