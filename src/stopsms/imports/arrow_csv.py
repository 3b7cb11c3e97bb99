"""A CSV file's rows as Arrow columns, read in C++ — when that gives exactly the csv module's rows.

:class:`~stopsms.imports.reader.CsvTable` reads with the :mod:`csv` module, a Python object per
cell: about 0.8 s per million rows before any work is done. :func:`read_columns` hands the same
bytes (decoded as the table decoded them) to Apache Arrow's multi-threaded CSV reader instead,
which returns one string column per field in a fraction of that, and the import works on the
columns without making a Python object per cell.

It only answers when the result is provably the csv module's, row for row and line for line;
otherwise it returns ``None`` and the caller reads the file the usual way (which also gives the
usual errors). Not answered:

- a file with a bare carriage return (old Mac line ends), or an empty line between rows (the
  csv module yields it as an empty row and counts the line; Arrow skips it);
- a row whose field count differs from the header's (ragged rows: the csv module pads them);
- a value holding a line break (a quoted field over several lines shifts the line numbers);
- a field longer than the csv module's limit (it refuses the file; so must the import);
- a file larger than :data:`MAX_BYTES` (held in memory whole; the csv reader streams).

Empty lines at the end of the file are answered: they are counted as the blank rows the csv
module would have yielded. NUL bytes are dropped, as the csv reader drops them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from stopsms.imports.reader import CsvTable

__all__ = ["MAX_BYTES", "ArrowRows", "read_columns"]

#: Files up to this size are read whole into memory (about twice their size, as Arrow).
MAX_BYTES = 256 << 20
_UTF8 = ("utf-8", "utf_8", "utf8")
_LINE_ENDS = frozenset(b"\r\n")


@dataclass(frozen=True, slots=True)
class ArrowRows:
    """The rows of a CSV file as columns, and where they are in the file."""

    #: One column per field of the header, every value a string ("" for an empty cell).
    columns: list[pa.ChunkedArray[Any]]
    #: The line of the first row; row ``i`` is on line ``first_line + i``.
    first_line: int
    #: Empty lines after the last row (each is a blank row to the csv module).
    trailing_blank: int

    @property
    def count(self) -> int:
        return len(self.columns[0]) if self.columns else 0


def _utf8_text(table: CsvTable) -> bytes | None:
    """The file as UTF-8 bytes, decoded exactly as the table decodes it."""
    data = Path(table.path).read_bytes()
    if table.codec.lower() in _UTF8 and table.errors == "strict" and not table.has_nul:
        # Detection decoded it whole (or Arrow's check below refuses it). A NUL its scan did
        # not see (an encoding given: only the head is scanned) is the csv reader's to
        # report.
        return None if b"\x00" in data else data
    try:
        text = data.decode(table.codec, table.errors or "strict")
    except UnicodeDecodeError:
        return None  # a forced encoding that does not fit: the csv reader says where
    if table.has_nul:
        # The csv reader splits lines before it drops NULs: "\r\x00\n" is two line ends
        # to it, one to Arrow once the NUL is gone. Bare carriage returns are refused here.
        if text.count("\r") != text.count("\r\n"):
            return None
        text = text.replace("\x00", "")
    return text.encode("utf-8")


def _line_start(data: bytes, line: int) -> int:
    """Byte offset where ``line`` (1-based) starts (no bare carriage returns in ``data``)."""
    offset = 0
    for _ in range(line - 1):
        offset = data.index(b"\n", offset) + 1
    return offset


def read_columns(table: CsvTable, *, include_header: bool = False) -> ArrowRows | None:
    """The rows under the header (with it when ``include_header``), or ``None`` (module doc)."""
    if table.total_units is not None and table.total_units > MAX_BYTES:
        return None
    data = _utf8_text(table)
    if data is None or data.count(b"\r") != data.count(b"\r\n"):
        return None
    first_line = table.header_line if include_header else table.body_line
    try:
        start = _line_start(data, first_line)
    except ValueError:
        return None  # the header is the last line
    # The rows are data[start:end] (line ends after them stripped), looked at in place: a
    # copy of the body would hold the file twice more (350 MiB for 3,000,000 rows).
    end = len(data)
    while end > start and data[end - 1] in _LINE_ENDS:
        end -= 1
    if (
        end == start
        or data.startswith((b"\n", b"\r\n"), start, end)
        or data.find(b"\n\n", start, end) >= 0
        or data.find(b"\n\r\n", start, end) >= 0
    ):
        return None  # no rows, or an empty line before or between them
    trailing_blank = max(data.count(b"\n", end) - 1, 0)
    width = len(table.header)
    names = [f"c{i}" for i in range(width)]
    quoted = data.find(b'"', start, end) >= 0
    body = pa.py_buffer(data).slice(start)  # no copy
    try:
        parsed = pa_csv.read_csv(
            # With its line ends: a quote left open on the last row takes them into its value
            # (as the csv module does), which the check below refuses.
            cast(IO[bytes], pa.BufferReader(body)),  # a file-like object (stubs say IO)
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(
                delimiter=table.delimiter or ",",
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=quoted,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowException:
        return None  # ragged rows, invalid UTF-8…: the csv reader handles or reports them
    columns = [parsed.column(i) for i in range(width)]
    limit = csv.field_size_limit()
    for column in columns:
        longest = pc.max(pc.utf8_length(column)).as_py()
        if longest is not None and longest > limit:
            return None
        if quoted and pc.any(pc.match_substring_regex(column, "[\r\n]")).as_py():
            return None
    return ArrowRows(columns, first_line, trailing_blank)
