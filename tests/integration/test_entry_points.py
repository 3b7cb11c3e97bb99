"""One entry point for contact import and one for preparation, each choosing its path (issue 8).

The caller never picks the fast path: ``import_contacts`` takes the columnar one whenever it
is exact for the file, ``prepare_campaign`` the set-based one whenever it can decide the
campaign. Each keeps one switch to the reference path (``row_path``, ``loop``) for the tests
that compare the two and for the benchmarks; the user's options hold no speed setting.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from stopsms.clock import FakeClock
from stopsms.services.accounts import accounts, credits
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.services.campaigns import preparation_sets
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.contacts import contacts
from stopsms.services.contacts.importing import ImportOptions, ImportSummary, import_contacts
from stopsms.store import tables as t
from stopsms.store.database import Database

#: Tuesday 3 December 2024, 10:00 in Paris: inside the sending window.
NOW = datetime(2024, 12, 3, 9, 0, tzinfo=UTC)
ROWS = [("Prénom", "Portable"), ("Marie", "06 12 34 56 78"), ("Hugo", "06 98 76 54 32")]


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "clients.csv"
    path.write_text("\n".join(";".join(row) for row in ROWS) + "\n", encoding="utf-8")
    return path


def _xlsx(tmp_path: Path) -> Path:
    path = tmp_path / "clients.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in ROWS:
        sheet.append(list(row))
    book.save(path)
    return path


def _import(
    database: Database, account: str, path: Path, *, row_path: bool = False, **options: Any
) -> tuple[ImportSummary, dict[str, str | None]]:
    with database.transaction() as conn:
        if account != "default":
            accounts.create_account(conn, account)
        summary = import_contacts(
            conn, account, path, ImportOptions(**options), now=NOW, row_path=row_path
        )
        found = {c.phone_e164: c.first_name for c in contacts.iter_contacts(conn, account)}
    return summary, found


def test_the_import_options_hold_no_speed_setting() -> None:
    """Fails on main: ``ImportOptions(columnar=False)`` chose the path."""
    names = {f.name for f in dataclasses.fields(ImportOptions)}
    assert "columnar" not in names
    assert {"list_name", "consent", "region", "rejects_path"} <= names


def test_import_contacts_chooses_its_path(database: Database, tmp_path: Path) -> None:
    """Fails on main: ``row_path`` did not exist (the path was an option of the user's)."""
    expected = {"+33612345678": "Marie", "+33698765432": "Hugo"}
    chosen, found = _import(database, "default", _csv(tmp_path))
    assert chosen.columnar  # a CSV file Arrow reads exactly: the columnar path, unasked
    assert found == expected
    forced, found = _import(database, "rows", _csv(tmp_path), row_path=True)
    assert not forced.columnar
    assert found == expected
    assert (forced.imported, forced.rejected) == (chosen.imported, chosen.rejected) == (2, 0)
    workbook, found = _import(database, "sheet", _xlsx(tmp_path))
    assert not workbook.columnar  # a workbook: the row path, chosen by the import itself
    assert found == expected


def _decisions(database: Database, campaign_id: int) -> list[tuple[Any, ...]]:
    m = t.messages.c
    with database.reader() as conn:
        rows = conn.execute(
            select(m.phone_e164, m.decision, m.reason, m.text, m.segments, m.price_millicredits)
            .where(m.campaign_id == campaign_id)
            .order_by(m.contact_id)
        ).all()
    return [tuple(row) for row in rows]


def test_prepare_campaign_chooses_its_path(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails on main: ``loop`` did not exist (tests patched the module's chooser instead)."""
    written: list[int] = []
    insert_decided = preparation_sets._insert_decided

    def spy(*args: Any, **kwargs: Any) -> Any:
        written.append(1)
        return insert_decided(*args, **kwargs)

    monkeypatch.setattr(preparation_sets, "_insert_decided", spy)
    clock = FakeClock(NOW)
    with database.transaction() as conn:
        accounts.update_account(conn, "default", AccountChanges(validated=True, shortcode="36034"))
        accounts.add_sender(conn, "default", "MaBoutique", now=NOW)
        credits.add_credits(conn, "default", 1_000_000, now=NOW)
    _import(database, "default", _csv(tmp_path), list_name="l", consent="opt-in")
    with database.transaction() as conn:
        chosen, forced = (
            create_campaign(
                conn,
                "default",
                list_name="l",
                text="Bonjour {prenom}",
                sender="MaBoutique",
                clock=clock,
            ).campaign.id
            for _ in range(2)
        )
    prepare_campaign(database, chosen, clock)
    assert written  # set-based on both backends
    written.clear()
    prepare_campaign(database, forced, clock, loop=True)
    assert not written
    assert _decisions(database, forced) == _decisions(database, chosen)
    assert [row[1] for row in _decisions(database, chosen)] == ["ready", "ready"]
