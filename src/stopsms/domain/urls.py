"""Links in a message and the domains they point to (DESIGN.md rule 10, anti-smishing).

A message whose link leads to a domain that is not on the account's verified list is blocked.
Smishing rarely spells ``https://``, so three shapes count as a link:

- anything with a scheme: ``https://shop.example.fr/x``, ``http://…``;
- ``www.`` followed by a host: ``www.example.fr``;
- a bare host whose last label is a top-level domain: ``bit.ly/abc``, ``example.com``,
  ``boutique.fr/promo`` — a two-letter country code or one of the common generic TLDs
  (:data:`GENERIC_TLDS`). ``M.Dupont`` or ``10.50`` are not hosts (``dupont`` is no TLD, digits
  are no labels of a TLD).

An e-mail address (``jean@example.fr``) is not a link. Domains are compared in lower case
without a trailing dot; a verified domain covers its subdomains (``example.fr`` verifies
``shop.example.fr``), never the reverse, and never a look-alike (``example.fr.evil.com``).
Internationalised hosts are turned into their IDNA (``xn--``) form before comparison, so a
homograph cannot pass for a verified ASCII domain.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "GENERIC_TLDS",
    "Link",
    "domain_allowed",
    "find_links",
    "normalise_domain",
    "unverified_domains",
]

#: Generic top-level domains recognised without a scheme or ``www.`` (two-letter country codes
#: are recognised too). Smishing favours cheap ones, hence the long tail.
GENERIC_TLDS: Final = frozenset(
    (
        "com",
        "net",
        "org",
        "info",
        "biz",
        "io",
        "co",
        "me",
        "ly",
        "app",
        "shop",
        "store",
        "online",
        "site",
        "xyz",
        "top",
        "club",
        "link",
        "click",
        "page",
        "dev",
        "tech",
        "live",
        "life",
        "world",
        "today",
        "news",
        "blog",
        "cloud",
        "email",
        "fun",
        "icu",
        "vip",
        "win",
        "bid",
        "loan",
        "work",
        "buzz",
        "space",
        "website",
        "pro",
        "mobi",
        "name",
        "asia",
        "eu",
        "gov",
        "edu",
        "int",
        "tel",
        "travel",
        "museum",
        "aero",
        "coop",
        "jobs",
        "cat",
        "boutique",
        "promo",
        "deals",
        "sale",
        "bio",
        "bzh",
        "paris",
        "alsace",
        "corsica",
    )
)

# A host label: letters (any script), digits, hyphens inside.
_LABEL: Final = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_SCHEME: Final = re.compile(rf"(?i)\b(?:https?|ftp)://(?:[^\s/@]+@)?((?:{_LABEL}\.)*{_LABEL})")
_WWW: Final = re.compile(rf"(?i)(?<![\w.@/-])(www\.(?:{_LABEL}\.)*{_LABEL})")
_BARE: Final = re.compile(rf"(?i)(?<![\w.@/:-])((?:{_LABEL}\.)+([a-z]{{2,24}}))(?![\w@-])")
_TRIM: Final = ".-"


@dataclass(frozen=True, slots=True)
class Link:
    """One link found in a text: where it starts, what was written and its domain."""

    start: int
    text: str
    domain: str


def normalise_domain(domain: str) -> str:
    """``"WWW.Example.FR."`` → ``"www.example.fr"``; non-ASCII hosts in IDNA form."""
    host = domain.strip().rstrip(".").lower()
    if not host.isascii():
        # Not encodable: kept as is; it then matches no verified (ASCII) domain.
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    return host


def _is_tld(label: str) -> bool:
    label = label.lower()
    return (len(label) == 2 and label.isascii() and label.isalpha()) or label in GENERIC_TLDS


def find_links(text: str) -> list[Link]:
    """Every link in ``text``, in order of appearance (see the module doc for what counts)."""
    if "." not in text:  # the fast path of nearly every message: no host without a dot
        return []
    found: dict[int, Link] = {}
    taken: list[tuple[int, int]] = []
    for m in _SCHEME.finditer(text):
        end = _link_end(text, m.end())
        found[m.start()] = Link(m.start(), text[m.start() : end], normalise_domain(m.group(1)))
        taken.append((m.start(), end))
    for m in _WWW.finditer(text):
        if _inside(taken, m.start()):
            continue
        end = _link_end(text, m.end())
        found[m.start()] = Link(m.start(), text[m.start() : end], normalise_domain(m.group(1)))
        taken.append((m.start(), end))
    for m in _BARE.finditer(text):
        if _inside(taken, m.start()) or not _is_tld(m.group(2)):
            continue
        end = _link_end(text, m.end())
        found[m.start()] = Link(m.start(), text[m.start() : end], normalise_domain(m.group(1)))
    return [found[k] for k in sorted(found)]


def _link_end(text: str, at: int) -> int:
    """Where a link whose host ends at ``at`` ends: a path runs to the next space, minus
    closing punctuation ("voir example.fr/promo." ends before the dot)."""
    end = at
    if end < len(text) and text[end] in "/:?#":
        while end < len(text) and not text[end].isspace():
            end += 1
        while end > at and text[end - 1] in ".,;:!?)]»\"'’":
            end -= 1
    return end


def _inside(spans: list[tuple[int, int]], at: int) -> bool:
    return any(start <= at < end for start, end in spans)


def domain_allowed(domain: str, verified: Iterable[str]) -> bool:
    """Whether ``domain`` is a verified domain or a subdomain of one."""
    host = normalise_domain(domain)
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
    """The distinct domains linked from ``text`` that ``verified`` does not cover, in order.

    ``ignore`` lists domains that are always acceptable (the account's own unsubscribe page).
    """
    allowed = [*verified, *ignore]
    out: list[str] = []
    for link in find_links(text):
        if link.domain not in out and not domain_allowed(link.domain, allowed):
            out.append(link.domain)
    return out
