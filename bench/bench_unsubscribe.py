"""The hosted unsubscribe page under load: p99 latency at 200 requests/s (goal < 50 ms).

uvicorn serves :mod:`bench.unsubscribe_server` in a subprocess (one worker, on uvloop and
httptools as ``stopsms serve`` runs, on a socket this process binds to port 0 and hands
over), on a SQLite database holding a prepared campaign of British recipients (every message
with its hosted-page token). Each scenario is an open loop:
requests are *scheduled* at a fixed rate and each latency counts from its scheduled time (a
slow answer delays the ones behind it and is counted, not hidden), over keep-alive
connections from a pool of threads:

- ``bare``: ``GET /bare``, a fixed page with the same headers: the ceiling of the stack here;
- ``GET /u/{token}``: the per-message page (one read, the template, a form cookie);
- ``POST /u/{token}``: the confirm button (form, anti-forgery check, one opt-out written),
  a different token each time.

Rounds are interleaved (bare, GET, POST, then again), all in the same run, after one
unmeasured POST (the first opt-out of a process builds the phone validator: seconds).

    python -m bench unsubscribe    (STOPSMS_BENCH_RATE=…, STOPSMS_BENCH_SECONDS=… to change)
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bench import machine_speed
from stopsms.clock import FakeClock
from stopsms.services.accounts import accounts, credits
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.store import tables as t
from stopsms.store.database import open_database

NOW = datetime(2024, 12, 3, 9, 0, tzinfo=UTC)
PUBLIC_URL = "https://sms.shop.fr"
RATE = float(os.environ.get("STOPSMS_BENCH_RATE", "200"))
SECONDS = float(os.environ.get("STOPSMS_BENCH_SECONDS", "10"))
GOAL_P99_MS = 50.0
CONNECTIONS = 32
ROUNDS = 2
Request = Callable[[http.client.HTTPConnection, int], int]


def _prepare(url: str, recipients: int) -> list[str]:
    """A prepared campaign of ``recipients`` British numbers; their tokens."""
    database = open_database(url)
    with database.transaction() as conn:
        accounts.update_account(
            conn, "default", AccountChanges(validated=True, shortcode="36034", brand="Shop")
        )
        accounts.add_sender(conn, "default", "SHOP", now=NOW)
        credits.add_credits(conn, "default", 10**12, now=NOW)
        account_id = accounts.get_account(conn, "default").id
        list_id = conn.execute(
            t.lists.insert()
            .values(account_id=account_id, name="l", created_at=NOW)
            .returning(t.lists.c.id)
        ).scalar_one()
        for n in range(recipients):
            contact = conn.execute(
                t.contacts.insert()
                .values(
                    account_id=account_id,
                    phone_e164=f"+447400{n:06d}",
                    region="GB",
                    consent="opt_in",
                    created_at=NOW,
                    updated_at=NOW,
                )
                .returning(t.contacts.c.id)
            ).scalar_one()
            conn.execute(t.list_members.insert().values(list_id=list_id, contact_id=contact))
        campaign = create_campaign(
            conn, "default", list_name="l", text="Soldes", sender="SHOP", clock=FakeClock(NOW)
        ).campaign
    prepare_campaign(database, campaign.id, FakeClock(NOW), public_url=PUBLIC_URL)
    with database.reader() as conn:
        tokens = list(
            conn.execute(
                select(t.messages.c.unsubscribe_token).where(
                    t.messages.c.unsubscribe_token.is_not(None)
                )
            ).scalars()
        )
    database.close()
    return tokens


def _serve(url: str) -> tuple[subprocess.Popen[bytes], int]:
    """uvicorn in a subprocess on a socket bound here to port 0; (process, port)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    env = {**os.environ, "STOPSMS_DATABASE_URL": url, "STOPSMS_PUBLIC_URL": PUBLIC_URL}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.unsubscribe_server:create",
            "--factory",
            "--fd",
            str(listener.fileno()),
            "--log-level",
            "warning",
            "--no-access-log",
            "--loop",  # as stopsms serve runs (stopsms.server.UVICORN_OPTIONS)
            "uvloop",
            "--http",
            "httptools",
        ],
        pass_fds=(listener.fileno(),),
        env=env,
        cwd=Path(__file__).parent.parent,
    )
    listener.close()
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/bare")
            if connection.getresponse().status == 200:
                connection.close()
                return process, port
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.2)


def _load(port: int, request: Request, rate: float, seconds: float) -> list[float]:
    """Open-loop load: ``rate``/s for ``seconds``; latencies (s) from each scheduled time."""
    total = int(rate * seconds)
    start = time.perf_counter() + 0.2
    due: queue.Queue[int | None] = queue.Queue()
    for i in range(total):
        due.put(i)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            try:
                i = due.get_nowait()
            except queue.Empty:
                break
            if i is None:
                break
            scheduled = start + i / rate
            wait = scheduled - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            status = request(connection, i)
            latency = time.perf_counter() - scheduled
            with lock:
                latencies.append(latency)
                if status >= 400:
                    failures.append(str(status))
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        print(f"  {len(failures)} failed request(s), e.g. status {failures[0]}", flush=True)
    return latencies


def _get(path: str) -> Request:
    def send(connection: http.client.HTTPConnection, i: int) -> int:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status

    return send


def _form_value(port: int, token: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", f"/u/{token}")
    html = connection.getresponse().read().decode()
    connection.close()
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    print(f"  machine: sum(range(10**8)) in {machine_speed():.2f} s; load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="stopsms-bench-") as directory:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        count = int(RATE * SECONDS)
        tokens = _prepare(url, count * ROUNDS + 1)
        process, port = _serve(url)
        try:
            csrf = _form_value(port, tokens[0])
            form = {
                "Cookie": f"stopsms_csrf={csrf}",
                "Content-Type": "application/x-www-form-urlencoded",
            }
            body = f"csrf={csrf}&reason=too_many".encode()
            offset = [0]  # each round's POSTs start on tokens not yet opted out

            def get_page(connection: http.client.HTTPConnection, i: int) -> int:
                connection.request("GET", f"/u/{tokens[i % len(tokens)]}")
                response = connection.getresponse()
                response.read()
                return response.status

            def post_page(connection: http.client.HTTPConnection, i: int) -> int:
                token = tokens[(i + offset[0]) % len(tokens)]
                connection.request("POST", f"/u/{token}", body=body, headers=form)
                response = connection.getresponse()
                response.read()
                return response.status

            scenarios: list[tuple[str, Request]] = [
                ("bare GET /bare (ceiling)", _get("/bare")),
                ("GET /u/{token}", get_page),
                ("POST /u/{token} (opt-out written)", post_page),
            ]
            # Warm-up, not measured: the first opt-out builds the phone validator (seconds).
            warm = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            warm.request("POST", f"/u/{tokens[-1]}", body=body, headers=form)
            assert warm.getresponse().status == 200
            warm.close()
            for round_number in range(1, ROUNDS + 1):
                for label, request in scenarios:
                    latencies = _load(port, request, RATE, SECONDS)
                    p50 = _percentile(latencies, 50) * 1000
                    p99 = _percentile(latencies, 99) * 1000
                    verdict = "meets" if p99 < GOAL_P99_MS else "MISSES"
                    print(
                        f"  round {round_number} {label:<36} {len(latencies):,} at {RATE:g}/s:"
                        f" p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max"
                        f" {max(latencies) * 1000:6.1f} ms  [{verdict} p99 < {GOAL_P99_MS:g} ms]",
                        flush=True,
                    )
                offset[0] += count
        finally:
            process.terminate()
            process.wait(timeout=30)
        print(f"  load after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
