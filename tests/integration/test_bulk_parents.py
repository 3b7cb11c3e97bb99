"""PostgreSQL bulk writes with their parents held instead of a foreign-key check per row.

:func:`stopsms.store.bulk.parents_held` locks the parents once and sets
``session_replication_role = replica`` for the block, where the role may: the checks are back
after it, the parents cannot be deleted under it, a role without the privilege keeps the
checks, and an import writes the same rows either way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, exc, text
from sqlalchemy.engine import make_url

from stopsms.clock import FakeClock
from stopsms.services.accounts import accounts
from stopsms.services.campaigns import preparation_sets
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.contacts.importing import ImportOptions, import_contacts
from stopsms.store import bulk
from stopsms.store.database import Database

from .test_contact_import import NOW
from .test_contact_import_columnar import _generated, _state
from .test_preparation import add_contacts, fr, messages_of, setup_account

pytestmark = pytest.mark.postgres


def _role(connection: Connection) -> str:
    return str(connection.exec_driver_sql("SHOW session_replication_role").scalar_one())


def _list(connection: Connection, name: str = "vip") -> int:
    query = text(
        "INSERT INTO lists (account_id, name, created_at) VALUES (1, :n, now()) RETURNING id"
    )
    return int(connection.execute(query, {"n": name}).scalar_one())


def test_checks_are_back_after_the_block(postgres_database: Database) -> None:
    with postgres_database.transaction() as conn:
        list_id = _list(conn)
        with bulk.parents_held(conn, [("accounts", 1), ("lists", list_id)]) as held:
            assert held  # the test server's role is a superuser
            assert _role(conn) == "replica"
        assert _role(conn) == "origin"
        with pytest.raises(exc.IntegrityError, match="list_members"), conn.begin_nested():
            conn.exec_driver_sql(
                f"INSERT INTO list_members (list_id, contact_id) VALUES ({list_id}, 999999)"
            )


def test_a_failure_in_the_block_resets_the_role(postgres_database: Database) -> None:
    with postgres_database.transaction() as conn:
        with pytest.raises(RuntimeError), bulk.parents_held(conn, [("accounts", 1)]):
            raise RuntimeError("the bulk write failed")
        assert _role(conn) == "origin"


def test_only_parent_tables_are_locked(postgres_database: Database) -> None:
    with (
        postgres_database.transaction() as conn,
        pytest.raises(ValueError, match="contacts"),
        bulk.parents_held(conn, [("contacts", 1)]),
    ):
        pass


@pytest.mark.commits
def test_the_parents_cannot_be_deleted_until_commit(postgres_database: Database) -> None:
    with postgres_database.transaction() as conn:
        list_id = _list(conn, "held")
    other = postgres_database.engine.connect()
    try:
        with (
            postgres_database.transaction() as conn,
            bulk.parents_held(conn, [("lists", list_id)]),
            other.begin(),
        ):
            other.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
            with pytest.raises(exc.OperationalError, match="lock timeout"):
                other.exec_driver_sql(f"DELETE FROM lists WHERE id = {list_id}")
        with other.begin():  # committed: the lock is gone
            other.exec_driver_sql(f"DELETE FROM lists WHERE id = {list_id}")
    finally:
        other.close()


@pytest.fixture
def plain_role(postgres_database: Database) -> Iterator[tuple[str, str]]:
    """A login role that is not a superuser: ``(name, its URL to the test database)``."""
    name = f"stopsms_plain_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_database.engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {name} LOGIN")
    url = make_url(postgres_database.engine.url).set(username=name)
    try:
        yield name, url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(
                f"REVOKE SET ON PARAMETER session_replication_role FROM {name}"
            )
            connection.exec_driver_sql(f"DROP ROLE {name}")
        admin.dispose()


@pytest.mark.commits
def test_a_plain_role_holds_parents_only_once_granted(
    postgres_database: Database, plain_role: tuple[str, str]
) -> None:
    name, url = plain_role
    for granted in (False, True):
        if granted:
            with postgres_database.engine.connect() as admin, admin.begin():
                admin.exec_driver_sql(f"GRANT SET ON PARAMETER session_replication_role TO {name}")
        engine = create_engine(url)  # a new connection: the answer is kept per connection
        try:
            with engine.connect() as conn, conn.begin():
                assert bulk.may_hold_parents(conn) is granted
                with bulk.parents_held(conn, []) as held:
                    assert held is granted
                    assert _role(conn) == ("replica" if granted else "origin")
        finally:
            engine.dispose()


def test_sqlite_is_left_alone(sqlite_database: Database) -> None:
    with sqlite_database.transaction() as conn, bulk.parents_held(conn, [("accounts", 1)]) as held:
        assert not held


@pytest.mark.parametrize("row_path", [False, True], ids=["columnar", "row-path"])
def test_an_import_writes_the_same_without_the_privilege(
    postgres_database: Database, tmp_path: Path, row_path: bool
) -> None:
    """The same file into two accounts, parents held then per-row checks: the same rows."""
    path = tmp_path / "clients.csv"
    path.write_text(_generated(300, seed=11), encoding="utf-8")
    states = []
    for account, allowed in (("held", True), ("checked", False)):
        with postgres_database.transaction() as conn:
            accounts.create_account(conn, account)
            conn.connection.info[bulk._INFO_KEY] = allowed  # the role's answer
            options = ImportOptions(list_name="vip", consent="opt-in", chunk_rows=97)
            for _ in range(2):  # then again over its contacts
                import_contacts(conn, account, path, options, now=NOW, row_path=row_path)
            conn.connection.info.pop(bulk._INFO_KEY)
        states.append(_state(postgres_database, account))
    assert states[0]["members"]
    assert states[0] == states[1]


def test_a_preparation_writes_the_same_without_the_privilege(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same list prepared twice, parents held then per-row checks: the same messages."""
    held: list[bool] = []
    insert_decided = preparation_sets._insert_decided

    def spy(*args: object, lock_contacts: bool = False, **kwargs: object) -> None:
        held.append(lock_contacts)
        insert_decided(*args, lock_contacts=lock_contacts, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(preparation_sets, "_insert_decided", spy)
    clock = FakeClock(NOW)
    with postgres_database.transaction() as c:
        setup_account(c)
        people = [{"phone_e164": fr(i), "first_name": f"P{i % 3}"} for i in range(1, 40)]
        add_contacts(c, "l", [*people, {"phone_e164": fr(50), "consent": None}])
    written = []
    for allowed in (True, False):
        with postgres_database.transaction() as c:
            campaign_id = create_campaign(
                c, "default", list_name="l", text="Promo {prenom}", sender="MaBoutique", clock=clock
            ).campaign.id
            c.connection.info[bulk._INFO_KEY] = allowed
            prepare_campaign(c, campaign_id, clock)
            c.connection.info.pop(bulk._INFO_KEY)
            assert _role(c) == "origin"
            written.append(
                [
                    (r.contact_id, r.phone_e164, r.decision, r.reason, r.text, r.status)
                    for r in messages_of(c, campaign_id)
                ]
            )
    assert held == [True, False]
    assert len(written[0]) == 40
    assert written[0] == written[1]
