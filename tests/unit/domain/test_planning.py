"""The finish-time planner: throughput across sending windows (rule 8)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from stopsms.domain.planning import Cohort, plan, planning_horizon
from stopsms.domain.windows import calendar_for

PARIS = ZoneInfo("Europe/Paris")


def _epoch(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS).timestamp()


def _local(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, PARIS)


def _france(count: int, start: float, days: int = 14) -> Cohort:
    calendar = calendar_for("FR", ("Europe/Paris",))
    return Cohort("FR", count, calendar.open_intervals_epoch(start, start + days * 86_400))


def test_saturday_1750_overflows_18h_and_finishes_monday_morning() -> None:
    start = _epoch(2024, 11, 30, 17, 50)  # a Saturday; Monday 2 December is no holiday
    result = plan(start, 1.0, [_france(1_000, start)])
    assert result.now == 600  # 17:50 → 18:00 at 1/s
    assert result.held == 400
    assert _local(result.held_until or 0) == datetime(2024, 12, 2, 8, 0, tzinfo=PARIS)
    assert _local(result.finish or 0) == datetime(2024, 12, 2, 8, 6, 40, tzinfo=PARIS)
    assert result.unplanned == 0


def test_everything_fits_in_the_current_window() -> None:
    start = _epoch(2024, 12, 3, 10, 0)
    result = plan(start, 100.0, [_france(30_000, start)])
    assert (result.now, result.held, result.held_until) == (30_000, 0, None)
    assert _local(result.finish or 0) == datetime(2024, 12, 3, 10, 5, tzinfo=PARIS)


def test_started_on_a_sunday_everything_is_held_until_monday() -> None:
    start = _epoch(2024, 12, 1, 12, 0)
    result = plan(start, 10.0, [_france(100, start)])
    assert (result.now, result.held) == (0, 100)
    assert _local(result.held_until or 0) == datetime(2024, 12, 2, 8, 0, tzinfo=PARIS)
    assert _local(result.finish or 0) == datetime(2024, 12, 2, 8, 0, 10, tzinfo=PARIS)


def test_informative_messages_are_never_held_and_leave_first() -> None:
    start = _epoch(2024, 12, 1, 12, 0)  # Sunday: marketing closed
    result = plan(start, 10.0, [_france(50, start)], informative=20)
    assert result.now == 20
    assert result.held == 50
    assert result.total == 70
    only = plan(start, 10.0, [], informative=20)
    assert only.finish == start + 2.0
    assert (only.now, only.held) == (20, 0)


def test_cohorts_share_the_rate() -> None:
    start = 1_000.0
    a = Cohort("a", 100, [(0.0, 2_000.0)])
    b = Cohort("b", 100, [(0.0, 1_050.0), (5_000.0, 9_000.0)])
    result = plan(start, 2.0, [a, b])
    # Both open 1000→1050: 100 sent (50 each); then a alone until it runs out at 1075.
    by_key = {c.key: c for c in result.cohorts}
    assert by_key["a"].now == 100
    assert by_key["a"].finish == pytest.approx(1_075.0)
    assert (by_key["b"].now, by_key["b"].held) == (50, 50)
    assert by_key["b"].held_until == 5_000.0
    assert result.finish == pytest.approx(5_025.0)


def test_no_open_time_left_is_unplanned() -> None:
    result = plan(0.0, 1.0, [Cohort("x", 10, [(0.0, 4.0)])])
    assert (result.now, result.held, result.unplanned) == (4, 0, 6)
    assert result.finish is None


def test_empty_campaign_finishes_at_once() -> None:
    result = plan(5.0, 1.0, [])
    assert (result.finish, result.now, result.held) == (5.0, 0, 0)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        plan(0.0, 0.0, [])
    with pytest.raises(ValueError, match="negative"):
        plan(0.0, 1.0, [Cohort("x", -1, [])])


def test_planning_horizon_grows_with_the_work() -> None:
    assert planning_horizon(10, 100.0) == 14 * 86_400
    assert planning_horizon(10_000_000, 1.0) == 400 * 86_400
