"""Phone numbers: real cases, and the fast path against plain phonenumbers."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopsms.domain.errors import InvalidPhoneNumber
from stopsms.domain.phone import (
    PhoneNumber,
    describe,
    describe_many,
    describe_reference,
    normalise,
    normalise_many,
    parse_phone,
)
from stopsms.domain.phone_describe import describe_fields
from stopsms.domain.phone_fast import (
    claim_batch,
    national_territories,
    reference_e164,
    territory_e164,
)

FR_MOBILE = "+33612345678"


@pytest.mark.parametrize(
    "raw",
    [
        "06 12 34 56 78",
        "0612345678",
        "+33 6 12 34 56 78",
        "+33612345678",
        "0033612345678",
        "0033 6 12 34 56 78",
        "33612345678",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "(06) 12 34 56 78",
        "+33 (0)6 12 34 56 78",
        "  06 12 34 56 78  ",
        "06\u00a012\u00a034\u00a056\u00a078",
        "612345678",
    ],
)
def test_french_mobile_in_any_user_format(raw: str) -> None:
    assert normalise(raw) == FR_MOBILE
    assert parse_phone(raw) == PhoneNumber(FR_MOBILE, "FR", ("Europe/Paris",), "mobile")


@pytest.mark.parametrize(
    ("raw", "e164", "region", "zones", "kind"),
    [
        ("01 42 68 53 00", "+33142685300", "FR", ("Europe/Paris",), "fixed_line"),
        ("+262 692 12 34 56", "+262692123456", "RE", ("Indian/Reunion",), "mobile"),
        ("+262 262 12 34 56", "+262262123456", "RE", ("Indian/Reunion",), "fixed_line"),
        ("+262 639 01 23 45", "+262639012345", "YT", ("Indian/Mayotte",), "mobile"),
        ("+590 690 12 34 56", "+590690123456", "GP", ("America/Guadeloupe",), "mobile"),
        ("+596 696 12 34 56", "+596696123456", "MQ", ("America/Martinique",), "mobile"),
        ("+594 694 12 34 56", "+594694123456", "GF", ("America/Cayenne",), "mobile"),
        ("+508 55 12 34", "+508551234", "PM", ("America/Miquelon",), "mobile"),
        ("+687 75 12 34", "+687751234", "NC", ("Pacific/Noumea",), "mobile"),
        ("+32 470 12 34 56", "+32470123456", "BE", ("Europe/Brussels",), "mobile"),
        ("+1 212 555 0123", "+12125550123", "US", ("America/New_York",), "fixed_line_or_mobile"),
    ],
)
def test_territories_are_their_own_regions(
    raw: str, e164: str, region: str, zones: tuple[str, ...], kind: str
) -> None:
    assert parse_phone(raw) == PhoneNumber(e164, region, zones, kind)


def test_default_region_reads_national_numbers() -> None:
    assert normalise("0692 12 34 56", "RE") == "+262692123456"
    assert normalise("0470 12 34 56", "BE") == "+32470123456"
    assert normalise("(212) 555-0123", "US") == "+12125550123"


@pytest.mark.parametrize(
    ("raw", "e164", "region", "zone"),
    [
        ("0692 98 76 54", "+262692987654", "RE", "Indian/Reunion"),
        ("0693 11 22 33", "+262693112233", "RE", "Indian/Reunion"),
        ("0262 16 12 34", "+262262161234", "RE", "Indian/Reunion"),
        ("0639 01 23 45", "+262639012345", "YT", "Indian/Mayotte"),
        ("0269 60 12 34", "+262269601234", "YT", "Indian/Mayotte"),
        ("0690 00 12 34", "+590690001234", "GP", "America/Guadeloupe"),
        ("0590 20 12 34", "+590590201234", "GP", "America/Guadeloupe"),
        ("0696 20 12 34", "+596696201234", "MQ", "America/Martinique"),
        ("0596 30 12 34", "+596596301234", "MQ", "America/Martinique"),  # +33 596… is "valid"
        ("0694 20 12 34", "+594694201234", "GF", "America/Cayenne"),
        ("0594 10 12 34", "+594594101234", "GF", "America/Cayenne"),
        ("06 92 98 76 54", "+262692987654", "RE", "Indian/Reunion"),
    ],
)
def test_overseas_numbers_in_french_national_format_are_their_territorys(
    raw: str, e164: str, region: str, zone: str
) -> None:
    # phonenumbers alone reads +33 692… (invalid) or +33 596… (a number no one has).
    assert reference_e164(raw, "FR") in (None, "+33" + e164[4:])
    assert normalise(raw) == e164
    assert normalise_many([raw, "06 12 34 56 78"]) == [e164, FR_MOBILE]
    assert parse_phone(raw) == PhoneNumber(e164, region, (zone,), parse_phone(e164).kind)


def test_what_stays_french_or_invalid() -> None:
    # Written with a country code: as written.
    assert normalise("+33 5 96 30 12 34") == "+33596301234"
    assert normalise("0033 5 96 30 12 34") == "+33596301234"
    # Without its national prefix: as phonenumbers reads it.
    assert normalise("596301234") == "+33596301234"
    # National services (0800…) stay metropolitan although a territory's plan has 8xx numbers.
    assert normalise("0800 12 34 56") == "+33800123456"
    # Saint-Pierre's 6-digit numbers are not French national numbers: a truncated one is junk.
    assert normalise("04 30 12 3") is None
    # Another default region: plain phonenumbers.
    assert national_territories("BE") == ()
    assert normalise("0692 98 76 54", "BE") is None
    assert set(national_territories("FR")) == {"RE", "YT", "GP", "BL", "MF", "MQ", "GF", "PM"}


def test_the_fast_path_leaves_only_territory_numbers_to_the_fallback() -> None:
    raws = ["0596 30 12 34", "0692 98 76 54", "06 12 34 56 78", "01 42 68 53 00", "0800123456"]
    assert claim_batch(raws, "FR") == ["", "", FR_MOBILE, "+33142685300", "+33800123456"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("hello", "not a phone number"),
        ("06 12", "too short"),
        ("06 12 34 56 78 90 12", "too long"),
        ("+999 12 34 56 78", "unknown country code"),
        ("04 00 00 00 00", "not a valid number for FR"),
    ],
)
def test_invalid_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        parse_phone(raw)
    assert caught.value.value == raw
    assert caught.value.reason == reason


def test_describe_needs_a_valid_e164() -> None:
    assert describe(FR_MOBILE).region == "FR"
    for bad in ("0612345678", "+33 6 12 34 56 78", "+33400000000", "+330612345678"):
        with pytest.raises(InvalidPhoneNumber):
            describe(bad)


def test_time_zones_are_never_unknown() -> None:
    # International freephone numbers belong to no territory.
    freephone = describe("+80012345678")
    assert freephone.region == "001"
    assert freephone.time_zones == ("Etc/UTC",)


def test_bulk_handles_newlines_long_inputs_and_empties() -> None:
    long_raw = " " * 300 + "0612345678"
    raws = ["06 12 34 56 78", "06 12\n34 56 78", long_raw, "", "+33 6 12 34 56 78"]
    assert normalise_many(raws) == [territory_e164(raw, "FR") for raw in raws]
    assert normalise_many(raws) == [FR_MOBILE, None, None, None, FR_MOBILE]
    assert normalise_many([]) == []


def test_fast_path_claims_the_common_shapes() -> None:
    raws = ["06 12 34 56 78", "+33 (0)6 12 34 56 78", "0033 6 12 34 56 78", "33612345678"]
    raws += ["+32 470 12 34 56", "+262 692 12 34 56", "+1 212 555 0123", "+447400123456"]
    assert all(claim_batch(raws, "FR"))


# Property tests: whatever the shape, the fast path answers as plain phonenumbers does (with
# French overseas numbers written nationally read as their territory's: territory_e164).

REGIONS = ["FR", "RE", "YT", "GP", "MQ", "GF", "PM", "NC", "BE", "US", "CA", "GB", "DE"]
REGIONS += ["IT", "RU", "ES", "CH", "BR", "AR", "MX", "IN", "CN", "JP", "MA", "SN", "AU"]
TYPES = [
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
    phonenumbers.PhoneNumberType.VOIP,
]
EXAMPLES = [
    (n.country_code, phonenumbers.national_significant_number(n))
    for region in REGIONS
    for kind in TYPES
    if (n := phonenumbers.example_number_for_type(region, kind)) is not None
]
EXAMPLES += [(800, "12345678"), (882, "3421234567")]
SEPARATORS = [" ", " ", ".", "-", "(", ")", "/", "\u00a0", "\u202f", "\t", "x", "~", "+", "#"]


@st.composite
def digits_like(draw: st.DrawFn) -> tuple[str, str]:
    """A country code and national number near a real one (often valid, often not)."""
    cc, nsn = draw(st.sampled_from(EXAMPLES))
    digits = list(nsn)
    for _ in range(draw(st.integers(0, 2))):
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        where = draw(st.integers(0, len(digits)))
        digit = draw(st.sampled_from("0123456789"))
        if action == "replace" and where < len(digits):
            digits[where] = digit
        elif action == "drop" and where < len(digits):
            del digits[where]
        else:
            digits.insert(where, digit)
    return str(cc), "".join(digits)


@st.composite
def user_written(draw: st.DrawFn) -> str:
    cc, nsn = draw(digits_like())
    shape = draw(st.sampled_from(["+cc", "00cc", "cc", "0", "", "+cc0", "00cc0", "cc0", "1", "8"]))
    prefix = {"+cc": f"+{cc}", "00cc": f"00{cc}", "cc": cc, "+cc0": f"+{cc}0"}.get(shape)
    prefix = prefix if prefix is not None else {"00cc0": f"00{cc}0", "cc0": f"{cc}0"}.get(shape)
    digits = (prefix if prefix is not None else shape) + nsn
    chars = list(digits)
    for _ in range(draw(st.integers(0, 6))):
        where = draw(st.integers(0, len(chars)))
        chars.insert(where, draw(st.sampled_from(SEPARATORS)))
    return "".join(chars)


shapes = st.one_of(
    user_written(),
    st.text(alphabet="0123456789+ .-()/\u00a0", max_size=20),
    st.text(max_size=12),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raws=st.lists(shapes, max_size=12), region=st.sampled_from([*REGIONS, "ZZ", "001"]))
def test_fast_path_answers_as_phonenumbers(raws: list[str], region: str) -> None:
    expected = [territory_e164(raw, region) for raw in raws]
    claimed = claim_batch(raws, region)
    assert [c or None for c, e in zip(claimed, expected, strict=True) if c] == [
        e for c, e in zip(claimed, expected, strict=True) if c
    ]
    assert normalise_many(raws, region) == expected


@settings(max_examples=300, deadline=None)
@given(raw=user_written())
def test_single_normalise_answers_as_phonenumbers(raw: str) -> None:
    assert normalise(raw) == territory_e164(raw, "FR")


def test_fast_path_claims_most_valid_examples() -> None:
    # Every example number of the sample regions, written with "+": the fast path must take
    # them (else it is only fast on paper), and agree.
    raws = [f"+{cc} {nsn}" for cc, nsn in EXAMPLES]
    claimed = claim_batch(raws, "FR")
    expected = [territory_e164(raw, "FR") for raw in raws]
    assert [c or e for c, e in zip(claimed, expected, strict=True)] == expected
    assert sum(bool(c) for c in claimed) >= 0.9 * sum(e is not None for e in expected)


# describe: the compiled fast path against plain phonenumbers (describe_reference).

ALL_TYPES = [
    getattr(phonenumbers.PhoneNumberType, name)
    for name in dir(phonenumbers.PhoneNumberType)
    if name.isupper() and name != "UNKNOWN"
]
GEO_EXAMPLES = {
    (n.country_code, phonenumbers.national_significant_number(n))
    for region in phonenumbers.SUPPORTED_REGIONS
    for kind in ALL_TYPES
    if (n := phonenumbers.example_number_for_type(region, kind)) is not None
}
NON_GEO_EXAMPLES = {
    (cc, phonenumbers.national_significant_number(n))
    for cc in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    if (n := phonenumbers.example_number_for_non_geo_entity(cc)) is not None
}
ALL_EXAMPLES = sorted(GEO_EXAMPLES | NON_GEO_EXAMPLES)


def _outcome(describe_one: object, e164: str) -> PhoneNumber | str:
    assert callable(describe_one)
    try:
        found = describe_one(e164)
    except InvalidPhoneNumber as error:
        return f"invalid: {error.reason}"
    assert isinstance(found, PhoneNumber)
    return found


@st.composite
def e164_like(draw: st.DrawFn) -> str:
    """``+<cc><nsn>`` near an example number of any region and type (mostly valid)."""
    cc, nsn = draw(st.sampled_from(ALL_EXAMPLES))
    digits = list(nsn)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        where = draw(st.integers(0, len(digits)))
        digit = draw(st.sampled_from("0123456789"))
        if action == "replace" and where < len(digits):
            digits[where] = digit
        elif action == "drop" and where < len(digits):
            del digits[where]
        else:
            digits.insert(where, digit)
    return f"+{cc}{''.join(digits)}"


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e164=st.one_of(e164_like(), st.from_regex(r"\+[0-9]{1,18}", fullmatch=True)))
def test_describe_answers_as_phonenumbers(e164: str) -> None:
    expected = _outcome(describe_reference, e164)
    fields = describe_fields(e164)
    if fields is not None:  # the fast path only ever claims valid numbers, rightly
        assert PhoneNumber(e164, *fields) == expected
    assert _outcome(describe, e164) == expected


def test_describe_fast_path_takes_every_example_number() -> None:
    # Every example number of every region and type: the fast path takes (nearly) all of them
    # and answers as phonenumbers does.
    e164s = [f"+{cc}{nsn}" for cc, nsn in ALL_EXAMPLES]
    expected = [_outcome(describe_reference, e164) for e164 in e164s]
    fast = [describe_fields(e164) for e164 in e164s]
    for e164, fields, answer in zip(e164s, fast, expected, strict=True):
        if fields is not None:
            assert PhoneNumber(e164, *fields) == answer
    valid = [isinstance(answer, PhoneNumber) for answer in expected]
    taken = [fields is not None for fields in fast]
    assert sum(taken) >= 0.98 * sum(valid)
    assert [_outcome(describe, e164) for e164 in e164s] == expected


def test_describe_many_and_odd_inputs() -> None:
    numbers = ["+33612345678", "+262692123456", "+12125550123"]
    assert describe_many(numbers) == [describe_reference(e164) for e164 in numbers]
    assert describe_many([]) == []
    for odd in ("", "+", "33612345678", "+33 612345678", "+33612345678\n", "+٣٣612345678"):
        assert _outcome(describe, odd) == "invalid: not in E.164 form (+ and digits only)"
    # National prefix kept after the country code: not E.164, the reference says how it is.
    assert _outcome(describe, "+330612345678") == _outcome(describe_reference, "+330612345678")
