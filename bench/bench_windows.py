"""Window checks per second: the precomputed calendar vs a naive per-call check, same instants.

The baseline is what one writes first: convert the instant to the recipient's local time, look
the date up in the ``holidays`` package, compare the time with the day's hours — per call.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import holidays

from bench import best_rate, report
from stopsms.domain.windows import calendar_for, check_window, get_policy

GOAL = 500_000
COUNT = 100_000
REGION, ZONE = "FR", "Europe/Paris"


def _instants() -> list[datetime]:
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    year = 365 * 86_400
    return [datetime.fromtimestamp(start + rng.randrange(year), UTC) for _ in range(COUNT)]


def main() -> None:
    """Print the figures: naive baseline, check_window, calendar per call, calendar in bulk."""
    instants = _instants()
    epochs = [at.timestamp() for at in instants]
    zone = ZoneInfo(ZONE)
    policy = get_policy("fr-default")
    public = holidays.country_holidays(REGION, years=range(2025, 2028))
    hours = policy.hours

    def naive() -> int:
        allowed = 0
        for at in instants:
            local = at.astimezone(zone)
            day = local.date()
            if day in public:
                continue
            now = local.time().replace(tzinfo=None)
            for start, end in hours.get(day.weekday(), ()):
                if start <= now and (end == time(0) or now < end):
                    allowed += 1
                    break
        return len(instants)

    calendar = calendar_for(REGION, (ZONE,))
    zones = (ZONE,)

    def decisions() -> int:
        for at in instants:
            check_window(at, region=REGION, time_zones=zones)
        return len(instants)

    def per_call() -> int:
        allowed = calendar.allowed_epoch
        for t in epochs:
            allowed(t)
        return len(epochs)

    def bulk() -> int:
        return len(calendar.allowed_many(epochs))

    # Same answers first: a fast wrong answer is not a figure.
    expected = []
    for at in instants[:5_000]:
        local = at.astimezone(zone)
        now, day = local.time().replace(tzinfo=None), local.date()
        expected.append(
            day not in public and any(s <= now < e for s, e in hours.get(day.weekday(), ()))
        )
    assert calendar.allowed_many(epochs[:5_000]) == expected

    baseline = best_rate("naive: local time + holidays lookup per call", naive)
    report(baseline)
    report(best_rate("check_window (full decision + rule)", decisions), baseline=baseline)
    report(
        best_rate("WindowCalendar.allowed_epoch per call", per_call),
        goal=GOAL,
        baseline=baseline,
    )
    report(best_rate("WindowCalendar.allowed_many (bulk)", bulk), goal=GOAL, baseline=baseline)
