"""Issue 8, item 1: the application layer every interface stands on (stopsms.app).

The database is opened once per command and migrated only when it is behind (one read, no
Alembic import); ``stopsms migrate`` migrates explicitly; a transaction's failure is one line;
the acting account comes from one place; the provider is wired from its URL by the one parser;
the inbound SMS listing and the reject report's clean-up are services.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert, text
from typer.testing import CliRunner

import stopsms.app.application as application_module
from stopsms.app import App, DatabaseFailed, NoProvider, provider_rate
from stopsms.cli.main import app as cli_app
from stopsms.config import Settings
from stopsms.errors import UnknownAccount
from stopsms.providers.base import ProviderError
from stopsms.providers.smpp import SmppProvider
from stopsms.services.campaigns.reports import DEFAULT_RATE
from stopsms.services.contacts.importing import ImportOptions, import_contacts_committed
from stopsms.services.messages.replies import latest_replies
from stopsms.store import database as store
from stopsms.store import tables as t
from stopsms.store.database import (
    Database,
    downgrade,
    head_revision,
    is_current,
    open_database,
)
from stopsms.store.migrations import HEAD

# -- migrations: at first use when behind, or by `stopsms migrate`, never per command ----------


def test_head_constant_names_the_newest_migration() -> None:
    assert head_revision() == HEAD


def test_a_current_database_is_opened_without_migrating(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert is_current(database.engine)

    def no_migration(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a current database must not be migrated")

    monkeypatch.setattr(store, "migrate", no_migration)
    store.open_database(database_url).close()


def test_a_database_behind_is_migrated_at_first_use(empty_database_url: str) -> None:
    first = store.open_database(empty_database_url)
    downgrade(first.engine, "0002")
    assert not is_current(first.engine)
    first.close()
    second = store.open_database(empty_database_url)
    try:
        assert is_current(second.engine)
        assert store.schema_revision(second.engine) == HEAD
    finally:
        second.close()


def test_stopsms_migrate(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOPSMS_DATABASE_URL", empty_database_url)
    runner = CliRunner()
    first = runner.invoke(cli_app, ["migrate"])
    assert first.exit_code == 0, first.output
    assert f"migrated from revision (empty) to {HEAD}" in first.output
    again = runner.invoke(cli_app, ["migrate"])
    assert again.exit_code == 0, again.output
    assert f"already at revision {HEAD}" in again.output


def test_a_command_on_a_current_database_does_not_load_alembic(database_url: str) -> None:
    """Alembic's import and the migration check were paid by every command (~0.17 s)."""
    code = (
        "import sys\n"
        "from stopsms.cli.main import app\n"
        "try:\n"
        "    app(['accounts', 'list', '--json'])\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "assert 'alembic' not in sys.modules, 'alembic imported'\n"
    )
    env = {**os.environ, "STOPSMS_DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert '"name":"default"' in done.stdout


def test_one_command_opens_the_database_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOPSMS_DATABASE_URL", database_url)
    opened: list[Database] = []
    closed: list[Database] = []
    real_open = open_database
    real_close = Database.close

    def counting_open(url: str) -> Database:
        opened.append(real_open(url))
        return opened[-1]

    def counting_close(self: Database) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(application_module, "open_database", counting_open)
    monkeypatch.setattr(Database, "close", counting_close)
    # `optouts add` then `preview --account`: each command opens once and closes at its end.
    runner = CliRunner()
    result = runner.invoke(cli_app, ["optouts", "add", "0612345678"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli_app, ["preview", "--account", "default", "Bonjour"])
    assert result.exit_code == 0, result.output
    assert len(opened) == 2  # one per command
    assert closed == opened  # each closed when its command ended


# -- transactions, the acting account, the provider ---------------------------------------------


def test_a_failed_statement_is_one_line_and_rolls_back(database_url: str) -> None:
    app = App(Settings(database_url=database_url))
    try:

        def insert_twice() -> None:
            with app.transaction() as connection:
                for _ in range(2):
                    connection.execute(
                        insert(t.accounts).values(name="twice", created_at=datetime.now(UTC))
                    )

        with pytest.raises(DatabaseFailed, match=r"^database error: ") as refused:
            insert_twice()
        assert "\n" not in str(refused.value)
        with app.reader() as connection:
            count = connection.execute(
                text("SELECT count(*) FROM accounts WHERE name = 'twice'")
            ).scalar_one()
        assert count == 0
    finally:
        app.close()


def test_the_acting_account_is_the_named_one_else_the_default(database_url: str) -> None:
    app = App(Settings(database_url=database_url, default_account="default"))
    try:
        with app.reader() as connection:
            assert app.account(connection, None).name == "default"
            with pytest.raises(UnknownAccount):
                app.account(connection, "nobody")
        assert app.account_name("shop") == "shop"
    finally:
        app.close()


def test_the_provider_is_wired_from_its_url() -> None:
    url = "smpp://id:pw@127.0.0.1:2775?tps=250&shortcode_substitution=1"
    app = App(Settings(database_url="sqlite://", provider_url=url))
    assert app.rate == 250.0
    assert app.shortcode_substitution
    provider = app.provider()
    assert isinstance(provider, SmppProvider)
    assert provider.config.tps == 250.0
    assert provider.shortcode_substitution
    bare = App(Settings(database_url="sqlite://"))
    assert bare.rate == DEFAULT_RATE
    assert not bare.shortcode_substitution
    with pytest.raises(NoProvider):
        bare.provider()
    with pytest.raises(ProviderError, match=r"unsupported provider URL 'http://x'"):
        bare.provider("http://x")
    assert provider_rate("smpp://id:pw@h:1?tps=0") == DEFAULT_RATE
    # A URL of a scheme stopsms does not speak: a preview assumes no substitution, as before.
    odd = App(Settings(database_url="sqlite://", provider_url="http://x"))
    assert odd.rate == DEFAULT_RATE
    assert not odd.shortcode_substitution


# -- services moved out of the CLI ----------------------------------------------------------------


def test_latest_replies_newest_first(database: Database) -> None:
    with database.transaction() as connection:
        account_id = connection.execute(text("SELECT id FROM accounts")).scalar_one()
        for n, body in enumerate(["STOP", "merci", "aide"], start=1):
            connection.execute(
                insert(t.inbound_messages).values(
                    account_id=account_id,
                    sender_e164=f"+3361234567{n}",
                    recipient="36034",
                    text=body,
                    intent="other",
                    received_at=datetime(2026, 1, n, tzinfo=UTC),
                )
            )
    with database.reader() as connection:
        replies = latest_replies(connection, "default", 2)
    assert [r.text for r in replies] == ["aide", "merci"]
    assert replies[0].certain
    assert replies[0].campaign_id is None


def test_a_failed_commit_takes_the_reject_report_back(
    sqlite_database: Database, tmp_path: Path
) -> None:
    source = tmp_path / "clients.csv"
    source.write_text("phone\n0612345678\nnot a number\n", encoding="utf-8")
    report = tmp_path / "clients.rejects.csv"

    class CommitFails(Exception):
        pass

    @contextmanager
    def failing_transaction(*, foreign_keys: bool = True) -> Iterator[Connection]:
        with sqlite_database.transaction(foreign_keys=foreign_keys) as connection:
            yield connection
            raise CommitFails  # as a commit that fails would

    with pytest.raises(CommitFails):
        import_contacts_committed(
            failing_transaction, "default", source, ImportOptions(rejects_path=report)
        )
    assert not report.exists()
    summary = import_contacts_committed(
        sqlite_database.transaction, "default", source, ImportOptions(rejects_path=report)
    )
    assert summary.rejected == 1
    assert report.exists()
