"""From rows to contact records: normalisation, rejects, merging, spreadsheet numbers."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from stopsms.imports.columns import recognise
from stopsms.imports.reader import Chunk, open_table
from stopsms.imports.rejects import RejectReport
from stopsms.services.contacts.pipeline import serial_batches
from stopsms.services.contacts.rows import ContactRows, regions_of, repair_spreadsheet_number


@pytest.mark.parametrize(
    ("raw", "repaired", "lost"),
    [
        ("33612345678.0", "33612345678", False),
        ("612345678,0", "612345678", False),
        ("3.3612345678E+10", "33612345678", False),
        ("3,36123E+10", "3,36123E+10", True),
        ("06.12.34.56.78", "06.12.34.56.78", False),
        ("3.5", "3.5", False),
    ],
)
def test_repair_spreadsheet_number(raw: str, repaired: str, lost: bool) -> None:
    assert repair_spreadsheet_number(raw) == (repaired, lost)


def test_regions() -> None:
    numbers = ["+33612345678", "+262692123456", "+590690001234", "+14155552671", "+32470123456"]
    assert regions_of(numbers) == ["FR", "RE", "GP", "US", "BE"]


def _parser(tmp_path: Path, header: list[str]) -> ContactRows:
    return ContactRows(recognise(header), "FR", RejectReport(tmp_path / "r.csv"), track_lines=True)


def test_parse_rejects_merges_and_counts(tmp_path: Path) -> None:
    parser = _parser(tmp_path, ["mobile", "prénom", "nom", "ville"])
    rows = [
        ["06 12 34 56 78", " Jean ", "Dupont", "Paris"],
        ["abc", "x", "y", ""],
        ["", "", "", ""],
        ["", "Zoé", "", ""],
        ["+33612345678", "", "Durand", ""],  # duplicate: the last row wins whole
        ["33612345679.0", "Léa"],  # ragged, spreadsheet float
        ["3,36123E+10", "Noé", "", ""],
    ]
    batch = parser.parse(Chunk(range(2, 2 + len(rows)), rows))
    assert batch.records == [
        ("+33612345678", "FR", "", "Durand", "", "", None),
        ("+33612345679", "FR", "Léa", "", "", "", None),
    ]
    assert batch.first_seen == [("+33612345678", 2), ("+33612345679", 7)]
    assert (parser.rows, parser.blank, parser.duplicates, parser.distinct) == (6, 1, 1, 2)
    assert dict(parser.rejects.counts) == {
        "invalid_phone": 1,
        "missing_phone": 1,
        "lost_digits": 1,
    }
    parser.rejects.discard()


def test_duplicates_across_chunks_are_counted(tmp_path: Path) -> None:
    parser = _parser(tmp_path, ["mobile"])
    first = parser.parse(Chunk([2, 3], [["0612345678"], ["0612345679"]]))
    second = parser.parse(Chunk([4, 5], [["+33 6 12 34 56 78"], ["0612345670"]]))
    assert len(first.records) == 2
    assert [r[0] for r in second.records] == ["+33612345670", "+33612345678"]
    assert second.first_seen == [("+33612345670", 5)]
    assert (parser.rows, parser.duplicates, parser.distinct) == (4, 1, 3)


def test_bulk_parsing_leaves_no_reference_cycles(tmp_path: Path) -> None:
    # With the collector paused (as during an import), phonenumbers' error paths used to
    # leave cycles whose frames kept every chunk alive: 1.2 GiB for a million rows.
    shapes = ("+999{:08d}", "06-xx-{:02d}", "06{:04d}", "0612345{:03d}")
    lines = ["mobile"] + [shapes[i % 4].format(i) for i in range(60)]
    path = tmp_path / "numbers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    gc.collect()
    gc.disable()
    try:
        with open_table(path) as table:
            parser = ContactRows(recognise(table.header), "FR", RejectReport(tmp_path / "r.csv"))
            batches = list(serial_batches(table, parser, 10))
        parser.rejects.discard()
        gc.unfreeze()
        assert gc.collect() == 0
    finally:
        gc.unfreeze()
        gc.enable()
    assert len(batches) == 6
    assert parser.rejects.counts["invalid_phone"] == 45


def test_a_phone_cell_holding_a_line_break_does_not_shift_the_repairs() -> None:
    """A quoted phone cell over two lines: each cell is repaired on its own (the joined
    column's line count no longer says which cell a float is in)."""
    raws = ["06 12\n34 56 78", "33612345678.0", "x\ny\nz", "3.3612345679E+10"]
    repaired, lost = ContactRows._repair(raws)
    assert list(repaired) == ["06 12\n34 56 78", "33612345678", "x\ny\nz", "33612345679"]
    assert lost == set()
