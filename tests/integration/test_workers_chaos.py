"""Issue 11 end to end: three workers on PostgreSQL under SIGKILL, SMSC restart and STOPs.

The SMSC is the npm ``smpp`` package under node (``tests/peers/smsc.js``, not our code): it
allows :data:`BINDS` binds at once (refuses more), accepts :data:`CAP` ``submit_sm`` per
second (answers ``ESME_RTHROTTLED`` beyond) and logs every bind, submit, throttle and MO
acknowledgement with its time. Three ``stopsms worker`` processes share one campaign on one
PostgreSQL database; mid-campaign one worker holding a bind is SIGKILLed and the SMSC is
killed and restarted, while STOPs arrive throughout. From the SMSC's log:

- every recipient got the campaign exactly once, or is ``unknown`` (at most once, in doubt
  when its worker or the SMSC died), or was excluded by a STOP (never);
- no campaign message reached a number after its STOP was acknowledged;
- never more binds than allowed, no one-second span above the cap;
- the database's report equals the log.

The same with two ``campaign send`` and a worker racing on one campaign.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from stopsms.clock import FakeClock
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.e2e.support import TUESDAY_10H, fr, seed_campaign, stop_processes
from tests.peers.smsc import NodeSmsc

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.commits, pytest.mark.timeout(120)]

TEXT = "Votre commande est disponible en magasin"
RECIPIENTS = 500
BINDS = 2
CAP = 200  # submit_sm per second, all binds together
LIMIT_S = 65  # the campaign must complete within this, faults included (2 loaded cores)
CLI = [sys.executable, "-m", "stopsms.cli"]


def _url(port: int, binds: int) -> str:
    return (
        f"smpp://stopsms:pw@127.0.0.1:{port}?window=64&tps={CAP}&binds={binds}"
        "&timeout=5&reconnect_max=0.5&enquire_link=5"
    )


@contextmanager
def _processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        stop_processes(started, timeout=15)


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


class Stops:
    """STOPs from random recipients every ``every`` seconds, until stopped."""

    def __init__(self, smsc: NodeSmsc, numbers: list[str], every: float = 0.15) -> None:
        self.smsc, self.numbers, self.every = smsc, numbers, every
        self.sent: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._rng = random.Random(5)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            number = self._rng.choice(self.numbers)
            self.sent.append(number)
            self.smsc.send_mo(number, "36034", "STOP")

    def __enter__(self) -> Stops:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _campaign_status(database: Database, campaign_id: int) -> str:
    with database.reader() as conn:
        return str(
            conn.execute(
                select(t.campaigns.c.status).where(t.campaigns.c.id == campaign_id)
            ).scalar_one()
        )


def _wait_completed(database: Database, campaign_id: int) -> None:
    try:
        _wait(lambda: _campaign_status(database, campaign_id) == "completed", "completion")
    except AssertionError:
        m = t.messages
        with database.reader() as conn:
            counts = conn.execute(
                select(m.c.status, m.c.claim_token).where(m.c.campaign_id == campaign_id)
            ).all()
        raise AssertionError(f"not completed: {Counter(counts).most_common(8)}") from None


def _bind_holder_pids(database: Database) -> list[int]:
    b, w = t.bind_leases, t.workers
    with database.reader() as conn:
        return list(
            conn.execute(
                select(w.c.pid).join(b, b.c.worker_id == w.c.id).order_by(b.c.slot)
            ).scalars()
        )


def _wait(condition: Callable[[], bool], what: str, limit: float = LIMIT_S) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _check_log(smsc: NodeSmsc, database: Database, campaign_id: int, binds: int) -> Counter[str]:
    """The assertions from the SMSC's log (module doc); returns the statuses."""
    submits = smsc.entries("submit")
    campaign = [e for e in submits if e["text"].startswith(TEXT)]
    received = Counter("+" + e["to"] for e in campaign)
    m = t.messages
    with database.reader() as conn:
        rows = conn.execute(
            select(m.c.phone_e164, m.c.status, m.c.reason).where(m.c.campaign_id == campaign_id)
        ).all()
    statuses = Counter(row.status for row in rows)
    assert len(rows) == RECIPIENTS
    for row in rows:
        if row.status in ("submitted", "delivered"):
            assert received[row.phone_e164] == 1, row
        elif row.status == "unknown":
            assert received[row.phone_e164] <= 1, row  # in doubt, never re-sent
        else:
            assert (row.status, row.reason) == ("excluded", "opted_out"), row
            assert received[row.phone_e164] == 0, row
    assert max(received.values()) == 1, "a recipient got the campaign twice"
    # no campaign message after an acknowledged STOP
    acked: dict[str, int] = {}
    for entry in smsc.entries("mo_ack"):
        if entry["status"] == 0:
            acked.setdefault(entry["from"], entry["at"])
    late = [e for e in campaign if "+" + e["to"] in acked and e["at"] > acked["+" + e["to"]]]
    assert not late, f"sent after an acknowledged STOP: {late[:3]}"
    # binds and the cap
    assert max(e["binds"] for e in smsc.entries("bind")) <= binds
    per_second = Counter(e["at"] // 1000 for e in submits + smsc.entries("throttled"))
    assert max(per_second.values()) <= CAP, sorted(per_second.values())[-5:]
    return statuses


def _setup(
    database: Database, tmp_path: Path, binds: int
) -> tuple[int, list[str], NodeSmsc, dict[str, str]]:
    """A sending campaign, the SMSC started (``binds`` allowed, :data:`CAP`), the env."""
    numbers = [fr(i) for i in range(RECIPIENTS)]
    campaign_id = seed_campaign(database, numbers, kind="informative", text=TEXT)
    prepare_campaign(database, campaign_id, FakeClock(TUESDAY_10H))
    smsc = NodeSmsc(tmp_path / "smsc.jsonl", receipt_delay_ms=100, max_binds=binds, tps=CAP)
    smsc.start()
    url = database.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "STOPSMS_DATABASE_URL": url, "COLUMNS": "200"}
    return campaign_id, numbers, smsc, env


def test_three_workers_through_a_kill_an_smsc_restart_and_stops(
    postgres_database: Database, tmp_path: Path
) -> None:
    database = postgres_database
    campaign_id, numbers, smsc, env = _setup(database, tmp_path, BINDS)
    command = [*CLI, "worker", "--provider", _url(smsc.port, BINDS)]
    started = time.monotonic()
    try:
        with _processes() as workers, Stops(smsc, numbers) as stops:
            for i in range(3):
                workers.append(_start(command, env, tmp_path / f"worker-{i}.log"))
            _wait(lambda: smsc.submits() >= RECIPIENTS * 0.25, "a quarter of the campaign")
            victim = _bind_holder_pids(database)[0]
            os.kill(victim, signal.SIGKILL)
            killed_at = smsc.submits()
            _wait(lambda: smsc.submits() >= killed_at + RECIPIENTS * 0.25, "sending to go on")
            smsc.kill()
            time.sleep(0.3)
            smsc.start()
            _wait_completed(database, campaign_id)
            elapsed = time.monotonic() - started
            # the standby worker took the dead one's bind: both slots held again
            _wait(lambda: len(_bind_holder_pids(database)) == BINDS, "the binds served", 20)
            assert victim not in _bind_holder_pids(database)
    finally:
        smsc.kill()
    statuses = _check_log(smsc, database, campaign_id, BINDS)
    assert stops.sent
    print(
        f"{elapsed:.1f} s, {len(stops.sent)} STOPs, statuses {dict(statuses)}, "
        f"{len(smsc.entries('throttled'))} throttled, "
        f"{len(smsc.entries('bind_refused'))} binds refused"
    )


def test_two_sends_and_a_worker_racing_on_one_campaign(
    postgres_database: Database, tmp_path: Path
) -> None:
    database = postgres_database
    campaign_id, numbers, smsc, env = _setup(database, tmp_path, 3)
    url = _url(smsc.port, 3)
    try:
        with _processes() as senders, Stops(smsc, numbers, every=0.3):
            senders.append(_start([*CLI, "worker", "--provider", url], env, tmp_path / "w.log"))
            send = [*CLI, "campaign", "send", str(campaign_id), "--provider", url]
            for i in range(2):
                senders.append(_start(send, env, tmp_path / f"send-{i}.log"))
            _wait_completed(database, campaign_id)
            for i, process in enumerate(senders[1:]):
                assert process.wait(timeout=20) == 0, (tmp_path / f"send-{i}.log").read_text()
    finally:
        smsc.kill()
    statuses = _check_log(smsc, database, campaign_id, 3)
    print(f"statuses {dict(statuses)}")
