"""The columnar path for a file too large to hold: batches spilled to disk by range of numbers.

The whole-file columnar path (:mod:`~stopsms.services.contacts.columns`) holds every column of
the file in Arrow memory, about eight times the file at its peak (472-493 MiB for 1,000,000
rows): 3,000,000 rows took 900 MiB and 10,000,000 would not fit in 1 GiB. For a file above
:data:`~stopsms.imports.arrow_csv.MAX_BYTES`, the same work is done in two passes, each
holding one batch at a time:

1. :func:`spill` reads the file batch by batch (Arrow's streaming CSV reader, 250,000 rows a
   batch: :data:`~stopsms.imports.arrow_csv.STREAM_ROWS`), normalises each batch's numbers
   (rejects to the report in line order, as the whole-file path), and appends each valid
   row — its number, its trimmed cells and its line — to the spill file of its **range of
   numbers** (an Arrow IPC file on disk). The
   ranges are cut by number prefix from the first batch, so every row of a number falls in
   the same range whatever batch it is in, and the ranges are in number order;
2. :meth:`Spilled.stage` reads back one range at a time — every row of its numbers, in file
   order — and merges it exactly as the whole-file path merges a range
   (:meth:`~stopsms.services.contacts.columns.StagedContacts.part`: a number's last row whole,
   its first line for the ledger, the rows it superseded), into the contacts to stage.

So a number's last row wins whole across the whole file, each number is counted once, and
the superseded rows (sorted by line once every range is done) are those the whole-file path
finds: the tests import the same files both ways and compare everything. What stays in
memory is one batch, one range (about 500,000 rows: :data:`RANGE_ROWS`) and the superseded
rows' lines; the spill takes about the file's size on disk, in the system's temporary
directory, removed at the end. Measured, the whole ``stopsms contacts import --list --consent``
command: 3,000,000 rows in 29.6 s at 523 MiB peak where the whole-file path took 30.5 s and
907 MiB; 10,000,000 rows in 108.5 s at 627 MiB (docs/scale.md).

A large file Arrow cannot read exactly (ragged rows, a line break inside quotes, CP1252…)
takes the same two passes, its batches read by the csv module (:func:`spill_rows`): the
row path's own steps (rejects, blank rows, lines) make each batch's numbers and trimmed
cells, as columns, and from there it is the stream's. Measured, the same command on
3,000,000 ragged rows: 34.5 s at 431 MiB where the row path took 53.4 s and 1,044 MiB.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from stopsms.imports.arrow_csv import ArrowStream
from stopsms.imports.reader import Chunk, CsvTable
from stopsms.services.contacts.columns import (
    STAGED_SCHEMA,
    ContactColumns,
    Normaliser,
    StagedContacts,
)
from stopsms.services.contacts.rows import ContactRows

__all__ = ["RANGE_ROWS", "ROW_BATCH", "Spilled", "spill", "spill_rows"]

#: About this many rows per range of numbers (what pass 2 holds at once).
RANGE_ROWS = 500_000
#: Rows of a batch read by the csv module (:func:`spill_rows`): a Python list per row and a
#: string per cell, about 400 bytes a row of the benchmark's file while the batch is made.
ROW_BATCH = 100_000
#: Ranges are cut on the first characters of the numbers: "+336" and 4 more digits.
_PREFIX = 8


@dataclass
class Spilled:
    """A file's valid rows, on disk by range of numbers (:func:`spill`), and its counts."""

    rows: ContactRows
    directory: Path
    paths: list[Path]
    #: Rows with a valid number, in the whole file.
    valid: int = 0
    distinct: int = 0
    superseded: list[pa.Table] = field(default_factory=list)

    @property
    def parts(self) -> int:
        return len(self.paths)

    def stage(self, index: int) -> pa.Table:
        """The contacts of range ``index`` in number order (the whole-file path's part)."""
        path = self.paths[index]
        with pa.OSFile(str(path), "rb") as source:
            table = pa.ipc.open_file(source).read_all()
        path.unlink()
        if not table.num_rows:
            return STAGED_SCHEMA.empty_table()
        count = table.num_rows
        staged = StagedContacts(
            self.rows,
            table.column(0).combine_chunks(),
            [table.column(i).combine_chunks() for i in range(1, table.num_columns - 1)],
            pa.repeat(pa.scalar(0, pa.int8()), count),
            1,
            0,
            lines=table.column(table.num_columns - 1).combine_chunks(),
        )
        del table
        part = staged.part(0)
        self.distinct += part.num_rows
        self.superseded.extend(staged.superseded)
        return part

    def record_counts(self) -> None:
        """Once every range is staged: the file's counts and its superseded rows, in line
        order (as :meth:`StagedContacts.record_counts`)."""
        self.rows.count_distinct(self.distinct, self.valid)
        if not self.superseded:
            self.rows.report_superseded([], [], [])
            return
        found = pa.concat_tables(self.superseded).sort_by("line")
        self.superseded = []
        self.rows.report_superseded(
            cast(list[int], found["line"].to_pylist()),
            cast(list[str], found["phone"].to_pylist()),
            cast(list[int], found["by_line"].to_pylist()),
        )

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _boundaries(numbers: pa.Array[Any], ranges: int) -> list[str]:
    """``ranges - 1`` prefixes cutting the numbers of a sample into ranges of equal size."""
    prefixes = pc.utf8_slice_codeunits(numbers.drop_null(), 0, _PREFIX)
    ordered = cast(list[str], prefixes.sort().to_pylist()) if len(prefixes) else []
    if not ordered or ranges < 2:
        return []
    cuts = sorted({ordered[len(ordered) * k // ranges] for k in range(1, ranges)})
    return [cut for cut in cuts if cut > ordered[0]]


def _range_of(numbers: pa.Array[Any], boundaries: list[str]) -> pa.Array[Any]:
    """Each valid number's range: how many boundaries its prefix is at or above."""
    encoded = cast(
        "pa.DictionaryArray[Any, Any]",
        pc.dictionary_encode(pc.utf8_slice_codeunits(numbers, 0, _PREFIX)),
    )
    coded = encoded.indices
    named = cast(list[str], encoded.dictionary.to_pylist())
    return pa.array([bisect_right(boundaries, p) for p in named], pa.int32()).take(coded)


def spill(
    stream: ArrowStream,
    rows: ContactRows,
    normalise: Normaliser | None,
    *,
    least_parts: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Spilled:
    """Pass 1 (module doc): every batch's valid rows appended to their range's spill file.

    ``least_parts``: ranges at least (the stager's parallelism). Raises
    :class:`~stopsms.imports.arrow_csv.NotExact` when a batch is not the csv module's rows;
    the spill is then removed, and the rejects already reported are the caller's to discard.
    """
    parser = ContactColumns(rows)

    def prepared() -> Iterator[_Prepared]:
        for columns, first in _batches(stream):
            count = len(columns[0])
            numbers, texts = parser.numbers_and_texts(
                columns, range(first, first + count), normalise
            )
            del columns
            yield numbers, texts, first, count

    expected = stream.body_bytes * stream.rows_per_byte
    spilled = _spill(prepared(), rows, expected, least_parts, progress)
    rows.blank += stream.trailing_blank
    return spilled


def spill_rows(
    table: CsvTable,
    rows: ContactRows,
    normalise: Normaliser | None,
    first: Chunk | None = None,
    *,
    least_parts: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Spilled:
    """Pass 1 for a large file the stream cannot read: the csv module's rows, in batches.

    For the files Arrow does not read as the csv module does (ragged rows, a line break
    inside quotes, empty lines between rows, old Mac line ends, NUL bytes, another encoding
    than UTF-8, decoded as it is read): the row path's own reader and steps
    (:meth:`~stopsms.imports.reader.CsvTable.chunks`, :meth:`ContactRows.cells`,
    :meth:`ContactRows.numbers`: its rejects, blank rows and lines, in file order) on
    :data:`ROW_BATCH` rows at a time, whose numbers and trimmed cells become the same
    columns as an Arrow batch's, spilled by range as :func:`spill` does. ``first``: a
    headerless file's first row. A line the csv module cannot read raises
    :class:`~stopsms.errors.UnreadableFile` (its line named) before anything is written;
    the spill is then removed.
    """

    def prepared() -> Iterator[_Prepared]:
        chunks = table.chunks(ROW_BATCH)
        for chunk in chunks if first is None else _prepend(first, chunks):
            cells = rows.cells(chunk.rows)
            numbers, _ = rows.numbers(
                cells[0], chunk.lines, chunk.rows.__getitem__, normalise=normalise
            )
            lines = chunk.lines
            yield (
                pa.array(numbers, pa.string()),
                [pc.utf8_trim_whitespace(pa.array(column, pa.string())) for column in cells[1:]],
                lines.start if isinstance(lines, range) else pa.array(lines, pa.int64()),
                len(chunk.rows),
            )
            del chunk, cells, numbers

    expected = (table.total_units or 0) * _rows_per_byte(table.path)
    return _spill(prepared(), rows, expected, least_parts, progress)


def _prepend(first: Chunk, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """``first`` (a headerless file's first row) in the first batch: the ranges are cut on
    the first batch's numbers, which one row alone would leave in one range."""
    following = next(chunks, None)
    if following is None:
        yield first
        return
    yield Chunk([*first.lines, *following.lines], first.rows + following.rows)
    yield from chunks


def _rows_per_byte(path: Path) -> float:
    """Lines per byte of the file's first MiB (to estimate its rows before reading them)."""
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    return (head.count(b"\n") or head.count(b"\r") or 1) / max(len(head), 1)


#: A batch ready to spill: each row's number (null: none), its trimmed cells (the columns
#: after the phone), the rows' lines (an int: consecutive from that line), the row count.
_Prepared = tuple["pa.Array[Any]", list["pa.Array[Any]"], "int | pa.Array[Any]", int]


def _spill(
    batches: Iterator[_Prepared],
    rows: ContactRows,
    expected: float,
    least_parts: int,
    progress: Callable[[int], None] | None,
) -> Spilled:
    """Append every prepared batch's valid rows to their range's spill file."""
    directory = Path(tempfile.mkdtemp(prefix="stopsms-spill-"))
    ranges = max(least_parts, math.ceil(expected / RANGE_ROWS), 1)
    spilled = Spilled(rows, directory, [directory / f"range-{i}.arrow" for i in range(ranges)])
    writers: list[pa.ipc.RecordBatchFileWriter] = []
    schema: pa.Schema | None = None
    boundaries: list[str] | None = None
    try:
        done = 0
        for numbers, texts, lines, count in batches:
            valid = pc.is_valid(numbers)
            numbers = numbers.filter(valid)
            texts = [text.filter(valid) for text in texts]
            if isinstance(lines, int):
                found = pc.indices_nonzero(valid).cast(pa.int64())
                lines = pc.add(found, pa.scalar(lines, pa.int64()))
            else:
                lines = lines.filter(valid)
            if boundaries is None:
                boundaries = _boundaries(numbers, ranges)
                names = ["phone", *(f"t{i}" for i in range(len(texts)))]
                fields: list[pa.Field[Any]] = [pa.field(name, pa.string()) for name in names]
                schema = pa.schema([*fields, pa.field("line", pa.int64())])
                writers = [pa.ipc.new_file(str(path), schema) for path in spilled.paths]
            spilled.valid += len(numbers)
            assert schema is not None
            _append(writers, schema, numbers, texts, lines, boundaries)
            done += count
            if progress is not None:
                progress(done)
        if boundaries is None:  # no rows at all
            spilled.paths = []
    except BaseException:
        for writer in writers:
            writer.close()
        spilled.close()
        raise
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    for writer in writers:
        writer.close()
    return spilled


def _batches(stream: ArrowStream) -> Iterator[tuple[list[pa.Array[Any]], int]]:
    for columns, first in stream.batches():
        yield (
            [
                column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
                for column in columns
            ],
            first,
        )


def _append(
    writers: list[pa.ipc.RecordBatchFileWriter],
    schema: pa.Schema,
    numbers: pa.Array[Any],
    texts: list[pa.Array[Any]],
    lines: pa.Array[Any],
    boundaries: list[str],
) -> None:
    """Append a batch's valid rows to their ranges' files, in file order within each."""
    if not len(numbers):
        return
    ranges = _range_of(numbers, boundaries)
    order = pc.sort_indices(ranges)  # stable: file order within a range
    batch = pa.RecordBatch.from_arrays(
        [numbers.take(order), *(text.take(order) for text in texts), lines.take(order)],
        schema=schema,
    )
    counts = pc.value_counts(ranges)
    sizes = dict(
        zip(
            cast(list[int], counts.field("values").to_pylist()),
            cast(list[int], counts.field("counts").to_pylist()),
            strict=True,
        )
    )
    offset = 0
    for index in range(len(writers)):
        size = sizes.get(index, 0)
        if size:
            writers[index].write_batch(batch.slice(offset, size))
            offset += size
