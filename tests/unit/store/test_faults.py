"""Driver errors read as faults: the kind, whether to retry, one line naming the database."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from stopsms.store.faults import Fault, database_fault, shown_database

SQLITE = "sqlite:////srv/stopsms/stopsms.db"
POSTGRES = "postgresql+psycopg://app:secret@db.internal/stopsms"


def _sqlite(message: str) -> OperationalError:
    return OperationalError("UPDATE messages …", {}, sqlite3.OperationalError(message))


@pytest.mark.parametrize(
    ("message", "kind", "check"),
    [
        ("database is locked", Fault.LOCKED, "a long command or a tool holding it open"),
        ("attempt to write a readonly database", Fault.READ_ONLY, "mounted read-only"),
        ("database or disk is full", Fault.FULL, "free space there"),
        ("disk I/O error", Fault.IO, "free space of its disk first"),
        ("unable to open database file", Fault.CANNOT_OPEN, "exist and can be written"),
        ("UNIQUE constraint failed: lists.name", Fault.OTHER, "database error: UNIQUE"),
    ],
)
def test_sqlite_faults(message: str, kind: Fault, check: str) -> None:
    fault = database_fault(_sqlite(message), SQLITE)
    assert fault.kind is kind
    assert fault.retryable is (kind is Fault.LOCKED)
    line = str(fault)
    assert "/srv/stopsms/stopsms.db" in line  # which database: the file
    assert message in line  # the driver's own words
    assert check in line  # what to check
    assert "\n" not in line  # one line
    assert "UPDATE messages" not in line  # no SQL


def test_a_lost_postgresql_connection_is_retryable_and_hides_the_password() -> None:
    error = OperationalError(
        "SELECT 1",
        {},
        Exception("terminating connection due to administrator command\nSSL SYSCALL"),
    )
    fault = database_fault(error, POSTGRES)
    assert fault.kind is Fault.CONNECTION_LOST
    assert fault.retryable
    assert str(fault) == (
        "the connection to the database postgresql+psycopg://app:***@db.internal/stopsms was"
        " lost (terminating connection due to administrator command): check that the server"
        " is up and reachable"
    )
    invalidated = OperationalError("SELECT 1", {}, Exception("?"), connection_invalidated=True)
    assert database_fault(invalidated, POSTGRES).kind is Fault.CONNECTION_LOST


def test_postgresql_full_disk_and_read_only_replica() -> None:
    full = OperationalError("INSERT", {}, Exception('could not extend file "base/1/2"'))
    assert database_fault(full, POSTGRES).kind is Fault.FULL
    replica = OperationalError(
        "INSERT", {}, Exception("cannot execute INSERT in a read-only transaction")
    )
    assert database_fault(replica, POSTGRES).kind is Fault.READ_ONLY
    assert "use the primary server" in str(database_fault(replica, POSTGRES))


def test_shown_database() -> None:
    assert shown_database(SQLITE) == "/srv/stopsms/stopsms.db"
    assert "secret" not in shown_database(POSTGRES)
