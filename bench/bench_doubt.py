"""What the in-doubt bound costs: ``send_campaign`` on SQLite to the fast sink, bounded vs not.

The dispatcher keeps at most one window (128 here) marked ``submitting`` and not yet recorded
(all a crash can leave in doubt); ``in_doubt_max=0`` lifts the bound. Both run in this
process, alternately, best of ``STOPSMS_BENCH_DOUBT_ROUNDS`` (2) each, on fresh databases of
``STOPSMS_BENCH_DOUBT_N`` (20,000) messages, every receipt recorded (``wait=True``). The
figure is the bounded rate as a share of the unbounded one.

``python -m bench doubt``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from tests.e2e.support import TUESDAY_10H, ShiftedClock, database, fr, seed_campaign

from bench import Rate, report
from bench.smpp_sink import sink_process, sink_stop
from stopsms.engine.sending import send_campaign
from stopsms.providers.smpp import SmppProvider
from stopsms.services.campaigns.preparation import prepare_campaign

N = int(os.environ.get("STOPSMS_BENCH_DOUBT_N", "20000"))
ROUNDS = int(os.environ.get("STOPSMS_BENCH_DOUBT_ROUNDS", "2"))
URL = "smpp://bench:pw@127.0.0.1:{port}?window=128"


def _send(n: int, directory: Path, in_doubt_max: int | None) -> Rate:
    import time

    db = database(f"sqlite:///{directory / 'stopsms.db'}")
    campaign_id = seed_campaign(db, [fr(i) for i in range(n)])
    clock = ShiftedClock(TUESDAY_10H)
    prepare_campaign(db, campaign_id, clock)
    child, port = sink_process()
    start = time.perf_counter()
    result = asyncio.run(
        send_campaign(
            db,
            campaign_id,
            SmppProvider(URL.format(port=port)),
            clock,
            wait=True,
            in_doubt_max=in_doubt_max,
        )
    )
    elapsed = time.perf_counter() - start
    counts = sink_stop(child)
    db.close()
    assert counts["submits"] == n, counts
    assert result.progress.delivered == n, result.progress
    label = "unbounded (in_doubt_max=0)" if in_doubt_max == 0 else "bounded (one window, 128)"
    return Rate(f"send_campaign SQLite, {label}", n, elapsed)


def main() -> None:
    best: dict[int | None, Rate] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(ROUNDS):
            for bound in (0, None):
                directory = Path(tmp) / f"{bound}-{r}"
                directory.mkdir()
                rate = _send(N, directory, bound)
                if bound not in best or rate.per_second > best[bound].per_second:
                    best[bound] = rate
    report(best[0])
    report(best[None], baseline=best[0])
