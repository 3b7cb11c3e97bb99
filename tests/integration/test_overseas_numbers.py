"""French overseas numbers written nationally are their territory's everywhere numbers are read
with the default region FR (issue 12, item 9): import (row and columnar paths), preview,
window, opt-outs and inbound — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stopsms.cli.main import app
from stopsms.services.accounts import accounts
from stopsms.services.contacts import contacts
from stopsms.services.contacts.importing import ImportOptions, import_contacts
from stopsms.services.messages.mo import sender_e164
from stopsms.services.optouts import optouts
from stopsms.store.database import Database

from .test_contact_import import NOW

OVERSEAS = {
    "0692 98 76 54": ("+262692987654", "RE"),
    "0262 16 12 34": ("+262262161234", "RE"),
    "0639 01 23 45": ("+262639012345", "YT"),
    "0269 60 12 34": ("+262269601234", "YT"),
    "0690 00 12 34": ("+590690001234", "GP"),
    "0590 20 12 34": ("+590590201234", "GP"),
    "0696 20 12 34": ("+596696201234", "MQ"),
    "0596 30 12 34": ("+596596301234", "MQ"),
    "0694 20 12 34": ("+594694201234", "GF"),
    "0594 10 12 34": ("+594594101234", "GF"),
}


def test_import_reads_them_on_both_paths(database: Database, tmp_path: Path) -> None:
    lines = ["Prénom;Portable", "Jean;06 12 34 56 78"]
    lines += [f"P{i};{raw}" for i, raw in enumerate(OVERSEAS)]
    path = tmp_path / "clients.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = dict(OVERSEAS.values()) | {"+33612345678": "FR"}
    for account, columnar in (("rows", False), ("columns", None)):
        with database.transaction() as conn:
            accounts.create_account(conn, account)
            summary = import_contacts(
                conn, account, path, ImportOptions(), now=NOW, row_path=columnar is False
            )
            found = {c.phone_e164: c.region for c in contacts.iter_contacts(conn, account)}
        assert summary.columnar is (columnar is None), account
        assert summary.rejected == 0, summary.rejected_by_reason
        assert summary.imported == len(expected)
        assert found == expected, account


def test_opt_outs_and_inbound_read_them(database: Database) -> None:
    assert optouts.to_e164("0692 98 76 54") == "+262692987654"
    assert optouts.to_e164("0596 30 12 34") == "+596596301234"
    assert sender_e164("0692987654") == "+262692987654"
    assert sender_e164("262692987654") == "+262692987654"  # SMPP international digits
    with database.transaction() as conn:
        optouts.record_optout(conn, "default", "0692 98 76 54", source="manual")
        # The same person, written internationally, is suppressed.
        assert optouts.is_suppressed(conn, "default", "+262 692 98 76 54") is not None


runner = CliRunner()


@pytest.mark.parametrize(("raw", "answer"), list(OVERSEAS.items()))
def test_preview_and_window_read_them(raw: str, answer: tuple[str, str]) -> None:
    e164, region = answer
    preview = runner.invoke(app, ["preview", "Soldes", "--to", raw, "--json"])
    assert preview.exit_code == 0, preview.output
    assert json.loads(preview.stdout)["recipient"]["e164"] == e164
    assert json.loads(preview.stdout)["recipient"]["region"] == region
    window = runner.invoke(app, ["window", "--to", raw, "--at", "2026-11-24T10:00", "--json"])
    assert window.exit_code == 0, window.output
    # A naive --at is the recipient's own local time: its offset is the territory's.
    local = json.loads(window.stdout)["local_time"]
    assert not local.endswith("+01:00"), local
