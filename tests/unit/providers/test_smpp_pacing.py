"""The SMPP throughput cap holds at the times ``submit_sm`` are written, stalls included.

Issue 11's chaos test once saw 211 submits in one second against a cap of 200: the pacing
token was taken *before* the wait for room in the window (or for a bind), so the submits
that waited through a stall all left together when it ended. Here on a virtual clock (an
event loop whose time jumps to its next timer when nothing is ready, so a 3-second stall
takes no time and every run is the same) and an in-memory SMSC: the real provider and
session code, a window that stops being answered, and the times each ``submit_sm`` was
written.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopsms.providers import smpp_pdu as wire
from stopsms.providers.base import DataCoding, OutboundMessage, SubmitOutcome
from stopsms.providers.pacing import SubmitPacer
from stopsms.providers.smpp import SmppProvider
from stopsms.providers.smpp_session import SmppSession


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock: when nothing is ready to run, the time jumps to the
    next timer (no real I/O may be pending; the tests below have none)."""

    def __init__(self) -> None:
        super().__init__()
        self._virtual = 0.0

    def time(self) -> float:
        return self._virtual

    def _run_once(self) -> None:
        # Private hooks of asyncio's base loop (stable since 3.4; what `looptime` uses too).
        ready: Any = getattr(self, "_ready")  # noqa: B009
        scheduled: Any = getattr(self, "_scheduled")  # noqa: B009
        if not ready and scheduled:
            self._virtual = max(self._virtual, scheduled[0].when())
        super()._run_once()  # type: ignore[misc]


def run_virtual(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    loop = VirtualTimeLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


class Smsc(asyncio.Transport):
    """The session's transport and an SMSC behind it: logs when each ``submit_sm`` is
    written and answers it at once, except while ``stalled`` (answered when it ends)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.session: SmppSession | None = None
        self.written: list[float] = []
        self.stalled = False
        self.unanswered: list[int] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        data, start = bytes(data), 0
        while start < len(data):
            length, command, _, seq = wire.HEADER.unpack_from(data, start)
            start += length
            if command == wire.SUBMIT_SM:
                self.written.append(self.loop.time())
                self.unanswered.append(seq)
        if not self.stalled:
            self.loop.call_soon(self.answer)

    def answer(self) -> None:
        unanswered, self.unanswered = self.unanswered, []
        assert self.session is not None
        for seq in unanswered:
            body = wire.c_string(str(seq))
            self.session.data_received(wire.with_header(wire.SUBMIT_SM | wire.RESP, seq, body))

    def is_closing(self) -> bool:
        return False


def bound_provider(query: str) -> tuple[SmppProvider, Smsc]:
    """A provider bound (as after start) to the in-memory SMSC."""
    loop = asyncio.get_running_loop()
    provider = SmppProvider(f"smpp://id:pw@127.0.0.1:1?timeout=30&enquire_link=300&{query}")
    smsc = Smsc(loop)
    session = SmppSession(provider, provider.config.window, provider.config.timeout)
    session.connection_made(smsc)
    session.bound = True
    smsc.session = session
    provider._links["trx"] = session
    provider._ready["trx"] = asyncio.Event()
    provider._ready["trx"].set()
    return provider, smsc


def most_in_one_second(times: list[float]) -> int:
    """The most submits written within any half-open one-second span (give or take a
    nanosecond: 3.2500000000000004 + 1.0 is 4.25 in floating point)."""
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - 1.0 + 1e-9:
            first += 1
        most = max(most, last - first + 1)
    return most


def messages(start: int, count: int) -> list[OutboundMessage]:
    return [
        OutboundMessage(start + i, "36034", f"+3361234{start + i:04d}", "x", DataCoding.GSM7)
        for i in range(count)
    ]


def test_submits_that_waited_through_a_stalled_window_do_not_leave_in_a_burst() -> None:
    async def main() -> None:
        provider, smsc = bound_provider("window=4&tps=10")
        smsc.stalled = True
        # 8 calls at once, as the dispatcher's pipelined chunks make them
        calls = [
            asyncio.ensure_future(provider.submit_many(messages(100 * n, 5))) for n in range(8)
        ]
        await asyncio.sleep(3.0)  # the window stays full: no answer for 3 s
        smsc.stalled = False
        smsc.answer()
        results = [r for call in calls for r in await call]
        assert all(r.outcome is SubmitOutcome.ACCEPTED for r in results)
        assert len(smsc.written) == 40
        assert most_in_one_second(smsc.written) <= 10, sorted(smsc.written)[:16]

    run_virtual(main)


def test_a_long_run_never_goes_above_the_cap_in_any_second() -> None:
    async def main() -> None:
        provider, smsc = bound_provider("window=8&tps=20")
        calls = [
            asyncio.ensure_future(provider.submit_many(messages(100 * n, 25))) for n in range(6)
        ]
        for _ in range(4):  # the window stalls for 1.5 s every 2 s
            await asyncio.sleep(0.5)
            smsc.stalled = True
            await asyncio.sleep(1.5)
            smsc.stalled = False
            smsc.answer()
        await asyncio.gather(*calls)
        assert len(smsc.written) == 150
        assert most_in_one_second(smsc.written) <= 20

    run_virtual(main)


def test_a_call_cancelled_while_it_waits_for_its_turn_gives_its_room_back() -> None:
    async def main() -> None:
        provider, smsc = bound_provider("window=4&tps=2")
        session = smsc.session
        assert session is not None
        call = asyncio.ensure_future(provider.submit_many(messages(0, 3)))
        await asyncio.sleep(0.2)  # the first went at once; the second waits for its turn
        assert len(smsc.written) == 1
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        await asyncio.sleep(1.0)  # the first one's answer came long ago
        assert session.free == 4

    run_virtual(main)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([1.0, 7.5, 95.0, 200.0]),
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.3), min_size=1, max_size=400),
)
def test_the_pacer_never_lets_more_than_the_rate_go_in_one_second(
    rate: float, gaps: list[float]
) -> None:
    # Callers come at arbitrary times (late wake-ups, stalls, bursts); whoever is told 0.0
    # writes at once.
    pacer, now, written = SubmitPacer(rate), 0.0, []
    for gap in gaps:
        now += gap
        if pacer.delay(now) == 0.0:
            pacer.take(now)
            written.append(now)
    assert most_in_one_second(written) <= int(rate)


def test_the_pacer_spaces_submits_after_a_short_burst() -> None:
    pacer = SubmitPacer(90.0)
    for _ in range(5):  # after an idle spell, 0.05 s of sending at once: 5 at 90/s
        assert pacer.delay(100.0) == 0.0
        pacer.take(100.0)
    wait = pacer.delay(100.0)
    assert 0.0 < wait < 1 / 90
    pacer.take(100.0 + wait)
    assert pacer.delay(100.0 + wait) == pytest.approx(1 / 90)  # then one every 1/90 s


def test_the_pacer_pauses_after_a_throttle_and_lengthens_the_pause_while_it_goes_on() -> None:
    pacer = SubmitPacer(math.inf)
    assert pacer.delay(10.0) == 0.0
    pacer.throttled(10.0)
    assert pacer.delay(10.0) == pytest.approx(0.1)
    pacer.throttled(10.1)  # still throttled after the pause: twice as long
    assert pacer.delay(10.1) == pytest.approx(0.2)
    assert pacer.delay(10.3) == 0.0
    pacer.throttled(20.0)  # a while later: a short pause again
    assert pacer.delay(20.0) == pytest.approx(0.1)
