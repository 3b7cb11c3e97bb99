"""Issue 11, item 2 (and 3) end to end: ``campaign send --wait`` through SMSC restarts.

The SMSC is the npm ``smpp`` package under node (``tests/peers/smsc.js``, not our code), in
its own process; it logs every ``submit_sm`` it accepts and every receipt it sends, and
numbers message ids from 1 at each start. ``stopsms campaign send --wait`` runs as a
subprocess on SQLite and on PostgreSQL while the SMSC is SIGKILLed and restarted four times
mid-campaign. Then:

- the send ends by itself within the time limit (on main it could wait forever on the dead
  session's window: 2 runs of 5 in the issue) and leaves the campaign completed, nothing
  ``pending``, ``claimed`` or ``submitting``;
- from the SMSC's own log, no recipient got the message twice;
- every message is ``submitted`` or ``delivered`` (and then in the log exactly once) or
  ``unknown`` (in flight when the SMSC died: in the log at most once, never resent);
- every ``delivered`` message had a receipt sent for its number (on main, a receipt for a
  reused id marked an older message ``delivered``).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.e2e.support import fr, seed_campaign
from tests.peers.smsc import NodeSmsc

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SEND = "import typer; from stopsms.cli.sending import send; typer.run(send)"
RECIPIENTS = 2000
#: SIGKILL the SMSC once it has accepted this share of the campaign (four restarts).
KILL_AT = (0.15, 0.35, 0.55, 0.75)
#: The whole send, restarts included, must end within this (it takes ~15 s here).
SEND_LIMIT_S = 120


def test_a_campaign_goes_through_smsc_restarts_without_freeze_duplicate_or_silent_loss(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    numbers = [fr(i) for i in range(RECIPIENTS)]
    # Informative: the subprocess runs on the real clock, whatever the hour (never held).
    campaign_id = seed_campaign(
        database, numbers, kind="informative", text="Votre commande est disponible en magasin"
    )
    smsc = NodeSmsc(tmp_path / "smsc.jsonl", receipt_delay_ms=100)
    smsc.start()
    url = (
        f"smpp://stopsms:pw@127.0.0.1:{smsc.port}"
        "?window=64&tps=1500&timeout=5&reconnect_max=0.5&enquire_link=5"
    )
    env = {**os.environ, "STOPSMS_DATABASE_URL": database_url, "COLUMNS": "200"}
    command = [sys.executable, "-c", SEND, str(campaign_id), "--provider", url]
    command += ["--wait", "--receipt-timeout", "5"]
    rng = random.Random(11)
    restarts = 0
    sender = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for share in KILL_AT:
            deadline = time.monotonic() + 60
            while smsc.submits() < share * RECIPIENTS and sender.poll() is None:
                assert time.monotonic() < deadline, "the campaign stopped moving"
                time.sleep(0.005)
            if sender.poll() is not None:
                break
            smsc.kill()
            time.sleep(rng.uniform(0.1, 0.6))  # down for a moment, then up, ids from 1
            smsc.start()
            restarts += 1
        try:
            out, err = sender.communicate(timeout=SEND_LIMIT_S)
        except subprocess.TimeoutExpired:
            sender.kill()
            out, err = sender.communicate()
            pytest.fail(
                f"campaign send froze: no end {SEND_LIMIT_S} s after {restarts} SMSC restarts"
                f" ({smsc.submits()} submits)\n{out.decode()[-2000:]}\n{err.decode()[-2000:]}"
            )
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.communicate()
        smsc.kill()
    assert sender.returncode == 0, err.decode()[-3000:]
    assert restarts == len(KILL_AT)

    received = Counter("+" + entry["to"] for entry in smsc.entries("submit"))
    receipts = Counter("+" + entry["to"] for entry in smsc.entries("receipt"))
    m = t.messages
    with database.reader() as conn:
        rows = conn.execute(
            select(m.c.phone_e164, m.c.status, m.c.error_code).where(m.c.campaign_id == campaign_id)
        ).all()
        status = conn.execute(
            select(t.campaigns.c.status).where(t.campaigns.c.id == campaign_id)
        ).scalar_one()
    assert len(rows) == RECIPIENTS
    assert status == "completed", Counter(row.status for row in rows)
    assert max(received.values()) == 1  # nobody got it twice, by the SMSC's own log
    for row in rows:
        assert row.status in ("submitted", "delivered", "unknown"), row
        if row.status == "unknown":
            assert received[row.phone_e164] <= 1, row  # maybe on the wire, never resent
        else:
            assert received[row.phone_e164] == 1, row
        if row.status == "delivered":
            assert receipts[row.phone_e164] >= 1, row  # its own receipt, not a reused id's
    statuses = Counter(row.status for row in rows)
    print(f"{restarts} SMSC restarts, {sum(received.values())} submits logged, {dict(statuses)}")
