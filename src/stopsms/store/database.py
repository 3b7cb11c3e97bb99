"""Opening the database: engine creation, migrations, first-run seed.

``open_database(url)`` is what the application layer (:mod:`stopsms.app`) calls once per
process: it creates the engine with the right settings for the backend and, when the database
is not yet at this version's schema, applies the pending migrations (the schema only ever
changes by Alembic migration, shipped in :mod:`stopsms.store.migrations`) and makes sure the
installation has its opt-out hashing secret and its ``default`` account. Whether that is needed
is one read (:func:`is_current`: the ``alembic_version`` row against
:data:`~stopsms.store.migrations.HEAD`, the seed rows), without importing Alembic: a command
on a current database pays neither Alembic's import nor a write transaction
(``stopsms migrate`` migrates explicitly).

SQLite (the embedded default) runs in WAL mode with ``synchronous=NORMAL`` (durable at each
checkpoint, safe against corruption; a power cut may lose the last transactions but never
tear one), ``foreign_keys=ON`` and a ``busy_timeout``. Transactions are begun explicitly —
``BEGIN IMMEDIATE`` by default, so a transaction that reads then writes can never dead-end on
a lock upgrade; :meth:`Database.reader` begins deferred transactions for read-only work.

PostgreSQL (production) goes through psycopg 3 (``postgresql+psycopg://…``; a bare
``postgresql://`` URL is given that driver), sessions in UTC, connections pre-pinged.

Any other URL (``mysql://…``, another PostgreSQL driver, a typo) is refused by
:func:`create_engine_for` with :class:`DatabaseUnavailable`, one line naming the URL (password
hidden) and the two supported forms — never a missing-driver traceback. :func:`open_database`
reports a database it cannot reach or migrate the same way.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import sys
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from stopsms.config import load_settings
from stopsms.domain.errors import StopsmsError
from stopsms.store import tables as t
from stopsms.store.faults import database_fault
from stopsms.store.migrations import HEAD

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "STAGING_PREFIX",
    "Database",
    "DatabaseUnavailable",
    "create_engine_for",
    "downgrade",
    "ensure_seed",
    "head_revision",
    "installation_secret",
    "is_current",
    "migrate",
    "open_database",
    "schema_revision",
]

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Connections a SQLite file's pool keeps open: as many as the server's worker threads
#: (anyio's default, 40), so each keeps one. With SQLAlchemy's default of 5, 32 API requests
#: in flight opened and closed a connection per request beyond the fifth (each open runs the
#: pragmas and the WAL check): 4.7 % of the server's busy time under ``bench api``. A
#: connection's page cache grows only with the pages it reads (``cache_size`` is a ceiling),
#: and the pool hands out the connection used last (LIFO), so a quiet server reuses a few.
SQLITE_POOL_SIZE = 40
OPTOUT_SECRET_KEY = "optout_hash_secret"
#: Schema names of the staging files an import attaches (:mod:`stopsms.store.staging`).
STAGING_PREFIX = "stopsms_staging_"
#: The execution option (and the pooled connection's mark) of a SQLite transaction run
#: without foreign-key checks (:meth:`Database.transaction`).
_UNCHECKED = "stopsms_foreign_keys_unchecked"
#: Arbitrary constant naming the advisory lock that serialises concurrent migrations.
_MIGRATION_LOCK = 0x53544F50  # "STOP"


def _is_memory(url: str) -> bool:
    database = make_url(url).database
    return database in (None, "", ":memory:")


class DatabaseUnavailable(StopsmsError):
    """The configured database cannot be used: an unsupported URL, or it cannot be opened."""


_SUPPORTED = "sqlite:///path/to/stopsms.db or postgresql+psycopg://user@host/db"


def _supported_url(url: str) -> URL:
    """``url`` parsed, if it names a backend and driver stopsms runs on (see module doc)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUnavailable(
            f"invalid database URL {url!r} (STOPSMS_DATABASE_URL): expected {_SUPPORTED}"
        ) from None
    backend = parsed.get_backend_name()
    if (backend == "sqlite" and parsed.drivername in ("sqlite", "sqlite+pysqlite")) or (
        backend == "postgresql" and parsed.drivername in ("postgresql", "postgresql+psycopg")
    ):
        return parsed
    shown = parsed.render_as_string(hide_password=True)
    raise DatabaseUnavailable(
        f"unsupported database URL {shown!r} (STOPSMS_DATABASE_URL): stopsms runs on SQLite or"
        f" PostgreSQL with psycopg, e.g. {_SUPPORTED}"
    )


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the settings stopsms relies on (see module doc)."""
    parsed = _supported_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("options", "-c timezone=UTC")
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    return create_engine(parsed, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    if _is_memory(url):
        # One shared connection, or every checkout would see a different empty database.
        kwargs.setdefault("poolclass", StaticPool)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
    elif "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
        kwargs.setdefault("pool_use_lifo", True)  # the connection used last: its cache is warm
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below own transactions (pysqlite's implicit ones
        # start late and cannot be IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # First: switching to WAL takes a lock that another process opening the same new
        # file may hold for a moment; without a busy timeout the switch fails at once
        # ("database is locked") instead of waiting (tests/integration/test_migrations.py).
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        for pragma in (
            "synchronous=NORMAL",
            "foreign_keys=ON",
            # Temporary storage in files (SQLite's default), not in memory: a statement's
            # journal, a sort without an index and the preparation's temporary tables then
            # stay within their page cache and spill to a file past it. In memory they grew
            # with the campaign: preparing 1,880,000 recipients peaked at 403 MiB against
            # 122 MiB (8.76-8.88 s against 8.62-9.00 s, interleaved at load 3.8-4.0), and its
            # export at 265 MiB against 185 MiB (15.3-15.6 s against 15.7-16.4 s); at
            # 10,000,000 they had reached 1,625 MiB and 861 MiB (docs/scale.md).
            "temp_store=FILE",
            "cache_size=-65536",  # 64 MiB page cache
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        # Staging files an import attached (stopsms.store.staging) can only be detached once
        # the transaction that read them is over: now.
        if record is not None and record.info.pop(STAGING_PREFIX, False):
            _detach_staged(dbapi_connection)
        # A transaction run without foreign-key checks (Database.transaction) is over: the
        # connection checks them again for whoever uses it next.
        if record is not None and record.info.pop(_UNCHECKED, False):
            with contextlib.suppress(Exception):  # a broken connection is discarded anyway
                dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get(_UNCHECKED, False):
            # Only outside a transaction does SQLite take this pragma: just before BEGIN.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.connection.info[_UNCHECKED] = True
        mode = options.get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, waiting out other first opens of the same new file.

    When two connections both hold a shared lock and want the exclusive one the switch
    needs, SQLite answers one of them "database is locked" at once, without the busy
    handler (it would be a deadlock): that one tries again, for as long as the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _detach_staged(dbapi_connection: Any) -> None:
    names = [row[1] for row in dbapi_connection.execute("PRAGMA database_list")]
    for name in names:
        if name.startswith(STAGING_PREFIX):
            with contextlib.suppress(Exception):  # a connection already broken: nothing to free
                dbapi_connection.execute(f"DETACH DATABASE {name}")


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration shipped with this version of stopsms (read by Alembic from the
    migration files; :data:`~stopsms.store.migrations.HEAD` names it without Alembic)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def schema_revision(engine: Engine) -> str | None:
    """The migration the database is at, or ``None`` for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply every pending migration up to ``revision``, then seed the installation.

    Safe to call from several processes at once: PostgreSQL serialises them with an advisory
    lock, SQLite with its write lock.
    """
    from alembic import command

    if revision != "head" or schema_revision(engine) != head_revision():
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            command.upgrade(_alembic_config(connection), revision)
    if revision == "head":
        with engine.begin() as connection:
            ensure_seed(connection)


def downgrade(engine: Engine, revision: str) -> None:
    """Revert migrations down to ``revision`` (``"base"`` for an empty schema)."""
    from alembic import command

    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), revision)


def is_current(engine: Engine) -> bool:
    """Whether the database is at :data:`~stopsms.store.migrations.HEAD` and seeded: one read
    transaction (deferred on SQLite), no Alembic. False also when it cannot be read at all
    (no schema yet, unreachable): :func:`migrate` then creates it or says why it cannot."""
    reading = engine.execution_options(sqlite_begin="DEFERRED")
    try:
        with reading.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            seeded = connection.execute(
                select(func.count())
                .select_from(t.installation)
                .where(t.installation.c.key == OPTOUT_SECRET_KEY)
            ).scalar_one()
            default = connection.execute(
                select(func.count())
                .select_from(t.accounts)
                .where(t.accounts.c.name == t.DEFAULT_ACCOUNT)
            ).scalar_one()
    except SQLAlchemyError:
        return False
    return [tuple(row) for row in version] == [(HEAD,)] and seeded == 1 and default == 1


def _insert_ignore(connection: Connection, table: Any, values: dict[str, Any]) -> None:
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        connection.execute(pg_insert(table).values(values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        connection.execute(sqlite_insert(table).values(values).on_conflict_do_nothing())


def ensure_seed(connection: Connection, now: datetime | None = None) -> None:
    """Create what an installation needs on first open (idempotent, race-free).

    - the secret keying opt-out hashes (random, 256 bits, never leaves the database);
    - the ``default`` account, so the CLI works without set-up.
    """
    _insert_ignore(
        connection, t.installation, {"key": OPTOUT_SECRET_KEY, "value": secrets.token_hex(32)}
    )
    _insert_ignore(
        connection,
        t.accounts,
        {
            "name": t.DEFAULT_ACCOUNT,
            "brand": t.DEFAULT_ACCOUNT,
            "created_at": now or datetime.now(UTC),
        },
    )


_secrets: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


def installation_secret(connection: Connection) -> bytes:
    """The installation's opt-out hashing secret (read once per engine)."""
    secret = _secrets.get(connection.engine)
    if secret is None:
        value = connection.execute(
            select(t.installation.c.value).where(t.installation.c.key == OPTOUT_SECRET_KEY)
        ).scalar_one()
        secret = bytes.fromhex(value)
        _secrets[connection.engine] = secret
    return secret


@dataclass(frozen=True)
class Database:
    """An opened, migrated stopsms database.

    ``transaction()`` gives a connection inside a transaction that commits on success and
    rolls back on error; services take that connection so a caller can compose several of
    them atomically.
    """

    engine: Engine

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def transaction(self, *, foreign_keys: bool = True) -> AbstractContextManager[Connection]:
        """A read-write transaction (``BEGIN IMMEDIATE`` on SQLite).

        ``foreign_keys=False``: on SQLite, the transaction's statements skip the foreign-key
        checks (``PRAGMA foreign_keys`` is off from just before ``BEGIN`` until the
        connection goes back to the pool). Only for a bulk write whose every reference names
        a row it read or wrote itself in the same transaction — the write lock, held from
        ``BEGIN IMMEDIATE`` to the end, keeps any other writer from removing it meanwhile —
        and that removes nothing (no cascade runs): a contact import, whose checks were one
        parent lookup per ledger row and list membership (0.35 s and 0.43 s of 1,000,000
        rows with ``--list --consent``, measured). PostgreSQL ignores it (its import locks
        the parents instead: :func:`~stopsms.store.bulk.parents_held`).
        """
        if foreign_keys or self.backend != "sqlite":
            return self.engine.begin()
        return self.engine.execution_options(**{_UNCHECKED: True}).begin()

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A read-only-intended transaction (deferred on SQLite: never waits for writers)."""
        with self.engine.execution_options(sqlite_begin="DEFERRED").begin() as connection:
            yield connection

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()


def _new_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ``url`` that does not exist yet (None: other backends, memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or _is_memory(url) or parsed.query.get("mode"):
        return None
    path = Path(str(parsed.database))
    return None if path.exists() else path.absolute()


def open_database(url: str | None = None, *, apply_migrations: bool = True) -> Database:
    """Open the database at ``url`` or from settings; by default migrate and seed it when it is
    not current (:func:`is_current`), so a first use needs no set-up.

    A SQLite file that does not exist yet is created (its folder too) and announced on stderr
    in one line, "created database at …": a user sees where their data went on first use.
    """
    url = url or load_settings().database_url
    engine = create_engine_for(url)  # refuses an unsupported or malformed URL first
    created = _new_sqlite_file(url)
    if created is not None:
        try:
            created.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatabaseUnavailable(
                f"cannot create the folder {created.parent} for the database"
                f" ({error.strerror or error}); set STOPSMS_HOME to a folder you can write,"
                " or STOPSMS_DATABASE_URL"
            ) from None
    if apply_migrations and not is_current(engine):
        try:
            migrate(engine)
        except SQLAlchemyError as error:
            engine.dispose()
            raise DatabaseUnavailable(
                f"cannot open the database: {database_fault(error, url)}; nothing was"
                " changed, run the command again once that is fixed"
            ) from None
    if created is not None and created.exists():
        sys.stderr.write(f"created database at {created}\n")
        sys.stderr.flush()
    return Database(engine)


def autogenerate_revision(url: str, message: str) -> None:  # pragma: no cover - dev tool
    """Write a new migration by diffing the tables against a database at head (developers);
    then set :data:`~stopsms.store.migrations.HEAD` to its revision."""
    from alembic import command

    engine = create_engine_for(url)
    migrate(engine)
    with engine.begin() as connection:
        command.revision(_alembic_config(connection), message=message, autogenerate=True)
