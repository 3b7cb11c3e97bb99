"""An account's time zone: only an IANA name of a place is accepted, refused by a sentence
naming ``time_zone``; an offset-less schedule is read in the zone it is given."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stopsms.clock import FakeClock
from stopsms.domain.account import Account
from stopsms.errors import InvalidInput
from stopsms.services.accounts.accounts import COMMON_TIME_ZONES, check_time_zone
from stopsms.services.campaigns.campaigns import parse_schedule

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("Europe/Brussels", "Europe/Brussels"),
        (" America/Martinique ", "America/Martinique"),
        ("Indian/Reunion", "Indian/Reunion"),
        ("UTC", "UTC"),
    ],
)
def test_a_zone_name_is_kept_trimmed(given: str, kept: str) -> None:
    assert check_time_zone(given) == kept


@pytest.mark.parametrize(
    "bad",
    [
        "Paris",
        "Europe/Pariss",
        "europe/paris",
        "",
        "CET",
        "EST",
        "../../etc/passwd",
        "zone.tab",
        "Europe/Paris\x00",
        "+01:00",
    ],
)
def test_anything_else_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_time_zone(bad)
    assert refused.value.field == "time_zone"
    assert "IANA name such as Europe/Paris" in str(refused.value)


def test_every_suggested_zone_is_accepted() -> None:
    assert COMMON_TIME_ZONES[0] == "Europe/Paris"
    for name in COMMON_TIME_ZONES:
        assert check_time_zone(name) == name


def test_an_offset_less_schedule_is_wall_clock_time_in_the_zone_given() -> None:
    clock = FakeClock(NOW)
    paris = parse_schedule("2026-12-08T09:00", clock)  # no zone given: Paris
    assert paris.astimezone(UTC) == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    martinique = _account("America/Martinique").zone
    there = parse_schedule("2026-12-08T09:00", clock, martinique)
    assert there.astimezone(UTC) == datetime(2026, 12, 8, 13, 0, tzinfo=UTC)
    explicit = parse_schedule("2026-12-08T09:00+01:00", clock, martinique)  # an offset wins
    assert explicit.astimezone(UTC) == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)


def _account(zone: str) -> Account:
    return Account(
        id=1,
        name="shop",
        type="marketing",
        validated=True,
        shortcode="36034",
        mention_format="STOP {shortcode}",
        mention_enabled=True,
        unsubscribe_url=None,
        optout_scope="account",
        window_policy=None,
        brand="shop",
        confirmation_text="ok",
        balance_millicredits=0,
        alert_threshold_millicredits=0,
        created_at=NOW,
        time_zone=zone,
    )
