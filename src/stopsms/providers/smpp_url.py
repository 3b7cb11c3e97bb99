"""The ``smpp://`` provider URL: every setting of an SMPP bind in one string.

``smpp://SYSTEM_ID:PASSWORD@HOST:PORT?window=64&tps=500&system_type=&bind=transceiver``

=================  ===========  ==========================================================
option             default      meaning
=================  ===========  ==========================================================
``window``         64           submit_sm sent and not yet answered, at most
``tps``            0            submit_sm per second (0 = unlimited); also ``throughput``;
                                with ``binds``, the account's cap across all its binds
``binds``          0            binds the account allows across every worker (0: no limit
                                known, no lease); each worker leases its sessions' slots
                                and sends 95 % of ``tps × its sessions ÷ binds`` submit_sm/s
``system_type``    (empty)      the bind's system_type
``bind``           transceiver  ``transceiver`` (one TRX bind) or ``tx_rx`` (two binds)
``source_ton``     auto         TON of our sender (auto: 5 alphanumeric, 1 ``+…``, 3 short)
``source_npi``     auto         NPI of our sender (auto: 0 alphanumeric/short, 1 ``+…``)
``enquire_link``   30           seconds of silence before we send an enquire_link
``blocked_codes``  061          receipt ``err:`` codes meaning "destination blocked"
``long``           udh          long messages by ``udh`` (8-bit ref) or ``sar`` TLVs
``reconnect_max``  30           longest back-off between reconnect attempts, seconds
``timeout``        10           seconds to connect, bind, or wait for a lost bind to return
``shortcode_substitution``  0   ``1``: the provider replaces ``STOP 00000`` by its own
                                shortcode for alphanumeric senders (seed 002); without it an
                                account still on the placeholder shortcode ``00000`` cannot
                                send messages that carry the STOP mention
=================  ===========  ==========================================================

``smpps://`` is the same over TLS. Any other option, a missing host, a bad number: a
:class:`~stopsms.providers.base.ProviderError` naming the offending part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from stopsms.providers.base import ProviderError

BindMode = Literal["transceiver", "tx_rx"]
LongMode = Literal["udh", "sar"]


@dataclass(frozen=True, slots=True)
class SmppConfig:
    """A parsed ``smpp://`` URL. Build one with :func:`parse_smpp_url`."""

    host: str
    port: int
    system_id: str
    password: str
    tls: bool = False
    window: int = 64
    tps: float = 0.0
    system_type: str = ""
    bind: BindMode = "transceiver"
    source_ton: int | None = None
    source_npi: int | None = None
    enquire_link: float = 30.0
    blocked_codes: frozenset[str] = frozenset({"061"})
    long: LongMode = "udh"
    reconnect_max: float = 30.0
    timeout: float = 10.0
    shortcode_substitution: bool = False
    binds: int = 0

    def redacted(self) -> str:
        """The URL without its password, for logs and error messages."""
        scheme = "smpps" if self.tls else "smpp"
        return f"{scheme}://{self.system_id}:***@{self.host}:{self.port}"


_KNOWN = (
    "window",
    "tps",
    "system_type",
    "bind",
    "source_ton",
    "source_npi",
    "enquire_link",
    "blocked_codes",
    "long",
    "reconnect_max",
    "timeout",
    "shortcode_substitution",
    "binds",
)


def _number(name: str, raw: str, *, low: float, integer: bool = False) -> float:
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ProviderError(f"SMPP URL option {name}={raw!r} is not {kind}") from None
    if value < low or value != value or value == float("inf"):
        raise ProviderError(f"SMPP URL option {name}={raw!r} must be at least {low:g}")
    return value


def _byte(name: str, raw: str) -> int | None:
    if raw in ("", "auto"):
        return None
    value = int(_number(name, raw, low=0, integer=True))
    if value > 255:
        raise ProviderError(f"SMPP URL option {name}={raw!r} must be between 0 and 255")
    return value


def parse_smpp_url(url: str) -> SmppConfig:
    """Parse ``smpp://SYSTEM_ID:PASSWORD@HOST:PORT?options``; raise ProviderError naming the
    bad part (scheme, host, port, credentials, or an option and its value)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ProviderError(f"SMPP URL {url!r}: bad port ({exc})") from None
    if parts.scheme not in ("smpp", "smpps"):
        raise ProviderError(f"SMPP URL must start with smpp:// or smpps://, not {parts.scheme!r}")
    if not parts.hostname:
        raise ProviderError("SMPP URL has no host (smpp://SYSTEM_ID:PASSWORD@HOST:PORT)")
    if not parts.username:
        raise ProviderError("SMPP URL has no system_id (smpp://SYSTEM_ID:PASSWORD@HOST:PORT)")
    system_id = unquote(parts.username)
    password = unquote(parts.password or "")
    if len(system_id) > 15:
        raise ProviderError(f"SMPP URL system_id {system_id!r} is longer than 15 characters")
    if len(password) > 8:
        raise ProviderError("SMPP URL password is longer than 8 characters (SMPP 3.4 limit)")
    options: dict[str, object] = {}
    for name, raw in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if name not in _KNOWN:
            raise ProviderError(f"SMPP URL option {name!r} is unknown (known: {', '.join(_KNOWN)})")
        if name == "window":
            options[name] = int(_number(name, raw, low=1, integer=True))
        elif name == "binds":
            options[name] = int(_number(name, raw, low=0, integer=True))
        elif name in ("tps",):
            options[name] = _number(name, raw, low=0)
        elif name in ("enquire_link", "reconnect_max", "timeout"):
            options[name] = _number(name, raw, low=0.01)
        elif name in ("source_ton", "source_npi"):
            options[name] = _byte(name, raw)
        elif name == "system_type":
            if len(raw) > 12:
                raise ProviderError(f"SMPP URL option system_type={raw!r} is over 12 characters")
            options[name] = raw
        elif name == "bind":
            if raw not in ("transceiver", "tx_rx"):
                raise ProviderError(f"SMPP URL option bind={raw!r} must be transceiver or tx_rx")
            options[name] = raw
        elif name == "long":
            if raw not in ("udh", "sar"):
                raise ProviderError(f"SMPP URL option long={raw!r} must be udh or sar")
            options[name] = raw
        elif name == "shortcode_substitution":
            if raw not in ("0", "1"):
                raise ProviderError(
                    f"SMPP URL option shortcode_substitution={raw!r} must be 0 or 1"
                )
            options[name] = raw == "1"
        elif name == "blocked_codes":
            codes = [c.strip() for c in raw.split(",") if c.strip()]
            bad = [c for c in codes if not c.isalnum()]
            if bad:
                raise ProviderError(f"SMPP URL option blocked_codes has a bad code {bad[0]!r}")
            options[name] = frozenset(codes)
    return SmppConfig(
        host=parts.hostname,
        port=port if port is not None else 2775,
        system_id=system_id,
        password=password,
        tls=parts.scheme == "smpps",
        **options,  # type: ignore[arg-type]
    )
