"""Dispatch throughput and STOP latency over SMPP to the in-process simulator.

- baseline: the raw SMPP provider, no database (``submit_many`` in chunks), receipts flowing
  back to a handler that does nothing;
- engine: ``send_campaign`` on SQLite (one process): claim, window and registry checks,
  ``submitting`` marks, results, credits and receipts all recorded (goal ≥ 5,000/s);
- STOP latency: MO messages at 500/s while a campaign is sending, from the handler's entry
  to the opt-out committed (p50/p99; goal p99 < 50 ms).

``python -m bench dispatch``; ``STOPSMS_BENCH_DISPATCH_N`` sets the campaign size (20,000).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests.e2e.support import TUESDAY_10H, ShiftedClock, database, fr, seed_campaign

from bench import Rate, report
from stopsms.dispatch.dispatcher import Dispatcher
from stopsms.dispatch.gate import SuppressionGate
from stopsms.dispatch.worker_thread import DatabaseThread
from stopsms.inbound.handler import InboundHandler
from stopsms.providers.base import (
    DataCoding,
    DeliveryReceipt,
    EventHandlers,
    InboundMessage,
    OutboundMessage,
)
from stopsms.providers.smpp import SmppProvider
from stopsms.services.preparation import prepare_campaign
from stopsms.services.sending import send_campaign
from stopsms.smsc.server import SmscSimulator

N = int(os.environ.get("STOPSMS_BENCH_DISPATCH_N", "20000"))
URL = "smpp://bench:pw@127.0.0.1:{port}?window=128"


async def _baseline(n: int) -> Rate:
    sim = SmscSimulator()
    port = await sim.start()
    provider = SmppProvider(URL.format(port=port))

    async def ignore_receipt(_: DeliveryReceipt) -> None:
        return None

    async def ignore_mo(_: InboundMessage) -> None:
        return None

    await provider.start(EventHandlers(ignore_receipt, ignore_mo))
    messages = [
        OutboundMessage(i, "MaBoutique", fr(i), "Black Friday -20% STOP 36034", DataCoding.GSM7)
        for i in range(n)
    ]
    start = time.perf_counter()
    for i in range(0, n, 128):
        await provider.submit_many(messages[i : i + 128])
    elapsed = time.perf_counter() - start
    await provider.close()
    await sim.stop()
    return Rate("raw SMPP provider, no database", n, elapsed)


async def _engine(n: int, directory: Path) -> Rate:
    db = database(directory)
    campaign_id = seed_campaign(db, [fr(i) for i in range(n)])
    clock = ShiftedClock(TUESDAY_10H)
    prepare_campaign(db, campaign_id, clock)
    sim = SmscSimulator()
    port = await sim.start()
    start = time.perf_counter()
    result = await send_campaign(db, campaign_id, SmppProvider(URL.format(port=port)), clock)
    elapsed = time.perf_counter() - start
    await sim.stop()
    db.close()
    assert result.progress.sent == n, result.progress
    return Rate("send_campaign on SQLite (all state recorded)", n, elapsed)


async def _stop_latency(n: int, directory: Path, per_second: float = 500.0) -> list[float]:
    db = database(directory)
    campaign_id = seed_campaign(db, [fr(i) for i in range(n)])
    clock = ShiftedClock(TUESDAY_10H)
    prepare_campaign(db, campaign_id, clock)
    sim = SmscSimulator()
    port = await sim.start()
    provider = SmppProvider(URL.format(port=port))
    thread = DatabaseThread(db)
    gate = SuppressionGate()
    dispatcher = Dispatcher(thread, provider, clock, gate=gate, campaign_id=campaign_id)
    inbound = InboundHandler(thread, clock, gate, keep_latencies=True)
    await provider.start(inbound.handlers)
    sending = asyncio.create_task(dispatcher.run())
    senders = [fr(500_000 + i) for i in range(int(per_second * 2))]
    tasks = []
    for sender in senders:  # 2 s of MO at the given rate, while the campaign sends
        tasks.append(asyncio.create_task(sim.send_mo(sender, "STOP")))
        await asyncio.sleep(1 / per_second)
    await asyncio.gather(*tasks)
    sending.cancel()
    await asyncio.gather(sending, return_exceptions=True)
    await provider.close()
    await inbound.close()
    thread.close()
    await sim.stop()
    db.close()
    return inbound.stats.latencies


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        baseline = asyncio.run(_baseline(N))
        report(baseline)
        for name in ("engine", "stop"):
            (Path(tmp) / name).mkdir()
        engine = asyncio.run(_engine(N, Path(tmp) / "engine"))
        report(engine, goal=5000, baseline=baseline)
        # A smaller campaign sends meanwhile: the figure is about the MO path, bounded in time.
        latencies = sorted(asyncio.run(_stop_latency(min(N, 2000), Path(tmp) / "stop")))
    if latencies:
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        verdict = "meets" if p99 < 50 else "MISSES"
        print(
            f"{'STOP latency at 500 MO/s during a campaign':<48} p50 {p50:6.1f} ms"
            f"  p99 {p99:6.1f} ms  ({len(latencies)} MO)  [{verdict} goal p99 < 50 ms]",
            flush=True,
        )


if __name__ == "__main__":
    main()
