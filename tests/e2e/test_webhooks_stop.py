"""A STOP reply reaches the account's systems as a signed webhook, even across an outage.

Over the built-in SMSC simulator and ``run_worker`` as ``stopsms worker`` runs it: a person
answers STOP; the worker records the opt-out and the ``optout.created`` event in one
transaction, sends the confirmation SMS, and delivers the events to a local HTTP receiver that
verifies each request with the ``standardwebhooks`` library. The receiver refuses its first
request (an outage) and gets that event again 5 seconds later: every event arrives, each
deduplicable by its ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from stopsms.engine.sending import run_worker
from stopsms.providers.smpp import SmppProvider
from stopsms.services.webhooks.endpoints import add_endpoint
from stopsms.smsc.server import SmscSimulator
from tests.e2e.support import TUESDAY_10H, ShiftedClock, database, fr, seed_campaign
from tests.webhook_receiver import Receiver, receiver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

WANTED = "optout.created,inbound.received,message.sent,message.delivered"


def test_a_stop_reply_is_delivered_as_a_signed_webhook_after_an_outage(database_url: str) -> None:
    with receiver(lambda n: 503 if n == 0 else 204) as hook:
        secret = asyncio.run(_run(database_url, hook))
    verified = [Webhook(secret).verify(r.body, r.headers) for r in hook.requests]
    assert hook.requests[0].status == 503
    delivered = {
        r.headers["webhook-id"]: json.loads(r.body) for r in hook.requests if r.status == 204
    }
    by_type = {event["type"]: event["data"] for event in delivered.values()}
    assert set(by_type) == set(WANTED.split(","))  # every event, the refused one included
    assert len(delivered) == 4  # once each after the outage (ids: evt_1…)
    assert by_type["optout.created"]["phone"] == fr(7)
    assert by_type["optout.created"]["source"] == "keyword"
    assert by_type["inbound.received"]["text"] == "STOP"
    assert by_type["message.sent"]["kind"] == "confirmation"
    assert by_type["message.delivered"]["to"] == fr(7)
    assert len(verified) == len(hook.requests)


async def _run(database_url: str, hook: Receiver) -> str:
    db = database(database_url)
    seed_campaign(db, [fr(i) for i in range(5)])
    with db.transaction() as conn:
        endpoint = add_endpoint(conn, 1, hook.url, [WANTED], datetime.now(UTC), allow_private=True)
    assert endpoint.secret is not None
    sim = SmscSimulator(receipt_delay=0.01, seed=3)
    port = await sim.start()
    provider = SmppProvider(f"smpp://stopsms:pw@127.0.0.1:{port}?window=32&tps=500")
    stop = asyncio.Event()
    clock = ShiftedClock(TUESDAY_10H)
    worker = asyncio.create_task(
        run_worker(db, provider, clock, stop, idle_max=0.1, webhooks_allow_private=True)
    )
    try:
        while sim.binds == 0:
            await asyncio.sleep(0.01)
        assert (await sim.send_mo(fr(7), "STOP")).acknowledged
        for _ in range(300):  # the refused event comes back 5 s later
            if sum(r.status == 204 for r in hook.requests) >= 4:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await worker
        await sim.stop()
        db.close()
    return endpoint.secret
