"""When a campaign will finish: its messages at the provider's throughput across sending windows
(DESIGN.md rule 8 — show the finish time before sending, hold what cannot leave in time).

The model is the dispatcher's, simplified to what a preview needs:

- one provider link sends ``rate`` messages per second, shared by everything that may leave;
- informative messages are never held and leave first (the dispatcher's priority order);
- marketing messages form *cohorts*: recipients sharing one calendar (same territory, same
  time zones, same policy). A cohort may send only inside its open intervals;
- while several cohorts are open they share the rate in proportion to what each has left (the
  dispatcher claims in list order, which interleaves them), so cohorts that stay open together
  run out together.

:func:`plan` walks the events (an interval opening or closing, a cohort running out) from the
start instant and reports the finish instant, how many messages leave in the window open at
the start (*now*), how many are *held* for a later window, and when the first held one may
leave. Instants are UTC epoch seconds, as :meth:`WindowCalendar.open_intervals_epoch` gives.
Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Cohort", "CohortPlan", "Plan", "plan", "planning_horizon"]

_DAY = 86_400.0
#: Open hours per week assumed when sizing the horizon of intervals to compute (the strictest
#: preset, fr-default, opens 68 h a week; holidays and multi-zone numbers open less).
_CAUTIOUS_OPEN_SECONDS_PER_WEEK = 30 * 3600.0


@dataclass(frozen=True, slots=True)
class Cohort:
    """Marketing messages to recipients sharing one sending calendar.

    ``intervals``: the calendar's open intervals from the start instant on, sorted and
    disjoint, as ``(opens, closes)`` epoch seconds (the first may contain the start).
    """

    key: str
    count: int
    intervals: Sequence[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class CohortPlan:
    """What :func:`plan` expects of one cohort."""

    key: str
    count: int
    now: int
    held: int
    held_until: float | None
    finish: float | None


@dataclass(frozen=True, slots=True)
class Plan:
    """The expected course of a campaign.

    ``now``: messages leaving in the window open at ``start`` (informative ones included);
    ``held``: messages waiting for a later window, the first of them from ``held_until``;
    ``unplanned``: messages with no open time among the intervals given (``finish`` is then
    ``None``); ``finish``: when the last message leaves.
    """

    start: float
    rate: float
    informative: int
    marketing: int
    now: int
    held: int
    held_until: float | None
    unplanned: int
    finish: float | None
    cohorts: tuple[CohortPlan, ...]

    @property
    def total(self) -> int:
        return self.informative + self.marketing


@dataclass(slots=True)
class _State:
    cohort: Cohort
    remaining: float
    index: int  # the interval in use or next
    first_window_end: float | None  # the end of the interval open at the start, if any
    now: float = 0.0
    finish: float | None = None
    reopens: float | None = None  # when held messages may first leave


def planning_horizon(messages: int, rate: float) -> float:
    """How many seconds of calendar to hand :func:`plan` so ``messages`` fit in it, cautiously:
    at least two weeks, at most :data:`~stopsms.domain.windows.HORIZON_DAYS`-like 400 days."""
    if rate <= 0:
        raise ValueError("the rate must be positive")
    weeks = math.ceil(messages / rate / _CAUTIOUS_OPEN_SECONDS_PER_WEEK)
    return min(max(14.0, 7.0 * (weeks + 1)), 400.0) * _DAY


def plan(
    start: float,
    rate: float,
    cohorts: Iterable[Cohort],
    *,
    informative: int = 0,
) -> Plan:
    """Plan ``informative`` messages plus the marketing ``cohorts`` from ``start`` at ``rate``
    messages per second (see the module doc for the model)."""
    if rate <= 0:
        raise ValueError("the rate must be positive")
    if informative < 0:
        raise ValueError("a count cannot be negative")
    t = start + informative / rate  # informative messages go first, never held
    states: list[_State] = []
    for cohort in cohorts:
        if cohort.count < 0:
            raise ValueError(f"cohort {cohort.key!r}: a count cannot be negative")
        index = 0
        while index < len(cohort.intervals) and cohort.intervals[index][1] <= start:
            index += 1
        first_end = None
        if index < len(cohort.intervals) and cohort.intervals[index][0] <= start:
            first_end = cohort.intervals[index][1]
        states.append(_State(cohort, float(cohort.count), index, first_end))
    last = t if informative else None
    while True:
        active = [s for s in states if s.remaining > 1e-9]
        for s in active:  # move past intervals that closed before t
            ivs = s.cohort.intervals
            while s.index < len(ivs) and ivs[s.index][1] <= t:
                s.index += 1
        waiting = [s for s in active if s.index < len(s.cohort.intervals)]
        if not waiting:
            break
        open_ = [s for s in waiting if s.cohort.intervals[s.index][0] <= t]
        if not open_:
            t = min(s.cohort.intervals[s.index][0] for s in waiting)
            continue
        events = [s.cohort.intervals[s.index][1] for s in open_]
        events += [
            s.cohort.intervals[s.index][0] for s in waiting if s.cohort.intervals[s.index][0] > t
        ]
        step_end = min(events)
        capacity = rate * (step_end - t)
        pending = sum(s.remaining for s in open_)
        share = min(1.0, capacity / pending)
        done_at = t + pending / rate if share >= 1.0 else step_end
        for s in open_:
            sent = s.remaining * share
            s.remaining -= sent
            in_first = s.first_window_end is not None and t < s.first_window_end
            if in_first:
                s.now += sent
            elif s.reopens is None:
                s.reopens = t
            if share >= 1.0:
                s.remaining = 0.0
                s.finish = done_at
        last = done_at if last is None else max(last, done_at)
        t = done_at
    return _summarise(start, rate, informative, states, last)


def _summarise(
    start: float, rate: float, informative: int, states: list[_State], last: float | None
) -> Plan:
    cohorts: list[CohortPlan] = []
    for s in states:
        count = s.cohort.count
        unplanned = round(s.remaining)
        now = min(count - unplanned, round(s.now))
        held = count - now - unplanned
        reopens = s.reopens if held else None
        finish = s.finish if unplanned == 0 and count else None
        cohorts.append(CohortPlan(s.cohort.key, count, now, held, reopens, finish))
    marketing = sum(c.count for c in cohorts)
    unplanned = sum(c.count - c.now - c.held for c in cohorts)
    held_times = [c.held_until for c in cohorts if c.held_until is not None]
    return Plan(
        start=start,
        rate=rate,
        informative=informative,
        marketing=marketing,
        now=informative + sum(c.now for c in cohorts),
        held=sum(c.held for c in cohorts),
        held_until=min(held_times) if held_times else None,
        unplanned=unplanned,
        finish=None if unplanned else (last if last is not None else start),
        cohorts=tuple(cohorts),
    )
