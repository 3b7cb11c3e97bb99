"""The columnar parser against the row parser: same contacts, counts and reject report."""

from __future__ import annotations

import itertools
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias, cast

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopsms.imports.columns import recognise
from stopsms.imports.reader import Chunk
from stopsms.imports.rejects import RejectReport
from stopsms.services.contacts.columns import (
    _FLOAT_CANDIDATE,
    STAGED_SCHEMA,
    ContactColumns,
    StagedContacts,
)
from stopsms.services.contacts.rows import _FLOAT_END, ContactRows, _repair_rows

#: ``(phone, region, first_name, last_name, email, company, custom fields)``, empty text "".
Record: TypeAlias = tuple[str, str, str, str, str, str, dict[str, str] | None]

_WHITESPACE = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]


# -- the Arrow kernels the columnar parser relies on ---------------------------------------


def _trim(value: str) -> str | None:
    trimmed: list[str | None] = pc.utf8_trim_whitespace(pa.array([value], pa.string())).to_pylist()
    return trimmed[0]


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.characters(codec="utf-8"),
            st.sampled_from(_WHITESPACE),
            st.characters(categories=["Zs", "Zl", "Zp", "Cc", "Cf"], codec="utf-8"),
        )
    )
)
def test_arrow_trims_what_str_strip_strips(value: str) -> None:
    assert _trim(value) == value.strip()


def test_arrow_trims_every_unicode_whitespace_and_nothing_else() -> None:
    assert len(_WHITESPACE) > 20
    spaced = pa.array([f"{ch}x{ch}" for ch in _WHITESPACE], pa.string())
    assert set(pc.utf8_trim_whitespace(spaced).to_pylist()) == {"x"}
    others = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if not chr(c).isspace() and not 0xD800 <= c <= 0xDFFF  # surrogates: not in UTF-8
    ]
    kept = pc.utf8_trim_whitespace(pa.array([f"{ch}x{ch}" for ch in others], pa.string()))
    assert pc.all(pc.equal(pc.utf8_length(kept), pa.scalar(3, pa.int32()))).as_py()


_NUMBERISH = st.text(
    alphabet=st.sampled_from(list("0123456789.,eE+ \taxZ٣")),
    max_size=16,
)


def _candidates(values: Sequence[str]) -> list[int]:
    found = pc.match_substring_regex(pa.array(values, pa.string()), _FLOAT_CANDIDATE)
    return cast(list[int], pc.indices_nonzero(found).to_pylist())


@settings(max_examples=500, deadline=None)
@given(_NUMBERISH)
def test_the_float_candidates_are_a_superset_of_what_the_row_parser_repairs(value: str) -> None:
    assert "\n" not in value
    if _FLOAT_END.search(value) is not None:
        assert _candidates([value]) == [0]


@pytest.mark.parametrize(
    "value", ["33612345678.0", "612345678,00 \t", "3.3612345678E+10", "3,36123e10", "1e5 "]
)
def test_spreadsheet_floats_are_candidates(value: str) -> None:
    assert _FLOAT_END.search(value) is not None
    assert _candidates([value]) == [0]


@settings(max_examples=200, deadline=None)
@given(st.lists(_NUMBERISH, max_size=8))
def test_repairing_the_candidates_repairs_what_the_row_parser_repairs(raws: list[str]) -> None:
    repaired, lost = _repair_rows(raws, _candidates(raws))
    expected, expected_lost = ContactRows._repair(raws)
    assert list(repaired) == list(expected)
    assert lost == expected_lost


# -- the two parsers side by side ----------------------------------------------------------

HEADER = ["mobile", "prénom", "nom", "email", "société", "ville", "code client"]
ROWS = [
    ["06 12 34 56 78", " Jean ", "Dupont", "jean@example.fr", "ACME", "Paris", ""],
    ["abc", "x", "y", "", "", "", ""],  # invalid
    ["", "", "", "", "", "", ""],  # blank
    ["  ", " ", "", "\t", "", "", ""],  # blank (spaces only)
    ["", "Zoé", "", "", "", "", ""],  # no phone
    ["+33612345678", "", "Durand", "", " ", "", "C1"],  # duplicate: replaces the first whole
    ["33612345679.0", "Léa", "", "", "", "Lyon", ""],  # spreadsheet float
    ["3.3612345670E+10", "Noé", "Martin", "", "", "", ""],  # scientific notation
    ["3,36123E+10", "Noé", "", "", "", "", ""],  # lost digits
    ["0612345678", "Jeanne", "", "", "", "", ""],  # a later row replaces it whole
    ["0612345679", "", "", "lea@example.fr", "", "", "C2"],
    ["+262 692 12 34 56", "Réunion", "", "", "", "", ""],
    ["+1 415 555 2671", "Sam", "", "", "", "San Francisco", ""],
    ["0612345678", "", "", "", "", "", ""],  # a duplicate with nothing to add
    ["06 12 34 56 7", "Court", "", "", "", "", ""],  # too short
    ["33612345678.00 ", "", "", "", "Dupont SA", "", ""],  # float of a known number
    ["6.12345678e8", "", "", "", "", "", "C3"],  # lowercase scientific, same number
    ["12e", "", "", "", "", "", ""],  # a candidate that is no float
    ["\u00a006 12 34 56 71\u3000", "\u2003Ana\u2003", "", "", "", "", " x;y "],
    ["+33 6 12 34 56 72", "Émile", "", "", "", "Nice", ""],
    ["06 12 34 56 72", "", "", "", "", "", ""],
    ["abc", "again", "", "", "", "", ""],  # the same invalid value twice
]


def _text(value: object) -> str:
    assert value is None or isinstance(value, str)
    return value or ""


def _custom(document: object) -> dict[str, str] | None:
    if document is None:
        return None
    assert isinstance(document, str)
    parsed: dict[str, str] = json.loads(document)
    return parsed


def _parser(tmp_path: Path, header: Sequence[str], report: str) -> ContactRows:
    return ContactRows(recognise(header), "FR", RejectReport(tmp_path / report), track_lines=True)


def _arrow_columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[pa.Array[Any]]:
    return [pa.array([row[i] for row in rows], pa.string()) for i in range(len(header))]


def _counts(parser: ContactRows) -> tuple[int, int, int, int]:
    return parser.rows, parser.blank, parser.duplicates, parser.distinct


def _report(parser: ContactRows) -> list[str]:
    path = parser.rejects.commit()
    return [] if path is None else path.read_text(encoding="utf-8-sig").splitlines()


def _row_records(batch_records: Sequence[tuple[Any, ...]]) -> list[Record]:
    return [
        (r[0], r[1], _text(r[2]), _text(r[3]), _text(r[4]), _text(r[5]), _custom(r[6]))
        for r in batch_records
    ]


def _table_records(table: pa.Table) -> list[Record]:
    return [
        (
            _text(r["phone"]),
            _text(r["region"]),
            _text(r["first_name"]),
            _text(r["last_name"]),
            _text(r["email"]),
            _text(r["company"]),
            _custom(r["custom"]),
        )
        for r in table.to_pylist()
    ]


_runs = itertools.count()


def _both(
    tmp_path: Path,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    first_line: int = 2,
    parts: int = 3,
) -> tuple[ContactRows, ContactRows, list[Record], pa.Table, dict[str, int]]:
    """Parse ``rows`` with each parser: ``(row parser, its twin, records, table, lines)``.

    The columnar parser cuts the numbers into ``parts`` ranges (each merged on its own).
    """
    run = next(_runs)
    by_rows = _parser(tmp_path, header, f"rows-{run}.csv")
    by_columns = _parser(tmp_path, header, f"columns-{run}.csv")
    lines = range(first_line, first_line + len(rows))
    batch = by_rows.parse(Chunk(lines, [list(row) for row in rows]))
    by_rows.finish()  # the superseded rows go to the report (serial_batches does it)
    staged = ContactColumns(by_columns).parse(_arrow_columns(header, rows), lines, parts=parts)
    table = staged.table()
    return by_rows, by_columns, _row_records(batch.records), table, dict(batch.first_seen)


def test_the_columnar_parser_is_the_row_parser(tmp_path: Path) -> None:
    by_rows, by_columns, records, table, first_seen = _both(tmp_path, HEADER, ROWS)
    assert table.schema == STAGED_SCHEMA
    # Both in number order (the row parser sorts its batch; the table is staged sorted).
    assert _table_records(table) == records
    assert len(records) == table.num_rows == by_columns.distinct
    # What the merge must have given (the row parser's known answers).
    merged = {record[0]: record for record in records}
    # The last row of a number wins whole (Brigitte's fields never stick to Paul).
    assert merged["+33612345678"] == ("+33612345678", "FR", "", "", "", "", {"code client": "C3"})
    assert merged["+33612345679"][2:5] == ("", "", "lea@example.fr")
    assert merged["+33612345670"][2:4] == ("Noé", "Martin")
    assert merged["+33612345671"][2] == "Ana"
    assert merged["+33612345671"][6] == {"code client": "x;y"}
    assert merged["+262692123456"][1] == "RE"
    assert merged["+14155552671"][1] == "US"
    assert _counts(by_columns) == _counts(by_rows)
    assert _counts(by_rows) == (20, 2, 7, 7)
    # The line of each number's first row.
    lines = dict(zip(table["phone"].to_pylist(), table["line"].to_pylist(), strict=True))
    assert lines == first_seen
    assert lines["+33612345679"] == 8
    reported = _report(by_rows)
    assert _report(by_columns) == reported
    assert reported[0] == "line;value;reason;detail"
    assert [line.split(";")[:3] for line in reported[1:]] == [
        ["3", "abc", "invalid_phone"],
        ["6", "", "missing_phone"],
        ["10", "3,36123E+10", "lost_digits"],
        ["16", "06 12 34 56 7", "invalid_phone"],
        ["19", "12e", "invalid_phone"],
        ["23", "abc", "invalid_phone"],
        # Then the rows a later row of their number superseded, by that last row's line.
        ["2", "+33612345678", "superseded"],
        ["7", "+33612345678", "superseded"],
        ["8", "+33612345679", "superseded"],
        ["11", "+33612345678", "superseded"],
        ["15", "+33612345678", "superseded"],
        ["17", "+33612345678", "superseded"],
        ["21", "+33612345672", "superseded"],
    ]
    by = {line.split(";")[0]: line.split(";")[3] for line in reported if "superseded" in line}
    assert by["2"] == by["17"] == "superseded by line 18 (the number's last row, kept whole)"
    assert (by["8"], by["21"]) == tuple(
        f"superseded by line {n} (the number's last row, kept whole)" for n in (12, 22)
    )
    assert by_rows.superseded_lines == by_columns.superseded_lines == [2, 7, 8, 11, 15, 17, 21]
    assert by_rows.superseded_by == by_columns.superseded_by == [18, 18, 12, 18, 18, 18, 22]


def test_absent_text_columns_are_null_in_the_table(tmp_path: Path) -> None:
    header = ["mobile", "nom"]
    rows = [["0612345678", "Dupont"], ["0612345678", ""], ["0612345679", ""]]
    by_rows, by_columns, records, table, _ = _both(tmp_path, header, rows)
    assert table["first_name"].null_count == table.num_rows == 2
    assert table["custom"].null_count == 2
    assert _table_records(table) == records
    assert _counts(by_columns) == _counts(by_rows) == (3, 0, 1, 2)
    reported = _report(by_rows)
    assert _report(by_columns) == reported
    assert reported[1:] == [
        "2;+33612345678;superseded;superseded by line 3 (the number's last row, kept whole)"
    ]


_PHONES = st.sampled_from(
    [
        "0612345678",
        "+33 6 12 34 56 78",
        "33612345678.0",
        "3.3612345678E+10",
        "0612345679",
        " 06.12.34.56.79 ",
        "6.12345679e8",
        "3,36123E+10",
        "+262 692 12 34 56",
        "+1 415 555 2671",
        "abc",
        "12e",
        "",
        "  ",
        "0612",
    ]
)
_TEXTS = st.sampled_from(["", " ", "\u00a0", "a", " b ", "c", "Zoé"])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(
        st.tuples(_PHONES, _TEXTS, _TEXTS, _TEXTS).map(list),
        min_size=1,
        max_size=25,
    ),
    valid_at=st.integers(min_value=0, max_value=26),
)
def test_random_files_parse_alike(tmp_path: Path, rows: list[list[str]], valid_at: int) -> None:
    if valid_at <= len(rows):  # else: maybe no valid number at all
        rows.insert(valid_at, ["0612345670", "", "Acme", ""])
    header = ["mobile", "prénom", "société", "ville"]
    by_rows, by_columns, records, table, first_seen = _both(tmp_path, header, rows)
    assert _table_records(table) == records
    assert dict(zip(table["phone"].to_pylist(), table["line"].to_pylist(), strict=True)) == (
        first_seen
    )
    assert _counts(by_columns) == _counts(by_rows)
    assert _report(by_columns) == _report(by_rows)


def test_parts_make_the_table_in_number_order(tmp_path: Path) -> None:
    """Cut into ranges of numbers, the parts make the same table, in number order."""
    rows = [
        [f"06 {10 + i % 89:02d} {i % 97:02d} 34 56", f"n{i}", "", "", "", "", ""]
        for i in range(300)
    ]
    rows += ROWS
    whole: pa.Table | None = None
    for parts in (1, 2, 5, 40):
        by_columns = _parser(tmp_path, HEADER, f"r{parts}.csv")
        staged: StagedContacts = ContactColumns(by_columns).parse(
            _arrow_columns(HEADER, rows), range(2, 2 + len(rows)), parts=parts
        )
        assert 1 < staged.parts <= parts or parts == 1
        pieces = [staged.part(i) for i in range(staged.parts)]
        assert all(piece.schema == STAGED_SCHEMA for piece in pieces)
        table = pa.concat_tables(pieces)
        staged.record_counts(table.num_rows)
        by_columns.rejects.discard()
        assert table.num_rows == by_columns.distinct > 250
        phones = cast(list[str], table["phone"].to_pylist())
        assert phones == sorted(phones)
        assert len(set(phones)) == len(phones)
        if whole is None:
            whole = table
        assert table.equals(whole)


def test_a_file_without_a_valid_number_gives_an_empty_table(tmp_path: Path) -> None:
    header = ["mobile", "nom"]
    by_columns = _parser(tmp_path, header, "r.csv")
    staged = ContactColumns(by_columns).parse(
        _arrow_columns(header, [["abc", "x"], ["", ""]]), range(2, 4)
    )
    assert by_columns.distinct == 0
    by_columns.rejects.discard()
    table = staged.table()
    assert table.schema == STAGED_SCHEMA
    assert table.num_rows == 0


def test_float_candidate_pattern_is_re2_and_python_compatible() -> None:
    # The pattern is documented as RE2 (Arrow's engine); it also compiles in Python.
    assert re.compile(_FLOAT_CANDIDATE).search("33612345678.0") is not None
