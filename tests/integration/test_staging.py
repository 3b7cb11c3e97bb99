"""Staging files: written by the ADBC driver, attached in a transaction, detached at checkin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection

from stopsms.store.database import STAGING_PREFIX, Database
from stopsms.store.staging import STAGED_TABLE, attach, free_attach_slots, write_staging


def _staging_schemas(connection: Connection) -> list[str]:
    rows = connection.exec_driver_sql("PRAGMA database_list").all()
    return [str(row[1]) for row in rows if str(row[1]).startswith(STAGING_PREFIX)]


def _driver_id(connection: Connection) -> int:
    return id(connection.connection.driver_connection)


def _sample() -> pa.Table:
    return pa.table(
        {
            "phone": pa.array(["+33612345678", "+33612345679", "+262692123456"], pa.string()),
            "first_name": pa.array(["Jean", None, "Zoé"], pa.string()),
            "line": pa.array([2, 5, None], pa.int64()),
        }
    )


def test_a_staging_file_is_read_in_the_transaction_and_detached_after(
    sqlite_database: Database, tmp_path: Path
) -> None:
    data = _sample()
    path = tmp_path / "s.db"
    write_staging(path, data)
    assert path.exists()
    with sqlite_database.transaction() as connection:
        used = _driver_id(connection)
        free = free_attach_slots(connection)
        assert free >= 1
        name = attach(connection, path)
        assert name.startswith(STAGING_PREFIX)
        assert free_attach_slots(connection) == free - 1
        assert _staging_schemas(connection) == [name]
        rows = connection.exec_driver_sql(
            f"SELECT phone, first_name, line FROM {name}.{STAGED_TABLE} ORDER BY rowid"
        ).all()
        assert [tuple(row) for row in rows] == list(
            zip(*(data.column(i).to_pylist() for i in range(data.num_columns)), strict=True)
        )
        # A second file gets the next schema name.
        other = tmp_path / "t.db"
        write_staging(other, data.slice(0, 1))
        second = attach(connection, other)
        assert second != name
        assert free_attach_slots(connection) == free - 2
        count: Any = connection.exec_driver_sql(
            f"SELECT count(*) FROM {second}.{STAGED_TABLE}"
        ).scalar_one()
        assert count == 1
    with sqlite_database.reader() as connection:
        assert _driver_id(connection) == used  # the same pooled connection, checked in since
        assert _staging_schemas(connection) == []
        assert free_attach_slots(connection) == free


def test_a_rolled_back_transaction_detaches_too(sqlite_database: Database, tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    write_staging(path, _sample())

    class Stop(Exception):
        pass

    try:
        with sqlite_database.transaction() as connection:
            used = _driver_id(connection)
            attach(connection, path)
            raise Stop
    except Stop:
        pass
    with sqlite_database.reader() as connection:
        assert _driver_id(connection) == used
        assert _staging_schemas(connection) == []


def test_write_staging_keeps_the_arrow_types(sqlite_database: Database, tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    write_staging(path, _sample())
    with sqlite_database.transaction() as connection:
        name = attach(connection, path)
        types = connection.exec_driver_sql(
            f"SELECT typeof(phone), typeof(first_name), typeof(line) FROM {name}.{STAGED_TABLE}"
            " ORDER BY rowid"
        ).all()
    assert [tuple(row) for row in types] == [
        ("text", "text", "integer"),
        ("text", "null", "integer"),
        ("text", "text", "null"),
    ]
