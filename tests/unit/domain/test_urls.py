"""Links and their domains in a message (rule 10, anti-smishing)."""

from __future__ import annotations

import pytest

from stopsms.domain.urls import domain_allowed, find_links, normalise_domain, unverified_domains


@pytest.mark.parametrize(
    ("text", "domains"),
    [
        ("Promo sur https://shop.example.fr/x?a=1. Vite", ["shop.example.fr"]),
        ("voir www.Example.com!", ["www.example.com"]),
        ("bit.ly/abc et M.Durand paie 10.50€", ["bit.ly"]),
        ("Go to boutique.fr/promo.", ["boutique.fr"]),
        ("HTTP://user@Evil.COM/login", ["evil.com"]),
        ("deux liens: a.fr et https://b.com", ["a.fr", "b.com"]),
        ("example.fr.evil.com/login", ["example.fr.evil.com"]),
    ],
)
def test_links_are_found(text: str, domains: list[str]) -> None:
    assert [link.domain for link in find_links(text)] == domains


@pytest.mark.parametrize(
    "text",
    [
        "Bonjour Marie, -20% ce week-end",
        "écrivez à jean@example.fr",
        "Rdv.demain 10.50",
        "a.b.c",
        "",
    ],
)
def test_no_link(text: str) -> None:
    assert find_links(text) == []


def test_link_text_stops_before_closing_punctuation() -> None:
    (link,) = find_links("(voir https://example.fr/p?q=1).")
    assert link.text == "https://example.fr/p?q=1"
    assert link.start == 6


def test_subdomains_are_covered_never_look_alikes() -> None:
    assert domain_allowed("shop.example.fr", ["example.fr"])
    assert domain_allowed("EXAMPLE.fr.", ["www.example.fr"])
    assert not domain_allowed("example.fr.evil.com", ["example.fr"])
    assert not domain_allowed("badexample.fr", ["example.fr"])
    assert not domain_allowed("example.fr", ["shop.example.fr"])


def test_homographs_compare_in_idna_form() -> None:
    assert normalise_domain("ехample.fr").startswith("xn--")  # Cyrillic "е" and "х"
    assert unverified_domains("https://ехample.fr/x", ["example.fr"]) == [
        normalise_domain("ехample.fr")
    ]


def test_unverified_domains_are_listed_once_and_ignore_the_unsubscribe_page() -> None:
    text = "https://evil.com/a https://evil.com/b https://ok.fr STOP: https://stop.example/u"
    assert unverified_domains(text, ["ok.fr"], ignore=["stop.example"]) == ["evil.com"]
