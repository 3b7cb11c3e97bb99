"""Property: a text passes rule 10 only if every host a WHATWG parser resolves is verified.

Texts are built from link-shaped tokens (schemes written every way a browser accepts,
user names, fragments, backslashes, IP addresses in every form, Unicode dots and digits, every
suffix of the Public Suffix List) between words without links. The oracle knows which tokens
are links and asks ada-url, the WHATWG parser, where each leads, written as it is (a bare one
as ``http://`` + token); it shares nothing with the implementation but the parser and the
definition of "verified" (``shop.fr`` or a subdomain; never an IP address). One decision is
the project's, not the parser's: a bare ``local@host`` with nothing after is an e-mail
address, not a link.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import ada_url
import tldextract
from hypothesis import given, settings
from hypothesis import strategies as st

from stopsms.domain.urls import unverified_domains

VERIFIED = "shop.fr"
# Every suffix of the bundled list (wildcards made concrete), read independently.
SUFFIXES = sorted(
    {
        suffix.replace("*.", "x.").lstrip("!")
        for suffix in tldextract.TLDExtract(cache_dir=None, suffix_list_urls=()).tlds
    }
)
DOTS = st.sampled_from([".", ".", ".", "。", "．", "｡"])
LABEL = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_éеаßЕｅｖｉｌ１２",
    min_size=1,
    max_size=8,
)
FILLER = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCÉéèàçëï0123456789!,%€-'",
    min_size=1,
    max_size=10,
)
FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass(frozen=True)
class Token:
    text: str
    link: bool  # False: a word, or an e-mail address
    scheme: bool = False


def _dotted(parts: list[str], dots: list[str]) -> str:
    out = parts[0]
    for part, dot in zip(parts[1:], dots, strict=False):
        out += dot + part
    return out


@st.composite
def domain_hosts(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(
            st.sampled_from(
                [
                    "shop.fr",
                    "www.shop.fr",
                    "a.shop.fr",
                    "SHOP.FR",
                    "ｓｈｏｐ.fr",
                    "shop.fr.evil.com",
                ]
            )
        )
    labels = draw(st.lists(LABEL, min_size=1, max_size=2))
    suffix = draw(st.sampled_from(SUFFIXES))
    parts = [*labels, *suffix.split(".")]
    return _dotted(parts, [draw(DOTS) for _ in parts])


@st.composite
def ipv4_hosts(draw: st.DrawFn, *, dotted_only: bool) -> str:
    n = draw(st.integers(0, 2**32 - 1))
    quad = [(n >> shift) & 255 for shift in (24, 16, 8, 0)]
    forms = [
        ".".join(map(str, quad)),
        ".".join(hex(q) for q in quad),
        ".".join(oct(q).replace("0o", "0") for q in quad),
    ]
    if not dotted_only:
        forms += [str(n), hex(n), f"{quad[0]}.{n & 0xFFFFFF}"]
    host = draw(st.sampled_from(forms))
    if draw(st.booleans()):
        host = host.translate(FULLWIDTH_DIGITS)
    return host.replace(".", draw(DOTS))


IPV6 = st.sampled_from(["[::1]", "[2001:db8::1]", "[::ffff:127.0.0.1]", "[fe80::1%25x]"])
TAILS = st.sampled_from(
    [
        "",
        "/x",
        "/",
        "?@shop.fr",
        "#@shop.fr",
        "\\@shop.fr",
        "/@shop.fr",
        "@shop.fr",
        "?q=evil.com",
        ":8080/x",
        "？@shop.fr",
        "／@shop.fr",
        "＠shop.fr",
        "\u00ad",
    ]
)
SCHEMES = st.sampled_from(["http", "https", "HTTPS", "ftp", "ws", "wss", "ｈｔｔｐｓ"])
SEPARATORS = st.sampled_from(["://", ":\\\\", ":/\\", ":", "：／／", "://", "://"])
USERINFO = st.sampled_from(["", "", "shop.fr@", "user:pw@", "evil.com@", "shop.fr？@", "x＠"])


@st.composite
def link_tokens(draw: st.DrawFn) -> Token:
    if draw(st.booleans()):
        host = draw(st.one_of(domain_hosts(), ipv4_hosts(dotted_only=False), IPV6))
        text = draw(SCHEMES) + draw(SEPARATORS) + draw(USERINFO) + host + draw(TAILS)
        return Token(text, link=True, scheme=True)
    host = draw(st.one_of(domain_hosts(), ipv4_hosts(dotted_only=True), IPV6))
    text = host + draw(TAILS)
    email = re.fullmatch(r"[^@/\\?#:\s]+@[^@/\\?#:\s]+", unicodedata.normalize("NFKC", text))
    return Token(text, link=email is None)


def oracle_hosts(token: Token) -> list[tuple[str, bool]]:
    """Where a browser goes from ``token``: ``(host, is an IP address)``; none if no URL."""
    try:
        url = ada_url.URL(token.text if token.scheme else "http://" + token.text)
    except ValueError:
        return []
    if not url.hostname:
        return []
    return [(url.hostname, url.host_type != ada_url.HostType.DEFAULT)]


def oracle_verified(host: str, ip: bool) -> bool:
    name = host.rstrip(".")
    return not ip and (name == VERIFIED or name.endswith("." + VERIFIED))


TEXTS = st.lists(
    st.one_of(FILLER.map(lambda w: Token(w, link=False)), link_tokens()), min_size=1, max_size=6
)


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_a_text_passes_only_if_every_host_is_verified(tokens: list[Token]) -> None:
    text = " ".join(token.text for token in tokens)
    hosts = [host for token in tokens if token.link for host in oracle_hosts(token)]
    accepted = not unverified_domains(text, [VERIFIED])
    if accepted:
        assert all(oracle_verified(host, ip) for host, ip in hosts), (text, hosts)


CLEAN = st.builds(
    lambda scheme, host, tail: scheme + host + tail,
    st.sampled_from(["", "https://", "http://", "HTTPS://"]),
    st.sampled_from(["shop.fr", "www.shop.fr", "promo.shop.fr", "ｓｈｏｐ。fr"]),
    st.sampled_from(["", "/", "/soldes", "?q=1", "#top", "/a.html?b=c.d"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(FILLER, CLEAN), min_size=1, max_size=6))
def test_links_to_verified_hosts_and_plain_words_pass(tokens: list[str]) -> None:
    """Not everything is refused: verified links among words without links pass."""
    assert unverified_domains(" ".join(tokens), [VERIFIED]) == []
