"""``stopsms worker``: between campaigns it keeps the bind, honours STOPs and starts schedules.

Over a real SMPP peer (the simulator): a STOP arriving while no campaign runs is recorded and
confirmed; a campaign scheduled a moment ahead is prepared and sent when its time comes, and
the number that said STOP is excluded from it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stopsms.engine.sending import run_worker
from stopsms.providers.smpp import SmppProvider
from stopsms.services.campaigns.campaigns import schedule_campaign
from stopsms.smsc.server import SmscSimulator
from stopsms.store import tables as t
from tests.e2e.support import TUESDAY_10H, ShiftedClock, database, fr, seed_campaign

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def test_worker_honours_stops_between_campaigns_and_starts_scheduled_ones(
    tmp_path: Path, database_url: str
) -> None:
    asyncio.run(_run(tmp_path, database_url))


async def _run(tmp_path: Path, database_url: str) -> None:
    db = database(database_url)
    numbers = [fr(i) for i in range(50)]
    campaign_id = seed_campaign(db, numbers)
    clock = ShiftedClock(TUESDAY_10H)
    with db.transaction() as conn:
        schedule_campaign(conn, "default", campaign_id, clock.now() + timedelta(seconds=2), clock)
    sim = SmscSimulator(receipt_delay=0.01, seed=3)
    port = await sim.start()
    provider = SmppProvider(f"smpp://stopsms:pw@127.0.0.1:{port}?window=32&tps=500")
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(db, provider, clock, stop, schedule_interval=0.2, idle_max=0.1)
    )
    try:
        while sim.binds == 0:
            await asyncio.sleep(0.01)
        stopped = await sim.send_mo(numbers[7], "STOP")
        assert stopped.acknowledged  # committed before the SMSC got its answer
        # The confirmation leaves at once, long before the campaign's time.
        while len(sim.messages) < 1:
            await asyncio.sleep(0.01)
        assert sim.messages[0].destination == numbers[7]
        campaign_texts = [m for m in sim.messages if "Black Friday" in m.text]
        assert campaign_texts == []
        for _ in range(400):  # the campaign is due 2 s after it was scheduled
            if sum("Black Friday" in m.text for m in sim.messages) >= len(numbers) - 1:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        report = await worker
        await sim.stop()

    assert report.prepared == [campaign_id]
    received = {m.destination for m in sim.messages if "Black Friday" in m.text}
    assert received == set(numbers) - {numbers[7]}
    with db.reader() as conn:
        m = t.messages.c
        excluded = conn.execute(
            select(m.phone_e164).where(m.campaign_id == campaign_id, m.reason == "opted_out")
        ).scalars()
        assert list(excluded) == [numbers[7]]
        confirmations = conn.execute(
            select(func.count()).select_from(t.messages).where(m.kind == "confirmation")
        ).scalar_one()
        assert confirmations == 1
    db.close()
