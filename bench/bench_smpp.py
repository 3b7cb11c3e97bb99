"""SMPP: submit_sm per second through SmppProvider to the simulator, receipts flowing back.

Both figures run against the same in-process :class:`SmscSimulator` (``smpp34.Server``) at
window 64, tps unlimited, one receipt per message: the provider (``submit_many`` in batches of
1,000 until every receipt reached ``on_receipt``) beside the library's own ``smpp34.Client``
(a semaphore of 64 submits, receipts drained); then the provider against the simulator in a
child process, as ``stopsms smsc`` runs it (in-process, the simulator's own Python work —
a deliver_sm per receipt — shares the one event loop). ``STOPSMS_BENCH_SMPP_N``: the count.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import smpp34

from bench import best_rate, report
from stopsms.providers.base import (
    DataCoding,
    DeliveryReceipt,
    EventHandlers,
    InboundMessage,
    OutboundMessage,
)
from stopsms.providers.smpp import SmppProvider
from stopsms.smsc import SmscSimulator

N = int(os.environ.get("STOPSMS_BENCH_SMPP_N", "20000"))
WINDOW = 64
TEXT = "Black Friday: -30% sur tout le magasin ce week-end! STOP 36034"


async def _until(check: object) -> None:
    assert callable(check)
    while not check():
        await asyncio.sleep(0.005)


_SIM_PROCESS = """
import asyncio, sys
from stopsms.smsc import SmscSimulator
async def main():
    sim = SmscSimulator()
    print(await sim.start(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await sim.stop()
asyncio.run(main())
"""


def simulator_process() -> tuple[subprocess.Popen[bytes], int]:
    """Start an accept-all simulator (receipts on) in a child process: (process, port).
    Stop it with ``process.communicate(b"")``."""
    child = subprocess.Popen(
        [sys.executable, "-c", _SIM_PROCESS], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    return child, int(child.stdout.readline())


async def _provider_run(n: int, own_process: bool = False) -> int:
    child = None
    if own_process:  # the simulator in its own process, as `stopsms smsc` runs it
        child, port = simulator_process()
    else:
        sim = SmscSimulator()
        port = await sim.start()
    receipts = 0

    async def on_receipt(receipt: DeliveryReceipt) -> None:
        nonlocal receipts
        receipts += 1

    async def on_inbound(message: InboundMessage) -> None:
        return None

    provider = SmppProvider(f"smpp://bench:pw@127.0.0.1:{port}?window={WINDOW}")
    await provider.start(EventHandlers(on_receipt, on_inbound))
    messages = [
        OutboundMessage(i, "36034", f"+336{i:08d}", TEXT, DataCoding.GSM7) for i in range(n)
    ]
    for start in range(0, n, 1000):
        await provider.submit_many(messages[start : start + 1000])
    await _until(lambda: receipts >= n)
    await provider.close()
    if child is not None:
        child.communicate(b"")
    else:
        await sim.stop()
    return n


async def _library_run(n: int) -> int:
    sim = SmscSimulator()
    port = await sim.start()
    client = smpp34.Client("127.0.0.1", port, "bench", "pw", bind_type="TRX", window_size=WINDOW)
    smsc = await client.connect()
    receipts = 0

    async def drain() -> None:
        nonlocal receipts
        while isinstance(await smsc.next(), smpp34.DeliverSmEvent):
            receipts += 1

    drainer = asyncio.create_task(drain())
    slots = asyncio.Semaphore(WINDOW)
    payload = TEXT.encode("ascii")

    async def one(i: int) -> None:
        async with slots:
            await smsc.submit_sm(f"336{i:08d}", payload, source_addr="36034", registered_delivery=1)

    await asyncio.gather(*(one(i) for i in range(n)))
    await _until(lambda: receipts >= n)
    drainer.cancel()
    await smsc.unbind()
    await sim.stop()
    return n


def main() -> None:
    baseline = best_rate(
        f"smpp34.Client, window {WINDOW}, receipts", lambda: asyncio.run(_library_run(N)), 1
    )
    report(baseline)
    rate = best_rate(
        f"SmppProvider, window {WINDOW}, receipts", lambda: asyncio.run(_provider_run(N)), 1
    )
    report(rate, baseline=baseline)
    rate = best_rate(
        "SmppProvider, simulator in its own process",
        lambda: asyncio.run(_provider_run(N, own_process=True)),
        1,
    )
    report(rate, goal=5000, baseline=baseline)


if __name__ == "__main__":
    main()
