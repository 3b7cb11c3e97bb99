"""When held messages leave, said the same way by the preview, the progress line and the report.

A campaign's held messages wait for *their recipient's* sending window (rule 7): Réunion opens
three hours before Paris in winter, so "the first held message leaves at 05:00" says nothing
true of the eleven French recipients who wait until 08:00. Holds are therefore counted per
release instant — from the stored ``not_before`` of each held message once prepared, from the
planner's cohorts (one calendar each) before — and every instant is written in one named zone,
:data:`DISPLAY_ZONE`, with the zone's name rather than an abbreviation ("CET" is ambiguous, and
the machine's local zone is not the account's): ``11 held until Tue 24 Nov 08:00 Europe/Paris,
1 until Tue 24 Nov 05:00 Europe/Paris``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from stopsms.store import tables as t

__all__ = ["DISPLAY_ZONE", "HeldGroups", "describe_holds", "held_groups", "merge_holds"]

#: The zone held instants are written in when the account's is not given: its default.
DISPLAY_ZONE = ZoneInfo("Europe/Paris")
#: ``(release instant, messages)`` pairs, earliest first.
HeldGroups = tuple[tuple[datetime, int], ...]


def merge_holds(pairs: Iterable[tuple[datetime, int]]) -> HeldGroups:
    """Counts added per instant (to the minute, as shown), earliest first; zero counts dropped."""
    counts: dict[datetime, int] = {}
    for at, count in pairs:
        if count <= 0:
            continue
        aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        minute = aware.astimezone(UTC).replace(second=0, microsecond=0)
        counts[minute] = counts.get(minute, 0) + count
    return tuple(sorted(counts.items()))


def held_groups(connection: Connection, campaign_id: int) -> HeldGroups:
    """The campaign's held messages counted by the instant they may leave."""
    m = t.messages.c
    rows = connection.execute(
        select(m.not_before, func.count())
        .where(m.campaign_id == campaign_id, m.status == "held", m.not_before.is_not(None))
        .group_by(m.not_before)
    )
    return merge_holds((at, int(count)) for at, count in rows)


def when(at: datetime, zone: ZoneInfo = DISPLAY_ZONE) -> str:
    """``Tue 24 Nov 08:00 Europe/Paris`` (in ``zone``, the account's, named)."""
    return f"{at.astimezone(zone):%a %d %b %H:%M} {zone.key}"


def describe_holds(groups: HeldGroups, *, limit: int = 3, zone: ZoneInfo = DISPLAY_ZONE) -> str:
    """``11 held until Tue 24 Nov 08:00 Europe/Paris, 1 until …`` (the ``limit`` earliest
    instants, then how many more wait later, in ``zone``: the account's time zone where the
    caller knows the account); ``""`` when nothing is held."""
    if not groups:
        return ""
    parts = [
        f"{count:,} {'held ' if i == 0 else ''}until {when(at, zone)}"
        for i, (at, count) in enumerate(groups[:limit])
    ]
    rest = sum(count for _, count in groups[limit:])
    if rest:
        parts.append(f"{rest:,} later")
    return ", ".join(parts)
