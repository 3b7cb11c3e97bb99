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
   ``evil.com@shop.fr`` (``evil.com`` as user name) is refused. A scheme starts a link
   wherever it is, even in another link's query (``https://shop.fr/r?u=https://evil.com`` is
   refused); a bare host in a path, query or fragment is no link
   (``https://shop.fr/soldes.zip``).

An e-mail address (``jean@example.fr``, nothing after the host) is not a link. Labels that
carry symbols (``x✓shop.fr``) are read from the first letter after the symbol: such hosts
cannot be registered (IDNA 2008 allows letters, digits, marks and ``-`` only).

Cost: the text is scanned only when, normalised, it holds a ``.`` or a ``:`` (every link shape
needs one; NFKC never creates either from a combination of characters); an ASCII text is not
normalised. Preparation scans a personalised message only when a field sits next to a ``.`` or
``:`` of the template, or a value holds one (:func:`may_hold_link`: 0.07 µs for ``Marie``,
0.3 µs for ``Gaëlle``). Measured per message (``timeit``, best of 3, Python 3.11, one core of
the shared development machine), ~155 characters: no ``.`` or ``:`` 0.3 µs; sentences, no link
3.7 µs; accented sentences 6 µs; one verified link 12 µs; fullwidth punctuation 14 µs.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Iterator
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
# A scheme is read back from its colon (scanning forward from every letter costs more).
_SCHEME_CHARS: Final = frozenset(string.ascii_letters + string.digits + "+.-")
_SPECIAL_SCHEMES: Final = frozenset(("http", "https", "ftp", "ws", "wss", "file"))
# On the text's shape (see _shape): every host character is ASCII there. A host is found
# from a label character, a dot and a label character, then read whole from its first label.
_LABEL_CHARS: Final = frozenset(string.ascii_letters + string.digits + "_-")
_DOT_IN_HOST: Final = re.compile(r"[A-Za-z0-9_-]\.[A-Za-z0-9_-]")
_HOST: Final = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+")
_IPV6: Final = re.compile(r"\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]")
_IPV4_PART: Final = re.compile(r"(?i)0x[0-9a-f]*|[0-9]+")
_SPACE: Final = re.compile(r"\s")
_AUTHORITY_END: Final = re.compile(r"[/\\?#]")
_CLOSING: Final = ".,;:!?)]}>»\"'’”"
_OPENERS: Final = {")": "(", "]": "[", "}": "{"}


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
        if char < "\x80":
            chars.append(char)
            where.append(i)
            continue
        if _IGNORABLE.match(char):
            continue
        mapped = unicodedata.normalize("NFKC", char)
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
    return host.rstrip(".") or host, url.host_type != ada_url.HostType.DEFAULT


@lru_cache(maxsize=4096)
def _parse_host(host: str) -> tuple[str, bool] | None:
    """:func:`_parse` of ``http://`` + ``host`` (hosts repeat from message to message)."""
    return _parse("http://" + host)


def _candidate_end(text: str, start: int, floor: int) -> int:
    """Where a candidate starting at ``start`` ends: its run of non-space characters, minus
    closing punctuation not matched inside it (never before ``floor``)."""
    space = _SPACE.search(text, start)
    end = space.start() if space else len(text)
    while end > floor and text[end - 1] in _CLOSING:
        closer = text[end - 1]
        opener = _OPENERS.get(closer)
        if opener and text.count(closer, start, end) <= text.count(opener, start, end):
            break  # balanced: part of the link (``[::1]``, ``/wiki/A_(b)``)
        end -= 1
    return end


def _is_ipv4_quad(labels: list[str]) -> bool:
    return len(labels) == 4 and all(_IPV4_PART.fullmatch(label) for label in labels)


def _is_email_domain(shape: str, start: int, end: int) -> bool:
    """``local@host`` with nothing link-like after the host."""
    if start < 2 or shape[start - 1] != "@" or shape[start - 2] in " !@":
        return False
    return end >= len(shape) or shape[end] not in "/\\?#:@["


def _schemes(text: str) -> Iterator[tuple[int, int]]:
    """``(start, colon)`` of every scheme: ``http:``… (special: a browser needs no slashes
    after it), or any name followed by two slashes; read whole (``xhttps://`` is ``xhttps``)."""
    colon = text.find(":")
    while colon != -1:
        start = colon
        while start > 0 and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        while start < colon and not text[start].isalpha():
            start += 1  # a scheme starts with a letter
        name = text[start:colon].lower()
        if name and (
            name in _SPECIAL_SCHEMES or text[colon + 1 : colon + 3] in ("//", "\\\\", "/\\", "\\/")
        ):
            yield start, colon
        colon = text.find(":", colon + 1)


def _hosts(shape: str) -> Iterator[re.Match[str]]:
    """Every run of dot-separated labels in ``shape`` (see :func:`_shape`)."""
    pos = 0
    while (spot := _DOT_IN_HOST.search(shape, pos)) is not None:
        start = spot.start()
        while start > 0 and shape[start - 1] in _LABEL_CHARS:
            start -= 1
        host = _HOST.match(shape, start)
        assert host is not None  # the spot itself is a host
        yield host
        pos = host.end()


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
    authorities: list[tuple[int, int]] = []  # scheme to end of authority of parsed links

    def follow(start: int, end: int, prefix: str, after_scheme: int) -> None:
        """Parse ``norm[start:end]`` (and the same characters as written) as a URL."""
        candidate = norm[start:end]
        parsed = [_parse(prefix + candidate)]
        if where is not None:
            raw_end = where[end] if end < len(where) else len(text)
            parsed.append(_parse(prefix + text[where[start] : raw_end]))
        hosts = [p for p in parsed if p is not None]
        if not hosts:
            return
        for host, ip in hosts:
            found.setdefault(host, Link(start, candidate, host, ip))
        skip = after_scheme
        while skip < end and norm[skip] in "/\\":
            skip += 1  # the slashes after a scheme do not end its authority
        authority = _AUTHORITY_END.search(norm, skip, end)
        authority_end = authority.start() if authority else end
        consumed.append((authority_end, end))
        if prefix == "":
            authorities.append((start, authority_end))

    for start, colon in _schemes(norm):
        follow(start, _candidate_end(norm, start, colon + 1), "", colon + 1)

    shape = _shape(norm)
    hosts = _hosts(shape) if "." in shape else []
    for m in (*hosts, *(_IPV6.finditer(shape) if "[" in shape else ())):
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
        own = _parse_host(host)
        if own is None:
            found.setdefault(host.lower(), Link(start, host, host.lower(), resolved=False))
        else:
            found.setdefault(own[0], Link(start, host, own[0], own[1]))
        if host != literal:  # a sentence goes on after the host (voir shop.fr.Merci)
            continue
        if any(a <= start < b for a, b in authorities):
            continue  # a user name or the host of a link already parsed from its scheme
        follow(start, _candidate_end(norm, start, m.end()), "http://", start)
    return sorted(found.values(), key=lambda link: link.start)


def normalise_domain(domain: str) -> str:
    """``"WWW.Example.FR."`` → ``"www.example.fr"``; non-ASCII hosts in IDNA (``xn--``) form."""
    host = domain.strip()
    parsed = _parse_host(host) if host else None
    if parsed is not None:
        return parsed[0]
    return host.rstrip(".").lower()


def _is_ip(host: str) -> bool:
    parsed = _parse_host(host)
    return parsed is not None and parsed[1]


def _bases(verified: Iterable[str]) -> list[str]:
    """The verified domains as compared: normalised, without ``www.``."""
    bases = [normalise_domain(allowed) for allowed in verified]
    return [base[4:] if base.startswith("www.") else base for base in bases]


def _covered(host: str, bases: list[str]) -> bool:
    return any(host == base or host.endswith("." + base) for base in bases)


def domain_allowed(domain: str, verified: Iterable[str]) -> bool:
    """Whether ``domain`` is a verified domain or a subdomain of one; an IP address never is."""
    host = normalise_domain(domain)
    return not _is_ip(host) and _covered(host, _bases(verified))


def unverified_domains(
    text: str, verified: Iterable[str], *, ignore: Iterable[str] = ()
) -> list[str]:
    """The distinct hosts linked from ``text`` that ``verified`` does not cover, in order.

    ``ignore`` lists domains that are always acceptable (the account's own unsubscribe page).
    """
    links = find_links(text)
    if not links:
        return []
    bases = _bases([*verified, *ignore])
    return [
        link.domain
        for link in links
        if not link.resolved or link.ip or not _covered(link.domain, bases)
    ]
