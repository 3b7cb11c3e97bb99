"""Shared database fixtures: every integration test runs on SQLite *and* PostgreSQL.

- ``database``: a migrated, seeded, empty :class:`~stopsms.store.database.Database`,
  parametrized ``[sqlite]`` / ``[postgresql]``. Each test gets a clean database:
  SQLite copies a template file migrated once per session (fast: a file copy); PostgreSQL uses
  one database per test session (``stopsms_test_<pid>_<hex>``, created from the ``test``
  database, migrations applied, dropped at the end) whose tables are truncated before each test
  (identities restarted; the installation secret is kept; the ``default`` account re-seeded).
- ``sqlite_database`` / ``postgres_database``: the same, for tests about one backend only.
- ``database_url``: the URL of ``database`` (for CLI tests: ``STOPSMS_DATABASE_URL``).
- ``empty_database_url``: the URL of a database with no schema (migration tests), both backends.

PostgreSQL comes from ``STOPSMS_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). If it cannot be reached the PostgreSQL
tests FAIL — in CI (``CI=true``) always; elsewhere they are skipped only when
``STOPSMS_SKIP_POSTGRES=1`` is set explicitly.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from stopsms.store import tables
from stopsms.store.database import Database, create_engine_for, ensure_seed, migrate

POSTGRES_URL = os.environ.get(
    "STOPSMS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SKIP_POSTGRES = not IN_CI and os.environ.get("STOPSMS_SKIP_POSTGRES") == "1"

#: Tables emptied between tests (everything but the installation secret).
_TRUNCATED = [table.name for table in tables.metadata.sorted_tables if table.name != "installation"]


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = create_engine_for(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def _postgres_session_database() -> Iterator[Database]:
    if SKIP_POSTGRES:
        pytest.skip("STOPSMS_SKIP_POSTGRES=1: PostgreSQL tests skipped on request")
    admin_url = make_url(POSTGRES_URL)
    if admin_url.drivername == "postgresql":
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    name = f"stopsms_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure to reach the server is a failure, never a skip
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is required at {admin_url.render_as_string()} ({exc.__class__.__name__}:"
            f" {exc}); set STOPSMS_SKIP_POSTGRES=1 to skip it outside CI",
            pytrace=False,
        )
    engine = create_engine_for(admin_url.set(database=name).render_as_string(hide_password=False))
    try:
        migrate(engine)
        yield Database(engine)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _fresh_sqlite(template: Path, directory: Path) -> Database:
    path = directory / "stopsms.db"
    shutil.copyfile(template, path)
    return Database(create_engine_for(f"sqlite:///{path}"))


def _fresh_postgres(session_database: Database) -> Database:
    with session_database.transaction() as connection:
        connection.exec_driver_sql(f"TRUNCATE {', '.join(_TRUNCATED)} RESTART IDENTITY CASCADE")
        ensure_seed(connection)
    return session_database


@pytest.fixture
def sqlite_database(_sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A clean, migrated SQLite database in a temporary file."""
    database = _fresh_sqlite(_sqlite_template, tmp_path)
    yield database
    database.close()


@pytest.fixture
def postgres_database(_postgres_session_database: Database) -> Database:
    """A clean, migrated PostgreSQL database (tables truncated before the test)."""
    return _fresh_postgres(_postgres_session_database)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A clean, migrated database; every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        database = _fresh_sqlite(template, tmp_path)
        yield database
        database.close()
    else:
        yield _fresh_postgres(request.getfixturevalue("_postgres_session_database"))


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no schema at all (migration tests), on both backends."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if SKIP_POSTGRES:
        pytest.skip("STOPSMS_SKIP_POSTGRES=1: PostgreSQL tests skipped on request")
    request.getfixturevalue("_postgres_session_database")  # fails clearly if unreachable
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    name = f"stopsms_empty_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(database: Database) -> str:
    """The URL of ``database``, password included (for ``STOPSMS_DATABASE_URL``)."""
    return database.engine.url.render_as_string(hide_password=False)
