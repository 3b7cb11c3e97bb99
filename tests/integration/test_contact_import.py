"""Contact import, lists, export and erasure — on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
import typer
from sqlalchemy import select, update
from typer.testing import CliRunner

from stopsms.cli.contacts import contacts_app, lists_app
from stopsms.errors import InvalidInput, UnreadableFile
from stopsms.services.accounts import accounts
from stopsms.services.contacts import contacts, erasure
from stopsms.services.contacts.importing import ImportOptions, ImportSummary, import_contacts
from stopsms.store import tables as t
from stopsms.store.database import Database

NOW = datetime(2024, 11, 29, 9, 0, tzinfo=UTC)
LATER = datetime(2024, 11, 30, 9, 0, tzinfo=UTC)

CLIENTS = (
    "Nom;Prénom;Téléphone portable;Email;Ville\n"  # line 1
    "Dupont;Jean;06 12 34 56 78;jean@example.fr;Paris\n"  # 2
    "Martin;Zoé;+33 6 98 76 54 32;;Lyon\n"  # 3
    "Bad;Number;06 12;;\n"  # 4: invalid
    ";;;;\n"  # 5: blank
    "Dupont;;0033612345678;jean@example.fr;Nice\n"  # 6: duplicate of line 2, wins whole
    "Sans;Numéro;;x@example.fr;\n"  # 7: missing phone
    "Durand;Léa;33756781234.0;lea@example.fr;\n"  # 8: spreadsheet float (+33 7…)
)


def _file(tmp_path: Path, text: str = CLIENTS, name: str = "clients.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _import(
    database: Database,
    path: Path,
    account: str = "default",
    *,
    row_path: bool = False,
    **options: object,
) -> ImportSummary:
    with database.transaction() as conn:
        return import_contacts(
            conn,
            account,
            path,
            ImportOptions(**options),  # type: ignore[arg-type]
            now=NOW,
            row_path=row_path,
        )


def _contacts(database: Database, account: str = "default") -> dict[str, contacts.Contact]:
    with database.reader() as conn:
        return {c.phone_e164: c for c in contacts.iter_contacts(conn, account)}


def test_import_counts_merges_and_reports(database: Database, tmp_path: Path) -> None:
    summary = _import(database, _file(tmp_path))
    assert (summary.rows, summary.imported, summary.updated) == (6, 3, 0)
    assert (summary.duplicates, summary.rejected, summary.blank_lines) == (1, 2, 1)
    assert summary.rejected_by_reason == {"invalid_phone": 1, "missing_phone": 1}
    assert summary.columns["phone"] == "Téléphone portable"
    assert summary.columns["custom:Ville"] == "Ville"
    found = _contacts(database)
    assert set(found) == {"+33612345678", "+33698765432", "+33756781234"}
    jean = found["+33612345678"]
    # The duplicate on line 6 wins whole: its empty first name too (never a mix of two rows).
    assert (jean.first_name, jean.last_name, jean.email) == (None, "Dupont", "jean@example.fr")
    assert jean.custom == {"Ville": "Nice"}
    assert jean.region == "FR"
    assert jean.created_at == NOW
    assert found["+33698765432"].email is None
    with (tmp_path / "clients.rejects.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert rows == [
        ["line", "value", "reason", "detail"],
        ["4", "06 12", "invalid_phone", "too short"],
        ["7", "", "missing_phone", "no phone number"],
        [
            "2",
            "+33612345678",
            "superseded",
            "superseded by line 6 (the number's last row, kept whole)",
        ],
    ]


def test_reimport_updates_without_erasing(database: Database, tmp_path: Path) -> None:
    _import(database, _file(tmp_path))
    again = "mobile;prénom;email;Code\n0612345678;Jean-Marc;;A1\n0611111111;Nouveau;;\n"
    summary = _import(database, _file(tmp_path, again, "again.csv"))
    assert (summary.imported, summary.updated, summary.duplicates) == (1, 1, 0)
    jean = _contacts(database)["+33612345678"]
    assert jean.first_name == "Jean-Marc"
    assert jean.email == "jean@example.fr"  # an empty cell never erases
    assert jean.custom == {"Ville": "Nice", "Code": "A1"}  # custom fields merge
    assert not (tmp_path / "again.rejects.csv").exists()


def test_consent_ledger_and_list(database: Database, tmp_path: Path) -> None:
    path = _file(tmp_path)
    summary = _import(
        database, path, list_name="Black Friday", consent="opt-in", consent_source="web form"
    )
    assert summary.consents_recorded == 3
    with database.reader() as conn:
        ledger = conn.execute(
            select(t.contacts.c.phone_e164, t.consents.c.kind, t.consents.c.source)
            .add_columns(t.consents.c.evidence, t.consents.c.recorded_at)
            .join(t.contacts, t.contacts.c.id == t.consents.c.contact_id)
            .order_by(t.contacts.c.phone_e164)
        ).all()
        lists = contacts.list_lists(conn, "default")
        members = contacts.count_contacts(conn, "default", list_name="Black Friday")
    assert [(p, k, s) for p, k, s, _, _ in ledger] == [
        ("+33612345678", "opt_in", "web form"),
        ("+33698765432", "opt_in", "web form"),
        ("+33756781234", "opt_in", "web form"),
    ]
    assert ledger[0][3].startswith("clients.csv (sha256 ")
    assert [e.rsplit(" ", 2)[1:] for _, _, _, e, _ in ledger] == [
        ["line", "2"],
        ["line", "3"],
        ["line", "8"],
    ]
    assert all(at == NOW for *_, at in ledger)
    assert [(x.name, x.members) for x in lists] == [("Black Friday", 3)]
    assert members == 3
    assert {c.consent for c in _contacts(database).values()} == {"opt_in"}


@pytest.mark.parametrize("columnar", [False, None])
def test_known_and_new_numbers_across_chunks(
    database: Database, tmp_path: Path, columnar: bool | None
) -> None:
    """Known numbers are updated, new ones inserted; both get their ledger row and list.

    On the row path the file comes in chunks of two rows; the columnar path takes it whole.
    """
    _import(database, _file(tmp_path, "mobile;nom\n0612345678;Old\n0698765432;Kept\n", "a.csv"))
    text = (
        "mobile;nom\n"
        "0611111111;New1\n"  # 2: new
        "0612345678;Known\n"  # 3: known (first chunk)
        "0622222222;New2\n"  # 4: new (second chunk)
        "+33611111111;\n"  # 5: repeats line 2 in a later chunk, wins whole (no name)
        "0698765432;\n"  # 6: known (third chunk), empty name keeps the stored one
    )
    summary = _import(
        database,
        _file(tmp_path, text, "b.csv"),
        chunk_rows=2,
        list_name="L",
        consent="opt-in",
        row_path=columnar is False,
    )
    assert summary.columnar is (columnar is None)
    assert (summary.imported, summary.updated, summary.duplicates) == (2, 2, 1)
    assert summary.consents_recorded == 4
    with database.reader() as conn:
        ledger = conn.execute(
            select(t.contacts.c.phone_e164, t.consents.c.evidence)
            .join(t.contacts, t.contacts.c.id == t.consents.c.contact_id)
            .order_by(t.contacts.c.phone_e164)
        ).all()
        members = contacts.count_contacts(conn, "default", list_name="L")
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA ignore_check_constraints").scalar() == 0
    assert [(p, e.rsplit(" ", 1)[1]) for p, e in ledger] == [
        ("+33611111111", "2"),
        ("+33612345678", "3"),
        ("+33622222222", "4"),
        ("+33698765432", "6"),
    ]
    assert members == 4
    found = _contacts(database)
    assert {p: c.last_name for p, c in found.items()} == {
        "+33611111111": None,  # the last row wins whole, across chunks too
        "+33612345678": "Known",
        "+33622222222": "New2",
        "+33698765432": "Kept",
    }
    assert {c.consent for c in found.values()} == {"opt_in"}


def test_withdrawn_consent_is_not_overridden_by_a_file(database: Database, tmp_path: Path) -> None:
    path = _file(tmp_path, "mobile\n0612345678\n0698765432\n")
    _import(database, path, consent="customer")
    with database.transaction() as conn:
        conn.execute(
            update(t.contacts)
            .where(t.contacts.c.phone_e164 == "+33612345678")
            .values(consent="withdrawn")
        )
    summary = _import(database, path, consent="opt-in")
    assert summary.consents_recorded == 1
    found = _contacts(database)
    assert found["+33612345678"].consent == "withdrawn"
    assert found["+33698765432"].consent == "opt_in"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Nom;Ville\nDupont;Paris\n", "no phone column among 'Nom', 'Ville'"),
        ("mobile;nom\n0612345678;a\n0612345679;" + "x" * 200_000 + "\n", "line 3: field larger"),
        ("", "the file is empty"),
    ],
)
def test_unreadable_file_changes_nothing(
    database: Database, tmp_path: Path, text: str, message: str
) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(UnreadableFile, match=message):
        _import(database, path, list_name="never", consent="opt-in", chunk_rows=1)
    with database.reader() as conn:
        assert contacts.count_contacts(conn, "default") == 0
        assert contacts.list_lists(conn, "default") == []
        assert conn.execute(select(t.consents.c.id)).first() is None
    assert [p.name for p in tmp_path.iterdir() if "rejects" in p.name] == []


def test_bad_options_are_refused(database: Database, tmp_path: Path) -> None:
    path = _file(tmp_path)
    with pytest.raises(InvalidInput, match="consent"):
        _import(database, path, consent="maybe")
    with pytest.raises(InvalidInput, match="region"):
        _import(database, path, region="XX")


def test_xlsx_import_and_headerless_numbers(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "clients.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Portable", "First name", "Société"])
    sheet.append([33612345678.0, "Jean", "ACME"])
    sheet.append([612345679, "Zoé", None])
    sheet.append(["n/a", "X", None])
    workbook.save(path)
    summary = _import(database, path)
    assert (summary.format, summary.imported, summary.rejected) == ("xlsx", 2, 1)
    assert _contacts(database)["+33612345678"].company == "ACME"
    plain = _file(tmp_path, "0611111111\n0622222222\n", "numbers.csv")
    headerless = _import(database, plain)
    assert (headerless.imported, headerless.columns) == (2, {"phone": "column 1"})


def test_accounts_are_isolated(database: Database, tmp_path: Path) -> None:
    with database.transaction() as conn:
        accounts.create_account(conn, "other")
    _import(database, _file(tmp_path, "mobile;prénom\n0612345678;A\n"), "other")
    summary = _import(database, _file(tmp_path, "mobile;prénom\n0612345678;B\n", "b.csv"))
    assert (summary.imported, summary.updated) == (1, 0)
    assert _contacts(database, "other")["+33612345678"].first_name == "A"
    assert _contacts(database)["+33612345678"].first_name == "B"


def test_erased_contact_is_not_exported_and_comes_back_fresh(
    database: Database, tmp_path: Path
) -> None:
    _import(database, _file(tmp_path))
    with database.transaction() as conn:
        erasure.erase_contact(conn, "default", "0612345678")
    assert "+33612345678" not in _contacts(database)
    summary = _import(database, _file(tmp_path, "mobile\n0612345678\n", "back.csv"))
    assert summary.imported == 1
    back = _contacts(database)["+33612345678"]
    assert back.first_name is None


def test_export_neutralises_formulas(database: Database, tmp_path: Path) -> None:
    text = 'mobile;prénom;société\n0612345678;=HYPERLINK("x");@SUM(1)\n0698765432;Zoé;\n'
    _import(database, _file(tmp_path, text))
    out = tmp_path / "out.csv"
    with database.reader() as conn:
        assert contacts.export_contacts(conn, "default", out) == 2
        assert contacts.export_contacts(conn, "default", tmp_path / "out.xlsx", format="xlsx") == 2
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert rows[0][:3] == ["phone", "region", "first_name"]
    assert rows[1][:3] == ["+33612345678", "FR", '\'=HYPERLINK("x")']
    assert rows[1][5] == "'@SUM(1)"
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    cells = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert cells[0][0] == "+33612345678"
    assert cells[0][2] == '\'=HYPERLINK("x")'
    assert sheet.cell(2, 3).data_type == "s"


def test_cli_import_list_export(cli: CliRunner, tmp_path: Path) -> None:
    app = typer.Typer()
    app.add_typer(contacts_app, name="contacts")
    app.add_typer(lists_app, name="lists")
    runner = cli
    path = _file(tmp_path)
    result = runner.invoke(app, ["contacts", "import", str(path), "--list", "vip", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["imported"], summary["rejected"]) == (3, 2)
    result = runner.invoke(
        app, ["contacts", "import", str(path), "--consent", "customer", "--map", "Ville=city"]
    )
    assert result.exit_code == 0, result.output
    assert "3 updated" in result.output
    assert "invalid_phone 1, missing_phone 1" in result.output
    assert "consent customer recorded for 3" in result.output
    result = runner.invoke(app, ["contacts", "import", str(path), "--delimiter", ";;"])
    assert result.exit_code == 2
    assert "--delimiter" in result.output
    result = runner.invoke(app, ["contacts", "import", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2
    assert "missing.csv: no such file (nothing was changed)" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["contacts", "list", "--list", "vip", "--json"])
    assert json.loads(result.stdout)["total"] == 3
    result = runner.invoke(app, ["contacts", "export", "--format", "csv"])
    assert result.exit_code == 0
    assert result.stdout.lstrip("\ufeff").startswith("phone;region;first_name")
    result = runner.invoke(app, ["lists", "list", "--json"])
    assert json.loads(result.stdout)[0]["members"] == 3
    result = runner.invoke(app, ["contacts", "erase", "06 12 34 56 78"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("parallel", [False, True])
def test_parse_worker_gives_the_same_result(
    database: Database, tmp_path: Path, parallel: bool
) -> None:
    summary = _import(database, _file(tmp_path), chunk_rows=2, parallel=parallel, row_path=True)
    assert not summary.columnar
    assert (summary.rows, summary.imported, summary.duplicates) == (6, 3, 1)
    assert summary.rejected_by_reason == {"invalid_phone": 1, "missing_phone": 1}
    report = (tmp_path / "clients.rejects.csv").read_text(encoding="utf-8-sig")
    assert report.splitlines()[1:] == [
        "4;06 12;invalid_phone;too short",
        "7;;missing_phone;no phone number",
        "2;+33612345678;superseded;superseded by line 6 (the number's last row, kept whole)",
    ]
    assert [(row.line, row.by_line) for row in summary.superseded] == [(2, 6)]
    assert set(_contacts(database)) == {"+33612345678", "+33698765432", "+33756781234"}


def test_parse_worker_error_half_way_changes_nothing(database: Database, tmp_path: Path) -> None:
    text = "mobile;nom\n0612\n0612345678;a\n0612345679;" + "x" * 200_000 + "\n"
    with pytest.raises(UnreadableFile, match="line 4: field larger"):
        _import(database, _file(tmp_path, text), chunk_rows=1, parallel=True, row_path=True)
    with database.reader() as conn:
        assert contacts.count_contacts(conn, "default") == 0
    assert [p.name for p in tmp_path.iterdir() if "rejects" in p.name] == []


def test_header_only_file_imports_nothing(database: Database, tmp_path: Path) -> None:
    summary = _import(database, _file(tmp_path, "Mobile;Nom\n"))
    assert (summary.rows, summary.imported, summary.rejected, summary.rejects_path) == (
        0,
        0,
        0,
        None,
    )


def test_unwritable_reject_report_changes_nothing(database: Database, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="reject report"):
        _import(database, _file(tmp_path), rejects_path=tmp_path / "absent" / "r.csv")
    with database.reader() as conn:
        assert contacts.count_contacts(conn, "default") == 0
