"""Held instants: counted per minute, earliest first, written in Europe/Paris with its name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from stopsms.services.campaigns.holds import describe_holds, merge_holds

PARIS_8 = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)


def test_instants_are_merged_to_the_minute_and_sorted() -> None:
    plus4 = timezone(timedelta(hours=4))
    groups = merge_holds(
        [
            (PARIS_8 + timedelta(seconds=20), 5),
            (PARIS_8, 6),
            (datetime(2026, 11, 24, 8, 0, tzinfo=plus4), 1),  # 08:00 Réunion
            (PARIS_8 + timedelta(days=1), 0),  # nothing held then: dropped
        ]
    )
    assert groups == ((datetime(2026, 11, 24, 4, 0, tzinfo=UTC), 1), (PARIS_8, 11))


def test_description_names_the_zone_and_sums_what_it_leaves_out() -> None:
    assert describe_holds(()) == ""
    summer = datetime(2026, 7, 7, 6, 0, tzinfo=UTC)  # 08:00 in Paris, CEST
    assert describe_holds(((summer, 3),)) == "3 held until Tue 07 Jul 08:00 Europe/Paris"
    many = tuple((PARIS_8 + timedelta(hours=h), 2) for h in range(5))
    text = describe_holds(many, limit=2)
    assert text == (
        "2 held until Tue 24 Nov 08:00 Europe/Paris, 2 until Tue 24 Nov 09:00 Europe/Paris, 6 later"
    )
