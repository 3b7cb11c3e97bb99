"""Column types that behave the same on SQLite and PostgreSQL.

- :class:`UTCDateTime`: stored as UTC (``timestamptz`` on PostgreSQL, ISO text on SQLite),
  always returned as an aware ``datetime`` in UTC; a naive datetime is refused on the way in,
  because guessing its zone is how sending-hour bugs are born.
- :data:`BigId`: 64-bit identifiers on PostgreSQL, SQLite's ``INTEGER PRIMARY KEY`` (the rowid
  alias, which auto-increments) on SQLite.
- :data:`Millicredits`: money as a 64-bit integer of thousandths of a credit; never a float.
- :data:`JSONDocument`: ``jsonb`` on PostgreSQL, JSON text on SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

__all__ = ["BigId", "JSONDocument", "Millicredits", "UTCDateTime", "as_utc"]

BigId = BigInteger().with_variant(Integer(), "sqlite")
Millicredits = BigInteger
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


def as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is an error (whose zone would it be?)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} (timestamps must be tz-aware)")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = as_utc(value)
        # SQLite has no zone-aware type; store naive UTC so text order is time order.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw text from a SQLite expression (e.g. max())
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
