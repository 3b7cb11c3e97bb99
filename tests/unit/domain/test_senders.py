"""Rule 9: sender IDs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stopsms.domain.errors import InvalidSender
from stopsms.domain.senders import (
    SenderKind,
    effective_sender,
    generic_name,
    parse_sender,
    protected_brand,
)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("MaBoutique", SenderKind.ALPHANUMERIC),
        ("Shop24", SenderKind.ALPHANUMERIC),
        ("ABC", SenderKind.ALPHANUMERIC),
        ("ABCDEFGHIJK", SenderKind.ALPHANUMERIC),
        (" Boutique ", SenderKind.ALPHANUMERIC),
        ("36034", SenderKind.SHORTCODE),
        ("+33612345678", SenderKind.LONG_NUMBER),
        ("Freedom", SenderKind.ALPHANUMERIC),  # not FREE
        ("Cicada", SenderKind.ALPHANUMERIC),  # not CIC
        ("CAFE", SenderKind.ALPHANUMERIC),  # not CAF
    ],
)
def test_accepted(value: str, kind: SenderKind) -> None:
    sender = parse_sender(value)
    assert sender.value == value.strip()
    assert sender.kind is kind
    assert sender.numeric == (kind is not SenderKind.ALPHANUMERIC)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("AB", "3 to 11"),
        ("ABCDEFGHIJKL", "3 to 11"),
        ("Ma Boutique", "no spaces"),
        ("Boutiqué", "no accents"),
        ("12", "numeric sender"),
        ("+3361", "numeric sender"),
        ("123456789", "numeric sender"),
        ("SMS Info", "generic"),
        ("INFO", "generic"),
        ("sms", "generic"),
        ("NoReply", "generic"),
        ("TEST", "generic"),
        ("AMELI", "AMELI"),
        ("AME1I", "AMELI"),
        ("AmeliInfo", "AMELI"),
        ("Chr0nopost", "CHRONOPOST"),
        ("CPAMInfo", "CPAM"),
        ("PayPa1", "PAYPAL"),
    ],
)
def test_refused(value: str, reason: str) -> None:
    with pytest.raises(InvalidSender, match=reason) as caught:
        parse_sender(value)
    assert caught.value.value == value


def test_authorisation_lifts_generic_and_brand_not_format() -> None:
    assert parse_sender("AMELI", authorised=True).value == "AMELI"
    assert parse_sender("INFO", authorised=True).value == "INFO"
    with pytest.raises(InvalidSender):
        parse_sender("Ma Boutique", authorised=True)


def test_helpers() -> None:
    assert generic_name("Sms-Info")
    assert not generic_name("MaBoutique")
    assert protected_brand("La Poste") == "LAPOSTE"
    assert protected_brand("MaBoutique") is None


def test_effective_sender() -> None:
    allowed = {"MaBoutique"}
    assert effective_sender("MaBoutique", validated=False, allowed=allowed, shortcode="36034") == (
        "36034"
    )
    assert effective_sender("MaBoutique", validated=True, allowed=allowed, shortcode="36034") == (
        "MaBoutique"
    )
    assert effective_sender(None, validated=True, allowed=allowed, shortcode="36034") == "36034"
    assert effective_sender("36034", validated=True, allowed=(), shortcode="36034") == "36034"
    with pytest.raises(InvalidSender, match="Other"):
        effective_sender("Other", validated=True, allowed=allowed, shortcode="36034")


@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", max_size=14)
)
def test_format_rule_property(value: str) -> None:
    """Alphanumeric senders: accepted iff 3–11 characters with a letter (or refused by name)."""
    well_formed = 3 <= len(value) <= 11 and any(c.isalpha() for c in value)
    refused_by_name = generic_name(value) or protected_brand(value) is not None
    if well_formed and not refused_by_name:
        assert parse_sender(value).kind is SenderKind.ALPHANUMERIC
    elif value.isdigit() and 3 <= len(value) <= 8:
        assert parse_sender(value).kind is SenderKind.SHORTCODE
    else:
        with pytest.raises(InvalidSender):
            parse_sender(value)
