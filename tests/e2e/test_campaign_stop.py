"""STOP during a campaign, over a real SMPP peer: honoured at once, confirmed once, counted.

1,200 recipients; 30 reply STOP right after their message (simulator scenario), 20 others
send STOP while the campaign is still sending, before their own turn came. Then, from the
simulator's own records: no message reached a number after its STOP was acknowledged except
its one confirmation; the late stoppers' campaign messages were excluded at submit time.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stopsms.engine.sending import send_campaign
from stopsms.providers.smpp import SmppProvider
from stopsms.services.campaigns.reports import EXPORT_COLUMNS, campaign_report, export_rows
from stopsms.smsc.scenario import parse_scenario
from stopsms.smsc.server import SmscSimulator
from stopsms.store import tables as t
from tests.e2e.support import TUESDAY_10H, ShiftedClock, database, fr, seed_campaign

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

CONFIRMATION = "Vous ne recevrez plus de SMS de MaBoutique. SMS non surtaxé."


def test_stop_replies_during_a_campaign_are_honoured(tmp_path: Path, database_url: str) -> None:
    asyncio.run(_run(tmp_path, database_url))


async def _run(tmp_path: Path, database_url: str) -> None:
    db = database(database_url)
    numbers = [fr(i) for i in range(1200)]
    quick = numbers[5:600:20]  # reply STOP right after their message
    late = numbers[1000:1200:10]  # STOP before their turn
    campaign_id = seed_campaign(db, numbers)
    scenario = parse_scenario("\n".join(f"after-first {n} STOP" for n in quick))
    acked: dict[str, float] = {}

    def on_event(line: str) -> None:
        if line.startswith("mo ") and " acknowledged " in line:
            acked.setdefault(line.split()[1], time.monotonic())

    sim = SmscSimulator(scenario=scenario, receipt_delay=0.01, on_event=on_event, seed=1)
    port = await sim.start()
    provider = SmppProvider(f"smpp://stopsms:pw@127.0.0.1:{port}?window=64&tps=1500")

    async def late_stops() -> None:
        while len(sim.messages) < 300:
            await asyncio.sleep(0.005)
        records = await asyncio.gather(*(sim.send_mo(n, "stop") for n in late))
        for record in records:
            assert record.acknowledged
            acked.setdefault(record.sender, time.monotonic())

    try:
        stopper = asyncio.create_task(late_stops())
        report = await send_campaign(
            db, campaign_id, provider, ShiftedClock(TUESDAY_10H), wait=True, receipt_timeout=20
        )
        await stopper
    finally:
        await sim.stop()

    stoppers = set(quick) | set(late)
    assert set(acked) == stoppers
    by_number: dict[str, list[tuple[float, str]]] = {}
    for message in sim.messages:
        by_number.setdefault(message.destination, []).append((message.received_at, message.text))
    for number in stoppers:
        after = [text for at, text in by_number[number] if at > acked[number]]
        assert after == [CONFIRMATION], (number, after)
        confirmations = [text for _, text in by_number[number] if text == CONFIRMATION]
        assert len(confirmations) == 1
    # Everyone else got exactly their one campaign message, nobody got two.
    for number in set(numbers) - set(late):
        campaign_texts = [text for _, text in by_number[number] if text != CONFIRMATION]
        assert len(campaign_texts) == 1, number
    for number in late:
        assert all(text == CONFIRMATION for _, text in by_number[number])

    progress = report.progress
    assert progress.status.value == "completed"
    assert progress.sent == len(numbers) - len(late)
    assert progress.delivered == progress.sent
    assert progress.stops == len(quick)  # the late ones had received nothing to attribute
    assert report.reconciled.unknown == 0
    with db.reader() as conn:
        m = t.messages
        excluded = conn.execute(
            select(m.c.phone_e164).where(
                m.c.campaign_id == campaign_id, m.c.status == "excluded", m.c.reason == "opted_out"
            )
        ).scalars()
        assert set(excluded) == set(late)
        attributed = conn.execute(
            select(t.optouts.c.phone_e164).where(t.optouts.c.campaign_id == campaign_id)
        ).scalars()
        assert set(attributed) == set(quick)
        delivered = conn.execute(
            select(func.count()).where(m.c.kind == "confirmation", m.c.status == "delivered")
        ).scalar_one()
        assert delivered == len(stoppers)
        inbound = conn.execute(select(func.count()).select_from(t.inbound_messages)).scalar_one()
        assert inbound == len(stoppers)

        # The report and the per-recipient export tell the same story as the simulator.
        summary = campaign_report(conn, "default", campaign_id)
        assert summary.targeted == len(numbers)
        assert summary.sent == summary.delivered == len(numbers) - len(late)
        assert summary.stops == len(quick)
        assert summary.excluded.get("opted_out", 0) == len(late)
        rows = [
            dict(zip(EXPORT_COLUMNS, row, strict=True))
            for row in export_rows(conn, "default", campaign_id)
        ]
        assert len(rows) == len(numbers)
        by_status: dict[str, set[str]] = {}
        for row in rows:
            by_status.setdefault(row["status"], set()).add(row["number"])
        assert by_status["STOPPED"] == set(quick)
        assert by_status["excluded"] == set(late)
        assert by_status["delivered"] == set(numbers) - set(quick) - set(late)
    db.close()
