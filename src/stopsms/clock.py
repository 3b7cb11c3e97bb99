"""Time, injected: the system clock for real runs, a fake one for tests and simulations.

Everything that asks "what time is it?" or waits (sending windows, pacing, schedules) takes
a :class:`Clock`, so a test can start a campaign on a Saturday at 17:50 Paris time and watch
it hold at 18:00 and resume on Monday at 08:00 without waiting two days.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when told to, or when something sleeps on it.

    ``sleep`` advances the time at once (and yields to the event loop), so code that waits
    for a window to reopen runs through days in milliseconds.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=max(0.0, seconds))

    def set(self, instant: datetime) -> None:
        self._now = instant.astimezone(UTC)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)
