"""Sending windows: when a marketing SMS may leave, in the recipient's local time (rules 7, 8).

A :class:`WindowPolicy` (defined in :mod:`stopsms.domain.window_policies`, re-exported here) is
data: open hours per weekday in local wall-clock time, and whether public holidays are closed.
A recipient is described by its territory (``"FR"``, ``"RE"``, ``"US"``…) and its IANA time
zones; the territory picks the holidays, each zone the local time.
A number with several zones may receive only at instants open in every one of them.

The fast path is :class:`WindowCalendar`: for one (policy, territory, zones) it precomputes the
open intervals as sorted UTC epoch seconds over a few years (extended on demand) and answers
with one ``bisect`` — DST is handled once, when a local 08:00 is turned into an instant.
:func:`calendar_for` keeps a bounded cache of calendars; :func:`check_window` and
:func:`next_allowed` are the convenient per-message API built on it.

Intervals are half-open: a Saturday 10:00–18:00 window allows 10:00:00 and refuses 18:00:00.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stopsms.domain.errors import DomainError
from stopsms.domain.public_holidays import holidays_in
from stopsms.domain.window_policies import (
    FRENCH_TERRITORIES,
    MIDNIGHT,
    POLICIES,
    WindowPolicy,
    get_policy,
    policy_for,
)

__all__ = [
    "FRENCH_TERRITORIES",
    "HORIZON_DAYS",
    "INFORMATIVE_RULE",
    "POLICIES",
    "NoSendingWindow",
    "UnknownTimeZone",
    "WindowCalendar",
    "WindowDecision",
    "WindowPolicy",
    "calendar_for",
    "check_window",
    "get_policy",
    "next_allowed",
    "open_intervals",
    "policy_for",
]

HORIZON_DAYS = 400
"""How far :func:`next_allowed` looks before deciding that a recipient can never be reached."""

INFORMATIVE_RULE = "informative messages are never held"

_DAY_S = 86_400
_HORIZON_S = HORIZON_DAYS * _DAY_S
_MAX_SPAN_YEARS = 12  # a calendar never holds more years than this at once
_FIRST_YEAR, _LAST_YEAR = 1971, 9000
_MIN_EPOCH = datetime(_FIRST_YEAR + 1, 1, 1, tzinfo=UTC).timestamp()
_MAX_EPOCH = datetime(_LAST_YEAR - 1, 1, 1, tzinfo=UTC).timestamp()


class NoSendingWindow(DomainError):
    """No instant within :data:`HORIZON_DAYS` is open for this recipient under this policy."""

    def __init__(self, policy: str, region: str, time_zones: tuple[str, ...], after: datetime):
        zones = ", ".join(time_zones)
        super().__init__(
            f"no sending window within {HORIZON_DAYS} days after {after.isoformat()} "
            f"for a {region} number in {zones} under policy {policy!r}"
        )
        self.policy = policy
        self.region = region
        self.time_zones = time_zones
        self.after = after


class UnknownTimeZone(DomainError):
    """A time zone name is not a known IANA zone (or no zone was given)."""

    def __init__(self, value: str) -> None:
        reason = f"unknown time zone {value!r}" if value else "no time zone given"
        super().__init__(f"{reason} (expected IANA names such as 'Europe/Paris')")
        self.value = value


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(name) from None


def _zone_names(time_zones: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(time_zones, str):  # a lone name is a sequence of characters: guard it
        time_zones = (time_zones,)
    names = tuple(dict.fromkeys(time_zones))
    if not names:
        raise UnknownTimeZone("")
    for name in names:
        _zone(name)
    return names


def _year_start(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp())


def _year_of(epoch: float) -> int:
    if not _MIN_EPOCH <= epoch <= _MAX_EPOCH:
        raise ValueError(f"instant {epoch!r} is outside the supported years")
    return datetime.fromtimestamp(epoch, UTC).year


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and join overlapping or touching intervals."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


class WindowCalendar:
    """The open intervals of one policy for one territory and set of time zones.

    Intervals are kept as a flat sorted list of UTC epoch seconds ``[s0, e0, s1, e1, …]``
    covering whole UTC years; an instant ``t`` is open when ``bisect_right(bounds, t)`` is odd.
    Coverage grows when a query falls outside it (at most ``_MAX_SPAN_YEARS`` years are kept).
    The ``*_epoch`` methods are the fast path for dispatchers and planners; the others take and
    return aware datetimes (results in the recipient's first zone).
    """

    __slots__ = ("_day_rules", "_state", "_zones", "policy", "region", "time_zones")

    def __init__(self, policy: WindowPolicy, region: str, time_zones: Sequence[str]) -> None:
        self.policy = policy
        self.region = region.upper()
        self.time_zones = _zone_names(time_zones)
        self._zones = tuple(_zone(name) for name in self.time_zones)
        self._day_rules = tuple(policy.describe_day(day) for day in range(7))
        # (covered from, covered until (exclusive), bounds); replaced whole, never mutated.
        self._state: tuple[int, int, list[int]] = (0, 0, [])

    @property
    def zone(self) -> ZoneInfo:
        """The recipient's first time zone, the one answers are expressed in."""
        return self._zones[0]

    # -- coverage -------------------------------------------------------------------------

    def _cover(self, first: float, last: float) -> tuple[int, int, list[int]]:
        lo, hi, _ = self._state
        if lo <= first and last < hi:
            return self._state
        want_lo, want_hi = _year_of(first) - 1, _year_of(last) + 1
        if want_hi - want_lo >= _MAX_SPAN_YEARS:
            raise ValueError(f"instants more than {_MAX_SPAN_YEARS - 3} years apart")
        if hi > lo:
            have_lo, have_hi = _year_of(lo), _year_of(hi - 1)
            if max(want_hi, have_hi) - min(want_lo, have_lo) < _MAX_SPAN_YEARS:
                want_lo, want_hi = min(want_lo, have_lo), max(want_hi, have_hi)
        self._state = self._build(max(want_lo, _FIRST_YEAR), min(want_hi, _LAST_YEAR))
        return self._state

    def _build(self, first_year: int, last_year: int) -> tuple[int, int, list[int]]:
        lo, hi = _year_start(first_year), _year_start(last_year + 1)
        # Local dates around the UTC span, so every zone's days reaching into it are seen.
        first_day = date(first_year, 1, 1) - timedelta(days=2)
        last_day = date(last_year, 12, 31) + timedelta(days=2)
        common: list[tuple[int, int]] | None = None
        for zone in self._zones:
            own = _merge(self._zone_intervals(zone, first_day, last_day))
            common = own if common is None else _intersect(common, own)
        bounds: list[int] = []
        for start, end in _merge(common or []):
            start, end = max(start, lo), min(end, hi)
            if start < end:
                bounds += (start, end)
        return lo, hi, bounds

    def _zone_intervals(self, zone: ZoneInfo, first: date, last: date) -> list[tuple[int, int]]:
        hours = self.policy.hours
        closed_on_holidays = self.policy.closed_on_holidays
        one_day = timedelta(days=1)
        out: list[tuple[int, int]] = []
        day = first
        while day <= last:
            intervals = hours.get(day.weekday())
            if intervals and not (closed_on_holidays and day in holidays_in(self.region, day.year)):
                for start, end in intervals:
                    # Wall-clock times become instants here, once: DST is decided by zoneinfo.
                    opens = int(datetime.combine(day, start, zone).timestamp())
                    end_day = day + one_day if end == MIDNIGHT else day
                    closes = int(datetime.combine(end_day, end, zone).timestamp())
                    if opens < closes:
                        out.append((opens, closes))
            day += one_day
        return out

    # -- fast path: UTC epoch seconds ------------------------------------------------------

    def allowed_epoch(self, t: float) -> bool:
        """Whether instant ``t`` (UTC epoch seconds) is open."""
        lo, hi, bounds = self._state
        if not lo <= t < hi:
            lo, hi, bounds = self._cover(t, t)
        return bisect_right(bounds, t) & 1 == 1

    def allowed_many(self, epochs: Sequence[float]) -> list[bool]:
        """:meth:`allowed_epoch` for many instants at once (the dispatcher's bulk check)."""
        if not epochs:
            return []
        _, _, bounds = self._cover(min(epochs), max(epochs))
        return [bisect_right(bounds, t) & 1 == 1 for t in epochs]

    def next_allowed_epoch(self, t: float) -> float:
        """``t`` when open, else the next opening instant; :class:`NoSendingWindow` if none
        within :data:`HORIZON_DAYS`."""
        _, _, bounds = self._cover(t, t + _HORIZON_S)
        i = bisect_right(bounds, t)
        if i & 1:
            return t
        if i < len(bounds) and bounds[i] - t <= _HORIZON_S:
            return bounds[i]
        raise NoSendingWindow(
            self.policy.name, self.region, self.time_zones, datetime.fromtimestamp(t, self.zone)
        )

    def window_end_epoch(self, t: float) -> float | None:
        """When the window open at ``t`` closes; ``None`` when ``t`` is not open.

        A window that never closes within :data:`HORIZON_DAYS` reports the horizon's end.
        """
        _, hi, bounds = self._cover(t, t)
        i = bisect_right(bounds, t)
        if not i & 1:
            return None
        end = bounds[i]
        while end >= hi and end - t < _HORIZON_S:  # cut by coverage, not by the policy
            _, hi, bounds = self._cover(t, min(end + _DAY_S * 31, t + _HORIZON_S))
            end = bounds[bisect_right(bounds, t)]
        return end

    def decide_epoch(self, t: float) -> tuple[bool, float | None]:
        """One lookup for a decision: ``(True, window end)`` when ``t`` is open, else
        ``(False, next opening)`` — ``(False, None)`` when none within the horizon."""
        lo, hi, bounds = self._state
        if not lo <= t < hi - _HORIZON_S:
            lo, hi, bounds = self._cover(t, t + _HORIZON_S)
        i = bisect_right(bounds, t)
        if i & 1:
            end = bounds[i]
            return True, (end if end < hi else self.window_end_epoch(t))
        if i < len(bounds) and bounds[i] - t <= _HORIZON_S:
            return False, bounds[i]
        return False, None

    def open_intervals_epoch(self, start: float, end: float) -> list[tuple[float, float]]:
        """The open intervals between ``start`` and ``end``, clipped to them, in order."""
        if end <= start:
            return []
        if end - start > (_MAX_SPAN_YEARS - 3) * 365 * _DAY_S:
            raise ValueError(f"a span of {(end - start) / _DAY_S:.0f} days is too long to list")
        _, _, bounds = self._cover(start, end)
        i = bisect_right(bounds, start)
        out: list[tuple[float, float]] = []
        if i & 1:
            out.append((start, min(bounds[i], end)))
            i += 1
        while i < len(bounds) and bounds[i] < end:
            out.append((bounds[i], min(bounds[i + 1], end)))
            i += 2
        return out

    def finish_epoch(self, start: float, open_seconds: float) -> float:
        """The instant at which ``open_seconds`` of open time, counted from ``start``, are used:
        when a campaign needing that much sending time at its throughput finishes."""
        remaining = open_seconds
        t = start
        while remaining > 0:
            t = self.next_allowed_epoch(t)
            closes = self.window_end_epoch(t)
            assert closes is not None  # t is open
            used = min(remaining, closes - t)
            remaining -= used
            t += used
        return t

    # -- datetimes --------------------------------------------------------------------------

    def allowed(self, at: datetime) -> bool:
        """Whether the aware instant ``at`` is open."""
        return self.allowed_epoch(_epoch(at))

    def next_allowed(self, at: datetime) -> datetime:
        """``at`` (in the first zone) when open, else the next opening instant, local."""
        t = _epoch(at)
        found = self.next_allowed_epoch(t)
        if found == t:
            return at.astimezone(self.zone)
        return datetime.fromtimestamp(found, self.zone)

    def window_end(self, at: datetime) -> datetime | None:
        """When the window open at ``at`` closes (local), ``None`` when ``at`` is not open."""
        end = self.window_end_epoch(_epoch(at))
        return None if end is None else datetime.fromtimestamp(end, self.zone)

    def open_intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The open intervals between ``start`` and ``end`` as local datetimes, clipped."""
        zone = self.zone
        return [
            (datetime.fromtimestamp(s, zone), datetime.fromtimestamp(e, zone))
            for s, e in self.open_intervals_epoch(_epoch(start), _epoch(end))
        ]

    def finish_time(self, start: datetime, open_seconds: float) -> datetime:
        """Local instant at which ``open_seconds`` of open time from ``start`` are used up."""
        return datetime.fromtimestamp(self.finish_epoch(_epoch(start), open_seconds), self.zone)

    def explain(self, at: datetime, allowed: bool) -> str:
        """The rule that decides for ``at``: the first zone's when open, else the first zone
        that refuses."""
        if len(self._zones) == 1:
            return self._zone_rule(at.astimezone(self._zones[0]))[1]
        first: str | None = None
        for zone in self._zones:
            ok, rule = self._zone_rule(at.astimezone(zone))
            rule = f"{rule} in {zone.key}"
            if ok == allowed:
                return rule
            first = first or rule
        assert first is not None
        return first

    def _zone_rule(self, local: datetime) -> tuple[bool, str]:
        day = local.date()
        if self.policy.closed_on_holidays:
            name = holidays_in(self.region, day.year).get(day)
            if name is not None:
                return False, f"public holiday in {self.region}: {name}"
        weekday = day.weekday()
        intervals = self.policy.hours.get(weekday)
        rule = self._day_rules[weekday]
        if not intervals:
            return False, rule
        now = local.time()  # naive wall-clock time
        for start, end in intervals:
            if start <= now and (end == MIDNIGHT or now < end):
                return True, rule
        return False, f"outside {rule}"


def _epoch(at: datetime) -> float:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone: an aware datetime is required")
    return at.timestamp()


@lru_cache(maxsize=4096)
def _calendar(
    policy: WindowPolicy | None, region: str, time_zones: tuple[str, ...]
) -> WindowCalendar:
    region = region.upper()
    return WindowCalendar(policy or policy_for(region), region, time_zones)


def calendar_for(
    region: str, time_zones: Sequence[str], policy: WindowPolicy | None = None
) -> WindowCalendar:
    """The (cached, bounded) calendar of a recipient: territory, zones and policy
    (default :func:`policy_for` the territory)."""
    if type(time_zones) is not tuple:
        time_zones = (time_zones,) if isinstance(time_zones, str) else tuple(time_zones)
    return _calendar(policy, region, time_zones)


@dataclass(frozen=True, slots=True)
class WindowDecision:
    """Whether a message may leave now, and why.

    ``local_time`` is the instant in the recipient's first zone; ``rule`` the sentence that
    decided; ``next_allowed`` (when refused) the next open instant, local — ``None`` only when
    no window exists within :data:`HORIZON_DAYS`; ``window_end`` (when allowed) when the current
    window closes, local — ``None`` for informative messages, which are never held.
    """

    allowed: bool
    local_time: datetime
    rule: str
    next_allowed: datetime | None
    window_end: datetime | None


def check_window(
    at: datetime,
    *,
    region: str,
    time_zones: Sequence[str],
    marketing: bool = True,
    policy: WindowPolicy | None = None,
) -> WindowDecision:
    """Decide whether a message to a recipient (territory, zones) may leave at instant ``at``.

    Informative messages are always allowed. ``at`` must be aware (``ValueError`` otherwise).
    """
    t = _epoch(at)
    if not marketing:
        zone = _zone(_zone_names(time_zones)[0])
        return WindowDecision(True, at.astimezone(zone), INFORMATIVE_RULE, None, None)
    calendar = calendar_for(region, time_zones, policy)
    zone = calendar.zone
    local = at.astimezone(zone)
    allowed, then = calendar.decide_epoch(t)
    rule = calendar.explain(local, allowed)
    if then is None:  # refused, and no window within the horizon
        exc = NoSendingWindow(calendar.policy.name, calendar.region, calendar.time_zones, local)
        return WindowDecision(False, local, f"{rule}; {exc}", None, None)
    moment = datetime.fromtimestamp(then, zone)
    if allowed:
        return WindowDecision(True, local, rule, None, moment)
    return WindowDecision(False, local, rule, moment, None)


def next_allowed(
    at: datetime,
    *,
    region: str,
    time_zones: Sequence[str],
    policy: WindowPolicy | None = None,
) -> datetime:
    """The first instant at or after ``at`` open in every zone of the recipient, local to its
    first zone (equal to ``at`` when already open). Raises :class:`NoSendingWindow` when none
    exists within :data:`HORIZON_DAYS`."""
    return calendar_for(region, time_zones, policy).next_allowed(at)


def open_intervals(
    start: datetime,
    end: datetime,
    *,
    region: str,
    time_zones: Sequence[str],
    policy: WindowPolicy | None = None,
) -> list[tuple[datetime, datetime]]:
    """The open intervals between ``start`` and ``end`` for a recipient, clipped, local: what a
    campaign planner needs to turn a throughput into a finish time."""
    return calendar_for(region, time_zones, policy).open_intervals(start, end)
