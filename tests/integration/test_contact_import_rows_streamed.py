"""A large file the stream cannot read is read by the csv module in batches and spilled by range.

The files here are those Arrow does not read as the csv module does — ragged rows, a line break
inside quotes, CP1252 (what a French Excel writes), empty lines between rows — made "large"
(``arrow_csv.MAX_BYTES`` lowered to nothing) and read in batches of 37 rows and ranges of about
300 numbers, so that a number's rows fall in different batches and ranges, and SQLite's
staging files take several ranges each. Each is imported by the row path as it is for a small
file (account ``rows``) and spilled (account ``columns``), and everything is compared as in
:mod:`.test_contact_import_streamed`: every contact, ledger row, list member, summary field and
byte of the reject report, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from stopsms.errors import UnreadableFile
from stopsms.services.contacts import importing as ci
from stopsms.services.contacts import streaming
from stopsms.store import tables as t
from stopsms.store.database import Database

from .test_contact_import_columnar import (
    _both,
    _generated,
    _same,
    _superseded_by_hand,
    two_accounts,
)
from .test_contact_import_streamed import counted_spills

__all__ = ["two_accounts"]  # the fixture, imported for these tests


@pytest.fixture
def spills(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every CSV file large, read by the csv module 37 rows at a time, ranges of about 300;
    the list gets the ranges of each spill of the csv module's rows (what proves it ran)."""
    monkeypatch.setattr(streaming, "ROW_BATCH", 37)
    return counted_spills(monkeypatch, "spill_rows")


def _ragged(text: str) -> str:
    """``text`` with a row in 13 cut short (its last fields missing) and one in 17 longer
    (cells after the header's), some of them with an empty phone cell."""
    lines = text.split("\n")
    out = [lines[0]]
    for i, line in enumerate(lines[1:], 1):
        if not line:
            out.append(line)
        elif i % 13 == 0:
            out.append(";".join(line.split(";")[:3]))
        elif i % 17 == 0:
            out.append(f"{line};extra{i};")
        elif i % 101 == 0:
            out.append(";;;;;;")  # blank, one cell more than the header
        elif i % 103 == 0:
            out.append(";;;;;;more")  # no phone, not blank: a cell past the header's
        else:
            out.append(line)
    return "\n".join(out)


def test_a_large_cp1252_file(two_accounts: Database, tmp_path: Path, spills: list[int]) -> None:
    """Repeats across batches and ranges, rejects, accents decoded as read, list and consent."""
    text = _generated(3_000, seed=7).encode("cp1252")
    rows, columns = _both(two_accounts, tmp_path, text, list_name="Gros", consent="opt-in")
    assert len(spills) == 1
    assert spills[0] >= 8  # several ranges a staging file on SQLite
    assert rows.encoding == "cp1252"
    assert rows.duplicates > 100
    assert rows.rejected > 30
    assert rows.list_added == rows.imported
    assert rows.consents_recorded == rows.imported
    _same(two_accounts, rows, columns, columnar=False)
    with two_accounts.reader() as conn:
        names = conn.execute(
            select(func.count()).where(t.contacts.c.first_name.in_(["Zoé", "Léa"]))
        ).scalar_one()
    assert names > 100


def test_superseded_rows_across_batches(
    two_accounts: Database, tmp_path: Path, spills: list[int]
) -> None:
    """A number on line 2 and three times at the end of a CP1252 file: the last row wins
    whole, every line it superseded is reported with it, as row by row."""
    header, generated = _generated(2_000, seed=11).split("\n", 1)
    end = "".join(f"0799999999;{name};;;;\n" for name in ("Brigitte", "Paul", "Zoé"))
    text = f"{header}\n0799999999;A;;;;\n{generated}{end}"
    rows, columns = _both(two_accounts, tmp_path, text.encode("cp1252"), consent="opt-in")
    assert spills
    expected = _superseded_by_hand(text)
    assert [(s.line, s.by_line) for s in rows.superseded] == expected
    assert expected[0] == (2, 2005)
    _same(two_accounts, rows, columns, columnar=False)


def test_ragged_rows(two_accounts: Database, tmp_path: Path, spills: list[int]) -> None:
    """Short rows padded, long rows' extra cells ignored — but a row with only a cell past
    the header's is a missing phone, not a blank row, as the row path says."""
    text = _ragged(_generated(2_500, seed=5))
    rows, columns = _both(two_accounts, tmp_path, text, list_name="Ragged", consent="customer")
    assert spills
    assert rows.blank_lines >= 20
    assert rows.rejected_by_reason["missing_phone"] >= 20
    assert rows.duplicates > 80
    _same(two_accounts, rows, columns, columnar=False)


def test_line_breaks_inside_quotes(
    two_accounts: Database, tmp_path: Path, spills: list[int]
) -> None:
    """Rows spanning several lines shift every later line: rejects, superseded rows and the
    ledger's lines are those the row path gives."""
    lines = _generated(2_000, seed=13).split("\n")
    for i in range(5, len(lines) - 1, 41):
        phone, _, rest = lines[i].partition(";")
        lines[i] = f'{phone};"Jean\nPierre";{rest.partition(";")[2]}'
        lines[i + 1] = f'{lines[i + 1]}\n"adresse\r\nsur deux lignes";;;;;'
    text = "\n".join(lines)
    rows, columns = _both(two_accounts, tmp_path, text, consent="opt-in")
    assert spills
    assert rows.rejected > 30
    assert rows.superseded
    _same(two_accounts, rows, columns, columnar=False)


@pytest.mark.parametrize(
    "text",
    [
        "Nom;Mobile\nA;0612345678\n\nB;0698765432\n",  # an empty line between rows
        "Nom;Mobile\rA;0612345678\rB;0698765432\r",  # old Mac line ends
        "Nom;Mobile\nA\x00b;06\x0012345678\n",  # NUL bytes: the row reader drops them
        "0612345678;Zoé\n0698765432;Léa\n0612345678;Inès\n",  # no header: line 1 is a row
    ],
)
def test_small_files_the_stream_leaves(
    two_accounts: Database, tmp_path: Path, spills: list[int], text: str
) -> None:
    rows, columns = _both(two_accounts, tmp_path, text.encode("cp1252"), consent="opt-in")
    _same(two_accounts, rows, columns, columnar=False)
    assert spills


def test_a_large_headerless_file_is_cut_into_ranges(
    two_accounts: Database, tmp_path: Path, spills: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No header: its first row is a contact, and in the first batch, whose numbers cut the
    ranges — every range holds a share of the file, not one range all of it."""
    sizes: list[int] = []
    original = streaming.Spilled.stage

    def stage(self: streaming.Spilled, index: int) -> Any:
        part = original(self, index)
        sizes.append(part.num_rows)
        return part

    monkeypatch.setattr(streaming.Spilled, "stage", stage)
    body = _generated(2_000, seed=19).split("\n", 1)[1]
    text = f"0799999999;Zoé;;;;\n{body}0799999999;Léa;;;;\n"
    rows, columns = _both(two_accounts, tmp_path, text.encode("cp1252"), consent="opt-in")
    assert spills
    assert rows.columns["phone"] == "column 1"
    assert (rows.superseded[0].line, rows.superseded[0].by_line) == (1, 2002)
    assert len(sizes) > 3
    assert max(sizes) < rows.imported // 2
    _same(two_accounts, rows, columns, columnar=False)


def test_reimport_over_existing_contacts(
    two_accounts: Database, tmp_path: Path, spills: list[int]
) -> None:
    """The same numbers again (ragged, then CP1252): every contact updated, empty cells
    never erase, the list keeps its members, a ledger row per number."""
    text = _generated(1_500, seed=17)
    rows, columns = _both(two_accounts, tmp_path, _ragged(text), list_name="Soldes")
    _same(two_accounts, rows, columns, columnar=False)
    again = text.replace(";Paris", ";Marseille").encode("cp1252")
    rows, columns = _both(two_accounts, tmp_path, again, list_name="Soldes", consent="opt-in")
    assert rows.imported < 40  # the rows the ragged file blanked out
    assert rows.updated > 1_000
    assert rows.list_added == rows.imported  # the members stay; the new ones join
    _same(two_accounts, rows, columns, columnar=False)
    assert len(spills) == 2


def _import(database: Database, path: Path, account: str, **options: Any) -> str:
    """The error an import of ``path`` raises (nothing may be left of it)."""
    with pytest.raises(UnreadableFile) as raised, database.transaction() as conn:
        ci.import_contacts(
            conn, account, path, ci.ImportOptions(**options), row_path=account == "rows"
        )
    return str(raised.value)


@pytest.mark.parametrize(
    ("late", "encoding", "where"),
    [
        # A field over the csv module's limit.
        (b"A;0612345678;" + b"x" * 200_000 + b"\n", None, "line 402: field larger"),
        # A CP1252 byte in a file said to be UTF-8 (the row reader decodes ahead of the
        # rows: it names the last line it read whole, here none).
        (b"Z\xe9;0612345678\n", "utf-8", "after line 0: not valid utf-8"),
    ],
)
def test_an_unreadable_line_half_way_names_it_and_leaves_nothing(
    two_accounts: Database,
    tmp_path: Path,
    spills: list[int],
    monkeypatch: pytest.MonkeyPatch,
    late: bytes,
    encoding: str | None,
    where: str,
) -> None:
    """The csv module's error, with the file and its line, as the row path gives it; no
    contact, no report, no spill left behind."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    body = "".join(f"N{i};06{i:08d}\n" if i % 50 else f"N{i};06 12\n" for i in range(400))
    text = f"Nom;Mobile\n{body}".encode() + late + b"B;0698765432\n"
    errors = []
    for account in ("rows", "columns"):
        folder = tmp_path / account
        folder.mkdir()
        (folder / "clients.csv").write_bytes(text)
        errors.append(_import(two_accounts, folder / "clients.csv", account, encoding=encoding))
        assert not list(folder.glob("*rejects*"))
    assert errors[0] == errors[1].replace("/columns/", "/rows/")
    assert where in errors[1]
    with two_accounts.reader() as conn:
        assert conn.execute(select(func.count()).select_from(t.contacts)).scalar_one() == 0
    assert not list(tmp_path.glob("stopsms-spill-*"))


def test_a_failed_merge_leaves_no_spill(
    two_accounts: Database, tmp_path: Path, spills: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while merging rolls everything back and removes the spill files."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    from stopsms.services.contacts import writers

    def failing(*args: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(writers.SqliteStagedWriter, "write_staged", failing)
    monkeypatch.setattr(writers.PostgresWriter, "write_csv", failing)
    path = tmp_path / "big.csv"
    path.write_bytes(_generated(1_000, seed=3).encode("cp1252"))
    with pytest.raises(RuntimeError, match="disk full"), two_accounts.transaction() as conn:
        ci.import_contacts(conn, "columns", path, ci.ImportOptions())
    assert spills
    assert not list(tmp_path.glob("stopsms-spill-*"))
    assert not list(tmp_path.glob("*rejects*"))
