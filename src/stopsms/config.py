"""Settings, read once from the environment (``STOPSMS_*``); the only place that reads it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from stopsms.domain.errors import StopsmsError
from stopsms.domain.parts import DEFAULT_MAX_PARTS, PROTOCOL_MAX_PARTS


class InvalidSetting(StopsmsError):
    """An ``STOPSMS_*`` variable holds a value stopsms cannot use."""


DEFAULT_DATABASE_URL = "sqlite:///./stopsms.db"


@dataclass(frozen=True, slots=True)
class Settings:
    """What an installation is configured with.

    ``database_url``: SQLAlchemy URL; SQLite (WAL) is the embedded default, PostgreSQL
    (``postgresql+psycopg://…``) the production database.
    ``provider_url``: where messages leave, e.g. ``smpp://id:pw@127.0.0.1:2775?window=64&tps=500``.
    ``default_account``: the account used when a command names none.
    ``max_parts``: the most SMS parts one message may take (``STOPSMS_MAX_PARTS``, 1–255;
    see :mod:`stopsms.domain.parts`); a value out of range or not a number is refused.
    """

    database_url: str = DEFAULT_DATABASE_URL
    provider_url: str | None = None
    default_account: str = "default"
    max_parts: int = DEFAULT_MAX_PARTS


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return Settings(
        database_url=env.get("STOPSMS_DATABASE_URL") or DEFAULT_DATABASE_URL,
        provider_url=env.get("STOPSMS_PROVIDER_URL") or None,
        default_account=env.get("STOPSMS_ACCOUNT") or "default",
        max_parts=_max_parts(env.get("STOPSMS_MAX_PARTS")),
    )


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
