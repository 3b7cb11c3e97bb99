"""The columnar twin of :class:`~stopsms.services.contacts.rows.ContactRows`: Arrow in, Arrow out.

For a CSV file that :func:`~stopsms.imports.arrow_csv.read_columns` could read as Arrow columns,
:class:`ContactColumns` does in two steps what the row parser does chunk by chunk, with the same
rules, counts and reject report:

1. :meth:`ContactColumns.parse` runs the row parser's own steps on the whole phone column
   (:meth:`ContactRows.numbers`: spreadsheet repairs — candidates found by RE2 in Arrow —,
   normalisation, rejects) and cuts the numbers into ranges;
2. :meth:`StagedContacts.part` turns one range into the table of contacts to stage, in number
   order: the last row of each number, whole (at the first row's place), trimmed
   (``utf8_trim_whitespace`` trims what ``str.strip`` trims, checked over all of Unicode in
   the tests), regions and custom fields' JSON; and, with the same kernels, the rows that the
   number's last row superseded (their lines, the number, the last row's line), which
   :meth:`StagedContacts.record_counts` hands to the row parser's report once every range is
   done, in line order — the report the row path writes.

Everything but the numbers, the rejected rows and the custom fields stays in Arrow's kernels,
without a Python object per cell.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeAlias, cast

import pyarrow as pa
import pyarrow.compute as pc

from stopsms.services.contacts.rows import (
    ContactRows,
    custom_documents,
    prefix_region,
    regions_of,
)

__all__ = ["STAGED_SCHEMA", "ContactColumns", "StagedContacts"]

#: The staged contacts: text fields are "" or NULL where empty, ``custom`` a JSON object or
#: NULL, ``line`` the line of a number's first row in the file (NULL: lines not tracked).
_FIELDS: list[pa.Field[Any]] = [
    pa.field("phone", pa.string()),
    pa.field("region", pa.string()),
    pa.field("first_name", pa.string()),
    pa.field("last_name", pa.string()),
    pa.field("email", pa.string()),
    pa.field("company", pa.string()),
    pa.field("custom", pa.string()),
    pa.field("line", pa.int64()),
]
STAGED_SCHEMA = pa.schema(_FIELDS)

Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"
#: Normalises a column of phone cells (already repaired) to E.164 or ``None``.
Normaliser = Callable[[Sequence[str]], list[str | None]]


_EMPTY = pa.scalar("", pa.string())
#: Rows of the phone column made Python strings (and normalised) at a time.
NUMBERS_SLICE = 500_000
#: Numbers are cut into ranges by their first characters: "+336" and 4 more digits.
_RANGE_PREFIX = 8
#: Rows whose phone cell may be a spreadsheet float: a superset (RE2, in Arrow) of those the
#: row parser's ``_FLOAT_END`` finds — ``…[.,]0`` at the end, or any ``e``/``E``.
_FLOAT_CANDIDATE = r"[.,]0+[ \t]*$|[eE]"


class ContactColumns:
    """Parses a whole file's Arrow columns with the state (counts, report) of ``rows``."""

    def __init__(self, rows: ContactRows) -> None:
        self.rows = rows

    def parse(
        self,
        columns: Sequence[Column],
        lines: range,
        normalise: Normaliser | None = None,
        parts: int = 1,
    ) -> StagedContacts:
        """The file's numbers (rejects go to the report, counts to ``rows``), in ``parts``.

        ``normalise``: how to normalise the phone column (default: in this process).
        """
        number_array, texts = self.numbers_and_texts(columns, lines, normalise)
        ranges = _ranges(number_array, parts)
        last = pc.max(ranges).as_py()
        count = 1 if last is None else int(last) + 1
        return StagedContacts(self.rows, number_array, texts, ranges, count, lines.start)

    def numbers_and_texts(
        self,
        columns: Sequence[Column],
        lines: range,
        normalise: Normaliser | None = None,
    ) -> tuple[pa.Array[Any], list[pa.Array[Any]]]:
        """Each row's E.164 number (null: rejected or blank; rejects go to the report) and
        the trimmed cells of the other columns used (text fields, then custom fields)."""
        rows = self.rows
        phones = columns[rows.indexes[0]]

        def row_at(i: int) -> list[str]:
            return [column[i].as_py() for column in columns]

        candidates = cast(
            list[int],
            pc.indices_nonzero(pc.match_substring_regex(phones, _FLOAT_CANDIDATE)).to_pylist(),
        )
        # The phone column crosses into Python a slice at a time: a Python string per cell
        # (and per number) is about 60 bytes, 350 MiB for 3,000,000 rows if made at once.
        found: list[pa.Array[Any]] = []
        for start in range(0, len(phones), NUMBERS_SLICE):
            stop = min(len(phones), start + NUMBERS_SLICE)
            raws = cast(list[str], phones.slice(start, stop - start).to_pylist())
            within = candidates[bisect_left(candidates, start) : bisect_left(candidates, stop)]
            numbers, _ = rows.numbers(
                raws,
                lines[start:stop],
                partial(_shifted, row_at, start),
                [c - start for c in within],
                normalise,
            )
            found.append(pa.array(numbers, pa.string()))
            del raws, numbers
        number_array = pa.concat_arrays(found) if found else pa.array([], pa.string())
        texts = [pc.utf8_trim_whitespace(_flat(columns[i])) for i in rows.indexes[1:]]
        return number_array, texts


def _shifted(row_at: Callable[[int], list[str]], start: int, i: int) -> list[str]:
    """Row ``i`` of a slice that starts at row ``start``."""
    return row_at(start + i)


def _ranges(numbers: pa.Array[Any], parts: int) -> pa.Array[Any]:
    """Each row's range (null: no number): ``parts`` ranges of numbers of about equal size.

    Numbers are grouped by their first :data:`_RANGE_PREFIX` characters (all the rows of a
    number fall in the same range), and consecutive prefixes in number order make a range.
    """
    prefixes, coded = _encode(pc.utf8_slice_codeunits(numbers, 0, _RANGE_PREFIX))
    counts = pc.value_counts(coded.drop_null())
    rows_of = dict(
        zip(
            cast(list[int], counts.field("values").to_pylist()),
            cast(list[int], counts.field("counts").to_pylist()),
            strict=True,
        )
    )
    named = cast(list[str], prefixes.to_pylist())
    total = sum(rows_of.values())
    range_of = [0] * len(named)
    seen = 0
    for code in sorted(range(len(named)), key=named.__getitem__):
        range_of[code] = min(parts - 1, seen * parts // max(total, 1))
        seen += rows_of.get(code, 0)
    return pa.array(range_of, pa.int8()).take(coded)


@dataclass(frozen=True, slots=True)
class StagedContacts:
    """A file's numbers and trimmed cells, cut by number into ranges staged one at a time.

    Built by :meth:`ContactColumns.parse` once the numbers are known. Each range holds every
    row of its numbers, so :meth:`part` merges a range on its own — the first row of each
    number's last row (whole), the regions, the custom fields' JSON — and gives
    its contacts in number order; the ranges themselves are in number order, so the unique
    index of contacts is filled from left to right (twice as fast as in file order,
    measured). A pipeline assembles and stages one range while the database takes the one
    before (all of it in Arrow's kernels, without the GIL, but the custom fields).
    """

    rows: ContactRows
    #: Each row's E.164 number (null: rejected or blank).
    numbers: pa.Array[Any]
    #: The trimmed cells of each column after the phone (text fields, then custom fields).
    texts: list[pa.Array[Any]]
    #: Each row's range (null: no number), and how many ranges there are.
    ranges: pa.Array[Any]
    parts: int
    first_line: int
    #: Per range done: ``line``, ``phone``, ``by_line`` of each superseded row.
    superseded: list[pa.Table] = field(default_factory=list)
    #: Each row's line, where the rows are not consecutive lines from ``first_line`` (a
    #: range of a streamed file, read back from its spill: :mod:`.streaming`).
    lines: pa.Array[Any] | None = None

    def _line_of(self, rows: pa.Array[Any]) -> pa.Array[Any]:
        """The lines of the rows ``rows`` (indexes)."""
        if self.lines is not None:
            return self.lines.take(rows).cast(pa.int64())
        return cast("pa.Array[Any]", pc.add(rows.cast(pa.int64()), self.first_line))

    def record_counts(self, distinct: int) -> None:
        """Record the file's counts, once its parts gave ``distinct`` contacts in all, and
        report its superseded rows (every range's, in line order)."""
        self.rows.count_distinct(distinct, len(self.numbers) - self.numbers.null_count)
        if not self.superseded:
            self.rows.report_superseded([], [], [])
            return
        found = pa.concat_tables(self.superseded).sort_by("line")
        self.rows.report_superseded(
            cast(list[int], found["line"].to_pylist()),
            cast(list[str], found["phone"].to_pylist()),
            cast(list[int], found["by_line"].to_pylist()),
        )

    def part(self, index: int) -> pa.Table:
        """The contacts whose numbers fall in range ``index``, in number order."""
        numbers = self.numbers
        # The range's rows, in file order.
        numbered = pc.indices_nonzero(pc.equal(self.ranges, pa.scalar(index, pa.int8())))
        if not len(numbered):
            return STAGED_SCHEMA.empty_table()
        distinct, coded = _encode(numbers.take(numbered))  # coded by first appearance
        codes = coded.cast(pa.int64())
        # Number k first appears where the running maximum of the codes reaches k.
        reached = pc.cumulative_max(codes)
        start = pa.array([-1], pa.int64())
        before = pa.concat_arrays([start, reached.slice(0, len(reached) - 1)])
        first_row = numbered.filter(pc.greater(reached, before))  # by code
        # Rows repeating a number seen above them (and the code of that number).
        repeats = pc.not_equal(numbered, first_row.take(codes))
        every_code = pc.indices_nonzero(pc.is_valid(first_row))  # 0, 1, … in C
        later = Later(numbered.filter(repeats), codes.filter(repeats), first_row, every_code)
        order = pc.sort_indices(distinct)
        count = len(order)
        kept_by_code = later.kept_rows() if len(later.rows) else first_row
        if len(later.rows):
            self._supersede(numbered, codes, kept_by_code, distinct)
        winners = kept_by_code.take(order)
        kept = [text.take(winners) for text in self.texts]
        fields: list[Column] = []
        position = 0
        for present in self.rows.text_slots:
            if present:
                fields.append(kept[position])
                position += 1
            else:
                fields.append(pa.nulls(count, pa.string()))
        custom_columns = kept[position:]
        custom: Column = (
            pa.array(
                custom_documents(
                    self.rows.custom_names,
                    [cast(list[str], c.to_pylist()) for c in custom_columns],
                ),
                pa.string(),
            )
            if custom_columns
            else pa.nulls(count, pa.string())
        )
        line: Column = (
            self._line_of(first_row.take(order))
            if self.rows.track_lines
            else pa.nulls(count, pa.int64())
        )
        phone = distinct.take(order)
        return pa.Table.from_arrays(
            [phone, _regions(phone), *fields, custom, line], schema=STAGED_SCHEMA
        )

    def _supersede(
        self,
        numbered: pa.Array[Any],
        codes: pa.Array[Any],
        kept_by_code: pa.Array[Any],
        distinct: pa.Array[Any],
    ) -> None:
        """Note the range's rows that are not their number's kept (last) row."""
        kept = kept_by_code.take(codes)  # each row's number's last row
        superseded = pc.not_equal(numbered, kept)
        self.superseded.append(
            pa.table(
                {
                    "line": self._line_of(numbered.filter(superseded)),
                    "phone": distinct.take(codes.filter(superseded)),
                    "by_line": self._line_of(kept.filter(superseded)),
                }
            )
        )

    def table(self) -> pa.Table:
        """All the contacts as one staged table, in number order (and the counts recorded)."""
        table = pa.concat_tables([self.part(i) for i in range(self.parts)])
        self.record_counts(table.num_rows)
        return table


def _flat(column: Column) -> pa.Array[Any]:
    """One contiguous array (Arrow's take on a many-chunked array is several times slower)."""
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


@dataclass(frozen=True, slots=True)
class Later:
    """The rows repeating a number of an earlier row: how the row parser's merge is done here.

    A later row of a number replaces its first row whole (empty cells included): for every
    column, the number's last row wins.
    """

    rows: pa.Array[Any]
    codes: pa.Array[Any]
    first_row: pa.Array[Any]  # by code
    every_code: pa.Array[Any]  # 0, 1, … len(first_row) - 1

    def kept_rows(self) -> pa.Array[Any]:
        """For each number (by code), the row the contact keeps: its last."""
        last = (
            pa.table({"code": self.codes, "row": self.rows})
            .group_by("code", use_threads=False)
            .aggregate([("row", "max")])
            .sort_by("code")
        )
        replaced = pc.is_in(self.every_code, value_set=last["code"])
        rows = last["row_max"].combine_chunks()
        return cast("pa.Array[Any]", pc.replace_with_mask(self.first_row, replaced, rows))


def _regions(numbers: pa.Array[Any]) -> pa.Array[Any]:
    """:func:`~stopsms.services.contacts.rows.regions_of`, asked once per 4-character prefix.

    Only the numbers of a country code several regions share (``+262`` RE/YT, ``+1``…) are
    asked one by one.
    """
    prefixes, coded = _encode(pc.utf8_slice_codeunits(numbers, 0, 4))
    named = [prefix_region(p) for p in cast(list[str], prefixes.to_pylist())]
    regions = pa.array(named, pa.string()).take(coded)
    if "" not in named:
        return regions
    shared = pc.equal(regions, _EMPTY)
    asked = regions_of(cast(list[str], numbers.filter(shared).to_pylist()))
    return cast("pa.Array[Any]", pc.replace_with_mask(regions, shared, pa.array(asked)))


def _encode(values: Any) -> tuple[pa.Array[Any], pa.Array[Any]]:
    """``(distinct values in order of appearance, each value's index in them)``; nulls stay."""
    encoded = cast("pa.DictionaryArray[Any, Any]", pc.dictionary_encode(values))
    return encoded.dictionary, encoded.indices
