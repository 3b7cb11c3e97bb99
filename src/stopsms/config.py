"""Settings, read once from the environment (``STOPSMS_*``); the only place that reads it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///./stopsms.db"


@dataclass(frozen=True, slots=True)
class Settings:
    """What an installation is configured with.

    ``database_url``: SQLAlchemy URL; SQLite (WAL) is the embedded default, PostgreSQL
    (``postgresql+psycopg://…``) the production database.
    ``provider_url``: where messages leave, e.g. ``smpp://id:pw@127.0.0.1:2775?window=64&tps=500``.
    ``default_account``: the account used when a command names none.
    """

    database_url: str = DEFAULT_DATABASE_URL
    provider_url: str | None = None
    default_account: str = "default"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return Settings(
        database_url=env.get("STOPSMS_DATABASE_URL") or DEFAULT_DATABASE_URL,
        provider_url=env.get("STOPSMS_PROVIDER_URL") or None,
        default_account=env.get("STOPSMS_ACCOUNT") or "default",
    )
