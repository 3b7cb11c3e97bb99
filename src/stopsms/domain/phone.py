"""Phone numbers: any user format to E.164, validity, region, time zones and kind.

Validity is exactly ``phonenumbers``' ``is_valid_number``: ``normalise`` and ``normalise_many``
give, for every input, the E.164 that plain ``phonenumbers`` gives (or None when it finds the
number invalid); they only get there faster (see ``phone_fast``). Overseas territories are their
own regions (``+262 692…`` is RE, ``+590 690…`` GP), as ``phonenumbers`` reports them, and
their time zones are narrowed to the territory's own (Réunion is Indian/Reunion, not also
Indian/Mayotte), because sending windows and holidays are per territory.

French overseas numbers written nationally (``0692 12 34 56``, ``0596 30 12 34``) are read as
French users write them, with the default region FR: as their territory's (``+262 692…`` RE,
``+596 596…`` MQ), although ``phonenumbers`` alone reads ``+33 692…`` (invalid) or ``+33 596…``;
the rule and why are in :func:`~stopsms.domain.phone_fast.territory_e164`. Every caller that
parses with the default region FR (import, preview, window, opt-outs, inbound) gets it here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType, timezone

from stopsms.domain.errors import InvalidPhoneNumber
from stopsms.domain.phone_describe import describe_fields, narrow_zones, territory_zones
from stopsms.domain.phone_fast import normalise_batch

__all__ = [
    "PhoneNumber",
    "describe",
    "describe_many",
    "describe_reference",
    "invalid_reason",
    "normalise",
    "normalise_many",
    "parse_phone",
    "territory_zones",
]

# French overseas country codes, to explain why "0692…" with region FR is refused.
_FR_OVERSEAS_CODES = (262, 508, 590, 594, 596, 681, 687, 689)


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A valid phone number and what the sending rules need to know about it."""

    e164: str  # "+33612345678"
    region: str  # ISO territory code; overseas territories are their own ("RE", "GP"…)
    time_zones: tuple[str, ...]  # IANA zones, at least one, never "Etc/Unknown"
    kind: str  # phonenumbers' number type in lower case: "mobile", "fixed_line"…


def normalise_many(raws: Sequence[str], default_region: str = "FR") -> list[str | None]:
    """E.164 for each raw string, or None where it is not a valid number; the bulk path.

    Same answers as ``phonenumbers.parse`` + ``is_valid_number`` + E.164 formatting (French
    overseas numbers written nationally aside: ``territory_e164``), at well
    over a million numbers a second on the common shapes; what the fast path does not
    recognise is handed to ``phonenumbers`` itself.
    """
    return normalise_batch(raws, default_region)


def normalise(raw: str, default_region: str = "FR") -> str | None:
    """E.164 of ``raw`` (any user format), or None when it is not a valid number."""
    return normalise_batch((raw,), default_region)[0]


def parse_phone(raw: str, default_region: str = "FR") -> PhoneNumber:
    """Parse a number written in any user format into a ``PhoneNumber``.

    ``default_region`` is the ISO code assumed for numbers written without a country code.
    Raises ``InvalidPhoneNumber(raw, reason)`` with a reason a person can act on.
    """
    e164 = normalise(raw, default_region)
    if e164 is None:
        raise InvalidPhoneNumber(raw, invalid_reason(raw, default_region))
    return describe(e164)


def describe(e164: str) -> PhoneNumber:
    """Region, time zones and kind of an already-normalised E.164 number.

    Exactly ``describe_reference``'s answers (``phonenumbers`` itself), a few microseconds a
    number on the common shapes: the library's metadata compiled per country code
    (``phone_describe``); anything the fast path does not take goes to the reference.
    Raises ``InvalidPhoneNumber`` when ``e164`` is not a valid number written in E.164.
    """
    fields = describe_fields(e164)
    if fields is None:
        return describe_reference(e164)  # which also says why an input is not E.164
    return PhoneNumber(e164, *fields)


def describe_many(e164s: Iterable[str]) -> list[PhoneNumber]:
    """``describe`` of each number, in order; raises on the first invalid one."""
    return [describe(e164) for e164 in e164s]


@lru_cache(maxsize=1 << 12)
def describe_reference(e164: str) -> PhoneNumber:
    """``describe`` by plain ``phonenumbers``: the reference the fast path is tested against.

    Memoised: only the numbers the fast path leaves (unusual or invalid ones) come here.
    """
    if not (e164.startswith("+") and e164[1:].isascii() and e164[1:].isdigit()):
        raise InvalidPhoneNumber(e164, "not in E.164 form (+ and digits only)")
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhoneNumber(e164, _parse_error_reason(error, None)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(e164, _invalid_reason(number))
    canonical = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if canonical != e164:
        raise InvalidPhoneNumber(e164, f"not in E.164 form (expected {canonical})")
    region = str(phonenumbers.region_code_for_number(number))
    kind = _kind_name(phonenumbers.number_type(number))
    zones = narrow_zones(tuple(timezone.time_zones_for_number(number)), region)
    return PhoneNumber(e164=e164, region=region, time_zones=zones, kind=kind)


@cache
def _kind_name(kind: int) -> str:
    for name in dir(PhoneNumberType):
        if name.isupper() and getattr(PhoneNumberType, name) == kind:
            return name.lower()
    return "unknown"  # pragma: no cover - every type has a name


def invalid_reason(raw: str, default_region: str) -> str:
    """Why ``raw`` is not a valid number, in words a person can act on."""
    if not raw.strip():
        return "empty"
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as error:
        return _parse_error_reason(error, default_region)
    reason = _invalid_reason(number)
    if number.country_code == 33 and default_region == "FR":
        national = phonenumbers.national_significant_number(number)
        # Only the codes whose numbers can have this many digits (a valid number always has
        # one of its territory's possible lengths): most junk is tried against none. The
        # fast path answers as reference_e164 does, in one pass for the codes left.
        candidates = [
            f"+{code}{national}"
            for code in _FR_OVERSEAS_CODES
            if len(national) in _possible_lengths(code)
        ]
        for overseas in normalise_batch(candidates, None) if candidates else ():
            if overseas is not None:
                reason += f" (if it is an overseas number, write it {overseas})"
                break
    return reason


@cache
def _possible_lengths(code: int) -> frozenset[int]:
    """Every national number length possible for the country code (its regions' union)."""
    lengths: set[int] = set()
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ()):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is None or metadata.general_desc is None:
            return frozenset(range(1, 18))  # pragma: no cover - unknown: try them all
        lengths.update(metadata.general_desc.possible_length or range(1, 18))
    return frozenset(lengths)


def _parse_error_reason(error: phonenumbers.NumberParseException, region: str | None) -> str:
    kind = error.error_type
    if kind == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        if region is None or region not in phonenumbers.SUPPORTED_REGIONS:
            return "no country code (write it with +) and no known default region"
        return "unknown country code"
    if kind == phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD:
        return "too short after the international prefix"
    if kind == phonenumbers.NumberParseException.TOO_SHORT_NSN:
        return "too short"
    if kind == phonenumbers.NumberParseException.TOO_LONG:
        return "too long"
    return "not a phone number"


def _invalid_reason(number: phonenumbers.PhoneNumber) -> str:
    region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    where = "" if region in ("ZZ", "001") else f" for {region}"
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == phonenumbers.ValidationResult.TOO_SHORT:
        return "too short"
    if possible == phonenumbers.ValidationResult.TOO_LONG:
        return "too long"
    if possible == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        return "unknown country code"
    if possible == phonenumbers.ValidationResult.INVALID_LENGTH:
        return f"wrong number of digits{where}"
    return f"not a valid number{where}"
