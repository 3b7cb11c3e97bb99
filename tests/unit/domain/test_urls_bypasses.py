"""The walks around rule 10 found in issue 12 (item 13): each is refused now.

With only ``shop.fr`` verified, each text here was accepted before (every test fails on the
regular-expression check it replaced).
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from stopsms.domain import urls
from stopsms.domain.urls import domain_allowed, find_links, unverified_domains

VERIFIED = ["shop.fr"]


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("https://evil.com?@shop.fr", "evil.com"),
        ("https://evil.com#@shop.fr", "evil.com"),
        ("https://evil.com\\@shop.fr", "evil.com"),  # a backslash is a slash for http(s)
        ("https://evil.com:443\\@shop.fr", "evil.com"),
        ("http://2130706433/x", "127.0.0.1"),
        ("http://0x7f.1/x", "127.0.0.1"),
        ("http://0177.0.0.1/x", "127.0.0.1"),
        ("Soldes 127.0.0.1/x", "127.0.0.1"),
        ("https://evil。com", "evil.com"),  # ideographic full stop
        ("https://evil．com", "evil.com"),  # fullwidth full stop
        ("ｈｔｔｐｓ：／／ｅｖｉｌ．ｃｏｍ", "evil.com"),  # all fullwidth
        ("evil.sbs/x", "evil.sbs"),
        ("evil.cfd", "evil.cfd"),
        ("evil.lol", "evil.lol"),
        ("evil.xn--p1ai", "evil.xn--p1ai"),
        ("evil.рф", "evil.xn--p1ai"),
        ("Soldes:evil.com", "evil.com"),
        ("https:evil.com", "evil.com"),  # no slashes: still http(s) for a browser
        ("http://[::1]/x", "[::1]"),
        ("Soldes [2001:db8::1]", "[2001:db8::1]"),
        ("https://shop.fr？@evil.com", "evil.com"),  # no delimiter for a browser as written
        ("shop.fr@evil.com/login", "evil.com"),
        ("evil.com@shop.fr", "evil.com"),  # the user name that a reader sees
        ("https://shop.fr/r?u=https://evil.com", "evil.com"),
        ("ev\u00adil.com", "evil.com"),  # a soft hyphen is invisible and ignored
        ("shop.fr.evil.com/login", "shop.fr.evil.com"),
    ],
)
def test_each_walk_around_is_refused(text: str, bad: str) -> None:
    assert bad in unverified_domains(f"Soldes {text} STOP", VERIFIED)


@pytest.mark.parametrize(
    "text",
    [
        "https://shop.fr/promo?x=1#top",
        "https://www.shop.fr",
        "promo.shop.fr/soldes",
        "HTTPS://SHOP.FR/X",
        "https://shop。fr/x",
        "(voir shop.fr).",
        "«shop.fr»",
        "https://shop.fr/catalogue/soldes.zip",  # a host-shaped path is no link
        "écrivez à jean@evil.com",  # an e-mail address is no link
        "Prix 19.99 € le 12.05.2025, v1.2.3",
        "Bonjour Gaëlle: -20% ce week-end.",
    ],
)
def test_verified_links_and_prose_pass(text: str) -> None:
    assert unverified_domains(text, VERIFIED) == []


def test_a_text_without_a_dot_is_checked() -> None:
    from stopsms.domain.urls import may_hold_link  # new with this check

    assert unverified_domains("http://2130706433", VERIFIED) == ["127.0.0.1"]
    assert unverified_domains("http://localhost:8000", VERIFIED) == ["localhost"]
    assert unverified_domains("Soldes evil。com", VERIFIED) == ["evil.com"]
    assert not may_hold_link("Bonjour Gaëlle, -20%")
    assert may_hold_link("evil。com")  # a fullwidth or ideographic dot is a dot
    assert not may_hold_link("http")
    assert may_hold_link("https：")


def test_an_ip_address_is_never_verified() -> None:
    assert not domain_allowed("127.0.0.1", ["127.0.0.1"])
    assert not domain_allowed("[::1]", ["[::1]"])
    assert domain_allowed("shop.fr.", ["SHOP.fr"])


def test_links_are_listed_once_by_host() -> None:
    links = find_links("https://evil.com/a evil.com/b https://shop.fr")
    assert [link.domain for link in links] == ["evil.com", "shop.fr"]
    assert links[0].start == 0


def test_the_suffix_list_is_read_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No socket is opened: the bundled snapshot is the list (a fresh extractor, so nothing
    cached from another test helps)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network used")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    urls.public_suffixes.cache_clear()
    urls._has_public_suffix.cache_clear()
    assert urls.public_suffixes().extract_str("evil.sbs").suffix == "sbs"
    assert unverified_domains("evil.cfd et evil.lol", VERIFIED) == ["evil.cfd", "evil.lol"]
