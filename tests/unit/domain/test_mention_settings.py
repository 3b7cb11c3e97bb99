"""Issue 12 items 1–3 in the pure domain: formats, placeholders, the last check before the wire."""

from __future__ import annotations

import pytest

from stopsms.domain.mention import (
    PLACEHOLDER_URL,
    InvalidMentionFormat,
    MentionStyle,
    check_mention_format,
    existing_mention,
    is_placeholder_url,
    placeholder_on_wire,
    shortcode_refusal,
)


@pytest.mark.parametrize(
    "fmt",
    [
        "{shortcode}",  # the number alone: no STOP
        "Reply NO",
        "Pour arreter",
        "STOP SMS",  # a mention, but without the shortcode
        "STOP 36034",  # a literal: stale once the shortcode changes
        "STOP {shortcode} merci de votre visite",  # the mention is not at the end
        "STOP {shortcode} {brand}",
        "",
        "   ",
    ],
)
def test_a_format_that_is_not_a_stop_mention_with_the_shortcode_is_refused(fmt: str) -> None:
    with pytest.raises(InvalidMentionFormat) as refused:
        check_mention_format(fmt, "36034")
    assert "e.g. 'STOP {shortcode}'" in str(refused.value)


@pytest.mark.parametrize(
    "fmt",
    ["STOP {shortcode}", "STOP au {shortcode}", "Stop SMS au {shortcode}", "STOP: {shortcode}"],
)
def test_recognised_formats_are_accepted_and_give_the_mention(fmt: str) -> None:
    mention = check_mention_format(fmt, "36173")
    assert mention == MentionStyle(format=fmt, shortcode="36173").shortcode_mention()
    found = existing_mention("Promo " + mention)
    assert found is not None
    assert "36173" in found


@pytest.mark.parametrize(
    "url",
    [
        PLACEHOLDER_URL,
        "https://unsubscribe.example/x",
        "https://example.com/stop",
        "http://www.example.org/u",
        "https://shop.test/u",
        "https://localhost:8000/u",
        "https://stop.localhost/u",
        "ftp://shop.fr/u",
        "https:///nohost",
    ],
)
def test_placeholder_urls(url: str) -> None:
    assert is_placeholder_url(url)
    assert not MentionStyle(unsubscribe_url=url).link_works


@pytest.mark.parametrize("url", ["https://shop.fr/stop-sms", "http://counterexample.com/u"])
def test_real_urls(url: str) -> None:
    assert not is_placeholder_url(url)


def test_placeholder_shortcode_only_with_a_substituting_provider_and_an_alias() -> None:
    def refusal(sender: str, *, substitution: bool, mention: bool = True) -> str | None:
        return shortcode_refusal(
            shortcode="00000",
            sender=sender,
            mention=mention,
            substitution=substitution,
            alphanumeric=sender.isalpha(),
        )

    assert refusal("BOUTIQUE", substitution=True) is None
    assert "does not replace" in (refusal("BOUTIQUE", substitution=False) or "")
    assert "not an alphanumeric alias" in (refusal("+33612345678", substitution=True) or "")
    # Never from 00000, substitution or not, mention or not.
    for substitution in (False, True):
        for mention in (False, True):
            why = refusal("00000", substitution=substitution, mention=mention)
            assert why is not None
            assert "nobody can reply" in why
    # No mention carried (notification account, mention off): the placeholder does not matter.
    assert refusal("BOUTIQUE", substitution=False, mention=False) is None


@pytest.mark.parametrize(
    ("text", "sender", "substitution", "expected"),
    [
        ("Promo STOP 00000", "BOUTIQUE", False, "placeholder_shortcode"),
        ("Promo STOP 00000", "BOUTIQUE", True, None),
        ("Promo STOP 00 000", "+33612345678", True, "placeholder_shortcode"),
        ("Code 1234", "00000", True, "placeholder_shortcode"),
        ("Promo STOP: https://stopsms.invalid/u", "BOUTIQUE", True, "no_unsubscribe_page"),
        ("Promo STOP:https://example.com/u", "BOUTIQUE", False, "no_unsubscribe_page"),
        ("Promo STOP: https://shop.fr/u", "BOUTIQUE", False, None),
        ("Promo STOP 36034", "BOUTIQUE", False, None),
        ("Promo example.fr STOP 100000", "BOUTIQUE", False, None),
    ],
)
def test_the_last_check_before_the_wire(
    text: str, sender: str, substitution: bool, expected: str | None
) -> None:
    assert placeholder_on_wire(text, sender, substitution=substitution) == expected
