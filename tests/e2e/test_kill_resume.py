"""Crash safety: ``stopsms campaign send`` SIGKILLed at random points, then resumed.

The sender runs as a subprocess against an in-process SMSC simulator (a real SMPP server)
and is killed with SIGKILL a few times mid-campaign. A final run completes it. Then, from
the simulator's records: every ready recipient received exactly one message, except those
reconciled as ``unknown`` (on the wire when a run died) which received at most one — never
two — and the runs reported exactly as many reconciled messages as the database holds.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from stopsms.smsc.server import SmscSimulator
from stopsms.store import tables as t
from tests.e2e.support import database, fr, seed_campaign

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SEND = "import typer; from stopsms.cli.sending import send; typer.run(send)"
RECONCILED = re.compile(r"([\d,]+) message\(s\) were in flight")


def test_send_survives_sigkill_and_resumes(tmp_path: Path, database_url: str) -> None:
    asyncio.run(_run(tmp_path, database_url))


async def _send(env: dict[str, str], args: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SEND,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _run(tmp_path: Path, database_url: str) -> None:
    db = database(database_url)
    numbers = [fr(i) for i in range(3000)]
    # Informative: the subprocess runs on the real clock, whatever the hour (never held).
    campaign_id = seed_campaign(
        db, numbers, kind="informative", text="Votre commande est disponible en magasin"
    )
    sim = SmscSimulator(seed=7)
    port = await sim.start()
    url = f"smpp://stopsms:pw@127.0.0.1:{port}?window=64&tps=2500"
    env = {
        **os.environ,
        "STOPSMS_DATABASE_URL": str(db.engine.url),
        "COLUMNS": "200",
    }
    args = [str(campaign_id), "--provider", url]
    rng = random.Random(42)
    reported = 0
    kills = 0
    try:
        for _ in range(4):
            before = len(sim.messages)
            process = await _send(env, args)
            # Kill once it has been sending for a random while (or earlier, at start-up).
            deadline = asyncio.get_running_loop().time() + 20
            target = rng.randint(1, 600)
            while len(sim.messages) - before < target and process.returncode is None:
                if asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.002)
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            out, _ = await process.communicate()
            reported += sum(int(n.replace(",", "")) for n in RECONCILED.findall(out.decode()))
        final = await _send(env, args)
        out, err = await asyncio.wait_for(final.communicate(), 60)
        assert final.returncode == 0, err.decode()
        reported += sum(int(n.replace(",", "")) for n in RECONCILED.findall(out.decode()))
    finally:
        await sim.stop()

    assert kills >= 3
    received = Counter(message.destination for message in sim.messages)
    with db.reader() as conn:
        m = t.messages
        rows = conn.execute(
            select(m.c.phone_e164, m.c.status, m.c.error_code).where(m.c.campaign_id == campaign_id)
        ).all()
        status = conn.execute(
            select(t.campaigns.c.status).where(t.campaigns.c.id == campaign_id)
        ).scalar_one()
    assert status == "completed"
    unknown = {row.phone_e164 for row in rows if row.status == "unknown"}
    assert all(row.error_code == "reconciled" for row in rows if row.status == "unknown")
    assert reported == len(unknown)
    for row in rows:
        if row.phone_e164 in unknown:
            assert received[row.phone_e164] <= 1, row
        else:
            assert row.status in ("submitted", "delivered"), row
            assert received[row.phone_e164] == 1, row
    assert max(received.values()) == 1  # nobody ever got two
    print(f"{kills} kills, {len(unknown)} reconciled unknown, {len(sim.messages)} received")
    db.close()
