"""Links in a message and the hosts they lead to (DESIGN.md rule 10, anti-smishing).

A message is sent only if every host it links to is a verified domain of the account or a
subdomain of one (``shop.fr`` covers ``www.shop.fr`` and ``promo.shop.fr``, never the reverse,
never a look-alike such as ``shop.fr.evil.com``; a verified ``www.shop.fr`` covers ``shop.fr``
too). An IP-literal host (IPv4 in any form a browser accepts: ``127.0.0.1``, ``2130706433``,
``0x7f.1``, ``0177.0.0.1``; IPv6 ``[::1]``) is never verified.

What a link is, and where it leads, is read as a phone and its browser would:

1. **Normalisation.** The text is put in Unicode NFKC (fullwidth letters, digits and
   punctuation become ASCII), default-ignorable characters (soft hyphen, zero-width space…)
   are deleted, and the ideographic full stop ``。`` becomes ``.`` — what the WHATWG host
   parser does too (``https://evil。com`` leads to ``evil.com``).
2. **Candidates.** A link lies within a run of non-space characters: from each scheme
   (``https:``, ``http:``, ``ftp:``, ``ws(s):``, ``file:`` even without slashes, or any
   ``name://``), or from each bare host: dot-separated labels (letters, digits and marks of any
   script, ``-``, ``_``) ending in a suffix of the Public Suffix List (:mod:`tldextract`'s
   bundled snapshot, read offline: ``evil.sbs``, ``evil.xn--p1ai``, ``Soldes:evil.com``), a
   dotted IPv4 quad (``127.0.0.1``, ``0x7f.0.0.1``; ``10.50`` or ``19.99`` are prices), or a
   bracketed IPv6 address. A candidate runs to the end of its run, minus closing punctuation
   (``(voir shop.fr).`` ends before ``)``).
3. **Hosts.** Each candidate is parsed by a WHATWG URL parser (:mod:`ada_url`, the parser of
   Node.js; a bare one as ``http://`` + candidate), both as normalised and as written, so
   ``https://evil.com?@shop.fr``, ``https://evil.com#@shop.fr`` and ``https://evil.com\\@shop.fr``
   lead to ``evil.com``, and ``https://shop.fr？@evil.com`` (a fullwidth ``？``, no delimiter
   for a browser) to ``evil.com`` too. A bare host is also checked as written on its own, so
   ``evil.com@shop.fr`` (``evil.com`` as user name) is refused, as is a link to a link
   (``https://shop.fr/r?u=https://evil.com``). Hosts in a path, query or fragment are not links
   (``https://shop.fr/soldes.zip``).

An e-mail address (``jean@example.fr``, nothing after the host) is not a link. Labels that
carry symbols (``x✓shop.fr``) are read from the first letter after the symbol: such hosts
cannot be registered (IDNA 2008 allows letters, digits, marks and ``-`` only).

Cost: the text is scanned only when, normalised, it holds a ``.`` or a ``:`` (every link shape
needs one; NFKC never creates either from a combination of characters); an ASCII text is not
normalised. Measured (``timeit``, one core of the development machine, Python 3.11): a
160-character message with sentences but no link 2.4 µs (no ``.``/``:``: 0.3 µs); with one
verified link 12 µs; an accented (non-ASCII) sentence without link 5 µs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Final

import ada_url

if TYPE_CHECKING:
    from tldextract import TLDExtract

__all__ = [
    "Link",
    "domain_allowed",
    "find_links",
    "may_hold_link",
    "normalise_domain",
    "normalise_text",
    "public_suffixes",
    "unverified_domains",
]

# Default-ignorable code points (Unicode DerivedCoreProperties): invisible, deleted by the
# WHATWG host parser (UTS #46) or refused by it, so deleting them never hides a host.
_IGNORABLE: Final = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]")
_SCHEME: Final = re.compile(
    r"(?i)(?<![a-z0-9+.-])(?:(?:https?|ftp|wss?|file):|[a-z][a-z0-9+.-]*:(?=[/\\]{2}))"
)
# On the text's shape (see _shape): every host character is ASCII there.
_HOST: Final = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+")
_IPV6: Final = re.compile(r"\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]")
_IPV4_PART: Final = re.compile(r"(?i)0x[0-9a-f]*|[0-9]+")
_SPACE: Final = re.compile(r"\s")
_AUTHORITY_END: Final = re.compile(r"[/\\?#]")
_CLOSING: Final = ".,;:!?)]}>»\"'’”"
_HOST_TYPE_DOMAIN: Final = 0


@dataclass(frozen=True, slots=True)
class Link:
    """One host a text links to: where its candidate starts (in the normalised text), the
    candidate as normalised, the host (lower case, IDNA, no trailing dot) and its kind."""

    start: int
    text: str
    domain: str
    ip: bool = False
    resolved: bool = True  # False: the parser rejects this host-shaped text (never verified)


@cache
def public_suffixes() -> TLDExtract:
    """The Public Suffix List from :mod:`tldextract`'s bundled snapshot: no fetch, no cache
    on disk (``suffix_list_urls=()``, ``cache_dir=None``)."""
    from tldextract import TLDExtract

    return TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


@lru_cache(maxsize=4096)
def _has_public_suffix(host: str) -> bool:
    return bool(public_suffixes().extract_str(unicodedata.normalize("NFC", host)).suffix)


def normalise_text(text: str) -> str:
    """``text`` as link detection reads it: NFKC, default-ignorables deleted, ``。`` → ``.``."""
    if text.isascii():
        return text
    return _normalise(text)[0]


def _normalise(text: str) -> tuple[str, list[int] | None]:
    """The normalised text and, when offsets moved, each normalised character's index in
    ``text`` (``None``: same offsets, and ``text`` reads the same for a URL parser)."""
    whole = unicodedata.normalize("NFKC", text)
    if whole == text and not _IGNORABLE.search(text):
        return whole.replace("\u3002", "."), None
    chars: list[str] = []
    where: list[int] = []
    for i, char in enumerate(text):
        if _IGNORABLE.match(char):
            continue
        mapped = char if char.isascii() else unicodedata.normalize("NFKC", char)
        for piece in _IGNORABLE.sub("", mapped).replace("\u3002", "."):
            chars.append(piece)
            where.append(i)
    return "".join(chars), where


def may_hold_link(text: str) -> bool:
    """Whether ``text`` could be (part of) a link: normalised, it holds a ``.`` or a ``:``."""
    if not text.isascii():
        text = normalise_text(text)
    return "." in text or ":" in text


@lru_cache(maxsize=1024)
def _shape_char(char: str) -> str:
    if char.isspace():
        return " "
    return "a" if unicodedata.category(char)[0] in "LMN" else "!"


def _shape(text: str) -> str:
    """``text`` with every non-ASCII letter, mark or digit as ``a``, space as `` ``, other as
    ``!``: host labels become ASCII for :data:`_HOST`, offsets unchanged."""
    if text.isascii():
        return text
    return _NON_ASCII.sub(lambda m: _shape_char(m.group()), text)


def _parse(candidate: str) -> tuple[str, bool] | None:
    """The host a WHATWG parser resolves from ``candidate`` and whether it is an IP address;
    ``None`` when it is no URL or has no host."""
    try:
        url = ada_url.URL(candidate)
    except ValueError:
        return None
    host = url.hostname
    if not host:
        return None
    return host.rstrip(".") or host, url.host_type != _HOST_TYPE_DOMAIN


def _candidate_end(text: str, start: int, floor: int) -> int:
    """Where a candidate starting at ``start`` ends: its run of non-space characters, minus
    closing punctuation (never before ``floor``)."""
    space = _SPACE.search(text, start)
    end = space.start() if space else len(text)
    while end > floor and text[end - 1] in _CLOSING:
        end -= 1
    return end


def _is_ipv4_quad(labels: list[str]) -> bool:
    return len(labels) == 4 and all(_IPV4_PART.fullmatch(label) for label in labels)


def _is_email_domain(shape: str, start: int, end: int) -> bool:
    """``local@host`` with nothing link-like after the host."""
    if start < 2 or shape[start - 1] != "@" or shape[start - 2] in " !@":
        return False
    return end >= len(shape) or shape[end] not in "/\\?#:@["


def find_links(text: str) -> list[Link]:
    """Every host ``text`` links to, once each, in order of appearance (see the module doc)."""
    if text.isascii():
        norm, where = text, None
    else:
        norm, where = _normalise(text)
    if "." not in norm and ":" not in norm:
        return []
    found: dict[str, Link] = {}  # by host: the first candidate leading there
    consumed: list[tuple[int, int]] = []  # path, query and fragment of parsed links

    def add(start: int, candidate: str, parsed: tuple[str, bool] | None, end: int) -> None:
        if parsed is None:
            return
        host, ip = parsed
        found.setdefault(host, Link(start, candidate, host, ip))
        authority = _AUTHORITY_END.search(norm, start, end)
        scheme = _SCHEME.match(norm, start)
        if scheme is not None:  # the slashes after a scheme do not end its authority
            after = re.match(r"[/\\]*", norm[scheme.end() : end])
            skip = scheme.end() + (after.end() if after else 0)
            authority = _AUTHORITY_END.search(norm, skip, end)
        if authority is not None:
            consumed.append((authority.start(), end))

    def as_written(start: int, end: int, prefix: str) -> tuple[str, bool] | None:
        if where is None:
            return None
        raw_start = where[start]
        raw_end = where[end] if end < len(where) else len(text)
        return _parse(prefix + text[raw_start:raw_end])

    for m in _SCHEME.finditer(norm):
        end = _candidate_end(norm, m.start(), m.end())
        candidate = norm[m.start() : end]
        add(m.start(), candidate, _parse(candidate), end)
        add(m.start(), candidate, as_written(m.start(), end, ""), end)

    shape = _shape(norm)
    for m in (*_HOST.finditer(shape), *_IPV6.finditer(shape)):
        start = m.start()
        if any(a <= start < b for a, b in consumed):
            continue
        literal = norm[start : m.end()]
        if literal.startswith("["):
            parsed = _parse("http://" + literal)
            if parsed is not None and parsed[1]:
                found.setdefault(parsed[0], Link(start, literal, parsed[0], True))
            continue
        if _is_email_domain(shape, start, m.end()):
            continue
        labels = literal.split(".")
        host = literal
        if not _is_ipv4_quad(labels):
            if all(_IPV4_PART.fullmatch(label) for label in labels):
                continue  # a number (10.50), not a host
            count = len(labels)
            while count >= 2 and not _has_public_suffix(".".join(labels[:count])):
                count -= 1
            if count < 2:
                continue
            host = ".".join(labels[:count])
        own = _parse("http://" + host)
        if own is None:
            found.setdefault(host.lower(), Link(start, host, host.lower(), resolved=False))
        else:
            found.setdefault(own[0], Link(start, host, own[0], own[1]))
        if host != literal:  # a sentence goes on after the host (voir shop.fr.Merci)
            continue
        end = _candidate_end(norm, start, m.end())
        candidate = norm[start:end]
        add(start, candidate, _parse("http://" + candidate), end)
        add(start, candidate, as_written(start, end, "http://"), end)
    return sorted(found.values(), key=lambda link: link.start)


def normalise_domain(domain: str) -> str:
    """``"WWW.Example.FR."`` → ``"www.example.fr"``; non-ASCII hosts in IDNA (``xn--``) form."""
    host = domain.strip()
    parsed = _parse("http://" + host) if host else None
    if parsed is not None:
        return parsed[0]
    return host.rstrip(".").lower()


def _is_ip(host: str) -> bool:
    parsed = _parse("http://" + host)
    return parsed is not None and parsed[1]


def domain_allowed(domain: str, verified: Iterable[str]) -> bool:
    """Whether ``domain`` is a verified domain or a subdomain of one; an IP address never is."""
    host = normalise_domain(domain)
    if _is_ip(host):
        return False
    for allowed in verified:
        base = normalise_domain(allowed)
        if base.startswith("www."):
            base = base[4:]
        if host == base or host.endswith("." + base):
            return True
    return False


def unverified_domains(
    text: str, verified: Iterable[str], *, ignore: Iterable[str] = ()
) -> list[str]:
    """The distinct hosts linked from ``text`` that ``verified`` does not cover, in order.

    ``ignore`` lists domains that are always acceptable (the account's own unsubscribe page).
    """
    links = find_links(text)
    if not links:
        return []
    allowed = [*verified, *ignore]
    out: list[str] = []
    for link in links:
        if link.domain in out:
            continue
        if not link.resolved or link.ip or not domain_allowed(link.domain, allowed):
            out.append(link.domain)
    return out
