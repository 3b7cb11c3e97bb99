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

:func:`stream_columns` answers the larger files batch by batch (:class:`ArrowStream`): the
same rules, checked over the whole file's bytes first (a scan in blocks, nothing held) and
over each batch as it is read; a batch that breaks one raises :class:`NotExact` — the caller,
which has written nothing yet, then reads the file the usual way. It reads only UTF-8 files
(another encoding, a NUL byte: ``None``).

Empty lines at the end of the file are answered: they are counted as the blank rows the csv
module would have yielded. NUL bytes are dropped, as the csv reader drops them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from stopsms.imports.reader import CsvTable

__all__ = ["MAX_BYTES", "ArrowRows", "ArrowStream", "NotExact", "read_columns", "stream_columns"]

#: Files up to this size are read whole into memory (about eight times their size at the
#: import's peak: 472-493 MiB for the benchmark's 58 MiB file); larger ones are streamed.
MAX_BYTES = 64 << 20
#: Bytes of the file Arrow parses at a time. Its reader reads up to 32 blocks ahead of the
#: parser in a thread of its own (16 MiB blocks held 512 MiB of a 10,000,000-row file at
#: once, measured): small blocks bound that, and are gathered into batches of
#: :data:`STREAM_ROWS` rows for the import.
STREAM_BLOCK = 1 << 20
#: Rows of a streamed batch (at least; a batch ends where a block ends).
STREAM_ROWS = 250_000
_SCAN_BLOCK = 16 << 20
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
    if not _exact(columns, quoted):
        return None
    return ArrowRows(columns, first_line, trailing_blank)


class NotExact(Exception):
    """A streamed batch is not what the csv module would read (the caller falls back)."""


@dataclass(frozen=True, slots=True)
class ArrowStream:
    """A large CSV file's rows as a stream of column batches (:func:`stream_columns`)."""

    table: CsvTable
    #: Byte offset of the first row, the line it is on, and how many lines a sample of the
    #: body holds per byte (to estimate the number of rows before reading them).
    start: int
    first_line: int
    rows_per_byte: float
    trailing_blank: int
    quoted: bool

    @property
    def body_bytes(self) -> int:
        return (self.table.total_units or 0) - self.start

    def batches(self) -> Iterator[tuple[list[pa.Array[Any]], int]]:
        """``(columns, line of the batch's first row)`` for each batch, in file order.

        Raises :class:`NotExact` where a batch is not the csv module's rows (ragged rows, a
        line break inside quotes, a field over the csv module's limit, invalid UTF-8).
        """
        width = len(self.table.header)
        names = [f"c{i}" for i in range(width)]
        source = pa.input_stream(str(self.table.path))
        try:
            source.read(self.start)
            reader = _open_stream(
                cast(IO[bytes], source),  # a native stream (the stubs say IO)
                read_options=pa_csv.ReadOptions(
                    column_names=names, block_size=STREAM_BLOCK, use_threads=False
                ),
                parse_options=_parse_options(self.table, self.quoted),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            line = self.first_line
            gathered: list[pa.RecordBatch] = []
            rows = 0
            while True:
                try:
                    batch: pa.RecordBatch | None = reader.read_next_batch()
                except StopIteration:
                    batch = None
                except pa.ArrowException as error:
                    raise NotExact(str(error)) from None
                if batch is not None:
                    gathered.append(batch)
                    rows += batch.num_rows
                    if rows < STREAM_ROWS:
                        continue
                if not rows:
                    return
                columns = [pa.concat_arrays([b.column(i) for b in gathered]) for i in range(width)]
                gathered.clear()
                if not _exact(columns, self.quoted):
                    raise NotExact(f"a row from line {line} on")
                yield columns, line
                line += rows
                rows = 0
                if batch is None:
                    return
        finally:
            source.close()


def _open_stream(source: IO[bytes], **options: Any) -> pa_csv.CSVStreamingReader:
    """Arrow's streaming reader (it parses the first block at once: what it cannot read
    raises :class:`NotExact` here too)."""
    try:
        return pa_csv.open_csv(source, **options)
    except pa.ArrowException as error:
        raise NotExact(str(error)) from None


def _parse_options(table: CsvTable, quoted: bool) -> pa_csv.ParseOptions:
    return pa_csv.ParseOptions(
        delimiter=table.delimiter or ",",
        quote_char='"',
        double_quote=True,
        escape_char=False,
        newlines_in_values=quoted,
    )


def _exact(columns: Sequence[Any], quoted: bool) -> bool:
    """No field over the csv module's limit, no line break inside a quoted value."""
    limit = csv.field_size_limit()
    for column in columns:
        longest = pc.max(pc.utf8_length(column)).as_py()
        if longest is not None and longest > limit:
            return False
        if quoted and pc.any(pc.match_substring_regex(column, "[\r\n]")).as_py():
            return False
    return True


def _bare_return(seen: bytes) -> bool:
    """Whether ``seen`` holds a carriage return not followed by a line feed (one at its end
    may be followed by the next block's first byte)."""
    return seen.count(b"\r") != seen.count(b"\r\n") + seen.endswith(b"\r")


def stream_columns(table: CsvTable, *, include_header: bool = False) -> ArrowStream | None:
    """The rows under the header (with it when ``include_header``) as a stream, or ``None``.

    Only for a strict UTF-8 file: its bytes are scanned in blocks for what the whole-file
    reader checks at once (bare carriage returns, empty lines between rows, NUL bytes,
    quotes); what only parsing shows is checked batch by batch (:meth:`ArrowStream.batches`).
    """
    if table.codec.lower() not in _UTF8 or table.errors != "strict" or table.has_nul:
        return None
    first_line = table.header_line if include_header else table.body_line
    size = table.total_units or 0
    with Path(table.path).open("rb") as handle:
        head = handle.read(_SCAN_BLOCK)
        try:
            start = _line_start(head, first_line)
        except ValueError:
            return None  # the header is the last line, or longer than a block
        # The end of the rows: the file less its last line ends (read from its tail).
        tail_at = max(start, size - _SCAN_BLOCK)
        handle.seek(tail_at)
        tail = handle.read()
        end = len(tail)
        while end > 0 and tail[end - 1] in _LINE_ENDS:
            end -= 1
        if end == 0:
            return None  # a tail of line ends only: left to the whole-file reader
        trailing_blank = max(tail.count(b"\n", end) - 1, 0)
        end += tail_at
        if end <= start or head.startswith((b"\n", b"\r\n"), start):
            return None
        quoted = False
        carry = b""
        handle.seek(start)
        position = start
        while position < end:
            block = handle.read(min(_SCAN_BLOCK, end - position))
            if not block:
                break
            position += len(block)
            seen = carry + block
            if (
                b"\x00" in block
                or seen.find(b"\n\n") >= 0
                or seen.find(b"\n\r\n") >= 0
                or (
                    b"\r" in block
                    and seen.count(b"\r") != seen.count(b"\r\n") + seen.endswith(b"\r")
                )
            ):
                return None
            quoted = quoted or b'"' in block
            carry = seen[-2:]
        body = head[start : start + (1 << 20)]
        rows_per_byte = (body.count(b"\n") or 1) / max(len(body), 1)
    return ArrowStream(table, start, first_line, rows_per_byte, trailing_blank, quoted)
