"""Provider URLs: the one parser that reads ``STOPSMS_PROVIDER_URL`` (or a command's own URL).

The scheme names the provider: ``smpp://`` and ``smpps://`` (over TLS) the SMPP 3.4 ESME,
whose options :mod:`stopsms.providers.smpp_url` parses (window, tps, shortcode substitution…).
Any other scheme is refused by :func:`parse_provider_url` with one line naming the URL and the
schemes stopsms speaks. What the rest of stopsms reads from a URL without connecting — the
provider's throughput for a preview, whether it replaces ``STOP 00000`` by its own shortcode —
comes from the same parse (:func:`configured_route`), and :func:`provider_from_url` builds the
provider itself (the application layer, :mod:`stopsms.app`, wires it from settings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stopsms.providers.base import ProviderError
from stopsms.providers.smpp_url import SmppConfig, parse_smpp_url

if TYPE_CHECKING:
    from stopsms.providers.base import Provider

__all__ = [
    "SCHEMES",
    "configured_route",
    "parse_provider_url",
    "provider_from_url",
    "speaks",
]

#: The URL prefixes of the providers stopsms speaks.
SCHEMES = ("smpp://", "smpps://")


def speaks(url: str) -> bool:
    """Whether ``url`` names a provider stopsms speaks (by its scheme alone)."""
    return url.startswith(SCHEMES)


def parse_provider_url(url: str) -> SmppConfig:
    """The settings of the provider at ``url``; :class:`ProviderError` naming the bad part."""
    if not speaks(url):
        raise ProviderError(f"unsupported provider URL {url!r} (expected smpp:// or smpps://)")
    return parse_smpp_url(url)


def configured_route(url: str | None) -> SmppConfig | None:
    """The settings of the configured provider, or None when there is none, or none stopsms
    speaks (a preview then assumes no shortcode substitution and the default rate)."""
    if not url or not speaks(url):
        return None
    return parse_smpp_url(url)


def provider_from_url(url: str) -> Provider:
    """The provider ``url`` names, configured but not yet started (no connection made)."""
    config = parse_provider_url(url)
    from stopsms.providers.smpp import SmppProvider  # asyncio and the SMPP session: on demand

    return SmppProvider(config=config)
