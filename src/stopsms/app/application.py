"""The application: settings, the database, the acting account and user, the provider.

One :class:`App` per process, built from :class:`~stopsms.config.Settings`; every interface
stands on it (the CLI now; the API, the web and the workers next), so none of them opens a
database, resolves an account or parses a provider URL in its own way:

- the database is opened once, on first use, and closed by :meth:`App.close`. Opening migrates
  it only when it is not at this version's schema (one read, no Alembic import:
  :func:`stopsms.store.database.is_current`), so a first use needs no set-up and a command on a
  current database pays nothing more; ``stopsms migrate`` migrates explicitly
  (:meth:`App.migrate`). On the CLI this took ``accounts list`` from 1.43 s to 1.13 s (median
  of 15 interleaved runs on a shared machine; CPU 0.94 s → 0.81 s): Alembic's import and a
  write transaction per command are gone.
- :meth:`App.transaction` (read-write) and :meth:`App.reader` (read-only; deferred on SQLite,
  so it never waits for a writer). A database that cannot be opened is
  :class:`~stopsms.store.database.DatabaseUnavailable`; a failure inside a transaction is
  :class:`DatabaseFailed`, one line (:mod:`stopsms.store.faults`): what happened to which
  database and what to check (locked, read-only, full, connection lost…), that nothing of the
  command was written, and to run it again — never a traceback, nothing half written.
- the acting account: the one a request names, else the configured default
  (:meth:`App.account_name`, :meth:`App.account`). The acting user is :attr:`App.actor`, the
  name an interface acts under (the CLI: ``cli:<login>``), recorded with the opt-outs it
  changes. Users who may act only for some accounts come with the API: their check belongs in
  :meth:`App.account`, the one place an account is resolved.
- the provider, wired from its URL by the one parser (:mod:`stopsms.providers.urls`):
  :meth:`App.provider` builds it; :attr:`App.shortcode_substitution` and :attr:`App.rate` are
  what a use case needs to know of it without connecting.

Results are turned into JSON by :mod:`stopsms.app.results`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from stopsms.config import Settings, load_settings
from stopsms.domain.errors import StopsmsError
from stopsms.providers.urls import configured_route, provider_from_url
from stopsms.services.accounts.accounts import Account, get_account
from stopsms.services.campaigns.reports import DEFAULT_RATE
from stopsms.store.database import (
    Database,
    DatabaseUnavailable,
    migrate,
    open_database,
    schema_revision,
)
from stopsms.store.faults import DatabaseFault, database_fault

if TYPE_CHECKING:
    from stopsms.app.intake import Intake
    from stopsms.providers.base import Provider

__all__ = ["App", "DatabaseFailed", "Migrated", "NoProvider", "provider_rate"]


class DatabaseFailed(DatabaseFault):
    """The database refused or failed a statement; the transaction was rolled back."""


#: What a command that failed on the database kept, and what to do (the end of its line).
UNCHANGED = "nothing of this command was written, run it again once that is fixed"


def _failed(error: SQLAlchemyError | sqlite3.Error, url: str) -> DatabaseFailed:
    fault = database_fault(error, url)
    line = f"{fault}; {UNCHANGED}"
    return DatabaseFailed(fault.kind, line, database=fault.database, reason=fault.reason)


class NoProvider(StopsmsError):
    """No provider URL is configured, and the request gave none."""


@dataclass(frozen=True, slots=True)
class Migrated:
    """What :meth:`App.migrate` did: the schema revision before (None: empty) and after."""

    database: str
    before: str | None
    after: str | None


def provider_rate(provider_url: str | None) -> float:
    """The throughput of the provider at ``provider_url`` (its ``tps``), else
    :data:`~stopsms.services.campaigns.reports.DEFAULT_RATE` (no provider, or ``tps`` 0:
    unlimited)."""
    route = configured_route(provider_url)
    return float(route.tps) if route is not None and route.tps > 0 else DEFAULT_RATE


class App:
    """One process's view of stopsms: settings, database, acting account and user, provider.

    ``actor`` names who acts through this process (recorded with the changes it makes).
    """

    def __init__(self, settings: Settings | None = None, *, actor: str = "stopsms") -> None:
        self.settings = settings if settings is not None else load_settings()
        self.actor = actor
        self._database: Database | None = None
        self._write_lock = threading.RLock()
        # Made on first use: the intake imports the engine (sending, webhooks, httpx), which
        # a command that sends nothing direct need not load (0.2-0.45 s of every command's
        # start-up, measured with -X importtime).
        self._intake: Intake | None = None

    # -- the database ---------------------------------------------------------------------------

    @property
    def database(self) -> Database:
        """The database, opened (and migrated if it is behind) on first use."""
        if self._database is None:
            url = self.settings.database_url
            try:
                self._database = open_database(url)
            except SQLAlchemyError as error:
                raise DatabaseUnavailable(
                    f"cannot open the database: {database_fault(error, url)}; {UNCHANGED}"
                ) from None
        return self._database

    @contextmanager
    def transaction(self, *, foreign_keys: bool = True) -> Iterator[Connection]:
        """A read-write transaction: committed when the block ends, rolled back on error.

        On SQLite the process's write transactions take turns on a lock before ``BEGIN
        IMMEDIATE``: SQLite has one writer at a time, and its busy handler makes the others
        sleep and retry, which starves some under many threads (the API's: 32 requests in
        flight had writers waiting out the 10 s busy timeout, "database is locked"); threads
        blocked on a lock wake as soon as it is free. Other processes (a worker, the CLI)
        still meet the busy timeout.

        ``foreign_keys=False``: a bulk write that needs no foreign-key checks on SQLite
        (:meth:`~stopsms.store.database.Database.transaction` says when that holds).
        """
        database = self.database
        try:
            with (
                self._writing(),
                database.transaction(foreign_keys=foreign_keys) as connection,
            ):
                yield connection
        except (SQLAlchemyError, sqlite3.Error) as error:  # sqlite3: set-based preparation
            raise _failed(error, self.settings.database_url) from None

    def _writing(self) -> AbstractContextManager[object]:
        if self.database.backend == "sqlite":
            return self._write_lock
        return nullcontext()

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A read-only transaction (deferred on SQLite: it never waits for a writer)."""
        database = self.database
        try:
            with database.reader() as connection:
                yield connection
        except (SQLAlchemyError, sqlite3.Error) as error:
            raise _failed(error, self.settings.database_url) from None

    def migrate(self) -> Migrated:
        """Bring the database to this version's schema and seed it (``stopsms migrate``)."""
        url = self.settings.database_url
        database = open_database(url, apply_migrations=False)
        shown = database.engine.url.render_as_string(hide_password=True)
        try:
            before = schema_revision(database.engine)
            migrate(database.engine)
            after = schema_revision(database.engine)
        except SQLAlchemyError as error:
            fault = database_fault(error, url)
            raise DatabaseUnavailable(f"cannot migrate the database {shown}: {fault}") from None
        finally:
            database.close()
        return Migrated(shown, before, after)

    @property
    def intake(self) -> Intake:
        """The writer of direct messages, group-committing concurrent ones
        (:mod:`stopsms.app.intake`); its thread starts with the first message."""
        if self._intake is None:  # first use, or closed and used again
            from stopsms.app.intake import Intake

            self._intake = Intake(self)
        return self._intake

    def close(self) -> None:
        """Finish the direct messages handed over, then release the database's connections
        (the process is done with it)."""
        if self._intake is not None:
            self._intake.close()
            self._intake = None
        if self._database is not None:
            self._database.close()
            self._database = None

    # -- the acting account and user ------------------------------------------------------------

    def account_name(self, name: str | None) -> str:
        """The account a request acts on: the one it names, else the configured default."""
        return name or self.settings.default_account

    def account(self, connection: Connection, name: str | None) -> Account:
        """The acting account (:meth:`account_name`), read in the caller's transaction."""
        return get_account(connection, self.account_name(name))

    # -- the provider ---------------------------------------------------------------------------

    def provider(self, url: str | None = None) -> Provider:
        """The provider at ``url``, else the configured one, not yet started."""
        url = url or self.settings.provider_url
        if not url:
            raise NoProvider("no provider: set STOPSMS_PROVIDER_URL (e.g. smpp://id:pw@host:2775)")
        return provider_from_url(url)

    @property
    def shortcode_substitution(self) -> bool:
        """Whether the configured provider replaces ``STOP 00000`` by its own shortcode."""
        route = configured_route(self.settings.provider_url)
        return route is not None and route.shortcode_substitution

    @property
    def rate(self) -> float:
        """Messages per second a preview assumes: the configured provider's (see
        :func:`provider_rate`)."""
        return provider_rate(self.settings.provider_url)

    @property
    def max_parts(self) -> int:
        """The most SMS parts one message may take (``STOPSMS_MAX_PARTS``)."""
        return self.settings.max_parts
