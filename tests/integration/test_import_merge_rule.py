"""Duplicates in a file: a number's last row wins whole, on both import paths; the summary's
list count is the list's (issue 12, item 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stopsms.cli.main import app
from stopsms.services.accounts import accounts
from stopsms.services.contacts import contacts
from stopsms.store.database import Database

from .test_contact_import import _file, _import
from .test_contact_import_columnar import _both, _same

DURAND = (
    "Prénom;Nom;Civilité;Montant;Portable\n"
    "Brigitte;Durand;Mme;12.5;06 12 34 56 78\n"
    "Paul;Durand;M.;;+33 6 12 34 56 78\n"
)


@pytest.fixture
def both(database: Database) -> Database:
    with database.transaction() as conn:
        for name in ("rows", "columns"):
            accounts.create_account(conn, name)
    return database


def _paul(database: Database, account: str) -> contacts.Contact:
    with database.reader() as conn:
        (found,) = list(contacts.iter_contacts(conn, account))
    return found


def test_two_people_sharing_a_number_are_never_mixed(both: Database, tmp_path: Path) -> None:
    rows, columns = _both(both, tmp_path, DURAND)
    _same(both, rows, columns)
    paul = _paul(both, "rows")
    # Not "Paul Durand, M., 12.5": Paul's row, whole, his empty amount included.
    assert (paul.first_name, paul.last_name) == ("Paul", "Durand")
    assert paul.custom == {"Civilité": "M."}
    assert rows.duplicates == 1


def test_across_the_row_paths_chunks_too(both: Database, tmp_path: Path) -> None:
    # chunk_rows=1: on the row path Brigitte and Paul arrive in two chunks (two statements).
    rows, columns = _both(both, tmp_path, DURAND, chunk_rows=1)
    _same(both, rows, columns)
    assert _paul(both, "rows").custom == {"Civilité": "M."}


def test_a_stored_contact_keeps_what_the_file_leaves_empty(
    database: Database, tmp_path: Path
) -> None:
    """Against a contact stored before the import, empty cells keep the stored values (the
    rule for re-imports); only rows of the same file replace each other whole."""
    _import(database, _file(tmp_path, "Portable;Email\n0612345678;b@example.fr\n", "a.csv"))
    _import(database, _file(tmp_path, DURAND, "b.csv"), chunk_rows=1)
    paul = _paul(database, "default")
    assert (paul.first_name, paul.email) == ("Paul", "b@example.fr")
    assert paul.custom == {"Civilité": "M."}


def test_the_summary_counts_the_list_not_the_file(
    database: Database, tmp_path: Path, cli: CliRunner
) -> None:
    nineteen = "Portable\n" + "".join(f"06123456{i:02d}\n" for i in range(19))
    _import(database, _file(tmp_path, nineteen, "vip.csv"), list_name="vip")
    five = "Portable\n" + "".join(f"06123456{i:02d}\n" for i in range(17, 22))
    summary = _import(database, _file(tmp_path, five, "more.csv"), list_name="vip")
    assert (summary.list_members, summary.list_added) == (22, 3)
    again = "Portable\n" + "".join(f"06123456{i:02d}\n" for i in range(5))
    result = cli.invoke(
        app, ["contacts", "import", str(_file(tmp_path, again, "again.csv")), "--list", "vip"]
    )
    assert result.exit_code == 0, result.output
    assert "list 'vip': 22 contact(s), 0 added by this import" in result.output
