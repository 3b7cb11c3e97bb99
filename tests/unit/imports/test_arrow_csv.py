"""Arrow columns of a CSV file: exactly the csv module's rows, or ``None``."""

from __future__ import annotations

import csv
import io
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopsms.imports import arrow_csv
from stopsms.imports.arrow_csv import ArrowRows, read_columns
from stopsms.imports.reader import CsvTable, open_table

#: ``(line, cells)`` of every row under the header, as the csv reader gives them.
Rows = list[tuple[int, list[str]]]


def _write(tmp_path: Path, data: bytes, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _csv_table(path: Path) -> CsvTable:
    table = open_table(path)
    assert isinstance(table, CsvTable)
    return table


def _columns(path: Path, *, include_header: bool = False) -> ArrowRows | None:
    with closing(_csv_table(path)) as table:
        return read_columns(table, include_header=include_header)


def _csv_rows(path: Path) -> Rows:
    """The rows under the header, read the usual way (the reference)."""
    with closing(_csv_table(path)) as table:
        return [
            (line, row)
            for chunk in table.chunks(3)
            for line, row in zip(chunk.lines, chunk.rows, strict=True)
        ]


def _as_rows(found: ArrowRows) -> Rows:
    """The Arrow answer in the csv reader's shape (trailing empty lines as empty rows)."""
    cells = [column.to_pylist() for column in found.columns]
    rows: Rows = [
        (found.first_line + i, [str(column[i]) for column in cells]) for i in range(found.count)
    ]
    last = found.first_line + found.count
    rows += [(last + i, []) for i in range(found.trailing_blank)]
    return rows


def test_a_semicolon_file_gives_the_csv_modules_cells(tmp_path: Path) -> None:
    text = (
        "mobile;prénom;nom;ville\n"
        "06 12 34 56 78; Jean ;Dupont;Paris\n"
        "+33612345679;;Durand;\n"
        ";;;\n"
        "abc;Zoé; ;Saint-Étienne\n"
    )
    path = _write(tmp_path, text.encode())
    found = _columns(path)
    assert found is not None
    assert found.first_line == 2
    assert found.trailing_blank == 0
    assert found.count == 4
    expected = list(csv.reader(io.StringIO(text), delimiter=";"))[1:]
    assert [column.to_pylist() for column in found.columns] == [
        list(c) for c in zip(*expected, strict=True)
    ]
    assert _as_rows(found) == _csv_rows(path)


def test_trailing_empty_lines_are_counted(tmp_path: Path) -> None:
    path = _write(tmp_path, b"mobile;nom\n0612345678;a\n0612345679;b\n\n\n")
    found = _columns(path)
    assert found is not None
    assert found.count == 2
    assert found.trailing_blank == 2
    assert _as_rows(found) == _csv_rows(path)
    assert _csv_rows(path)[-2:] == [(4, []), (5, [])]


def test_no_trailing_line_end(tmp_path: Path) -> None:
    path = _write(tmp_path, b"mobile;nom\n0612345678;a\n0612345679;b")
    found = _columns(path)
    assert found is not None
    assert (found.count, found.trailing_blank) == (2, 0)
    assert _as_rows(found) == _csv_rows(path)


def test_crlf_file(tmp_path: Path) -> None:
    path = _write(tmp_path, b"mobile;nom\r\n0612345678;a\r\n0612345679;b\r\n\r\n")
    found = _columns(path)
    assert found is not None
    assert [column.to_pylist() for column in found.columns] == [
        ["0612345678", "0612345679"],
        ["a", "b"],
    ]
    assert (found.first_line, found.trailing_blank) == (2, 1)
    assert _as_rows(found) == _csv_rows(path)


def test_blank_lines_before_the_header_move_the_first_line(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\n\nmobile;nom\n0612345678;a\n")
    found = _columns(path)
    assert found is not None
    assert found.first_line == 4
    assert _as_rows(found) == _csv_rows(path) == [(4, ["0612345678", "a"])]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"mobile;nom\n0612345678;a\r0612345679;b\n", id="bare-cr"),
        pytest.param(b"mobile;nom\r0612345678;a\r0612345679;b\r", id="old-mac"),
        pytest.param(b"mobile;nom\n0612345678;a\n\n0612345679;b\n", id="empty-line-between"),
        pytest.param(b"mobile;nom\r\n0612345678;a\r\n\r\n0612345679;b\r\n", id="empty-crlf"),
        pytest.param(b"mobile;nom;ville\n0612345678;a\n0612345679;b;c\n", id="fewer-fields"),
        pytest.param(b"mobile;nom\n0612345678;a;x\n0612345679;b\n", id="more-fields"),
        pytest.param(b'mobile;nom\n0612345678;"two\nlines"\n0612345679;b\n', id="newline"),
        pytest.param(b'mobile;nom\n0612345678;"two\r\nlines"\n0612345679;b\n', id="crlf-in"),
        pytest.param(b"mobile;nom\n", id="header-only"),
        pytest.param(b"mobile;nom\n\n\n", id="header-and-blank-lines"),
    ],
)
def test_files_the_csv_module_reads_differently_are_not_answered(
    tmp_path: Path, data: bytes
) -> None:
    assert _columns(_write(tmp_path, data)) is None


def test_nul_bytes_are_dropped_as_the_reader_drops_them(tmp_path: Path) -> None:
    path = _write(tmp_path, b"mobile;nom\n06123\x0045678;a\n0612345679;b\x00\n")
    found = _columns(path)
    assert found is not None
    assert _as_rows(found) == _csv_rows(path)
    assert _as_rows(found)[0] == (2, ["0612345678", "a"])


def test_a_nul_between_cr_and_lf_keeps_the_csv_modules_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, b"mobile;nom\n0612345678;a\r\x00\n0612345679;b\n")
    # The reader splits "\r" and "\x00\n" into two lines before dropping the NUL: an empty
    # row on line 3 and the next number on line 4.
    assert _csv_rows(path) == [(2, ["0612345678", "a"]), (3, []), (4, ["0612345679", "b"])]
    found = _columns(path)
    assert found is None or _as_rows(found) == _csv_rows(path)


def test_an_empty_line_after_the_header(tmp_path: Path) -> None:
    path = _write(tmp_path, b"mobile;nom\n\n0612345678;a\n0612345679;b\n")
    assert _csv_rows(path) == [(2, []), (3, ["0612345678", "a"]), (4, ["0612345679", "b"])]
    found = _columns(path)
    assert found is None or _as_rows(found) == _csv_rows(path)


def test_a_field_over_the_csv_limit_is_not_answered(tmp_path: Path) -> None:
    limit = csv.field_size_limit()
    assert limit < 140_000
    huge = _write(tmp_path, b"mobile;nom\n0612345678;" + b"x" * 140_000 + b"\n", "huge.csv")
    assert _columns(huge) is None
    # At the limit exactly, the csv module still reads it: so does Arrow.
    at_limit = _write(tmp_path, b"mobile;nom\n0612345678;" + b"x" * limit + b"\n", "at.csv")
    found = _columns(at_limit)
    assert found is not None
    assert _as_rows(found) == _csv_rows(at_limit)


def test_a_file_over_max_bytes_is_not_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, b"mobile;nom\n0612345678;a\n")
    assert _columns(path) is not None
    monkeypatch.setattr(arrow_csv, "MAX_BYTES", 10)
    assert _columns(path) is None


def test_quoted_delimiters_and_doubled_quotes(tmp_path: Path) -> None:
    text = (
        "mobile;nom;note\n"
        '0612345678;"Dupont; Martin";"il a dit ""oui"""\n'
        '"0612345679";"";"a;b;""c"""\n'
        '0612345670;ab"c;"x"y\n'
    )
    path = _write(tmp_path, text.encode())
    found = _columns(path)
    assert found is not None
    expected = list(csv.reader(io.StringIO(text), delimiter=";"))[1:]
    assert expected[0] == ["0612345678", "Dupont; Martin", 'il a dit "oui"']
    assert [column.to_pylist() for column in found.columns] == [
        list(c) for c in zip(*expected, strict=True)
    ]
    assert _as_rows(found) == _csv_rows(path)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("mobile;prénom\n0612345678;Hélène\n0612345679;Café €\n".encode("cp1252"), "cp1252"),
        ("mobile;prénom\n0612345678;Hélène\n0612345679;Zoé\n".encode("utf-8-sig"), "utf-8-sig"),
        ("mobile;prénom\n0612345678;Hélène\n".encode("utf-16"), "utf-16"),
        (
            "mobile;prénom\n0612345678;Hélène\n".encode() + "0612345679;Chloé\n".encode("cp1252"),
            "mixed utf-8/cp1252",
        ),
    ],
)
def test_values_are_decoded_as_the_table_decodes_them(
    tmp_path: Path, data: bytes, encoding: str
) -> None:
    path = _write(tmp_path, data)
    with closing(_csv_table(path)) as table:
        assert table.encoding == encoding
        found = read_columns(table)
        reference = [row for chunk in table.chunks(10) for row in chunk.rows]
    assert found is not None
    assert [column.to_pylist() for column in found.columns] == [
        list(c) for c in zip(*reference, strict=True)
    ]
    assert any("é" in row[1] for row in reference)
    assert all("\ufeff" not in str(column[0].as_py()) for column in found.columns)


def test_a_forced_encoding_that_does_not_fit_is_not_answered(tmp_path: Path) -> None:
    # The undecodable byte comes after the first block the reader decodes with the header.
    data = b"mobile;nom\n" + b"0612345678;a\n" * 5000 + "0612345679;Hélène\n".encode("cp1252")
    path = _write(tmp_path, data)
    with open_table(path, encoding="utf-8") as table:
        assert isinstance(table, CsvTable)
        assert read_columns(table) is None
        assert table.codec == "utf-8"


def test_headerless_file_with_the_header_row(tmp_path: Path) -> None:
    path = _write(tmp_path, b"0612345678;Jean\n0612345679;Paul\n\n")
    with closing(_csv_table(path)) as table:
        assert table.header == ["0612345678", "Jean"]
        with_first = read_columns(table, include_header=True)
        without = read_columns(table)
    assert with_first is not None
    assert without is not None
    assert with_first.first_line == 1
    assert [column.to_pylist() for column in with_first.columns] == [
        ["0612345678", "0612345679"],
        ["Jean", "Paul"],
    ]
    assert with_first.trailing_blank == 1
    assert without.first_line == 2
    assert [column.to_pylist() for column in without.columns] == [["0612345679"], ["Paul"]]


def test_single_column_file(tmp_path: Path) -> None:
    path = _write(tmp_path, b"mobile\n0612345678\n 06 12 34 56 79 \n")
    found = _columns(path)
    assert found is not None
    assert _as_rows(found) == _csv_rows(path)


# -- any file Arrow answers for is read exactly as the csv module reads it -----------------

_PLAIN = st.text(alphabet=st.sampled_from(['"', ";", " ", "a", "1", "é"]), max_size=5)
_CELL = st.one_of(_PLAIN, _PLAIN.map(lambda s: s + "\n"), _PLAIN.map(lambda s: "\r" + s))
_ROW = st.one_of(
    st.lists(_PLAIN, min_size=3, max_size=3),
    st.lists(_CELL, min_size=3, max_size=3),
    st.lists(_CELL, max_size=4),  # ragged, or an empty line
)


def _render(cell: str) -> str:
    if any(c in cell for c in ';"\r\n') and not cell.startswith(" "):
        return '"' + cell.replace('"', '""') + '"'
    return cell  # a raw quote or line end left in: the csv module decides


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(_ROW, min_size=1, max_size=6),
    newline=st.sampled_from(["\n", "\r\n"]),
    tail=st.integers(min_value=0, max_value=3),
)
def test_any_answer_is_the_csv_modules_rows(
    tmp_path: Path, rows: list[list[str]], newline: str, tail: int
) -> None:
    lines = [";".join(map(_render, row)) for row in rows]
    text = "h1;h2;h3" + newline + "".join(line + newline for line in lines) + newline * tail
    path = _write(tmp_path, text.encode())
    try:
        reference = _csv_rows(path)
    except Exception:  # unreadable for the csv reader (huge fields cannot happen here)
        return
    found = _columns(path)
    if found is not None:
        assert _as_rows(found) == reference


@pytest.mark.parametrize(
    "data",
    [b'h1;h2;h3\n; ";"\n', b'h1;h2;h3\n; ";"\n\n\n', b'h1;h2\nx;"open\n'],
)
def test_a_quote_left_open_on_the_last_row_is_left_to_the_reader(
    tmp_path: Path, data: bytes
) -> None:
    """The csv module takes the line ends after it into the value (found by hypothesis)."""
    path = _write(tmp_path, data)
    found = _columns(path)
    assert found is None or _as_rows(found) == _csv_rows(path)
    assert found is None


def test_a_nul_beyond_the_scanned_head_is_left_to_the_reader(tmp_path: Path) -> None:
    """With --encoding given only the head is scanned for NULs: the csv reader decides."""
    rows = "".join(f"06123456{i % 100:02d};n{i}\n" for i in range(8_000))  # > 64 KiB
    path = _write(tmp_path, ("mobile;nom\n" + rows + "0612345678;a\x00b\n").encode())
    with closing(open_table(path, encoding="utf-8")) as table:
        assert isinstance(table, CsvTable)
        assert not table.has_nul
        assert read_columns(table) is None


def _streamed(path: Path) -> Rows | None:
    """The stream's answer in the csv reader's shape, or ``None`` (not answered, or a batch
    not exact)."""
    with closing(_csv_table(path)) as table:
        stream = arrow_csv.stream_columns(table)
        if stream is None:
            return None
        rows: Rows = []
        line = stream.first_line
        try:
            for columns, first in stream.batches():
                assert first == line
                cells = [column.to_pylist() for column in columns]
                rows += [(line + i, [str(c[i]) for c in cells]) for i in range(len(cells[0]))]
                line += len(cells[0])
        except arrow_csv.NotExact:
            return None
        rows += [(line + i, []) for i in range(stream.trailing_blank)]
        return rows


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(_ROW, min_size=1, max_size=12),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    tail=st.integers(min_value=0, max_value=3),
    block=st.integers(min_value=1, max_value=7),
)
def test_any_streamed_answer_is_the_csv_modules_rows(
    tmp_path: Path, rows: list[list[str]], newline: str, tail: int, block: int
) -> None:
    """Streamed in batches of a few rows and scanned in blocks of a few bytes (so that a
    line end, an empty line or a bare carriage return straddles two blocks)."""
    lines = [";".join(map(_render, row)) for row in rows]
    text = "h1;h2;h3" + newline + "".join(line + newline for line in lines) + newline * tail
    path = _write(tmp_path, text.encode())
    try:
        reference = _csv_rows(path)
    except Exception:
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(arrow_csv, "_SCAN_BLOCK", 64 + block)
        patch.setattr(arrow_csv, "STREAM_BLOCK", 16 + block)
        patch.setattr(arrow_csv, "STREAM_ROWS", block % 3 + 1)
        found = _streamed(path)
    if found is not None:
        assert found == reference
    whole = _columns(path)
    if whole is not None and found is None:
        # Only a batch too small for a quoted value may refuse what the whole file answers.
        assert '"' in text


@pytest.mark.parametrize(
    "data",
    [
        b"h1;h2\na;0612345678\n\nb;0698765432\n",
        b"h1;h2\r\na;0612345678\r\n\r\nb;0698765432\r\n",
        b"h1;h2\na;0612345678\rb;0698765432\n",
        b"h1;h2\na;06\x0012345678\n",
    ],
)
def test_the_stream_refuses_what_the_whole_file_reader_refuses(
    tmp_path: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arrow_csv, "_SCAN_BLOCK", 5)
    path = _write(tmp_path, data)
    assert _streamed(path) is None
