"""The engine's database thread under a real SQLite lock (waited out, or one line) and a lost
PostgreSQL connection (replaced)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, func, insert, select, text

from stopsms.engine.database_thread import DatabaseThread
from stopsms.store import database as store
from stopsms.store import tables as t
from stopsms.store.database import Database, open_database
from stopsms.store.faults import DatabaseFault, Fault
from tests.postgres import admin_url, new_database

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """A migrated SQLite file whose connections wait 100 ms for a lock (not 10 s)."""
    monkeypatch.setattr(store, "SQLITE_BUSY_TIMEOUT_MS", 100)
    return open_database(f"sqlite:///{tmp_path / 'stopsms.db'}")


def _insert(name: str) -> Callable[[Connection], None]:
    def job(conn: Connection) -> None:
        conn.execute(insert(t.lists).values(account_id=1, name=name, created_at=func.now()))

    return job


def _names(database: Database) -> list[str]:
    with database.reader() as conn:
        return list(conn.execute(select(t.lists.c.name).order_by(t.lists.c.id)).scalars())


def _hold_lock(path: Path, seconds: float) -> threading.Event:
    """Another connection holds the write lock (``BEGIN IMMEDIATE``) for ``seconds``; the
    event is set once it holds it."""
    held = threading.Event()

    def hold() -> None:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        held.set()
        threading.Event().wait(seconds)
        holder.execute("ROLLBACK")
        holder.close()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)
    return held


def test_a_lock_shorter_than_the_bound_is_waited_out(sqlite_file: Database, tmp_path: Path) -> None:
    thread = DatabaseThread(sqlite_file, retry_for=30)
    try:
        _hold_lock(tmp_path / "stopsms.db", 1.0)
        asyncio.run(_run(thread, _insert("after the lock")))
    finally:
        thread.close()
    assert thread.retried >= 1  # it met the lock, and tried again
    assert _names(sqlite_file) == ["after the lock"]  # once


def test_a_lock_beyond_the_bound_is_one_line_and_writes_nothing(
    sqlite_file: Database, tmp_path: Path
) -> None:
    thread = DatabaseThread(sqlite_file, retry_for=0.5)
    try:
        _hold_lock(tmp_path / "stopsms.db", 3.0)
        with pytest.raises(DatabaseFault) as refused:
            asyncio.run(_run(thread, _insert("never")))
        retried = thread.retried
        with pytest.raises(DatabaseFault):  # the next job gets one try, no second wait
            asyncio.run(_run(thread, _insert("never either")))
        assert thread.retried == retried
    finally:
        thread.close()
    fault = refused.value
    assert fault.kind is Fault.LOCKED
    assert fault.retryable
    assert "\n" not in str(fault)
    assert str(fault).startswith(f"the database {tmp_path / 'stopsms.db'} stayed locked")
    assert "an sqlite3 shell, a backup" in str(fault)
    assert _names(sqlite_file) == []
    again = DatabaseThread(sqlite_file)
    try:
        asyncio.run(_run(again, _insert("once free")))
    finally:
        again.close()
    assert _names(sqlite_file) == ["once free"]


async def _run(thread: DatabaseThread, job: Callable[[Connection], None]) -> None:
    await thread.run(job)


def _backend(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


@pytest.mark.postgres
def test_postgresql_keeps_its_connection_and_replaces_it_once_lost() -> None:
    """On PostgreSQL the thread holds one connection between jobs (no pre-ping each time);
    killed while idle, it is replaced by the retry and the job is written once."""
    with new_database("held") as url:
        database = open_database(url)
        thread = DatabaseThread(database, retry_for=30)
        admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")

        async def scenario() -> tuple[int, int, int]:
            first = await thread.run(_backend)
            second = await thread.run(_backend)
            with admin.connect() as connection:  # waits until the backend is gone
                connection.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": first})
            await thread.run(_insert("after the loss"))
            return first, second, await thread.run(_backend)

        try:
            first, second, third = asyncio.run(scenario())
        finally:
            thread.close()
            admin.dispose()
        assert second == first  # held, not taken again from the pool
        assert third != first  # the lost one was replaced
        assert thread.retried == 1
        assert _names(database) == ["after the loss"]  # once
        database.close()
