"""Sending hours with a fake clock, over a real SMPP peer.

A campaign started on Saturday 28 November 2026 at 17:50 in Paris, paced at one message a
(fake) second, sends until 18:00, holds the rest (Saturday closes at 18:00, Sunday is closed)
and resumes on Monday 30 November at 08:00. No marketing message leaves in between; an
informative message due on Sunday noon leaves on Sunday noon.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from stopsms.clock import FakeClock
from stopsms.engine.sending import send_campaign
from stopsms.providers.smpp import SmppProvider
from stopsms.smsc.server import SmscSimulator
from stopsms.store import tables as t
from tests.e2e.support import SENDER, database, fr, seed_campaign

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

SATURDAY_17H50 = datetime(2026, 11, 28, 16, 50, tzinfo=UTC)
SATURDAY_18H = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
SUNDAY_NOON = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
MONDAY_8H = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def test_campaign_holds_at_18h_saturday_and_resumes_monday_8h(
    tmp_path: Path, database_url: str
) -> None:
    asyncio.run(_run(tmp_path, database_url))


async def _run(tmp_path: Path, database_url: str) -> None:
    db = database(database_url)
    numbers = [fr(i) for i in range(1000)]  # more than ten minutes at one a second
    campaign_id = seed_campaign(db, numbers, now=SATURDAY_17H50)
    with db.transaction() as conn:
        account_id = conn.execute(select(t.campaigns.c.account_id)).scalar_one()
        conn.execute(
            # Direct insert, not tests.builders: an informative message queued for Sunday noon
            # (no service queues a single message).
            insert(t.messages).values(
                account_id=account_id,
                phone_e164=fr(5000),
                region="FR",
                sender=SENDER,
                kind="informative",
                priority=0,
                text="Votre commande 1234 est disponible",
                encoding="GSM-7",
                price_millicredits=1000,
                not_before=SUNDAY_NOON,
                created_at=SATURDAY_17H50,
            )
        )
    sim = SmscSimulator(deliver_ratio=1.0)  # a failed receipt (5 % by default) is not the point
    port = await sim.start()
    clock = FakeClock(SATURDAY_17H50)
    provider = SmppProvider(f"smpp://stopsms:pw@127.0.0.1:{port}?window=64")
    try:
        report = await send_campaign(db, campaign_id, provider, clock, rate=1.0, idle_max=None)
    finally:
        await sim.stop()

    assert report.progress.status.value == "completed"
    assert len(sim.messages) == len(numbers) + 1
    with db.reader() as conn:
        m = t.messages
        rows = conn.execute(select(m.c.kind, m.c.submitted_at, m.c.status)).all()
    assert all(status == "submitted" or status == "delivered" for _, _, status in rows)
    marketing = sorted(at for kind, at, _ in rows if kind == "marketing")
    before = [at for at in marketing if at < SATURDAY_18H]
    after = [at for at in marketing if at >= SATURDAY_18H]
    assert 550 <= len(before) <= 610  # ten minutes at one a second
    assert after
    assert min(after) == MONDAY_8H  # nothing Saturday evening nor Sunday
    assert report.dispatch.held == len(after)
    informative = [at for kind, at, _ in rows if kind == "informative"]
    assert informative == [SUNDAY_NOON]  # informative messages are never held by windows
    db.close()
