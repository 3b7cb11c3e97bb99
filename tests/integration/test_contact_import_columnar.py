"""The columnar import path gives exactly what the row path gives, on SQLite and PostgreSQL.

Every file is imported twice into the same database — by the row path into account ``rows``
and by the columnar path (Arrow reader, whole-file numbers, ranges staged by a thread: SQLite
staging files read by ``INSERT … SELECT``, or CSV for PostgreSQL's ``COPY``) into account
``columns`` — and everything the import wrote is compared: the contacts (every column), the
consent ledger, the list members, the summaries (what was merged: every superseded line) and
the reject reports (the superseded rows after the rejected ones), byte for byte.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from stopsms.domain.phone import normalise
from stopsms.services.accounts import accounts
from stopsms.services.contacts import columns as contact_columns
from stopsms.services.contacts import importing as ci
from stopsms.services.contacts.importing import ImportOptions, ImportSummary, import_contacts
from stopsms.services.contacts.rows import repair_spreadsheet_number
from stopsms.store import tables as t
from stopsms.store.database import Database

from .test_contact_import import CLIENTS, NOW

#: Summary fields that must agree (not the file paths, timings or the path taken).
_COMPARED = (
    "format",
    "encoding",
    "delimiter",
    "columns",
    "notes",
    "rows",
    "imported",
    "updated",
    "duplicates",
    "rejected",
    "rejected_by_reason",
    "blank_lines",
    "list_name",
    "consent",
    "consents_recorded",
    "merged_numbers",
    "superseded",
)


def _state(database: Database, account: str) -> dict[str, Any]:
    """Everything an import writes for ``account``, comparable across accounts."""
    c, k, m, li = t.contacts.c, t.consents.c, t.list_members.c, t.lists.c
    with database.reader() as conn:
        account_id = accounts.resolve_account(conn, account).id
        contacts = conn.execute(
            select(
                c.phone_e164,
                c.region,
                c.first_name,
                c.last_name,
                c.email,
                c.company,
                c.custom,
                c.consent,
                c.consent_at,
                c.created_at,
                c.updated_at,
            )
            .where(c.account_id == account_id)
            .order_by(c.phone_e164)
        ).all()
        ledger = conn.execute(
            select(c.phone_e164, k.kind, k.source, k.evidence, k.recorded_at)
            .select_from(t.consents)
            .join(t.contacts, c.id == k.contact_id)
            .where(k.account_id == account_id)
            .order_by(c.phone_e164, k.id)
        ).all()
        members = conn.execute(
            select(li.name, c.phone_e164)
            .select_from(t.list_members)
            .join(t.lists, li.id == m.list_id)
            .join(t.contacts, c.id == m.contact_id)
            .where(li.account_id == account_id)
            .order_by(li.name, c.phone_e164)
        ).all()
    return {
        "contacts": [tuple(row) for row in contacts],
        "ledger": [tuple(row) for row in ledger],
        "members": [tuple(row) for row in members],
    }


def _both(
    database: Database, tmp_path: Path, text: str | bytes, **options: Any
) -> tuple[ImportSummary, ImportSummary]:
    """Import ``text`` by the row path (account ``rows``) and the columnar path (``columns``)."""
    summaries = []
    for account, columnar in (("rows", False), ("columns", None)):
        folder = tmp_path / account
        folder.mkdir(exist_ok=True)
        path = folder / "clients.csv"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        with database.transaction() as conn:
            summaries.append(
                import_contacts(
                    conn,
                    account,
                    path,
                    ImportOptions(**options),
                    now=NOW,
                    row_path=columnar is False,
                )
            )
    return summaries[0], summaries[1]


def _same(
    database: Database, rows: ImportSummary, columns: ImportSummary, *, columnar: bool = True
) -> None:
    assert columns.columnar is columnar
    assert not rows.columnar
    for name in _COMPARED:
        assert getattr(columns, name) == getattr(rows, name), name
    assert _state(database, "columns") == _state(database, "rows")
    if rows.rejects_path is None:
        assert columns.rejects_path is None
    else:
        assert columns.rejects_path is not None
        assert Path(columns.rejects_path).read_bytes() == Path(rows.rejects_path).read_bytes()


@pytest.fixture
def two_accounts(database: Database) -> Database:
    with database.transaction() as conn:
        for name in ("rows", "columns"):
            accounts.create_account(conn, name)
    return database


_MESSY = (
    "Nom;Prénom;Mobile;Email;Ville;Code client\n"
    'Dupont;Jean;06 12 34 56 78;jean@example.fr;"Paris; 8e";A1\n'
    'Martin;"Zoé ""Zaza""";+33 6 98 76 54 32;;Lyon;\n'
    "Bad;Number;06 12;;;\n"
    ";;;;;\n"
    "  ;  ;   ;  ;  ;  \n"
    "Dupont;;0033612345678;;Nice;\n"  # duplicate: city replaced, first name kept
    "Sans;Numéro;;x@example.fr;;\n"
    "Durand;Léa;33756781234.0;lea@example.fr;;B2\n"
    "Float;Sci;3.3612345679E+10;;;\n"
    "Lost;Digits;3,36123E+10;;;\n"
    "Reunion;Île;+262 692 12 34 56;;Saint-Denis;\n"
    "Mayotte;;+262 639 12 34 56;;;\n"
    "Guadeloupe;;+590 690 12 34 56;;;\n"
    "Belgique;;+32 470 12 34 56;;;\n"
    "Dupont;Jean-Pierre;+33612345678; jp@example.fr ;;C3\n"  # second duplicate wins
    "n/a;;n/a;;;\n"
    "Trailing;;06 11 22 33 44;;;\n"
    "\n"
    "\n"
)


def test_messy_file(two_accounts: Database, tmp_path: Path) -> None:
    rows, columns = _both(two_accounts, tmp_path, _MESSY)
    assert (rows.imported, rows.duplicates, rows.blank_lines) == (8, 2, 4)
    assert rows.merged_numbers == 1
    assert [(s.line, s.by_line) for s in rows.superseded] == [(2, 16), (7, 16)]
    assert rows.rejected_by_reason == {"invalid_phone": 3, "missing_phone": 1, "lost_digits": 1}
    _same(two_accounts, rows, columns)


def test_consent_and_list(two_accounts: Database, tmp_path: Path) -> None:
    rows, columns = _both(
        two_accounts, tmp_path, _MESSY, list_name="Soldes", consent="opt-in", consent_source="web"
    )
    assert rows.consents_recorded == 8
    _same(two_accounts, rows, columns)


def test_reimport_over_existing_contacts(two_accounts: Database, tmp_path: Path) -> None:
    """Updates merge into stored contacts; a withdrawn consent survives a bulk file."""
    _same(two_accounts, *_both(two_accounts, tmp_path, CLIENTS, consent="customer"))
    with two_accounts.transaction() as conn:
        conn.execute(
            update(t.contacts)
            .where(t.contacts.c.phone_e164 == "+33698765432")
            .values(consent="withdrawn")
        )
    again = (
        "mobile;prénom;email;Ville;Code\n"
        "0612345678;Jean-Marc;;;A1\n"
        "0698765432;Zoé;zoe@example.fr;Lille;\n"
        "0611111111;Nouveau;;;\n"
    )
    rows, columns = _both(
        two_accounts, tmp_path, again, list_name="Retour", consent="opt-in", consent_source="x"
    )
    assert (rows.imported, rows.updated) == (1, 2)
    _same(two_accounts, rows, columns)


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        ("Nom;Téléphone\nHélène;06 12 34 56 78\nFrançois;0698765432\n".encode("cp1252"), "cp1252"),
        (b"\xef\xbb\xbfNom,Mobile\nZo\xc3\xa9,+33612345678\n", "utf-8-sig"),
        ("Nom\tMobile\r\nÉlodie\t0612345678\r\n".encode("utf-16"), "utf-16"),
    ],
)
def test_encodings(two_accounts: Database, tmp_path: Path, encoded: bytes, encoding: str) -> None:
    rows, columns = _both(two_accounts, tmp_path, encoded)
    assert rows.encoding == encoding
    _same(two_accounts, rows, columns)


def test_headerless_list_of_numbers(two_accounts: Database, tmp_path: Path) -> None:
    rows, columns = _both(two_accounts, tmp_path, "0612345678\n06 98 76 54 32\n0612345678\nxx\n")
    assert (rows.rows, rows.imported, rows.duplicates, rows.rejected) == (4, 2, 1, 1)
    _same(two_accounts, rows, columns)


@pytest.mark.parametrize(
    "text",
    [
        "Nom;Mobile\nA;0612345678\n\nB;0698765432\n",  # an empty line between rows
        "Nom;Mobile\nA;0612345678;extra\nB\n",  # ragged rows
        'Nom;Mobile\n"A\nB";0612345678\n',  # a line break inside quotes
        "Nom;Mobile\rA;0612345678\rB;0698765432\r",  # old Mac line ends
    ],
)
def test_files_the_columnar_reader_leaves_to_the_row_reader(
    two_accounts: Database, tmp_path: Path, text: str
) -> None:
    rows, columns = _both(two_accounts, tmp_path, text)
    _same(two_accounts, rows, columns, columnar=False)


def test_nul_bytes_are_dropped_alike(two_accounts: Database, tmp_path: Path) -> None:
    rows, columns = _both(two_accounts, tmp_path, "Nom;Mobile\nA\x00b;06\x0012345678\n")
    assert rows.imported == 1
    _same(two_accounts, rows, columns)


def _generated(count: int, seed: int) -> str:
    """Numbers in several formats, 5% repeated (later values win), 2% invalid."""
    rng = random.Random(seed)
    lines = ["Mobile;Prénom;Nom;Email;Société;Ville"]
    seen: list[str] = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.02:
            phone = rng.choice(["06 12", "+999 1234", "n/a", "", "0612345678901"])
        elif roll < 0.07 and seen:
            national = rng.choice(seen)
            phone = rng.choice([f"0{national}", f"+33{national}", f"33{national}.0"])
        else:
            national = f"{rng.choice('67')}{rng.randrange(10**8):08d}"
            seen.append(national)
            phone = rng.choice([f"0{national}", f"+33 {national}", f"0033{national}", national])
        first = rng.choice(["Jean", "", "Zoé", "Léa"])
        city = rng.choice(["", "Paris", "Lyon"])
        lines.append(f"{phone};{first};Nom{i % 97};{rng.choice(['', f'u{i}@x.fr'])};;{city}")
    return "\n".join(lines) + "\n"


def test_many_parts_and_a_normalisation_worker(
    two_accounts: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staged in several parts, half of the numbers normalised by a forked worker, the
    phone column read in slices."""
    monkeypatch.setattr(ci, "_MIN_PART_ROWS", 300)
    monkeypatch.setattr(ci, "_SPLIT_MIN_ROWS", 500)
    # The phone column into Python in slices of 257 rows (floats to repair in most of them).
    monkeypatch.setattr(contact_columns, "NUMBERS_SLICE", 257)
    text = _generated(3_000, seed=7)
    rows, columns = _both(two_accounts, tmp_path, text, list_name="Gros", consent="opt-in")
    assert columns.columnar
    assert rows.duplicates > 100
    assert rows.rejected > 30
    _same(two_accounts, rows, columns)
    with two_accounts.reader() as conn:
        customs = conn.execute(
            select(t.contacts.c.custom).where(t.contacts.c.custom.isnot(None))
        ).scalars()
        assert {key for custom in customs for key in custom} == {"Ville"}


def _superseded_by_hand(text: str) -> list[tuple[int, int]]:
    """``(line, last line of its number)`` of every row of ``text`` (one line a row, header
    on line 1) that a later row of its number supersedes, worked out row by row."""
    lines_of: dict[str, list[int]] = {}
    for line, row in enumerate(text.splitlines()[1:], 2):
        repaired, _ = repair_spreadsheet_number(row.split(";")[0])
        number = normalise(repaired, "FR")
        if number is not None:
            lines_of.setdefault(number, []).append(line)
    return sorted((line, found[-1]) for found in lines_of.values() for line in found[:-1])


@pytest.mark.parametrize("parallel", [False, True])
def test_superseded_rows_across_chunks_and_ranges(
    two_accounts: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    """Duplicates whose rows fall in different chunks of the row path (97 rows each, parsed
    here or by the parse worker) and in different ranges of the columnar path: both say the
    same — how many numbers, every superseded line and the line that superseded it — in the
    summary and in the report, and that is what reading the file row by row gives."""
    monkeypatch.setattr(ci, "_MIN_PART_ROWS", 300)
    header, generated = _generated(2_000, seed=11).split("\n", 1)
    # A number on line 2, then three times in a row at the end: across chunks, within one.
    end = "".join(f"0799999999;{name};;;;\n" for name in ("Brigitte", "Paul", "Zoé"))
    text = f"{header}\n0799999999;A;;;;\n{generated}{end}"
    rows, columns = _both(two_accounts, tmp_path, text, chunk_rows=97, parallel=parallel)
    assert columns.columnar
    expected = _superseded_by_hand(text)
    assert len(expected) == rows.duplicates > 80
    assert [(s.line, s.by_line) for s in rows.superseded] == expected
    assert expected[0] == (2, 2005)
    assert expected[-2:] == [(2003, 2005), (2004, 2005)]
    assert rows.merged_numbers == len({by for _, by in expected})
    _same(two_accounts, rows, columns)
    assert rows.rejects_path is not None
    with Path(rows.rejects_path).open(encoding="utf-8-sig", newline="") as handle:
        report = list(csv.reader(handle, delimiter=";"))
    listed = [row for row in report[1:] if row[2] == "superseded"]
    assert [(int(row[0]), row[3]) for row in listed] == [
        (line, f"superseded by line {by} (the number's last row, kept whole)")
        for line, by in expected
    ]
    assert all(row[2] != "superseded" for row in report[1 : 1 + rows.rejected])
    assert listed[0][:2] == ["2", "+33799999999"]


def test_a_failed_columnar_import_changes_nothing(
    two_accounts: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error while merging a staging file rolls everything back."""
    from stopsms.services.contacts import writers as contact_writers

    monkeypatch.setattr(ci, "_MIN_PART_ROWS", 100)
    calls = 0

    def failing_on_the_third(cls: type[Any], name: str) -> None:
        original = getattr(cls, name)

        def failing(self: Any, part: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise RuntimeError("disk full")
            original(self, part)

        monkeypatch.setattr(cls, name, failing)

    failing_on_the_third(contact_writers.SqliteStagedWriter, "write_staged")
    failing_on_the_third(contact_writers.PostgresWriter, "write_csv")
    path = tmp_path / "big.csv"
    path.write_text(_generated(1_000, seed=3), encoding="utf-8")
    with pytest.raises(RuntimeError, match="disk full"), two_accounts.transaction() as conn:
        import_contacts(conn, "columns", path, ImportOptions(), now=NOW)
    assert _state(two_accounts, "columns") == {"contacts": [], "ledger": [], "members": []}
    assert not (tmp_path / "big.rejects.csv").exists()
    assert list(tmp_path.glob(".big.rejects.csv*")) == []
