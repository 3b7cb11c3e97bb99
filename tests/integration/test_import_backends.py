"""SQLite and PostgreSQL give the same contacts, consents and list members from the same files.

Each backend writes an import its own way (SQLite: upserts or staging files chunk by chunk;
PostgreSQL: the whole file staged by ``COPY``, then merged once). The same journey — a file
with ``--list --consent`` whose repeated numbers fall in different chunks, a withdrawn
consent, then a re-import over the stored contacts — is run on both, by both paths, and
everything written is compared, with the summaries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from stopsms.services.accounts import accounts
from stopsms.services.contacts.importing import ImportOptions, ImportSummary, import_contacts
from stopsms.store import tables as t
from stopsms.store.database import Database

from .test_contact_import import NOW
from .test_contact_import_columnar import _COMPARED, _generated, _state

pytestmark = pytest.mark.postgres

_AGAIN = (
    "Mobile;Prénom;Email;Ville\n"
    "0799999999;Repris;;Nantes\n"  # stored: fields merged, consent recorded again
    "0799999998;Retiré;;\n"  # stored, withdrawn: consent kept, no ledger row
    "0611111111;Nouveau;;\n"
    "0611111111;Nouveau bis;n@x.fr;\n"  # a repeat: the last row wins whole
)


def _journey(database: Database, tmp_path: Path, row_path: bool) -> list[dict[str, Any]]:
    """Import, withdraw, re-import; the summaries (compared fields) and what was written."""
    head, generated = _generated(600, seed=5).split("\n", 1)
    first = f"{head}\n0799999999;A;;;;\n0799999998;B;;;;\n{generated}0799999999;C;;;;Lyon\n"
    tmp_path.mkdir()
    seen: list[dict[str, Any]] = []
    with database.transaction() as conn:
        accounts.create_account(conn, "shop")
    for name, text in (("first.csv", first), ("again.csv", _AGAIN)):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        options = ImportOptions(
            list_name="vip", consent="opt-in", consent_source="web", chunk_rows=97
        )
        with database.transaction() as conn:
            summary: ImportSummary = import_contacts(
                conn, "shop", path, options, now=NOW, row_path=row_path
            )
        seen.append({name: getattr(summary, name) for name in _COMPARED})
        if name == "first.csv":
            with database.transaction() as conn:
                conn.execute(
                    update(t.contacts)
                    .where(t.contacts.c.phone_e164 == "+33799999998")
                    .values(consent="withdrawn")
                )
    seen.append(_state(database, "shop"))
    return seen


@pytest.mark.parametrize("row_path", [False, True], ids=["columnar", "row-path"])
def test_both_backends_write_the_same(
    sqlite_database: Database,
    postgres_database: Database,
    tmp_path: Path,
    row_path: bool,
) -> None:
    sqlite_seen = _journey(sqlite_database, tmp_path / "sqlite", row_path)
    postgres_seen = _journey(postgres_database, tmp_path / "postgresql", row_path)
    first, again, state = postgres_seen
    assert first["duplicates"] > 20  # repeats across the 97-row chunks
    assert (again["imported"], again["updated"], again["duplicates"]) == (1, 2, 1)
    assert again["consents_recorded"] == 2  # not over the withdrawn consent
    assert len(state["members"]) == first["imported"] + 1
    assert postgres_seen == sqlite_seen


def test_two_imports_with_repeats_in_one_transaction(
    postgres_database: Database, tmp_path: Path
) -> None:
    """The staging tables of the first are reused by the second (dropped only at commit)."""
    path = tmp_path / "repeats.csv"
    path.write_text("Mobile;Prénom\n0612345678;A\n0698765432;B\n0612345678;C\n", encoding="utf-8")
    with postgres_database.transaction() as conn:
        for _ in range(2):
            summary = import_contacts(
                conn, "default", path, ImportOptions(chunk_rows=2), now=NOW, row_path=True
            )
            assert summary.duplicates == 1
        names = conn.execute(
            t.contacts.select().with_only_columns(t.contacts.c.first_name).order_by("phone_e164")
        ).scalars()
        assert list(names) == ["C", "B"]
