"""Database faults as sentences: what happened, to which database, what to check.

A driver error (SQLAlchemy's, wrapping sqlite3's or psycopg's) is read once, here, into a
:class:`DatabaseFault`: its :class:`Fault` kind, whether waiting can cure it, and one line
naming the database (the SQLite file, or the PostgreSQL URL without its password) and what to
check. The callers add what was kept and what to run next, which only they know: the
application layer (``App.transaction``: "nothing of this command was written"), the sending
engine (:mod:`stopsms.engine.database_thread` retries the retryable ones with back-off before
it gives up; ``campaign send`` and ``worker`` say where the campaign was left).

Kinds, from the driver's own words (SQLite's result codes surface only as text through
``sqlite3``; psycopg's through SQLAlchemy's ``connection_invalidated``):

- ``locked``: another connection holds SQLite's write lock beyond the busy timeout
  (``database is locked``), or PostgreSQL cancelled on a lock or deadlock — retryable;
- ``connection_lost``: the PostgreSQL connection dropped (server restarted, backend
  terminated, network) — retryable: the pool opens a new one;
- ``read_only``: the file, its ``-wal``/``-shm`` companions or its folder cannot be written,
  or the disk is mounted read-only;
- ``full``: ``database or disk is full`` (SQLite), ``could not extend file`` / no space
  (PostgreSQL);
- ``io``: ``disk I/O error`` — on a full tmpfs it is SQLite failing to grow its ``-shm``
  file, so free space is the first thing to check;
- ``cannot_open``: the file or its folder cannot be opened at all;
- ``other``: anything else, with the driver's first line.
"""

from __future__ import annotations

import enum

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from stopsms.domain.errors import StopsmsError

__all__ = ["DatabaseFault", "Fault", "database_fault", "driver_reason", "shown_database"]


class Fault(enum.Enum):
    """What kind of database fault (module doc)."""

    LOCKED = "locked"
    CONNECTION_LOST = "connection_lost"
    READ_ONLY = "read_only"
    FULL = "full"
    IO = "io"
    CANNOT_OPEN = "cannot_open"
    OTHER = "other"

    @property
    def retryable(self) -> bool:
        """Whether the same transaction may succeed if tried again a little later."""
        return self in (Fault.LOCKED, Fault.CONNECTION_LOST)


class DatabaseFault(StopsmsError):
    """The database failed a transaction (rolled back: nothing of it was written).

    ``str()`` is one line: what happened, to which database, what to check."""

    def __init__(self, kind: Fault, line: str, *, database: str = "", reason: str = "") -> None:
        super().__init__(line)
        self.kind = kind
        self.database = database
        self.reason = reason

    @property
    def retryable(self) -> bool:
        return self.kind.retryable


def driver_reason(error: BaseException) -> str:
    """The driver's own message, first line only (no SQL echo, no traceback)."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def shown_database(url: str | URL) -> str:
    """The SQLite file's path, or the URL with its password hidden."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return str(url)
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database or ":memory:")
    return parsed.render_as_string(hide_password=True)


_SQLITE_FILES = "the file, its -wal and -shm files beside it and its folder"

# (kind, words of the driver that say it), checked in this order.
_WORDS: tuple[tuple[Fault, tuple[str, ...]], ...] = (
    (
        Fault.READ_ONLY,
        (
            "readonly database",
            "read-only file system",
            "read only file system",
            "in a read-only transaction",  # PostgreSQL: a hot standby, or default_read_only
        ),
    ),
    (Fault.FULL, ("database or disk is full", "no space left", "could not extend file")),
    (Fault.LOCKED, ("database is locked", "database table is locked", "deadlock detected")),
    (Fault.LOCKED, ("lock timeout", "could not obtain lock", "canceling statement due to lock")),
    (Fault.IO, ("disk i/o error",)),
    (Fault.CANNOT_OPEN, ("unable to open database file",)),
    (
        Fault.CONNECTION_LOST,
        (
            "server closed the connection",
            "terminating connection",
            "connection is closed",
            "consuming input failed",
            "connection refused",
            "connection failed",
            "could not receive data",
            "connection timed out",
            "the connection is lost",
        ),
    ),
)


def _kind(error: BaseException, reason: str) -> Fault:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return Fault.CONNECTION_LOST
    lowered = reason.lower()
    for kind, words in _WORDS:
        if any(word in lowered for word in words):
            return kind
    return Fault.OTHER


def _line(kind: Fault, where: str, reason: str, sqlite: bool) -> str:
    if kind is Fault.LOCKED and sqlite:
        return (
            f"the database {where} stayed locked by another process ({reason}): check for a"
            " long command or a tool holding it open (an sqlite3 shell, a backup)"
        )
    if kind is Fault.LOCKED:
        return f"the database {where} refused the change on a lock ({reason})"
    if kind is Fault.CONNECTION_LOST:
        return (
            f"the connection to the database {where} was lost ({reason}): check that the"
            " server is up and reachable"
        )
    if kind is Fault.READ_ONLY and sqlite:
        return (
            f"the database {where} cannot be written ({reason}): check that the user running"
            f" stopsms can write {_SQLITE_FILES}, and that the disk is not mounted read-only"
        )
    if kind is Fault.READ_ONLY:
        return f"the database {where} is read-only ({reason}): use the primary server"
    if kind is Fault.FULL:
        return f"the disk of the database {where} is full ({reason}): free space there"
    if kind is Fault.IO:
        return (
            f"the database {where} could not be read or written ({reason}): check the free"
            f" space of its disk first, then that {_SQLITE_FILES} can be written"
        )
    if kind is Fault.CANNOT_OPEN:
        return (
            f"the database {where} cannot be opened ({reason}): check that {_SQLITE_FILES}"
            " exist and can be written"
        )
    return f"database error: {reason} (database {where})"


def database_fault(error: BaseException, url: str | URL) -> DatabaseFault:
    """``error`` (a driver error on the database at ``url``) as a :class:`DatabaseFault`."""
    reason = driver_reason(error)
    kind = _kind(error, reason)
    where = shown_database(url)
    try:
        sqlite = make_url(url).get_backend_name() == "sqlite"
    except ArgumentError:
        sqlite = False
    return DatabaseFault(kind, _line(kind, where, reason, sqlite), database=where, reason=reason)
