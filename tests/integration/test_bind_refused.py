"""Issue 11 (engine): a bind refused again and again mid-campaign pauses the campaign, with why.

The SMSC is the npm ``smpp`` package under node (``tests/peers/smsc.js``), started with a
password; mid-campaign it is SIGKILLed and restarted with another one (an account whose
password changed, as after an SMSC migration): every rebind is refused ``ESME_RINVPASWD``. On
main the provider rebound forever under a ``campaign send`` that never ended, the campaign
``sending``. Now, after :data:`~stopsms.providers.smpp.REFUSALS_TO_GIVE_UP` refusals in a
row, the campaign is paused with the SMSC's refusal as its reason: ``campaign send`` stops
with that sentence and the way out (resume, then send); a ``worker`` keeps trying (one log
line per attempt, back-off capped at ``reconnect_max``), binds again once the account is
fixed, and the campaign goes on when a person resumes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from stopsms.clock import SystemClock
from stopsms.domain.campaign import CampaignStatus
from stopsms.engine.sending import SendStopped, run_worker, send_campaign
from stopsms.providers.smpp import REFUSALS_TO_GIVE_UP, SmppProvider
from stopsms.services.campaigns.campaigns import resume_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.e2e.support import fr, seed_campaign
from tests.peers.smsc import NodeSmsc

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

RECIPIENTS = 400


def _campaign(database: Database) -> int:
    # Informative: sent on the real clock whatever the hour (never held by a window).
    return seed_campaign(
        database,
        [fr(i) for i in range(RECIPIENTS)],
        kind="informative",
        text="Votre commande est disponible en magasin",
    )


def _url(port: int) -> str:
    return (
        f"smpp://stopsms:pw@127.0.0.1:{port}"
        "?window=16&tps=200&timeout=1&reconnect_max=0.2&enquire_link=5"
    )


def _state(database: Database, campaign_id: int) -> tuple[str, dict[str, object], Counter[str]]:
    c, m = t.campaigns, t.messages
    with database.reader() as conn:
        status, settings = conn.execute(
            select(c.c.status, c.c.settings).where(c.c.id == campaign_id)
        ).one()
        statuses = Counter(
            conn.execute(select(m.c.status).where(m.c.campaign_id == campaign_id)).scalars()
        )
    return status, dict(settings or {}), statuses


async def _until(condition: object, limit: float = 30.0) -> None:
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _restart_refusing(smsc: NodeSmsc) -> None:
    smsc.kill()
    smsc.password = "changed"  # every rebind now refused: ESME_RINVPASWD
    smsc.start()


@pytest.mark.commits
def test_campaign_send_stops_paused_with_the_smsc_s_refusal(
    database: Database, tmp_path: Path
) -> None:
    campaign_id = _campaign(database)
    smsc = NodeSmsc(tmp_path / "smsc.jsonl", receipt_delay_ms=50, password="pw")
    smsc.start()
    try:

        async def main() -> None:
            provider = SmppProvider(_url(smsc.port))
            sending = asyncio.create_task(
                send_campaign(database, campaign_id, provider, SystemClock())
            )
            await _until(lambda: smsc.submits() >= 50 or sending.done())
            _restart_refusing(smsc)
            with pytest.raises(SendStopped) as stopped:
                await asyncio.wait_for(sending, 60)
            text = str(stopped.value)
            assert "refused the bind: invalid password (ESME_RINVPASWD" in text, text
            assert f"({REFUSALS_TO_GIVE_UP} times in a row)" in text, text
            assert f"campaign {campaign_id} is paused" in text, text
            assert stopped.value.fix is not None
            assert stopped.value.fix.action == "resume_and_send"

        asyncio.run(main())
    finally:
        smsc.kill()
    status, settings, statuses = _state(database, campaign_id)
    assert status == "paused"
    assert "ESME_RINVPASWD" in str(settings["paused_reason"])
    assert not statuses.keys() & {"claimed", "submitting"}, statuses
    assert statuses["pending"] > 0  # what was left waits for the resume
    assert len(smsc.entries("bind_refused")) >= REFUSALS_TO_GIVE_UP


@pytest.mark.commits
def test_a_worker_pauses_keeps_trying_and_goes_on_once_fixed_and_resumed(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    campaign_id = _campaign(database)
    smsc = NodeSmsc(tmp_path / "smsc.jsonl", receipt_delay_ms=50, password="pw")
    smsc.start()
    caplog.set_level(logging.WARNING, logger="stopsms.providers.smpp")
    try:

        async def main() -> None:
            clock = SystemClock()
            provider = SmppProvider(_url(smsc.port))
            stop = asyncio.Event()
            worker = asyncio.create_task(run_worker(database, provider, clock, stop))
            await _until(lambda: provider.bound)
            prepare_campaign(database, campaign_id, clock)
            await _until(lambda: smsc.submits() >= 50)
            _restart_refusing(smsc)
            await _until(lambda: _state(database, campaign_id)[0] == "paused")
            assert not worker.done()  # the worker keeps trying
            refused = len(smsc.entries("bind_refused"))
            await _until(lambda: len(smsc.entries("bind_refused")) > refused + 2)
            # the account fixed on the SMSC's side: the worker binds again by itself…
            smsc.kill()
            smsc.password = "pw"
            smsc.start()
            await _until(lambda: provider.bound)
            await asyncio.sleep(0.5)
            assert _state(database, campaign_id)[0] == "paused"  # … but sends nothing
            assert "ESME_RINVPASWD" in str(_state(database, campaign_id)[1]["paused_reason"])
            with database.transaction() as conn:  # until a person resumes the campaign
                resume_campaign(conn, "default", campaign_id, clock)
            assert "paused_reason" not in _state(database, campaign_id)[1]  # never stale
            await _until(lambda: _state(database, campaign_id)[0] == "completed")
            stop.set()
            await asyncio.wait_for(worker, 30)

        asyncio.run(main())
    finally:
        smsc.kill()
    _, _, statuses = _state(database, campaign_id)
    assert statuses.keys() <= {"submitted", "delivered", "unknown"}, statuses
    attempts = [
        r
        for r in caplog.records
        if r.name == "stopsms.providers.smpp" and "refused the bind" in r.getMessage()
    ]
    assert len(attempts) == len(smsc.entries("bind_refused"))  # one line per attempt
    assert all("retrying in" in r.getMessage() for r in attempts)
    assert max(float(r.getMessage().rsplit(" ", 2)[-2]) for r in attempts) <= 0.2  # capped
    assert CampaignStatus(_state(database, campaign_id)[0]) is CampaignStatus.COMPLETED
