"""Shared database fixtures: every integration test runs on SQLite *and* PostgreSQL.

- ``database``: a migrated, seeded, empty :class:`~stopsms.store.database.Database`,
  parametrized ``[sqlite]`` / ``[postgresql]``. Each test gets a clean database:
  SQLite copies a template file migrated once per session (fast: a file copy); PostgreSQL is
  isolated in one of two ways, chosen per test by this rule:

  * **rolled back** (the default): the code under test runs on one connection, inside an
    outer transaction opened before the test and rolled back after it. The database's
    transactions (``transaction()``, ``reader()``, ``engine.begin()``/``connect()``, as
    :func:`~stopsms.services.preparation.prepare_campaign` uses) become SAVEPOINTs of that
    outer transaction: a commit releases its savepoint, a rollback (an error) rolls back to
    it, so services that commit, and tests that write then read in separate transactions,
    behave as on their own database. Sequences are restarted inside the outer transaction
    (``ALTER SEQUENCE … RESTART`` is transactional: the rollback undoes it), so ids start at
    1 (2 for accounts, after ``default``) in every test, as after a ``TRUNCATE … RESTART
    IDENTITY``. Cost: about 1 ms per test, against 70 ms for truncating every table.
    SQLAlchemy's ``join_transaction_mode="create_savepoint"`` does this for a ``Session``;
    the services use Core connections, so the engine's begin/commit/rollback are turned into
    savepoint statements instead (:class:`_Savepoints`).
  * **committed**: the code under test opens connections of its own — a worker thread
    (``DatabaseThread``, ``send_campaign``), another process, the CLI given the URL — and
    those cannot see an uncommitted outer transaction. Such a test gets a database of its
    own session whose tables are truncated before it (identities restarted, the installation
    secret kept, the ``default`` account re-seeded), and its transactions really commit.
    A test is *committed* when it uses ``database_url`` (anything handed the URL opens its
    own connections) or is marked ``@pytest.mark.commits``. A rolled-back database used
    from another thread fails at once with a sentence naming the marker.

- ``sqlite_database`` / ``postgres_database``: the same, for tests about one backend only.
- ``database_url``: the URL of ``database`` (for CLI tests: ``STOPSMS_DATABASE_URL``).
- ``cli``: the one :class:`~typer.testing.CliRunner` of the CLI tests, on ``database`` (its
  URL in ``STOPSMS_DATABASE_URL``, no ``STOPSMS_ACCOUNT`` nor ``STOPSMS_PROVIDER_URL`` from
  the environment). A module needing more (an account, a folder) overrides it by a fixture
  of the same name that takes ``cli`` and adds its steps.
- ``empty_database_url``: the URL of a database with no schema (migration tests), both backends.

The PostgreSQL server, and what happens when it cannot be reached: :mod:`tests.postgres`.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import StaticPool
from typer.testing import CliRunner

from stopsms.store import tables
from stopsms.store.database import Database, create_engine_for, ensure_seed, migrate
from tests.postgres import new_database

#: Tables emptied between committed tests (everything but the installation secret; on
#: PostgreSQL procrastinate's queue too, or a job deferred by one test would run in the next).
_TRUNCATED = [table.name for table in tables.metadata.sorted_tables if table.name != "installation"]
_PROCRASTINATE = ["procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs"]


@contextmanager
def _postgres_test_database(kind: str) -> Iterator[str]:
    """A migrated, seeded PostgreSQL database for this test session; yields its URL."""
    with new_database(kind) as url:
        engine = create_engine_for(url)
        migrate(engine)
        engine.dispose()
        yield url


class _Savepoints:
    """One PostgreSQL connection whose engine transactions are savepoints (see module doc).

    The engine has a :class:`~sqlalchemy.pool.StaticPool` (every checkout is the same
    connection) and its dialect's ``do_begin``/``do_commit``/``do_rollback`` issue
    ``SAVEPOINT``/``RELEASE``/``ROLLBACK TO`` instead of touching the outer transaction,
    which only :meth:`test` begins and rolls back. Savepoints of one name stack in
    PostgreSQL, so nested engine transactions work; ``begin_nested()`` inside them keeps its
    own savepoints.
    """

    _NAME = "stopsms_test"

    def __init__(self, url: str) -> None:
        # create_engine_for's settings (psycopg, sessions in UTC) without its pre-ping, which
        # switches the connection to autocommit: impossible inside the outer transaction.
        self.engine: Engine = create_engine(
            url,
            poolclass=StaticPool,
            pool_reset_on_return=None,
            connect_args={"options": "-c timezone=UTC"},
        )
        self._depth = 0
        self._thread = threading.get_ident()
        dialect = self.engine.dialect
        setattr(dialect, "do_begin", self._begin)  # noqa: B010 - replacing a method, per engine
        setattr(dialect, "do_commit", self._commit)  # noqa: B010
        setattr(dialect, "do_rollback", self._rollback)  # noqa: B010
        with self.engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            self._driver: Any = driver
            sequences = connection.exec_driver_sql(
                "SELECT schemaname, sequencename, last_value FROM pg_sequences"
            ).all()
        self._restart = "; ".join(
            f'ALTER SEQUENCE "{schema}"."{name}" RESTART'
            + ("" if last is None else f" WITH {last + 1}")
            for schema, name, last in sequences
        )
        self._driver.rollback()  # the connection's reads above: no transaction left open

    def _run(self, dbapi_connection: Any, statement: str) -> None:
        if threading.get_ident() != self._thread:
            raise RuntimeError(
                "a rolled-back test database was used from another thread: the code under"
                " test opens connections of its own; mark the test @pytest.mark.commits"
            )
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()

    def _begin(self, dbapi_connection: Any) -> None:
        self._run(dbapi_connection, f"SAVEPOINT {self._NAME}")
        self._depth += 1

    def _commit(self, dbapi_connection: Any) -> None:
        if self._depth:
            self._run(dbapi_connection, f"RELEASE SAVEPOINT {self._NAME}")
            self._depth -= 1

    def _rollback(self, dbapi_connection: Any) -> None:
        if self._depth:  # else: a pool reset with no transaction (nothing to undo)
            self._run(dbapi_connection, f"ROLLBACK TO SAVEPOINT {self._NAME}")
            self._run(dbapi_connection, f"RELEASE SAVEPOINT {self._NAME}")
            self._depth -= 1

    @contextmanager
    def test(self) -> Iterator[Database]:
        """The database for one test: everything it does is rolled back after it."""
        self._depth = 0
        self._driver.execute(self._restart)  # begins the outer transaction
        try:
            yield Database(self.engine)
        finally:
            self._depth = 0
            self._driver.rollback()

    def close(self) -> None:
        self._driver.rollback()
        self.engine.dispose()


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
    """The committed tests' database (truncated before each of them)."""
    with _postgres_test_database("test") as url:
        engine = create_engine_for(url)
        try:
            yield Database(engine)
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def _postgres_savepoints() -> Iterator[_Savepoints]:
    """The rolled-back tests' database: never committed to after its migrations."""
    with _postgres_test_database("rollback") as url:
        savepoints = _Savepoints(url)
        try:
            yield savepoints
        finally:
            savepoints.close()


def _fresh_sqlite(template: Path, directory: Path) -> Database:
    path = directory / "stopsms.db"
    shutil.copyfile(template, path)
    return Database(create_engine_for(f"sqlite:///{path}"))


def _commits(request: pytest.FixtureRequest) -> bool:
    """Whether the test needs a database whose transactions really commit (module doc)."""
    return (
        "database_url" in request.fixturenames
        or request.node.get_closest_marker("commits") is not None
    )


@contextmanager
def _fresh_postgres(request: pytest.FixtureRequest) -> Iterator[Database]:
    if _commits(request):
        session_database: Database = request.getfixturevalue("_postgres_session_database")
        with session_database.transaction() as connection:
            emptied = ", ".join(_TRUNCATED + _PROCRASTINATE)
            connection.exec_driver_sql(f"TRUNCATE {emptied} RESTART IDENTITY CASCADE")
            ensure_seed(connection)
        yield session_database
    else:
        savepoints: _Savepoints = request.getfixturevalue("_postgres_savepoints")
        with savepoints.test() as database:
            yield database


@pytest.fixture
def sqlite_database(_sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A clean, migrated SQLite database in a temporary file."""
    database = _fresh_sqlite(_sqlite_template, tmp_path)
    yield database
    database.close()


@pytest.fixture
def postgres_database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A clean, migrated PostgreSQL database (rolled back or truncated: module doc)."""
    with _fresh_postgres(request) as database:
        yield database


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
        with _fresh_postgres(request) as database:
            yield database


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no schema at all (migration tests), on both backends."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("_postgres_session_database")  # fails clearly if unreachable
    with new_database("empty") as url:
        yield url


@pytest.fixture
def database_url(database: Database) -> str:
    """The URL of ``database``, password included (for ``STOPSMS_DATABASE_URL``)."""
    return database.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner on ``database``; the account and provider come from the command line only."""
    monkeypatch.setenv("STOPSMS_DATABASE_URL", database_url)
    monkeypatch.delenv("STOPSMS_ACCOUNT", raising=False)
    monkeypatch.delenv("STOPSMS_PROVIDER_URL", raising=False)
    return CliRunner()
