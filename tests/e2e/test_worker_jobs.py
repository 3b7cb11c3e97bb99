"""``stopsms worker --jobs``: a send job is prepared and its campaign sent by one process.

The worker runs as a user starts it, against the SMSC simulator (a real SMPP server), with
background jobs alongside the engine (procrastinate in its event loop on PostgreSQL, the
runner's thread on SQLite). A ``campaign_send`` job submitted while it runs is prepared by the
job, then sent by the engine: every recipient receives the campaign once, and the job ends
``succeeded`` with the preparation's summary.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime

import pytest

from stopsms.jobs import resource
from stopsms.smsc.server import SmscSimulator
from tests.e2e.support import database, fr, seed_campaign

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TEXT = "Votre commande est disponible en magasin"


def test_a_send_job_is_prepared_then_sent_by_the_worker(database_url: str) -> None:
    asyncio.run(_run(database_url))


async def _run(database_url: str) -> None:
    db = database(database_url)
    numbers = [fr(n) for n in range(40)]
    # Informative: the worker runs on the real clock, whatever the hour (never held).
    campaign_id = seed_campaign(db, numbers, kind="informative", text=TEXT)
    sim = SmscSimulator(receipt_delay=0.01, seed=5)
    port = await sim.start()
    env = {**os.environ, "STOPSMS_DATABASE_URL": database_url}
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stopsms.cli",
        "worker",
        "--jobs",
        "--provider",
        f"smpp://stopsms:pw@127.0.0.1:{port}?window=32&tps=500",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        with db.transaction() as connection:
            job = resource.submit(
                connection,
                "default",
                "campaign_send",
                {"campaign_id": campaign_id},
                datetime.now(UTC),
                campaign_id=campaign_id,
            )
        deadline = asyncio.get_running_loop().time() + 60
        while sum(TEXT in m.text for m in sim.messages) < len(numbers):
            assert worker.returncode is None, (await worker.communicate())[1].decode()
            assert asyncio.get_running_loop().time() < deadline, "the campaign was not sent"
            await asyncio.sleep(0.05)
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(worker.communicate(), 30)
        await sim.stop()

    received = Counter(m.destination for m in sim.messages if TEXT in m.text)
    assert received == dict.fromkeys(numbers, 1)
    with db.reader() as connection:
        done = resource.get_job(connection, "default", job.id)
    assert done.state == "succeeded", (done.error, err.decode())
    assert done.result is not None
    assert done.result["ready"] == len(numbers)
    db.close()
