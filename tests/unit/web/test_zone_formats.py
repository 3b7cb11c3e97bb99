"""The pages' one date formatter: the page's language and the account's zone; the held
recipients by zone when they are not all in the account's."""

from __future__ import annotations

from datetime import UTC, datetime

from stopsms.domain.planning import CohortPlan
from stopsms.web.i18n import environment, formats
from stopsms.web.pages import HeldZone, held_zones

INSTANT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_the_same_instant_in_two_zones_and_two_languages() -> None:
    assert formats("fr").datetime(INSTANT) == "01/12/2026 10:00"
    assert formats("fr", "America/Martinique").datetime(INSTANT) == "01/12/2026 05:00"
    assert formats("en", "America/Martinique").datetime(INSTANT) == "12/1/26, 5:00\u202fAM"
    naive = INSTANT.replace(tzinfo=None)  # the store's naive instants are UTC
    assert formats("fr", "Indian/Reunion").datetime(naive) == "01/12/2026 13:00"
    assert formats("fr").datetime(INSTANT.timestamp()) == "01/12/2026 10:00"
    assert formats("fr").datetime(None) == ""


def test_the_zone_is_named_where_it_matters_and_another_zone_can_be_asked() -> None:
    paris = formats("fr")
    assert paris.datetime(INSTANT, zone=True) == "01/12/2026 10:00 (Europe/Paris)"
    assert paris.datetime(INSTANT, zone="Indian/Reunion") == "01/12/2026 13:00 (Indian/Reunion)"


def test_templates_get_the_filter_bound_to_the_zone() -> None:
    template = "{{ at|datetime }} {{ at|datetime(zone=True) }}"
    paris = environment("fr").from_string(template).render(at=INSTANT)
    there = environment("fr", "America/Martinique").from_string(template).render(at=INSTANT)
    assert paris == "01/12/2026 10:00 01/12/2026 10:00 (Europe/Paris)"
    assert there == "01/12/2026 05:00 01/12/2026 05:00 (America/Martinique)"


def _cohort(key: str, held: int, until: float | None) -> CohortPlan:
    return CohortPlan(key=key, count=held, now=0, held=held, held_until=until, finish=None)


def test_held_recipients_by_zone_only_when_some_are_elsewhere() -> None:
    paris_only = [_cohort("FR Europe/Paris (fr-default)", 10, 1000.0)]
    assert held_zones(paris_only, "Europe/Paris") == []
    assert held_zones(paris_only, "America/Martinique") == [
        HeldZone("FR", "Europe/Paris", 10, 1000.0)
    ]
    mixed = [
        _cohort("FR Europe/Paris (fr-default)", 10, 2000.0),
        _cohort("RE Indian/Reunion (fr-default)", 3, 1000.0),
        _cohort("RE Indian/Reunion (other)", 2, 1500.0),
        _cohort("US America/New_York+America/Chicago (us)", 0, None),  # none held
        _cohort("XX Not/AZone (x)", 4, 10.0),  # no zone to write it in
    ]
    assert held_zones(mixed, "Europe/Paris") == [
        HeldZone("FR", "Europe/Paris", 10, 2000.0),
        HeldZone("RE", "Indian/Reunion", 5, 1000.0),
    ]
