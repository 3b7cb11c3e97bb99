from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopsms.domain.errors import UnknownPolicy
from stopsms.domain.public_holidays import holidays_in
from stopsms.domain.windows import (
    INFORMATIVE_RULE,
    POLICIES,
    NoSendingWindow,
    UnknownTimeZone,
    WindowCalendar,
    WindowPolicy,
    calendar_for,
    check_window,
    get_policy,
    next_allowed,
    open_intervals,
    policy_for,
)

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")
GUADELOUPE = ZoneInfo("America/Guadeloupe")
MARTINIQUE = ZoneInfo("America/Martinique")


class Recipient(TypedDict):
    region: str
    time_zones: tuple[str, ...]


FR: Recipient = {"region": "FR", "time_zones": ("Europe/Paris",)}


def paris(y: int, mo: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=PARIS)


# -- policies ----------------------------------------------------------------------------


def test_presets_exist_with_their_hours() -> None:
    assert set(POLICIES) == {"fr-default", "fr-mon-sat-8-20", "fr-af2m-2024", "courtesy"}
    default = get_policy("fr-default")
    assert default.hours[0] == ((time(8), time(20)),)
    assert default.hours[5] == ((time(10), time(18)),)
    assert 6 not in default.hours
    assert default.closed_on_holidays
    assert get_policy("fr-mon-sat-8-20").hours[5] == ((time(8), time(20)),)
    assert get_policy("fr-af2m-2024").hours[5] == ((time(8), time(22)),)
    assert get_policy("courtesy").hours[5] == ((time(8), time(20)),)
    assert all(6 not in p.hours for p in POLICIES.values())


def test_unknown_policy_names_the_known_ones() -> None:
    with pytest.raises(UnknownPolicy) as info:
        get_policy("fr-nights")
    assert "fr-default" in str(info.value)
    assert info.value.known == tuple(POLICIES)


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("FR", "fr-default"),
        ("RE", "fr-default"),
        ("gp", "fr-default"),
        ("MQ", "fr-default"),
        ("GF", "fr-default"),
        ("YT", "fr-default"),
        ("BE", "courtesy"),
        ("US", "courtesy"),
    ],
)
def test_policy_for_region(region: str, expected: str) -> None:
    assert policy_for(region).name == expected


def test_policy_override_by_account() -> None:
    assert policy_for("FR", "fr-af2m-2024").name == "fr-af2m-2024"
    with pytest.raises(UnknownPolicy):
        policy_for("FR", "nope")


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="weekday"):
        WindowPolicy("x", "", {7: ((time(8), time(9)),)}, False)
    with pytest.raises(ValueError, match="empty"):
        WindowPolicy("x", "", {0: ((time(9), time(8)),)}, False)
    with pytest.raises(ValueError, match="overlapping"):
        WindowPolicy("x", "", {0: ((time(8), time(12)), (time(11), time(14)))}, False)


def test_policies_are_hashable_values() -> None:
    a = WindowPolicy("x", "", {0: ((time(8), time(9)),)}, False)
    b = WindowPolicy("x", "", {0: ((time(8), time(9)),)}, False)
    assert a == b
    assert hash(a) == hash(b)


# -- French holidays ---------------------------------------------------------------------

FRENCH_HOLIDAYS = [
    date(2026, 1, 1),
    date(2026, 4, 6),  # Easter Monday
    date(2026, 5, 1),
    date(2026, 5, 8),
    date(2026, 5, 14),  # Ascension
    date(2026, 5, 25),  # Whit Monday
    date(2026, 7, 14),
    date(2026, 8, 15),
    date(2026, 11, 11),
    date(2026, 12, 25),
    date(2027, 1, 1),
    date(2027, 3, 29),  # Easter Monday
    date(2027, 5, 6),  # Ascension
    date(2027, 5, 17),  # Whit Monday
    date(2027, 11, 1),
]


@pytest.mark.parametrize("day", FRENCH_HOLIDAYS, ids=str)
def test_french_holidays_are_closed(day: date) -> None:
    assert day in holidays_in("FR", day.year)
    decision = check_window(datetime.combine(day, time(11), PARIS), **FR)
    assert not decision.allowed
    assert decision.rule.startswith("public holiday in FR: ")


def test_holiday_names_are_french() -> None:
    decision = check_window(paris(2026, 4, 6), **FR)
    assert decision.rule == "public holiday in FR: Lundi de Pâques"


def test_ordinary_weekday_is_open_with_its_window_end() -> None:
    decision = check_window(paris(2026, 4, 7, 9), **FR)
    assert decision.allowed
    assert decision.rule == "Tuesday 08:00–20:00 (fr-default)"
    assert decision.window_end == paris(2026, 4, 7, 20)
    assert decision.next_allowed is None


# -- Saturday edges, Sunday --------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [(9, 59, False), (10, 0, True), (17, 59, True), (18, 0, False)],
)
def test_saturday_edges_in_paris(hour: int, minute: int, allowed: bool) -> None:
    decision = check_window(paris(2026, 6, 13, hour, minute), **FR)
    assert decision.allowed is allowed
    assert "Saturday 10:00–18:00 (fr-default)" in decision.rule
    if allowed:
        assert decision.window_end == paris(2026, 6, 13, 18)
    else:
        assert decision.next_allowed is not None


def test_saturday_one_second_before_close() -> None:
    at = paris(2026, 6, 13, 18) - timedelta(seconds=1)
    assert check_window(at, **FR).allowed


def test_saturday_evening_waits_for_monday_morning() -> None:
    decision = check_window(paris(2026, 6, 13, 18), **FR)
    assert decision.next_allowed == paris(2026, 6, 15, 8)
    assert decision.next_allowed is not None
    assert decision.next_allowed.tzinfo == PARIS


def test_saturday_evening_before_a_holiday_monday_waits_for_tuesday() -> None:
    # Whit Monday 2026 is 25 May: Saturday 23 May 18:00 -> Tuesday 26 May 08:00.
    assert next_allowed(paris(2026, 5, 23, 18), **FR) == paris(2026, 5, 26, 8)
    # Easter Monday 2027 is 29 March.
    assert next_allowed(paris(2027, 3, 27, 18), **FR) == paris(2027, 3, 30, 8)


def test_sunday_is_closed() -> None:
    decision = check_window(paris(2026, 6, 14, 12), **FR)
    assert not decision.allowed
    assert decision.rule == "Sunday: closed (fr-default)"


def test_next_allowed_is_at_when_open() -> None:
    at = datetime(2026, 6, 15, 10, 30, 12, 345, tzinfo=UTC)
    assert next_allowed(at, **FR) == at


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        check_window(datetime(2026, 6, 15, 10), **FR)
    with pytest.raises(ValueError, match="time zone"):
        next_allowed(datetime(2026, 6, 15, 10), **FR)


# -- DST ---------------------------------------------------------------------------------


def test_opening_in_utc_follows_dst() -> None:
    # Winter: 08:00 Paris is 07:00 UTC; summer: 06:00 UTC.
    assert not check_window(datetime(2026, 1, 12, 6, 59, tzinfo=UTC), **FR).allowed
    assert check_window(datetime(2026, 1, 12, 7, 0, tzinfo=UTC), **FR).allowed
    assert not check_window(datetime(2026, 6, 15, 5, 59, tzinfo=UTC), **FR).allowed
    assert check_window(datetime(2026, 6, 15, 6, 0, tzinfo=UTC), **FR).allowed


def test_spring_forward_weekend() -> None:
    # Clocks go forward on Sunday 29 March 2026: Saturday closes 18:00 CET (17:00 UTC),
    # Monday opens 08:00 CEST (06:00 UTC).
    assert check_window(datetime(2026, 3, 28, 16, 59, tzinfo=UTC), **FR).allowed
    assert not check_window(datetime(2026, 3, 28, 17, 0, tzinfo=UTC), **FR).allowed
    opens = next_allowed(datetime(2026, 3, 28, 17, 0, tzinfo=UTC), **FR)
    assert opens == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    assert opens.utcoffset() == timedelta(hours=2)


def test_fall_back_weekend() -> None:
    # Clocks go back on Sunday 25 October 2026: Saturday closes 18:00 CEST (16:00 UTC),
    # Monday opens 08:00 CET (07:00 UTC).
    assert not check_window(datetime(2026, 10, 24, 16, 0, tzinfo=UTC), **FR).allowed
    opens = next_allowed(datetime(2026, 10, 24, 16, 0, tzinfo=UTC), **FR)
    assert opens == datetime(2026, 10, 26, 7, 0, tzinfo=UTC)
    assert opens.utcoffset() == timedelta(hours=1)


# -- overseas territories ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "zone", "day"),
    [
        ("RE", "Indian/Reunion", date(2026, 12, 20)),
        ("GP", "America/Guadeloupe", date(2026, 5, 27)),
        ("MQ", "America/Martinique", date(2026, 5, 22)),
        ("GF", "America/Cayenne", date(2026, 6, 10)),
        ("YT", "Indian/Mayotte", date(2027, 4, 27)),
    ],
)
def test_overseas_number_on_its_own_abolition_day(region: str, zone: str, day: date) -> None:
    tz = ZoneInfo(zone)
    decision = check_window(datetime.combine(day, time(11), tz), region=region, time_zones=[zone])
    assert not decision.allowed
    assert decision.rule == f"public holiday in {region}: Abolition de l'esclavage"
    assert decision.local_time.tzinfo == tz
    # Mainland France works that day (when it is a weekday).
    if day.weekday() < 5:
        assert check_window(datetime.combine(day, time(11), PARIS), **FR).allowed


def test_reunion_uses_its_own_clock() -> None:
    # 07:30 in Paris (winter) is 10:30 in Réunion: closed in Paris, open in Réunion.
    at = datetime(2026, 1, 13, 7, 30, tzinfo=PARIS)
    assert not check_window(at, **FR).allowed
    decision = check_window(at, region="RE", time_zones=["Indian/Reunion"])
    assert decision.allowed
    assert decision.local_time.hour == 10
    assert decision.window_end == datetime(2026, 1, 13, 20, tzinfo=REUNION)


def test_martinique_and_guadeloupe_holiday_then_next_day() -> None:
    at = datetime(2026, 5, 22, 9, tzinfo=MARTINIQUE)
    assert next_allowed(at, region="MQ", time_zones=["America/Martinique"]) == datetime(
        2026, 5, 23, 10, tzinfo=MARTINIQUE
    )
    at = datetime(2026, 5, 27, 9, tzinfo=GUADELOUPE)
    assert next_allowed(at, region="GP", time_zones=["America/Guadeloupe"]) == datetime(
        2026, 5, 28, 8, tzinfo=GUADELOUPE
    )


# -- several time zones ------------------------------------------------------------------

US: Recipient = {"region": "US", "time_zones": ("America/New_York", "America/Los_Angeles")}


def test_several_zones_must_all_allow() -> None:
    # 09:00 in New York is 06:00 in Los Angeles: refused because of Los Angeles.
    at = datetime(2026, 6, 16, 9, tzinfo=ZoneInfo("America/New_York"))
    decision = check_window(at, **US)
    assert not decision.allowed
    assert decision.rule == "outside Tuesday 08:00–20:00 (courtesy) in America/Los_Angeles"
    assert decision.local_time.tzinfo == ZoneInfo("America/New_York")
    # Earliest instant open in both: 08:00 Los Angeles = 11:00 New York.
    assert decision.next_allowed == datetime(2026, 6, 16, 11, tzinfo=ZoneInfo("America/New_York"))
    # And the window ends with New York's 20:00.
    late = check_window(datetime(2026, 6, 16, 19, tzinfo=ZoneInfo("America/New_York")), **US)
    assert late.allowed
    assert late.window_end == datetime(2026, 6, 16, 20, tzinfo=ZoneInfo("America/New_York"))


def test_zones_with_no_common_hours_raise_a_domain_error() -> None:
    # 08:00–20:00 in Honolulu (UTC-10) is 18:00–06:00 UTC; in Kaliningrad (UTC+2) 06:00–18:00.
    zones = ("Pacific/Honolulu", "Europe/Kaliningrad")
    at = datetime(2026, 6, 16, 12, tzinfo=UTC)
    with pytest.raises(NoSendingWindow, match="no sending window within 400 days"):
        next_allowed(at, region="RU", time_zones=zones)
    decision = check_window(at, region="RU", time_zones=zones)
    assert not decision.allowed
    assert decision.next_allowed is None


def test_unknown_time_zone() -> None:
    with pytest.raises(UnknownTimeZone, match="Etc/Unknown"):
        check_window(paris(2026, 6, 15), region="FR", time_zones=["Etc/Unknown"])
    with pytest.raises(UnknownTimeZone, match="no time zone"):
        check_window(paris(2026, 6, 15), region="FR", time_zones=[])


def test_a_single_zone_string_is_not_split_into_characters() -> None:
    assert check_window(paris(2026, 6, 15), region="FR", time_zones="Europe/Paris").allowed


# -- message types and presets -----------------------------------------------------------


def test_informative_is_never_held() -> None:
    decision = check_window(paris(2026, 12, 25, 3), marketing=False, **FR)
    assert decision.allowed
    assert decision.rule == INFORMATIVE_RULE
    assert decision.local_time == paris(2026, 12, 25, 3)
    assert decision.next_allowed is None


def test_presets_on_a_saturday_evening() -> None:
    at = paris(2026, 6, 13, 19)
    assert not check_window(at, policy=get_policy("fr-default"), **FR).allowed
    assert check_window(at, policy=get_policy("fr-mon-sat-8-20"), **FR).allowed
    late = paris(2026, 6, 13, 21, 30)
    assert not check_window(late, policy=get_policy("fr-mon-sat-8-20"), **FR).allowed
    decision = check_window(late, policy=get_policy("fr-af2m-2024"), **FR)
    assert decision.allowed
    assert decision.rule == "Saturday 08:00–22:00 (fr-af2m-2024)"


def test_af2m_closes_on_holidays() -> None:
    assert not check_window(paris(2026, 7, 14), policy=get_policy("fr-af2m-2024"), **FR).allowed


def test_courtesy_closes_national_holidays() -> None:
    ny = ZoneInfo("America/New_York")
    zones = ["America/New_York"]
    thanksgiving = datetime(2026, 11, 26, 12, tzinfo=ny)
    decision = check_window(thanksgiving, region="US", time_zones=zones)
    assert not decision.allowed
    assert decision.rule.startswith("public holiday in US")
    assert check_window(
        datetime(2026, 11, 27, 12, tzinfo=ny), region="US", time_zones=zones
    ).allowed


def test_a_territory_unknown_to_holidays_has_none() -> None:
    assert holidays_in("ZZ", 2026) == {}
    at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert check_window(at, region="ZZ", time_zones=["UTC"]).allowed


def test_midnight_end_and_round_the_clock_policy() -> None:
    always = WindowPolicy("always", "", {d: ((time(0), time(0)),) for d in range(7)}, False)
    assert always.describe_day(0) == "Monday 00:00–24:00 (always)"
    at = paris(2026, 6, 15, 3)
    decision = check_window(at, policy=always, **FR)
    assert decision.allowed
    assert decision.window_end is not None
    assert decision.window_end - at >= timedelta(days=399)


# -- planner API -------------------------------------------------------------------------


def test_open_intervals_between_two_instants() -> None:
    spans = open_intervals(paris(2026, 6, 12, 19), paris(2026, 6, 15, 9), **FR)
    assert spans == [
        (paris(2026, 6, 12, 19), paris(2026, 6, 12, 20)),
        (paris(2026, 6, 13, 10), paris(2026, 6, 13, 18)),
        (paris(2026, 6, 15, 8), paris(2026, 6, 15, 9)),
    ]


def test_finish_time_spans_closed_hours() -> None:
    calendar = calendar_for("FR", ["Europe/Paris"])
    # Friday 19:00, 3 hours of sending: 1 h on Friday, 2 h on Saturday from 10:00.
    assert calendar.finish_time(paris(2026, 6, 12, 19), 3 * 3600) == paris(2026, 6, 13, 12)
    assert calendar.finish_time(paris(2026, 6, 12, 19), 0) == paris(2026, 6, 12, 19)


def test_bulk_checks_match_single_checks() -> None:
    calendar = calendar_for("FR", ["Europe/Paris"])
    start = paris(2026, 1, 1, 0).timestamp()
    epochs = [start + i * 1800.0 for i in range(2 * 48 * 14)]
    assert calendar.allowed_many(epochs) == [calendar.allowed_epoch(t) for t in epochs]
    assert calendar.allowed_many([]) == []


def test_calendar_extends_across_years() -> None:
    calendar = WindowCalendar(get_policy("fr-default"), "FR", ["Europe/Paris"])
    assert calendar.allowed(paris(2026, 6, 15))
    assert not calendar.allowed(paris(2031, 12, 25))
    assert calendar.allowed(paris(2024, 6, 17))
    # Far away: rebuilt around the query instead of growing without bound.
    assert not calendar.allowed(paris(2080, 5, 1))
    # Thursday 31 December after hours -> Friday 1 January is a holiday -> Saturday 10:00.
    assert calendar.next_allowed(paris(2026, 12, 31, 20)) == paris(2027, 1, 2, 10)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2025, 1, 1),
        max_value=datetime(2028, 12, 31),
        timezones=st.just(UTC),
    )
)
def test_calendar_agrees_with_a_naive_local_check(at: datetime) -> None:
    local = at.astimezone(REUNION)
    day = local.date()
    expected = (
        day not in holidays_in("RE", day.year)
        and day.weekday() < 6
        and (time(8) <= local.time().replace(tzinfo=None) < time(20 if day.weekday() < 5 else 18))
        and (day.weekday() < 5 or local.time().replace(tzinfo=None) >= time(10))
    )
    decision = check_window(at, region="RE", time_zones=["Indian/Reunion"])
    assert decision.allowed is expected
    if not expected:
        assert decision.next_allowed is not None
        assert decision.next_allowed > at
        reopened = check_window(decision.next_allowed, region="RE", time_zones=["Indian/Reunion"])
        assert reopened.allowed
        before = decision.next_allowed - timedelta(seconds=1)
        assert not check_window(before, region="RE", time_zones=["Indian/Reunion"]).allowed


def test_window_crossing_the_calendar_coverage_end_is_not_cut() -> None:
    honolulu = ZoneInfo("Pacific/Honolulu")
    calendar = WindowCalendar(get_policy("courtesy"), "US", ["Pacific/Honolulu"])
    assert calendar.allowed(datetime(2024, 6, 17, 12, tzinfo=honolulu))  # covers 2023–2025 UTC
    # Wednesday 31 December 2025, 08:00–20:00 in Honolulu ends at 06:00 UTC on 1 January 2026.
    at = datetime(2025, 12, 31, 9, tzinfo=honolulu)
    assert calendar.window_end(at) == datetime(2025, 12, 31, 20, tzinfo=honolulu)
    assert calendar.decide_epoch(at.timestamp()) == (
        True,
        datetime(2025, 12, 31, 20, tzinfo=honolulu).timestamp(),
    )


def test_decide_epoch_when_closed() -> None:
    calendar = calendar_for("FR", ["Europe/Paris"])
    assert calendar.decide_epoch(paris(2026, 6, 14).timestamp()) == (
        False,
        paris(2026, 6, 15, 8).timestamp(),
    )


def test_region_case_does_not_matter() -> None:
    at = datetime(2026, 12, 20, 11, tzinfo=REUNION)
    decision = check_window(at, region="re", time_zones=["Indian/Reunion"])
    assert decision.rule == "public holiday in RE: Abolition de l'esclavage"


def test_spans_too_long_for_a_calendar_are_refused() -> None:
    calendar = calendar_for("FR", ["Europe/Paris"])
    with pytest.raises(ValueError, match="too long"):
        calendar.open_intervals(paris(2026, 1, 1), paris(2046, 1, 1))
    with pytest.raises(ValueError, match="years apart"):
        calendar.allowed_many([paris(2026, 1, 1).timestamp(), paris(2060, 1, 1).timestamp()])
    assert calendar.open_intervals(paris(2026, 1, 2), paris(2026, 1, 1)) == []
