"""Composition: the exact SMS that leaves, and the bulk Composer agreeing with it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopsms.domain.compose import Composer, compose
from stopsms.domain.mention import AccountType, MentionStyle, MessageType
from stopsms.domain.template import Template
from stopsms.domain.text import Encoding, Replacement


def test_marketing_fr() -> None:
    m = compose("Soldes -20% ce week-end !")
    assert m.text == "Soldes -20% ce week-end ! STOP 36034"
    assert (m.encoding, m.units, m.segments) == (Encoding.GSM7, 36, 1)
    assert m.stop_mention == "STOP 36034"
    assert m.warnings == ()


def test_mention_pushes_the_message_into_a_second_part() -> None:
    m = compose("a" * 150)
    assert (m.units, m.segments) == (161, 2)
    assert "the STOP mention pushes the message into a second part" in m.warnings


def test_mention_counted_in_units_for_link_regions() -> None:
    m = compose("Promo", region="NC")
    assert m.text == "Promo STOP: https://stopsms.invalid/u"
    assert m.units == len(m.text)


def test_existing_mention_is_kept_once() -> None:
    m = compose("Promo STOP au 36 034")
    assert m.text == "Promo STOP au 36 034"
    assert m.stop_mention == "STOP au 36 034"
    assert "already ends with" in m.mention_reason


@pytest.mark.parametrize(
    "text",
    ["Promo Stop SMS", "Promo STOP au 36173", "Promo STOP 00000", "Promo STOP: https://a.fr/u"],
)
def test_a_mention_that_would_not_work_is_followed_by_the_accounts_own(text: str) -> None:
    # Issue 12: a text (or a merge field) ending with "Stop SMS", another shortcode or another
    # link kept that mention, so the SMS left without a STOP that reaches the account.
    m = compose(text)
    assert m.text == f"{text} STOP 36034"
    assert m.stop_mention == "STOP 36034"


def test_a_merge_field_ending_with_a_foreign_mention_gets_the_accounts_own() -> None:
    composer = Composer("Bonjour {first_name}")
    for values in ({"first_name": "Marc Stop SMS"}, {"first_name": "Marc STOP 36173"}):
        assert composer.compose_fast(values)[0] == f"Bonjour {values['first_name']} STOP 36034"
        assert composer.compose(values).text.endswith(" STOP 36034")
    same = {"first_name": "Marc STOP 36034"}
    assert composer.compose_fast(same)[0] == "Bonjour Marc STOP 36034"


def test_informative_from_notification_account_without_mention() -> None:
    m = compose(
        "Votre code : 123456",
        message_type=MessageType.INFORMATIVE,
        account_type=AccountType.NOTIFICATION,
        mention_enabled=False,
    )
    assert m.text == "Votre code : 123456"
    assert m.stop_mention is None


def test_ucs2_warning_names_the_character_and_the_parts() -> None:
    body = "C’est le Black Friday " + "x" * 100  # 122 chars: 2 UCS-2 parts, 1 in GSM-7
    m = compose(body)
    assert m.encoding is Encoding.UCS2
    assert m.segments == 2
    assert m.warnings[0].startswith("’ forces UCS-2: 2 parts instead of 1 part")


def test_smart_encoding_fixes_the_apostrophe() -> None:
    m = compose("C’est le Black Friday " + "x" * 100, smart_encoding=True)
    assert m.encoding is Encoding.GSM7
    assert m.segments == 1
    assert m.replacements == (Replacement("’", "'", 1),)
    assert any("smart encoding replaced" in w for w in m.warnings)


def test_smart_encoding_euro_counts_the_mention() -> None:
    body = "x" * 145 + " 10€"  # with " STOP 36034": 161 septets, 160 once € → E
    assert compose(body).segments == 2
    m = compose(body, smart_encoding=True)
    assert m.text == "x" * 145 + " 10E STOP 36034"
    assert m.segments == 1


def test_empty_body_gets_a_warning() -> None:
    m = compose("")
    assert m.text == "STOP 36034"
    assert "the message body is empty" in m.warnings


def test_composer_static_and_personalised() -> None:
    c = Composer("Bonjour {prenom}, -20% chez {societe} !")
    assert c.compose_fast({"first_name": "Jean", "company": "ACME"}) == (
        "Bonjour Jean, -20% chez ACME ! STOP 36034",
        Encoding.GSM7,
        41,
        1,
    )
    assert c.compose_fast({"prenom": "Noël"}, "NC")[1] is Encoding.UCS2
    static = Composer("Promo")
    assert static.compose({}) == compose("Promo")
    assert static.compose_many([{}, {}], "BE") == [("Promo STOP 36034", Encoding.GSM7, 16, 1)] * 2


_PIECES = st.sampled_from(
    [
        "Promo ",
        " ",
        "STOP",
        "stop",
        " 36034",
        " au ",
        "SMS",
        "\n",
        "€",
        "’",
        "😀",
        "x" * 70,
        "é",
        ":",
        " https://a.fr/u",
        ".",
        "-",
        "{{",
        "}}",
        "%",
        "{prenom}",
        "{societe}",
        "{code}",
    ]
)
_VALUES = st.sampled_from(["", "Jean", "Noël", "STOP", "stop au", "36034", "€€", "x" * 80, "%s"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_PIECES, max_size=8).map("".join),
    st.fixed_dictionaries({"first_name": _VALUES, "code": _VALUES}, optional={"company": _VALUES}),
    st.sampled_from(["FR", "NC", "BE"]),
    st.booleans(),
    st.sampled_from([MessageType.MARKETING, MessageType.INFORMATIVE]),
)
def test_composer_agrees_with_compose(
    source: str,
    values: dict[str, str],
    region: str,
    smart: bool,
    message_type: MessageType,
) -> None:
    template = Template.parse(source, custom_fields=["code"])
    style = MentionStyle(format="STOP au {shortcode}")
    kwargs = {
        "message_type": message_type,
        "style": style,
        "account_type": AccountType.NOTIFICATION,
        "mention_enabled": False,
        "smart_encoding": smart,
    }
    composer = Composer(template, **kwargs)  # type: ignore[arg-type]
    expected = compose(template.render(values), region=region, **kwargs)  # type: ignore[arg-type]
    assert composer.compose_fast(values, region) == (
        expected.text,
        expected.encoding,
        expected.units,
        expected.segments,
    )
    assert composer.compose(values, region) == expected
