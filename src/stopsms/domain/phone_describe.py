"""Region, kind and time zones of an E.164 number in one regex match, as ``phonenumbers`` says.

``phonenumbers`` answers ``describe`` in ~30–150 µs a number: it parses, validates, finds the
region (trying each region of the country code), finds the number type (testing every type
description again), then looks the time zones up by longest prefix. This module compiles the
library's own metadata, once per country code and on first use, into one regular expression
whose capturing groups each stand for a (region, number type) pair:

* the regions of the country code are tried in ``COUNTRY_CODE_TO_REGION_CODE`` order, a region
  with leading digits guarding every later one as ``region_code_for_number`` does (the first
  region whose leading digits match claims the number, valid or not);
* inside a region the types are tried in ``_number_type_helper``'s order (premium rate, toll
  free, shared cost, VoIP, personal, pager, UAN, voicemail, then fixed line — "fixed line or
  mobile" when the mobile pattern matches too or both are the same — then mobile), each with its
  possible lengths, under the general description;
* the national prefix that ``parse`` would strip after the country code is excluded, as in
  ``phone_fast.validator``: such numbers are not in canonical E.164 and are left to the library.

So a match means the number is valid and canonical, and ``match.lastindex`` names its region and
kind. Time zones come from the library's prefix table (``phonenumbers.tzdata``): the longest
prefix of the E.164 digits for geographical kinds (``is_number_type_geographical``), the
country-level entry otherwise; both are precomputed per region, already narrowed to the
territory's own zones. Whatever does not match (invalid, unusual) returns None, and the caller
asks the reference implementation.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import phonenumbers
from phonenumbers import PhoneNumberType, timezone
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from stopsms.domain.phone_fast import _desc, _main_metadata, _metadata, _not_prefix, _uncapture

__all__ = ["describe_fields", "narrow_zones", "territory_zones"]

# phonenumbers' answer when it knows no zone for a number.
UNKNOWN_ZONE = "Etc/Unknown"
# Zones for numbers of no territory (e.g. +800 international freephone).
NO_TERRITORY_ZONES = ("Etc/UTC",)

# The types _number_type_helper tests before fixed line and mobile, in its order.
_SPECIAL_KINDS = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)

# The longest country code (phonenumbers tries 1, 2 then 3 digits).
_MAX_CC_LENGTH = 3

Fields = tuple[str, tuple[str, ...], str]  # region, time zones, kind (as PhoneNumber)


@cache
def territory_zones() -> dict[str, tuple[str, ...]]:
    """ISO territory code → IANA zones, from the tz database's ``zone.tab`` (tzdata package)."""
    try:
        table = importlib.resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text()
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - tzdata is a dependency
        return {}
    zones: dict[str, list[str]] = {}
    for line in table.splitlines():
        if line and not line.startswith("#"):
            fields = line.split("\t")
            zones.setdefault(fields[0], []).append(fields[2])
    return {code: tuple(names) for code, names in zones.items()}


@cache
def narrow_zones(found: tuple[str, ...], region: str) -> tuple[str, ...]:
    """The number's zones narrowed to its territory's own; the territory's when unknown.

    phonenumbers gives zones by country code for mobiles, so a Réunion mobile (+262 692…)
    gets both Indian/Mayotte and Indian/Reunion; the territory settles it.
    """
    own = territory_zones().get(region, ())
    known = tuple(z for z in found if z != UNKNOWN_ZONE)
    if not known:
        return own or NO_TERRITORY_ZONES
    narrowed = tuple(z for z in known if z in own)
    return narrowed or known


@dataclass(frozen=True, slots=True)
class _Geo:
    """Longest-prefix time zones for the numbers of one region, already narrowed."""

    lengths: tuple[int, ...]  # prefix lengths worth trying, longest first
    zones: dict[str, tuple[str, ...]]  # prefix → narrowed zones
    unknown: tuple[str, ...]  # narrowed zones when no prefix is known


@cache
def _geo(country_code: str, region: str) -> _Geo:
    # A prefix of the digits is either a prefix of the country code or starts with it.
    keys = [
        key
        for key in TIMEZONE_DATA
        if len(key) <= TIMEZONE_LONGEST_PREFIX
        and (key.startswith(country_code) or country_code.startswith(key))
    ]
    return _Geo(
        lengths=tuple(sorted({len(key) for key in keys}, reverse=True)),
        zones={key: narrow_zones(tuple(TIMEZONE_DATA[key]), region) for key in keys},
        unknown=narrow_zones((UNKNOWN_ZONE,), region),
    )


@dataclass(frozen=True, slots=True)
class _Group:
    """What one capturing group of a country code's pattern stands for."""

    region: str
    kind: str
    zones: tuple[str, ...] | None  # the zones when they do not depend on the digits
    geo: _Geo | None  # else how to look them up


def _country_zones(country_code: int, region: str) -> tuple[str, ...]:
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=0)
    return narrow_zones(tuple(timezone._country_level_time_zones_for_number(number)), region)


def _group(country_code: int, region: str, kind: str, kind_type: int) -> _Group:
    if phonenumbers.is_number_type_geographical(kind_type, country_code):
        return _Group(region, kind, None, _geo(str(country_code), region))
    return _Group(region, kind, _country_zones(country_code, region), None)


def _region_branch(
    country_code: int, region: str, metadata: PhoneMetadata, groups: list[_Group]
) -> str | None:
    """The region's types as capturing groups in ``_number_type_helper``'s order."""
    general = _desc(metadata.general_desc)
    if general is None:
        return None
    alternatives: list[str] = []

    def add(fragment: str, kind: str, kind_type: int) -> None:
        alternatives.append(f"({fragment})")
        groups.append(_group(country_code, region, kind, kind_type))

    for field, kind_type in _SPECIAL_KINDS:
        fragment = _desc(getattr(metadata, field))
        if fragment is not None:
            add(fragment, field, kind_type)
    fixed = _desc(metadata.fixed_line)
    mobile = _desc(metadata.mobile)
    both = PhoneNumberType.FIXED_LINE_OR_MOBILE
    if fixed is not None:
        if metadata.same_mobile_and_fixed_line_pattern:
            add(fixed, "fixed_line_or_mobile", both)
        else:
            if mobile is not None:
                add(f"(?={mobile}){fixed}", "fixed_line_or_mobile", both)
            add(fixed, "fixed_line", PhoneNumberType.FIXED_LINE)
    if mobile is not None and not metadata.same_mobile_and_fixed_line_pattern:
        add(mobile, "mobile", PhoneNumberType.MOBILE)
    if not alternatives:
        return None
    return f"(?={general})(?:{'|'.join(alternatives)})"


Matcher = tuple[Callable[[str], re.Match[str] | None], tuple[_Group, ...]]


@cache
def _matcher(country_code: int) -> Matcher | None:
    """The country code's pattern (matched against the national number) and its groups."""
    groups: list[_Group] = [_Group("", "", None, None)]  # group 0 is the whole match
    branches: list[str] = []
    earlier_leading: list[str] = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[country_code]:
        metadata = _metadata(country_code, region)
        if metadata is None:
            continue
        branch = _region_branch(country_code, region, metadata, groups)
        if branch is not None:
            guards = "".join(f"(?!{ld})" for ld in earlier_leading)
            branches.append(guards + branch)
        if metadata.leading_digits is not None:
            earlier_leading.append(_uncapture(metadata.leading_digits))
    if not branches:
        return None
    body = _not_prefix(_main_metadata(country_code)) + "(?:" + "|".join(branches) + ")"
    return re.compile(body, re.ASCII).fullmatch, tuple(groups)


# The first three digits of the number → (its pattern, its groups, where its national number
# starts), built on first use; None when phonenumbers finds no country code or no fast path.
_Entry = tuple[Callable[[str], re.Match[str] | None], tuple[_Group, ...], int]
_CODES = frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
_by_head: dict[str, _Entry | None] = {}


def _entry(head: str) -> _Entry | None:
    # As phonenumbers' _extract_country_code: the first of 1, 2, 3 digits that is a code.
    for length in range(1, min(len(head), _MAX_CC_LENGTH) + 1):
        if head[:length] in _CODES:
            matcher = _matcher(int(head[:length]))
            return None if matcher is None else (*matcher, 1 + length)
    return None


def describe_fields(e164: str) -> Fields | None:
    """(region, time zones, kind) of ``e164`` when it is ``+`` and a valid number in canonical
    E.164, as phonenumbers says; None to ask phonenumbers itself (any other input).
    """
    head = e164[1 : 1 + _MAX_CC_LENGTH]
    try:
        entry = _by_head[head]
    except KeyError:
        if not (head.isascii() and head.isdigit()):
            return None  # not stored: the table holds digit heads only
        entry = _by_head[head] = _entry(head)
    if entry is None or e164[:1] != "+":
        return None
    fullmatch, groups, start = entry
    match = fullmatch(e164[start:])
    if match is None:
        return None
    group = groups[match.lastindex or 0]
    zones = group.zones
    if zones is None:
        geo = group.geo
        assert geo is not None
        digits = e164[1:]
        for n in geo.lengths:
            zones = geo.zones.get(digits[:n])
            if zones is not None:
                break
        else:
            zones = geo.unknown
    return group.region, zones, group.kind
