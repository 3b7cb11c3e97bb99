"""Sending-window policies as data (rule 7): the French default, its presets, the courtesy
default for countries with no rule, and which one applies to a territory.

A :class:`WindowPolicy` says when marketing may be sent in the recipient's local wall-clock
time; :mod:`stopsms.domain.windows` turns it into instants for a given territory and zones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time
from types import MappingProxyType

from stopsms.domain.errors import UnknownPolicy

__all__ = [
    "FRENCH_TERRITORIES",
    "MIDNIGHT",
    "POLICIES",
    "Interval",
    "WindowPolicy",
    "get_policy",
    "policy_for",
]

Interval = tuple[time, time]
"""An open interval in local wall-clock time, start included, end excluded."""

MIDNIGHT = time(0)
"""As an interval's end: midnight at the end of the day ("24:00")."""

#: Territories where French law applies, so the default French policy: mainland France and the
#: overseas departments and collectivities as ``phonenumbers`` names them.
FRENCH_TERRITORIES = frozenset(
    {"FR", "RE", "GP", "MQ", "GF", "YT", "PM", "BL", "MF", "NC", "PF", "WF", "TF"}
)

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    """When marketing messages may be sent, in the recipient's local wall-clock time.

    ``hours`` maps a weekday (0 = Monday … 6 = Sunday) to its open intervals; a missing weekday
    is closed. An interval ending at ``time(0)`` runs to midnight at the end of the day.
    ``closed_on_holidays`` closes the recipient territory's public holidays entirely.
    """

    name: str
    description: str
    hours: Mapping[int, tuple[Interval, ...]]
    closed_on_holidays: bool
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        hours: dict[int, tuple[Interval, ...]] = {}
        for weekday, intervals in sorted(self.hours.items()):
            if weekday not in range(7):
                raise ValueError(f"policy {self.name!r}: weekday {weekday!r} is not 0..6")
            ordered = tuple(sorted((start, end) for start, end in intervals))
            previous_end: time | None = None
            for start, end in ordered:
                for moment in (start, end):
                    if moment.tzinfo is not None or moment.microsecond:
                        raise ValueError(
                            f"policy {self.name!r}: {moment} must be a naive whole-second time"
                        )
                if end != MIDNIGHT and end <= start:
                    raise ValueError(f"policy {self.name!r}: empty interval {start}–{end}")
                if previous_end is not None and (previous_end == MIDNIGHT or start < previous_end):
                    raise ValueError(f"policy {self.name!r}: overlapping intervals on {weekday}")
                previous_end = end
            if ordered:
                hours[weekday] = ordered
        object.__setattr__(self, "hours", MappingProxyType(hours))
        key = (self.name, self.closed_on_holidays, tuple(hours.items()))
        object.__setattr__(self, "_hash", hash(key))  # once: policies key calendar caches

    def __hash__(self) -> int:
        return self._hash

    def describe_day(self, weekday: int) -> str:
        """One day's rule as a sentence: ``"Saturday 10:00–18:00 (fr-default)"``."""
        intervals = self.hours.get(weekday)
        if not intervals:
            return f"{_WEEKDAYS[weekday]}: closed ({self.name})"
        spans = ", ".join(f"{_hhmm(start)}–{_hhmm(end, end=True)}" for start, end in intervals)
        return f"{_WEEKDAYS[weekday]} {spans} ({self.name})"


def _hhmm(moment: time, *, end: bool = False) -> str:
    if end and moment == MIDNIGHT:
        return "24:00"
    return moment.strftime("%H:%M:%S" if moment.second else "%H:%M")


def _every(weekdays: Iterable[int], start: int, end: int) -> dict[int, tuple[Interval, ...]]:
    return {day: ((time(start), time(end)),) for day in weekdays}


POLICIES: Mapping[str, WindowPolicy] = MappingProxyType(
    {
        policy.name: policy
        for policy in (
            WindowPolicy(
                name="fr-default",
                description="France: Mon–Fri 08:00–20:00, Saturday 10:00–18:00, "
                "never on Sundays or public holidays",
                hours={**_every(range(5), 8, 20), **_every((5,), 10, 18)},
                closed_on_holidays=True,
            ),
            WindowPolicy(
                name="fr-mon-sat-8-20",
                description="France: Mon–Sat 08:00–20:00, never on Sundays or public holidays",
                hours=_every(range(6), 8, 20),
                closed_on_holidays=True,
            ),
            WindowPolicy(
                name="fr-af2m-2024",
                description="AF2M charter (2024): Mon–Sat 08:00–22:00, "
                "never on Sundays or public holidays",
                hours=_every(range(6), 8, 22),
                closed_on_holidays=True,
            ),
            WindowPolicy(
                name="courtesy",
                description="Countries with no rule: Mon–Sat 08:00–20:00 local, "
                "never on Sundays or national holidays",
                hours=_every(range(6), 8, 20),
                closed_on_holidays=True,
            ),
        )
    }
)


def get_policy(name: str) -> WindowPolicy:
    """The named policy; raises :class:`UnknownPolicy` naming the known ones."""
    try:
        return POLICIES[name]
    except KeyError:
        raise UnknownPolicy(name, tuple(POLICIES)) from None


def policy_for(region: str, override: str | None = None) -> WindowPolicy:
    """The policy for a recipient territory: ``override`` (an account's choice) when given,
    else ``fr-default`` for France and its overseas territories, else ``courtesy``."""
    if override is not None:
        return get_policy(override)
    if region.upper() in FRENCH_TERRITORIES:
        return POLICIES["fr-default"]
    return POLICIES["courtesy"]
