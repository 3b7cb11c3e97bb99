"""The schema comes from the migrations, and they match the tables the code uses."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.exc import StatementError

from stopsms.store import tables as t
from stopsms.store.database import (
    Database,
    create_engine_for,
    downgrade,
    head_revision,
    installation_secret,
    migrate,
    open_database,
    schema_revision,
)
from stopsms.store.migrations import ours


def test_database_is_at_head(database: Database) -> None:
    assert schema_revision(database.engine) == head_revision()


def test_migrations_match_tables(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": ours}
        )
        assert compare_metadata(context, t.metadata) == []


def test_default_account_exists(database: Database) -> None:
    with database.reader() as connection:
        names = connection.execute(select(t.accounts.c.name)).scalars().all()
    assert names == ["default"]


def test_timestamps_round_trip_as_aware_utc(database: Database) -> None:
    paris_summer = timezone(timedelta(hours=2))
    written = datetime(2024, 7, 1, 20, 30, 15, 123456, tzinfo=paris_summer)
    with database.transaction() as connection:
        # Direct insert, not tests.builders: the timestamp column itself is under test.
        connection.execute(insert(t.accounts).values(name="tz", created_at=written))
    with database.reader() as connection:
        read = connection.execute(
            select(t.accounts.c.created_at).where(t.accounts.c.name == "tz")
        ).scalar_one()
    assert read == written
    assert read.tzinfo == UTC
    assert read.hour == 18


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    engine = create_engine_for(empty_database_url)
    try:
        assert schema_revision(engine) is None
        migrate(engine)
        assert schema_revision(engine) == head_revision()
        downgrade(engine, "base")
        assert schema_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate(engine)
        assert set(inspect(engine).get_table_names()) >= {
            table.name for table in t.metadata.sorted_tables
        }
    finally:
        engine.dispose()


def test_open_twice_is_idempotent_and_keeps_the_secret(empty_database_url: str) -> None:
    first = open_database(empty_database_url)
    with first.transaction() as connection:
        secret = installation_secret(connection)
    first.close()
    second = open_database(empty_database_url)
    try:
        with second.reader() as connection:
            assert installation_secret(connection) == secret
            assert len(secret) == 32
            assert connection.execute(select(func.count()).select_from(t.accounts)).scalar() == 1
    finally:
        second.close()


def test_concurrent_first_opens(empty_database_url: str) -> None:
    """Several processes opening a new database at once: one migrates, none fails."""
    with ThreadPoolExecutor(4) as pool:
        databases = list(pool.map(lambda _: open_database(empty_database_url), range(4)))
    for database in databases:
        assert schema_revision(database.engine) == head_revision()
        database.close()


def test_naive_datetime_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="naive"), database.transaction() as connection:
        # Direct insert, not tests.builders: a naive timestamp, which no service would pass.
        connection.execute(insert(t.accounts).values(name="naive", created_at=datetime(2024, 1, 1)))


def test_sqlite_pragmas(sqlite_database: Database) -> None:
    with sqlite_database.reader() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 10_000,
    }
