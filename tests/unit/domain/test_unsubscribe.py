"""The hosted unsubscribe page's link shape, its placeholder and the masked number."""

from __future__ import annotations

import pytest

from stopsms.domain.compose import compose
from stopsms.domain.mention import MentionStyle, placeholder_on_wire
from stopsms.domain.unsubscribe import (
    PLACEHOLDER_TOKEN,
    TOKEN_LENGTH,
    hosted_link,
    is_token,
    masked_number,
)


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+33612345678", "+33 6 •• •• •• 78"),
        ("+447911123456", "+44 7••• ••••56"),
        ("+262692123456", "+262 6•• •• •• 56"),
        ("+12015550123", "+1 2••-•••-••23"),
        ("+9991234567", "+••••••••67"),  # no such country: last two digits only
    ],
)
def test_the_number_is_masked_but_its_start_and_last_two_digits(e164: str, shown: str) -> None:
    assert masked_number(e164) == shown


def test_token_shape() -> None:
    assert is_token("3kT9xQ2bZa")
    assert not is_token(PLACEHOLDER_TOKEN)
    assert not is_token("3kT9xQ2bZ")  # one short
    assert not is_token("3kT9xQ2bZ-")  # not base62
    assert len(PLACEHOLDER_TOKEN) == TOKEN_LENGTH
    assert hosted_link("https://sms.shop.fr/") == "https://sms.shop.fr/u/" + PLACEHOLDER_TOKEN


@pytest.mark.parametrize("text", ["Soldes -30%", "Soldes -30% 🎉 à bientôt"])
def test_the_placeholder_costs_what_a_token_costs(text: str) -> None:
    def composed(token: str) -> tuple[int, int]:
        style = MentionStyle(unsubscribe_url=hosted_link("https://sms.shop.fr", token))
        message = compose(text, region="GB", style=style)
        return message.units, message.segments

    assert composed(PLACEHOLDER_TOKEN) == composed("zZ09aAbB7x")


def test_the_guard_refuses_an_untokenised_link_and_a_preview_allows_it() -> None:
    untokenised = "Soldes STOP: " + hosted_link("https://sms.shop.fr")
    assert placeholder_on_wire(untokenised, "SHOP", substitution=False) == "no_unsubscribe_page"
    assert placeholder_on_wire(untokenised, "SHOP", substitution=False, tokens_to_come=True) is None
    tokenised = "Soldes STOP: " + hosted_link("https://sms.shop.fr", "zZ09aAbB7x")
    assert placeholder_on_wire(tokenised, "SHOP", substitution=False) is None
