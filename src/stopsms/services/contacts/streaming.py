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
from stopsms.services.contacts.columns import (
    STAGED_SCHEMA,
    ContactColumns,
    Normaliser,
    StagedContacts,
)
from stopsms.services.contacts.rows import ContactRows

__all__ = ["RANGE_ROWS", "Spilled", "spill"]

#: About this many rows per range of numbers (what pass 2 holds at once).
RANGE_ROWS = 500_000
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
    directory = Path(tempfile.mkdtemp(prefix="stopsms-spill-"))
    expected = stream.body_bytes * stream.rows_per_byte
    ranges = max(least_parts, math.ceil(expected / RANGE_ROWS), 1)
    spilled = Spilled(rows, directory, [directory / f"range-{i}.arrow" for i in range(ranges)])
    writers: list[pa.ipc.RecordBatchFileWriter] = []
    schema: pa.Schema | None = None
    boundaries: list[str] | None = None
    parser = ContactColumns(rows)
    try:
        done = 0
        for columns, first in _batches(stream):
            count = len(columns[0])
            numbers, texts = parser.numbers_and_texts(
                columns, range(first, first + count), normalise
            )
            del columns
            valid = pc.is_valid(numbers)
            numbers = numbers.filter(valid)
            texts = [text.filter(valid) for text in texts]
            lines = pc.add(pc.indices_nonzero(valid).cast(pa.int64()), pa.scalar(first, pa.int64()))
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
        rows.blank += stream.trailing_blank
    except BaseException:
        for writer in writers:
            writer.close()
        spilled.close()
        raise
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
