"""Encoding, units and parts (rule 13), checked against a straightforward reference."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopsms.domain.text import (
    GSM_BASIC,
    GSM_EXTENSION,
    Encoding,
    Replacement,
    gsm7_decode,
    gsm7_encode,
    is_gsm7,
    measure,
    smart_encode,
    split_parts,
    ucs2_characters,
)

_BASIC = set(GSM_BASIC) - {"\x1b"}


def reference_parts(text: str) -> list[str]:
    """The obvious per-character algorithm, kept deliberately naive."""
    gsm = all(c in _BASIC or c in GSM_EXTENSION for c in text)
    if gsm:
        costs = [2 if c in GSM_EXTENSION else 1 for c in text]
        single, limit = 160, 153
    else:
        costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
        single, limit = 70, 67
    if sum(costs) <= single:
        return [text]
    parts, current, used = [], "", 0
    for c, cost in zip(text, costs, strict=True):
        if used + cost > limit:
            parts.append(current)
            current, used = "", 0
        current += c
        used += cost
    parts.append(current)
    return parts


def test_empty_text_is_one_part_of_zero_units() -> None:
    seg = measure("")
    assert (seg.encoding, seg.units, seg.segments) == (Encoding.GSM7, 0, 1)
    assert split_parts("") == [""]


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, Encoding.GSM7, 160, 1),
        ("a" * 161, Encoding.GSM7, 161, 2),
        ("a" * 306, Encoding.GSM7, 306, 2),
        ("a" * 307, Encoding.GSM7, 307, 3),
        ("€" * 80, Encoding.GSM7, 160, 1),
        (
            "é è ù ì ò Ç Ø ø Å å Δ _ Φ Γ Λ Ω Π Ψ Σ Θ Ξ Æ æ ß É Ä Ö Ñ Ü § ¿ ä ö ñ ü à ¡ £ ¥ ¤",
            Encoding.GSM7,
            79,
            1,
        ),
        ("^{}\\[~]|€", Encoding.GSM7, 18, 1),
        ("é" * 70, Encoding.GSM7, 70, 1),
        ("ê" * 70, Encoding.UCS2, 70, 1),
        ("ê" * 71, Encoding.UCS2, 71, 2),
        ("ê" * 134, Encoding.UCS2, 134, 2),
        ("ê" * 135, Encoding.UCS2, 135, 3),
        ("😀" * 35, Encoding.UCS2, 70, 1),
        ("C’est l’été", Encoding.UCS2, 11, 1),
        ("back`tick", Encoding.UCS2, 9, 1),
        ("tab\there", Encoding.UCS2, 8, 1),
    ],
)
def test_measure(text: str, encoding: Encoding, units: int, segments: int) -> None:
    seg = measure(text)
    assert (seg.encoding, seg.units, seg.segments) == (encoding, units, segments)


@pytest.mark.parametrize("ext", ["€", "[", "]", "{", "}", "^", "~", "|", "\\"])
def test_escape_pair_at_the_153rd_septet_moves_to_the_next_part(ext: str) -> None:
    text = "a" * 152 + ext + "b" * 20  # the escape pair would take septets 153 and 154
    parts = split_parts(text)
    assert [len(p) for p in parts] == [152, 21]
    assert parts[1].startswith(ext)
    assert measure(text).segments == 2


def test_escape_pairs_pushing_a_third_part() -> None:
    # 306 septets fit in 2 parts of 153, but a pair straddling the first boundary costs one.
    text = "a" * 152 + "€" + "b" * 152
    assert measure(text).units == 306
    assert measure(text).segments == 3
    assert len(split_parts(text)) == 3


def test_emoji_at_a_ucs2_boundary_is_not_split() -> None:
    text = "ê" * 66 + "😀" + "ê" * 10  # the surrogate pair would take units 67 and 68
    parts = split_parts(text)
    assert parts == ["ê" * 66, "😀" + "ê" * 10]
    assert measure(text).segments == 2


def test_surrogate_pairs_pushing_a_third_part() -> None:
    text = "ê" * 66 + "😀" + "ê" * 66  # 134 units: 2 parts of 67 unless the pair is kept whole
    assert measure(text).units == 134
    assert measure(text).segments == len(split_parts(text)) == 3


def test_ucs2_characters_in_order_of_appearance() -> None:
    assert ucs2_characters("L’été « ok » ’ 😀 €") == ["’", "«", "»", "😀"]
    assert ucs2_characters("all GSM € [x]") == []


def test_gsm7_round_trip_and_bytes() -> None:
    assert gsm7_encode("@£$") == b"\x00\x01\x02"
    assert gsm7_encode("€[") == b"\x1b\x65\x1b\x3c"
    assert gsm7_encode("Hé Δ") == b"H\x05 \x10"
    assert gsm7_decode(gsm7_encode("Prix: 10€ [promo] ~ ok")) == "Prix: 10€ [promo] ~ ok"


def test_gsm7_encode_refuses_non_gsm() -> None:
    with pytest.raises(ValueError, match="U\\+2019"):
        gsm7_encode("l’été")


def test_gsm7_decode_refuses_8_bit_bytes() -> None:
    with pytest.raises(ValueError, match="0x80"):
        gsm7_decode(b"\x80")


def test_smart_encoding_replaces_lookalikes() -> None:
    result = smart_encode("C’est l’offre «\u00a0Noël\u00a0» … à 10\u202f€")
    assert result.text == "C'est l'offre \" Noel \" ... à 10 €"
    assert Replacement("’", "'", 2) in result.replacements
    assert Replacement("ë", "e", 1) in result.replacements
    assert measure(result.text).encoding is Encoding.GSM7


def test_smart_encoding_leaves_text_that_stays_ucs2() -> None:
    result = smart_encode("C’est la fête 🎉")
    assert result.text == "C’est la fête 🎉"
    assert result.replacements == ()


def test_smart_encoding_euro_only_when_it_saves_a_part() -> None:
    suffix = " STOP 36034"
    fits = "x" * 140 + " 10€"  # 140 + 1 + 2 + 2 + 11 = 156: one part already
    assert smart_encode(fits, suffix).text == fits
    tight = "x" * 145 + " 10€"  # 161 with €, 160 with E
    result = smart_encode(tight, suffix)
    assert result.text == "x" * 145 + " 10E"
    assert result.replacements == (Replacement("€", "E", 1),)
    hopeless = "x" * 170 + " 10€"  # two parts either way
    assert smart_encode(hopeless, suffix).replacements == ()


def test_smart_encoding_of_gsm_text_changes_nothing() -> None:
    assert smart_encode("Soldes -20% !").replacements == ()


_ALPHABET = st.sampled_from(
    ["a", "é", "€", "[", "^", "Δ", "ê", "’", "😀", "𝄞", " ", "\n", "\f", "`"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_ALPHABET, st.characters()), max_size=400).map("".join))
def test_parts_match_the_reference(text: str) -> None:
    parts = split_parts(text)
    assert parts == reference_parts(text)
    assert "".join(parts) == text
    seg = measure(text)
    assert seg.segments == len(parts)
    assert is_gsm7(text) == (seg.encoding is Encoding.GSM7)
    if seg.encoding is Encoding.GSM7:
        assert seg.units == len(gsm7_encode(text))
        assert all(len(gsm7_encode(p)) <= (160 if len(parts) == 1 else 153) for p in parts)
        assert gsm7_decode(gsm7_encode(text)) == text
    else:
        assert seg.units == len(text.encode("utf-16-le", "surrogatepass")) // 2
        limit = 70 if len(parts) == 1 else 67
        assert all(len(p.encode("utf-16-le", "surrogatepass")) // 2 <= limit for p in parts)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "€", "[", "é", "Δ"]), min_size=140, max_size=480).map("".join)
)
def test_gsm_parts_near_boundaries(text: str) -> None:
    assert split_parts(text) == reference_parts(text)
    assert measure(text).segments == len(reference_parts(text))
