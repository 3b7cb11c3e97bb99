"""Settings, read once from the environment (``STOPSMS_*``); the only place that reads it.

The embedded database lives at one place per user, whatever the current folder (a command run
from another folder once created a second, empty ``./stopsms.db`` without a word):
``$STOPSMS_HOME/stopsms.db`` when ``STOPSMS_HOME`` is set, else the XDG data folder,
``${XDG_DATA_HOME:-~/.local/share}/stopsms/stopsms.db``. ``STOPSMS_DATABASE_URL`` overrides it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from stopsms.domain.errors import StopsmsError
from stopsms.domain.parts import DEFAULT_MAX_PARTS, PROTOCOL_MAX_PARTS


class InvalidSetting(StopsmsError):
    """An ``STOPSMS_*`` variable holds a value stopsms cannot use."""


DATABASE_FILE = "stopsms.db"


def default_database_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the embedded SQLite database lives when ``STOPSMS_DATABASE_URL`` is not set."""
    env = os.environ if environ is None else environ
    home = env.get("STOPSMS_HOME")
    if home:
        folder = Path(home).expanduser()
        if not folder.is_absolute():  # it would name another folder from each current one
            raise InvalidSetting(
                f"STOPSMS_HOME={home!r}: give an absolute folder (e.g. /srv/stopsms or"
                " ~/stopsms); a relative one would change with the current folder"
            )
        return folder / DATABASE_FILE
    data = env.get("XDG_DATA_HOME")
    # The XDG spec: a relative XDG_DATA_HOME is invalid and must be ignored.
    if not data or not Path(data).is_absolute():
        user_home = env.get("HOME") or str(Path.home())
        data = str(Path(user_home) / ".local" / "share")
    return Path(data) / "stopsms" / DATABASE_FILE


def default_database_url(environ: Mapping[str, str] | None = None) -> str:
    return f"sqlite:///{default_database_path(environ)}"


@dataclass(frozen=True, slots=True)
class Settings:
    """What an installation is configured with.

    ``database_url``: SQLAlchemy URL; SQLite (WAL) is the embedded default (see the module doc
    for where), PostgreSQL (``postgresql+psycopg://…``) the production database.
    ``provider_url``: where messages leave, e.g. ``smpp://id:pw@127.0.0.1:2775?window=64&tps=500``.
    ``default_account``: the account used when a command names none.
    ``max_parts``: the most SMS parts one message may take (``STOPSMS_MAX_PARTS``, 1–255;
    see :mod:`stopsms.domain.parts`); a value out of range or not a number is refused.
    ``public_url``: the address people and webhook receivers reach this installation at
    (``STOPSMS_PUBLIC_URL``, e.g. ``https://sms.example.fr``): the base of the hosted
    unsubscribe links in messages and of links in webhooks. An absolute ``http(s)`` URL with
    no query or fragment; kept without its trailing slash.
    ``secret_key``: signs sessions and forms (``STOPSMS_SECRET_KEY``, at least 32 characters).
    ``production``: ``STOPSMS_ENV=production``; a server in production refuses to start without
    a secret key (elsewhere it makes one per process, and says so).
    ``webhooks_allow_private``: ``STOPSMS_WEBHOOKS_ALLOW_PRIVATE=1`` lets webhook endpoints
    target loopback and private networks (refused by default: server-side request forgery;
    see docs/webhooks.md). For tests and installations whose receivers are on their own LAN.
    ``metrics_token``: ``STOPSMS_METRICS_TOKEN`` (at least 16 characters); when set, ``/metrics``
    answers only ``Authorization: Bearer <token>``. A server in production without one does not
    serve ``/metrics`` (its counts are the business's: messages, STOPs, queue).
    """

    database_url: str = field(default_factory=default_database_url)
    provider_url: str | None = None
    default_account: str = "default"
    max_parts: int = DEFAULT_MAX_PARTS
    public_url: str | None = None
    secret_key: str | None = None
    production: bool = False
    webhooks_allow_private: bool = False
    metrics_token: str | None = None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return Settings(
        database_url=env.get("STOPSMS_DATABASE_URL") or default_database_url(env),
        provider_url=env.get("STOPSMS_PROVIDER_URL") or None,
        default_account=env.get("STOPSMS_ACCOUNT") or "default",
        max_parts=_max_parts(env.get("STOPSMS_MAX_PARTS")),
        public_url=_public_url(env.get("STOPSMS_PUBLIC_URL")),
        secret_key=_secret_key(env.get("STOPSMS_SECRET_KEY")),
        production=_production(env.get("STOPSMS_ENV")),
        webhooks_allow_private=_flag(
            "STOPSMS_WEBHOOKS_ALLOW_PRIVATE", env.get("STOPSMS_WEBHOOKS_ALLOW_PRIVATE")
        ),
        metrics_token=_metrics_token(env.get("STOPSMS_METRICS_TOKEN")),
    )


MIN_SECRET_KEY = 32
"""The shortest secret key accepted: 32 characters (``python -c 'import secrets;
print(secrets.token_urlsafe(32))'`` prints 43)."""


def _public_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    parsed = urlsplit(text)
    if (
        parsed.scheme not in ("http", "https")
        or not parsed.hostname
        or parsed.query
        or parsed.fragment
        or parsed.username is not None
        or any(c.isspace() for c in text)
    ):
        raise InvalidSetting(
            f"STOPSMS_PUBLIC_URL={value!r}: expected the absolute address of this installation,"
            " e.g. https://sms.example.fr (http or https, no query, no fragment, no user)"
        )
    return text.rstrip("/")


def _secret_key(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value.strip()) < MIN_SECRET_KEY:
        raise InvalidSetting(
            f"STOPSMS_SECRET_KEY is {len(value.strip())} characters long: give at least"
            f" {MIN_SECRET_KEY} (e.g. the output of"
            " python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return value.strip()


MIN_METRICS_TOKEN = 16


def _metrics_token(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value.strip()) < MIN_METRICS_TOKEN:
        raise InvalidSetting(
            f"STOPSMS_METRICS_TOKEN is {len(value.strip())} characters long: give at least"
            f" {MIN_METRICS_TOKEN}; the scraper sends it as Authorization: Bearer <token>"
        )
    return value.strip()


def _production(value: str | None) -> bool:
    text = (value or "").strip().lower()
    if text in ("", "development", "dev"):
        return False
    if text in ("production", "prod"):
        return True
    raise InvalidSetting(f"STOPSMS_ENV={value!r}: expected production or development")


def _max_parts(value: str | None) -> int:
    if value is None or not value.strip():
        return DEFAULT_MAX_PARTS
    text = value.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= PROTOCOL_MAX_PARTS:
        raise InvalidSetting(
            f"STOPSMS_MAX_PARTS={value!r}: expected a whole number of SMS parts from 1 to "
            f"{PROTOCOL_MAX_PARTS}"
        )
    return int(text)


def _flag(name: str, value: str | None) -> bool:
    text = (value or "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise InvalidSetting(f"{name}={value!r}: expected 1 (yes) or 0 (no)")
