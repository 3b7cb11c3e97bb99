"""Public holidays per territory: a thin adapter over the ``holidays`` package.

A territory is the ISO 3166 code a phone number maps to ("FR", "RE", "GP", "MQ", "GF", "YT",
"BE", "US", …). French overseas territories are their own codes in ``holidays`` (``RE`` is
France's subdivision 974 with its own days: 20 December in Réunion, 27 May in Guadeloupe,
22 May in Martinique, 10 June in French Guiana, 27 April in Mayotte), so a Réunion number gets
Réunion's holidays, not mainland France's.

Only national (country-level) holidays are used: a phone number says nothing about a region
inside a country (Alsace-Moselle, a US state), and the courtesy policy is about national days.
A territory that ``holidays`` does not know has no holidays.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import holidays

__all__ = ["holidays_in"]

_PREFERRED_LANGUAGE = "fr"
_EMPTY: MappingProxyType[date, str] = MappingProxyType({})


def _country_holidays(region: str, year: int) -> Any:
    """The ``holidays`` object for one territory and year, names in French when available."""
    try:
        probe = holidays.country_holidays(region, years=())
    except NotImplementedError:
        return None
    languages = getattr(probe, "supported_languages", ())
    if _PREFERRED_LANGUAGE in languages:
        return holidays.country_holidays(region, years=year, language=_PREFERRED_LANGUAGE)
    return holidays.country_holidays(region, years=year)


@lru_cache(maxsize=1024)
def holidays_in(region: str, year: int) -> MappingProxyType[date, str]:
    """Public holidays of ``region`` (ISO territory code) in ``year``: date -> name.

    Names are in French when the package has them (``"Abolition de l'esclavage"``), else in the
    package's default language. Unknown territories and years outside what the package covers
    give an empty mapping.
    """
    region = region.upper()
    try:
        found = _country_holidays(region, year)
    except (NotImplementedError, ValueError, OverflowError):
        return _EMPTY
    if found is None:
        return _EMPTY
    return MappingProxyType({day: str(name) for day, name in sorted(found.items())})
