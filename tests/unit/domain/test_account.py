"""The account's rules read from its settings alone: no database (the record is the domain's)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from stopsms.domain.account import Account, PriceTable
from stopsms.domain.mention import MentionStyle

SHOP = Account(
    id=1,
    name="shop",
    type="marketing",
    validated=True,
    shortcode="36034",
    mention_format="STOP au {shortcode}",
    mention_enabled=True,
    unsubscribe_url=None,
    optout_scope="account",
    window_policy=None,
    brand="Boutique",
    confirmation_text="Vous ne recevrez plus de SMS de {brand}.",
    balance_millicredits=0,
    alert_threshold_millicredits=0,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def test_the_mention_style_is_built_from_the_format_shortcode_and_page() -> None:
    assert SHOP.mention_style() == MentionStyle(format="STOP au {shortcode}", shortcode="36034")
    assert SHOP.mention == "STOP au 36034"
    with_page = replace(SHOP, unsubscribe_url="https://shop.fr/stop")
    assert with_page.mention_style().link_mention() == "STOP: https://shop.fr/stop"
    assert with_page.mention == "STOP au 36034"  # the shortcode mention, page or not


def test_the_confirmation_names_the_brand() -> None:
    assert SHOP.confirmation == "Vous ne recevrez plus de SMS de Boutique."


def test_a_price_is_the_region_s_else_the_fallback() -> None:
    prices = PriceTable(by_region={"BE": 90}, fallback_millicredits=50)
    assert (prices.per_part("BE"), prices.per_part("FR"), prices.per_part(None)) == (90, 50, 50)
