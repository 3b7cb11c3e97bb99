"""A SQLite transaction without foreign-key checks, for an import: only that transaction.

``Database.transaction(foreign_keys=False)`` turns SQLite's checks off just before ``BEGIN``
and back on when the connection returns to the pool; PostgreSQL ignores it. A committed
import asks for it, and writes what it wrote with the checks on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, exc

from stopsms.services.contacts.importing import ImportOptions, import_contacts_committed
from stopsms.store.database import Database


def _checks(connection: Connection) -> int:
    return int(connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one())


def _orphan(connection: Connection) -> None:
    """A list membership of a list and a contact that do not exist."""
    connection.exec_driver_sql(
        "INSERT INTO list_members (list_id, contact_id) VALUES (987654, 987654)"
    )


def test_only_the_unchecked_transaction_skips_the_checks(sqlite_database: Database) -> None:
    with sqlite_database.transaction(foreign_keys=False) as connection:
        driver = connection.connection.driver_connection
        assert _checks(connection) == 0
    # The pool hands out the connection used last: the same one, checked again.
    with sqlite_database.transaction() as connection:
        assert connection.connection.driver_connection is driver
        assert _checks(connection) == 1
        with pytest.raises(exc.IntegrityError):
            _orphan(connection)
    with sqlite_database.reader() as connection:
        assert _checks(connection) == 1


def test_a_failed_unchecked_transaction_leaves_the_checks_on(sqlite_database: Database) -> None:
    with (
        pytest.raises(RuntimeError),
        sqlite_database.transaction(foreign_keys=False) as connection,
    ):
        raise RuntimeError("the import failed")
    with sqlite_database.transaction() as connection:
        assert _checks(connection) == 1


def test_postgresql_keeps_its_checks(postgres_database: Database) -> None:
    with (
        pytest.raises(exc.IntegrityError),
        postgres_database.transaction(foreign_keys=False) as connection,
    ):
        _orphan(connection)


def test_a_committed_import_runs_unchecked_and_writes_the_same(
    database: Database, tmp_path: Path
) -> None:
    source = tmp_path / "clients.csv"
    source.write_text("phone;first_name\n0612345678;Jean\n0612345679;Zoé\n0612345678;Jeanne\n")
    asked: list[bool] = []

    @contextmanager
    def transaction(*, foreign_keys: bool = True) -> Iterator[Connection]:
        asked.append(foreign_keys)
        with database.transaction(foreign_keys=foreign_keys) as connection:
            yield connection

    options = ImportOptions(list_name="vip", consent="opt-in", rejects_path=tmp_path / "r.csv")
    summary = import_contacts_committed(transaction, "default", source, options)
    assert asked == [False]
    assert (summary.imported, summary.consents_recorded, summary.list_added) == (2, 2, 2)
    with database.reader() as connection:
        # Every reference the import wrote names a row that exists.
        orphans = connection.exec_driver_sql(
            "SELECT count(*) FROM consents AS k LEFT JOIN contacts AS c ON c.id = k.contact_id"
            " WHERE c.id IS NULL"
        ).scalar_one()
        members = connection.exec_driver_sql(
            "SELECT count(*) FROM list_members AS m JOIN contacts AS c ON c.id = m.contact_id"
            " JOIN lists AS l ON l.id = m.list_id WHERE l.name = 'vip'"
        ).scalar_one()
    assert (orphans, members) == (0, 2)
