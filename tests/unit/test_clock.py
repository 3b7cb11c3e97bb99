import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from stopsms.clock import FakeClock, SystemClock


def test_fake_clock_moves_only_when_told_or_slept_on() -> None:
    start = datetime(2026, 11, 28, 16, 50, tzinfo=UTC)
    clock = FakeClock(start)
    assert clock.now() == start
    clock.advance(60)
    assert clock.now() == start + timedelta(minutes=1)
    asyncio.run(clock.sleep(3600))
    assert clock.now() == start + timedelta(hours=1, minutes=1)


def test_fake_clock_keeps_utc_and_refuses_naive_starts() -> None:
    paris = timezone(timedelta(hours=1))
    clock = FakeClock(datetime(2026, 11, 28, 17, 50, tzinfo=paris))
    assert clock.now().utcoffset() == timedelta(0)
    assert clock.now().hour == 16
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2026, 11, 28, 17, 50))


def test_system_clock_is_aware() -> None:
    assert SystemClock().now().tzinfo is not None
