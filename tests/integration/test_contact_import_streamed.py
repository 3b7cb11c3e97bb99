"""A file too large to hold is streamed by the columnar path, with exactly the row path's results.

Every file here is made "large" (``arrow_csv.MAX_BYTES`` lowered to nothing) and read in small
batches and small ranges of numbers, so that a number's rows fall in different batches, its
range's spill takes several batches, and SQLite's staging files each take several ranges. The
comparison is the columnar tests' (:mod:`.test_contact_import_columnar`): the same file by the
row path into another account of the same database, every contact, ledger row, list member,
summary field and byte of the reject report compared, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stopsms.imports import arrow_csv
from stopsms.services.contacts import importing as ci
from stopsms.services.contacts import streaming
from stopsms.store.database import Database

from .test_contact_import import CLIENTS
from .test_contact_import_columnar import (
    _MESSY,
    _both,
    _generated,
    _same,
    _superseded_by_hand,
    two_accounts,
)

__all__ = ["two_accounts"]  # the fixture, imported for these tests


def counted_spills(monkeypatch: pytest.MonkeyPatch, spiller: str) -> list[int]:
    """Every CSV file large (read in blocks of 512 bytes, about 40 rows a batch, ranges of
    about 300); the list gets the ranges of each spill made by ``streaming.<spiller>``."""
    monkeypatch.setattr(arrow_csv, "MAX_BYTES", 0)
    monkeypatch.setattr(arrow_csv, "STREAM_BLOCK", 512)
    monkeypatch.setattr(arrow_csv, "STREAM_ROWS", 40)
    monkeypatch.setattr(streaming, "RANGE_ROWS", 300)
    made: list[int] = []
    original: Callable[..., streaming.Spilled] = getattr(streaming, spiller)

    def counted(*args: Any, **kwargs: Any) -> streaming.Spilled:
        spilled = original(*args, **kwargs)
        made.append(spilled.parts)
        return spilled

    monkeypatch.setattr(streaming, spiller, counted)
    return made


@pytest.fixture
def spills(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every file streamed, in batches of about 40 rows and ranges of about 300; the list
    gets the ranges of each spill (what proves the stream ran)."""
    return counted_spills(monkeypatch, "spill")


def test_a_large_generated_file(two_accounts: Database, tmp_path: Path, spills: list[int]) -> None:
    """Repeats across batches and ranges, rejects, custom fields, a list and consent."""
    text = _generated(3_000, seed=7)
    rows, columns = _both(two_accounts, tmp_path, text, list_name="Gros", consent="opt-in")
    assert spills == [10]  # ten ranges: SQLite's eight staging files take two at most
    assert rows.duplicates > 100
    assert rows.rejected > 30
    _same(two_accounts, rows, columns)


def test_superseded_rows_across_batches(
    two_accounts: Database, tmp_path: Path, spills: list[int]
) -> None:
    """A number on line 2 and three times at the end: the last row wins whole, every line
    it superseded is reported with it, as row by row."""
    header, generated = _generated(2_000, seed=11).split("\n", 1)
    end = "".join(f"0799999999;{name};;;;\n" for name in ("Brigitte", "Paul", "Zoé"))
    text = f"{header}\n0799999999;A;;;;\n{generated}{end}"
    rows, columns = _both(two_accounts, tmp_path, text, consent="opt-in")
    assert spills
    expected = _superseded_by_hand(text)
    assert [(s.line, s.by_line) for s in rows.superseded] == expected
    assert expected[0] == (2, 2005)
    _same(two_accounts, rows, columns)


def test_messy_file_and_reimport(two_accounts: Database, tmp_path: Path, spills: list[int]) -> None:
    """Quotes, blank rows, trailing empty lines, spreadsheet floats; then over the contacts."""
    rows, columns = _both(two_accounts, tmp_path, _MESSY, list_name="Soldes", consent="opt-in")
    assert (rows.imported, rows.duplicates, rows.blank_lines) == (8, 2, 4)
    _same(two_accounts, rows, columns)
    rows, columns = _both(two_accounts, tmp_path, CLIENTS, list_name="Soldes", consent="customer")
    _same(two_accounts, rows, columns)
    assert len(spills) == 2


@pytest.mark.parametrize(
    ("early", "late"),
    [
        ("", "A;0612345678;extra\n"),  # a ragged row, seen only when its batch is parsed
        ("", '"A\nB";0612345678\n'),  # a line break inside quotes
        ("A;0612345678;extra\n", ""),  # in the first batch (Arrow parses it on opening)
    ],
)
def test_a_row_the_stream_cannot_read_sends_the_file_to_the_row_reader(
    two_accounts: Database, tmp_path: Path, spills: list[int], early: str, late: str
) -> None:
    """Batches read (and rows rejected) before it are dropped: the row path reads afresh."""
    body = "".join(f"N{i};06{i:08d}\n" if i % 50 else f"N{i};06 12\n" for i in range(1_000))
    text = f"Nom;Mobile\n{early}{body}{late}"
    rows, columns = _both(two_accounts, tmp_path, text)
    assert rows.rejected >= 20
    _same(two_accounts, rows, columns, columnar=False)
    assert not spills  # the spill was abandoned


@pytest.mark.parametrize(
    "text",
    [
        "Nom;Mobile\nA;0612345678\n\nB;0698765432\n",  # an empty line between rows
        "Nom;Mobile\rA;0612345678\rB;0698765432\r",  # old Mac line ends
        "Nom;Mobile\nA\x00b;06\x0012345678\n",  # NUL bytes: the row reader drops them
    ],
)
def test_files_not_streamed(
    two_accounts: Database, tmp_path: Path, spills: list[int], text: str
) -> None:
    rows, columns = _both(two_accounts, tmp_path, text)
    _same(two_accounts, rows, columns, columnar=False)
    assert not spills


def test_a_failed_streamed_import_leaves_no_spill(
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
    path.write_text(_generated(1_000, seed=3), encoding="utf-8")
    with pytest.raises(RuntimeError, match="disk full"), two_accounts.transaction() as conn:
        ci.import_contacts(conn, "columns", path, ci.ImportOptions())
    assert spills
    assert not list(tmp_path.glob("stopsms-spill-*"))
