"""The STOP mention (rules 1 and 2)."""

from __future__ import annotations

import re

import pytest

from stopsms.domain.mention import (
    AccountType,
    MentionStyle,
    MessageType,
    append_mention,
    decide_mention,
    ends_with_mention,
    existing_mention,
)

SHORTCODE = ["FR", "RE", "GP", "MQ", "GF", "YT", "PM", "BL", "MF", "BE", "fr"]
LINK = ["NC", "PF", "WF", "DE", "US", "GB", ""]


@pytest.mark.parametrize("region", SHORTCODE)
def test_marketing_in_shortcode_regions_gets_stop_shortcode(region: str) -> None:
    decision = decide_mention(region, MessageType.MARKETING)
    assert decision.mention == "STOP 36034"
    assert "STOP + shortcode" in decision.reason
    assert "operators route a STOP reply to the shortcode" in decision.reason


@pytest.mark.parametrize("region", LINK)
def test_marketing_elsewhere_gets_the_unsubscribe_link(region: str) -> None:
    assert (
        decide_mention(region, MessageType.MARKETING).mention == "STOP: https://stopsms.invalid/u"
    )


def test_formats_per_account() -> None:
    au = MentionStyle(format="STOP au {shortcode}", shortcode="36173")
    assert decide_mention("FR", MessageType.MARKETING, au).mention == "STOP au 36173"
    placeholder = MentionStyle(format="STOP 00000")
    assert decide_mention("FR", MessageType.MARKETING, placeholder).mention == "STOP 00000"
    link = MentionStyle(link_format="Desinscription: {url}", unsubscribe_url="https://x.fr/u")
    assert (
        decide_mention("NC", MessageType.MARKETING, link).mention
        == "Desinscription: https://x.fr/u"
    )


def test_marketing_account_informative_still_carries_it() -> None:
    # Seed 001: only a notification account may send without the mention, whatever the toggle.
    decision = decide_mention("FR", MessageType.INFORMATIVE, mention_enabled=False)
    assert decision.mention == "STOP 36034"
    assert "marketing account" in decision.reason


def test_marketing_message_from_notification_account_carries_it() -> None:
    decision = decide_mention(
        "FR", MessageType.MARKETING, account_type=AccountType.NOTIFICATION, mention_enabled=False
    )
    assert decision.mention == "STOP 36034"


def test_notification_account_informative_follows_its_toggle() -> None:
    on = decide_mention("FR", MessageType.INFORMATIVE, account_type=AccountType.NOTIFICATION)
    assert on.mention == "STOP 36034"
    off = decide_mention(
        "FR", MessageType.INFORMATIVE, account_type=AccountType.NOTIFICATION, mention_enabled=False
    )
    assert off.mention is None
    assert off.reason == "informative message from a notification account, mention off: no mention"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Soldes -20% STOP 36034", "STOP 36034"),
        ("Soldes stop au 36173", "stop au 36173"),
        ("Soldes Stop SMS", "Stop SMS"),
        ("Soldes STOP 00000", "STOP 00000"),
        ("Soldes STOP SMS au 36034 !", "STOP SMS au 36034"),
        ("Soldes (STOP 36034).  ", "STOP 36034"),
        ("Soldes\nSTOP 36 034", "STOP 36 034"),
        ("Promo stop: https://stopsms.invalid/u", "stop: https://stopsms.invalid/u"),
        ("Promo STOP www.example.fr/stop", "STOP www.example.fr/stop"),
        ("STOP 36034", "STOP 36034"),
    ],
)
def test_recognises_existing_mentions(text: str, found: str) -> None:
    assert existing_mention(text) == found
    assert ends_with_mention(text)


@pytest.mark.parametrize(
    "text",
    [
        "Ne vous arrêtez pas, don't stop",
        "Soldes non-stop 2024",
        "Soldes STOP",
        "Envoyez STOP au 36034 pour ne plus recevoir nos offres",
        "xSTOP 36034",
        "STOPSMS",
        "",
    ],
)
def test_does_not_see_a_mention_that_is_not_there(text: str) -> None:
    assert not ends_with_mention(text)


def test_long_link_mention_is_recognised() -> None:
    text = "x " * 100 + "STOP: https://example.fr/" + "a" * 400
    assert ends_with_mention(text)
    assert not ends_with_mention("x " + "a" * 600)


@pytest.mark.parametrize(
    "text",
    [
        "Promo -20% STOP 36034",
        "Promo stop au 36 034",
        "Promo Stop SMS au 36034",
        "Promo STOP 36034. ",
    ],
)
def test_never_appended_twice(text: str) -> None:
    assert append_mention(text, "STOP 36034") == (text, False)


def test_append_joins_with_one_space_or_newline() -> None:
    assert append_mention("Promo -20%", "STOP 36034") == ("Promo -20% STOP 36034", True)
    assert append_mention("Promo -20%   ", "STOP 36034") == ("Promo -20% STOP 36034", True)
    assert append_mention("Promo -20%\n", "STOP 36034") == ("Promo -20%\nSTOP 36034", True)
    assert append_mention("", "STOP 36034") == ("STOP 36034", True)
    final, _ = append_mention("Promo", "STOP 36034")
    assert append_mention(final, "STOP 36034") == (final, False)


@pytest.mark.parametrize("region", [*SHORTCODE, *LINK])
@pytest.mark.parametrize("message_type", list(MessageType))
@pytest.mark.parametrize("account_type", list(AccountType))
def test_every_reason_says_the_rule_in_words(
    region: str, message_type: MessageType, account_type: AccountType
) -> None:
    """Users do not have the design document: no "(rule 2)", the rule itself."""
    reason = decide_mention(region, message_type, account_type=account_type).reason
    assert re.search(r"\brules? \d", reason) is None, reason
    assert "route a STOP reply" in reason or "routes a STOP reply" in reason
