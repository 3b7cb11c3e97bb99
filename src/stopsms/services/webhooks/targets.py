"""Server-side request forgery: which URLs an endpoint may target.

An endpoint URL is ``http`` or ``https`` with a host and no credentials. Its host must
resolve only to public addresses: loopback, private, link-local, shared (CGNAT), multicast,
reserved and unspecified addresses are refused — an installation's webhooks must not become a
way to reach its own database, metadata service or LAN. The host is resolved by the system
resolver, so every spelling the HTTP client would accept (``0x7f.1``, ``2130706433``,
``localhost.``, ``[::ffff:127.0.0.1]``) is judged by the address it reaches, not by its text.

The check runs when an endpoint is created and again before every delivery (DNS can change
between the two). ``allow_private`` (``STOPSMS_WEBHOOKS_ALLOW_PRIVATE=1``) lifts the address
rule, for tests and LAN receivers. A host re-pointed between the check and the connection
(DNS rebinding within seconds) is not caught: that needs pinning the checked address into
the connection, left for later.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from stopsms.errors import InvalidInput

__all__ = ["FIELD", "check_url", "parse_url", "refused_address"]

FIELD = "webhook URL"


def parse_url(url: str) -> SplitResult:
    """The URL's parts if its form is acceptable (http(s), a host, no credentials)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(FIELD, url, f"not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(FIELD, url, "only http:// and https:// URLs are delivered to")
    if not parts.hostname:
        raise InvalidInput(FIELD, url, "it names no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(FIELD, url, "credentials in the URL are refused (use the signature)")
    if port == 0:
        raise InvalidInput(FIELD, url, "port 0 is not a port one can deliver to")
    return parts


def refused_address(address: str) -> str | None:
    """Why an IP address may not be targeted (``"loopback"``…), or ``None`` if it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, refused in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if refused:
            return kind
    if not ip.is_global:
        return "non-public"
    return None


def _addresses(url: str, host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(FIELD, url, f"its host {host} does not resolve ({exc})") from None
    return sorted({str(info[4][0]) for info in infos})


def check_url(url: str, *, allow_private: bool) -> str:
    """``url`` stripped if it may be delivered to, else :class:`InvalidInput` saying why.

    Every address the host resolves to must be public (one private answer among public ones
    is enough to refuse: the client may pick it), unless ``allow_private``.
    """
    parts = parse_url(url)
    host = (parts.hostname or "").rstrip(".")  # ``localhost.`` is ``localhost``, fully qualified
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if allow_private:
        return url.strip()
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always loopback
        raise _refused(url, host, "127.0.0.1", "loopback")
    for address in _addresses(url, host, port):
        kind = refused_address(address)
        if kind is not None:
            raise _refused(url, host, address, kind)
    return url.strip()


def _refused(url: str, host: str, address: str, kind: str) -> InvalidInput:
    return InvalidInput(
        FIELD,
        url,
        f"{host} resolves to {address}, a {kind} address: refused (server-side request"
        " forgery); an installation whose receivers are on its own network sets"
        " STOPSMS_WEBHOOKS_ALLOW_PRIVATE=1",
    )
