"""The schema comes from the migrations, and they match the tables the code uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, select

from stopsms.store import tables as t
from stopsms.store.database import Database, head_revision, schema_revision


def test_database_is_at_head(database: Database) -> None:
    assert schema_revision(database.engine) == head_revision()


def test_migrations_match_tables(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, t.metadata) == []


def test_default_account_exists(database: Database) -> None:
    with database.reader() as connection:
        names = connection.execute(select(t.accounts.c.name)).scalars().all()
    assert names == ["default"]


def test_timestamps_round_trip_as_aware_utc(database: Database) -> None:
    paris_summer = timezone(timedelta(hours=2))
    written = datetime(2024, 7, 1, 20, 30, 15, 123456, tzinfo=paris_summer)
    with database.transaction() as connection:
        connection.execute(insert(t.accounts).values(name="tz", created_at=written))
    with database.reader() as connection:
        read = connection.execute(
            select(t.accounts.c.created_at).where(t.accounts.c.name == "tz")
        ).scalar_one()
    assert read == written
    assert read.tzinfo == UTC
    assert read.hour == 18
