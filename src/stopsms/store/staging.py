"""Staging files: Arrow tables written to private SQLite files in C, read back through ``ATTACH``.

Binding a million rows through :mod:`sqlite3`'s ``executemany`` costs about 2 µs a row in
Python before SQLite does any work; reading the same rows with ``INSERT … SELECT`` from another
SQLite file costs nothing in Python. :func:`write_staging` writes an Arrow table into a new
file with the ADBC SQLite driver (binding in C, measured 0.35 s for 940,000 rows of two columns;
it releases the GIL, so it runs beside Python work); :func:`attach` makes it readable on the
import's connection, inside its transaction.

Two copies of SQLite live in the process then (the driver links its own): that is only unsafe
when both open the same file (each keeps its own POSIX locks), and they never do — a staging
file is written and closed by the driver before :mod:`sqlite3` attaches it.

SQLite refuses to ``DETACH`` a database the current transaction has read, so staging files stay
attached until the transaction ends; the engine's pool detaches them when the connection is
checked in (``stopsms.store.database``). Each file is unlinked as soon as it has been read (the
open handle keeps it readable).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import adbc_driver_sqlite.dbapi as adbc
import pyarrow as pa
from sqlalchemy import Connection

from stopsms.store.database import STAGING_PREFIX

__all__ = ["STAGED_TABLE", "attach", "free_attach_slots", "write_staging"]

#: The table inside each staging file.
STAGED_TABLE = "staged"


def write_staging(path: Path, data: pa.Table | pa.RecordBatchReader) -> None:
    """Write ``data`` as table ``staged`` of a new SQLite file at ``path`` (no journal).

    A stream of batches (a reader) is written as it comes: several ranges of a large file in
    one staging file, one range in memory at a time.
    """
    connection = adbc.connect(str(path), autocommit=True)
    try:
        cursor = connection.cursor()
        try:
            # Private, written once and read once: nothing to journal or to sync.
            for pragma in ("journal_mode=OFF", "synchronous=OFF"):
                cursor.execute(f"PRAGMA {pragma}")
                cursor.fetchall()
            cursor.adbc_ingest(STAGED_TABLE, data, mode="create")
        finally:
            cursor.close()
    finally:
        connection.close()


def _attached(raw: sqlite3.Connection) -> list[str]:
    return [row[1] for row in raw.execute("PRAGMA database_list") if row[1] not in ("main", "temp")]


def _driver(connection: Connection) -> sqlite3.Connection:
    raw = connection.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection), "staging files are for SQLite connections"
    return raw


def free_attach_slots(connection: Connection) -> int:
    """How many more databases the connection can attach (SQLite's limit, usually 10)."""
    raw = _driver(connection)
    return int(raw.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED)) - len(_attached(raw))


def attach(connection: Connection, path: Path) -> str:
    """Attach the staging file ``path``; its schema name (``<name>.staged`` is the table).

    The pool detaches it when the connection is checked in (the transaction is over then).
    """
    raw = _driver(connection)
    taken = set(_attached(raw))
    number = 0
    while f"{STAGING_PREFIX}{number}" in taken:
        number += 1
    name = f"{STAGING_PREFIX}{number}"
    raw.execute(f"ATTACH DATABASE ? AS {name}", (str(path),))
    connection.connection.info[STAGING_PREFIX] = True
    return name
