"""From raw rows to contact records: normalise, reject, merge duplicates — a chunk at a time.

:class:`ContactRows` turns each :class:`~stopsms.imports.reader.Chunk` of a file into a
:class:`ContactBatch`: one record per distinct valid number of the chunk (the last row of a
number wins whole, empty cells included: two people sharing a number are never mixed), sorted by
number (B-tree friendly), every rejected row written to the reject report with its reason.
Each row that a later row of its number superseded — in the same chunk or a later one — is
noted (its line and number); :meth:`ContactRows.finish` lists them in the report once the
file is read, each with the line of its number's last row. That costs a dictionary of the
file's numbers (number → line of its latest row, replacing the set of numbers seen): 8 MiB
more for 188,000 numbers (≈ 45 bytes a number, measured), and no measurable time.

The work is column-wise so that the per-row cost stays in C: ``itemgetter`` picks the used
cells, ``zip`` transposes, ``str.strip`` is mapped, numbers go through
:func:`~stopsms.domain.phone.normalise_many` in one call, duplicates are found with
``dict.setdefault`` mapped over the chunk, and Python loops only over the exceptions
(rejects, duplicates, spreadsheet-mangled numbers).
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from itertools import compress, repeat
from operator import eq, is_, itemgetter, ne

import phonenumbers

from stopsms.domain.phone import invalid_reason as reason_invalid
from stopsms.domain.phone import normalise_many
from stopsms.imports.columns import ColumnPlan, Field
from stopsms.imports.reader import Chunk
from stopsms.imports.rejects import RejectReason, RejectReport

__all__ = [
    "ContactBatch",
    "ContactRecord",
    "ContactRows",
    "custom_documents",
    "prefix_region",
    "regions_of",
    "repair_spreadsheet_number",
    "why_invalid",
]

#: ``(phone_e164, region, first_name, last_name, email, company, custom JSON or None)``;
#: empty text stands for "no value" (stored as NULL).
ContactRecord = tuple[str, str, str, str, str, str, str | None]

_TEXT_FIELDS = (Field.FIRST_NAME, Field.LAST_NAME, Field.EMAIL, Field.COMPANY)
# Over a whole column joined by newlines: where a line ends like a spreadsheet float
# (``….0``) or scientific notation (``…E+10``). Unanchored at the start so that the engine
# skips to the next ``.``/``,``/``e`` instead of trying every position.
_FLOAT_END = re.compile(r"(?:[.,]0+|[eE]\+?\d+)[ \t]*$", re.MULTILINE)
_FLOAT_ZERO = re.compile(r"\s*(\+?\d+)[.,]0+\s*")
_SCIENTIFIC = re.compile(r"\s*\+?(\d)(?:[.,](\d+))?[eE]\+?(\d+)\s*")


def repair_spreadsheet_number(raw: str) -> tuple[str, bool]:
    """Undo what spreadsheets do to numbers: ``(repaired text, digits were lost)``.

    ``33612345678.0`` → ``33612345678``; ``3.3612345678E+10`` → ``33612345678``;
    ``3,36123E+10`` → lost digits (the spreadsheet kept six of eleven). Anything else is
    returned unchanged.
    """
    zero = _FLOAT_ZERO.fullmatch(raw)
    if zero is not None:
        return zero.group(1), False
    sci = _SCIENTIFIC.fullmatch(raw)
    if sci is None:
        return raw, False
    lead, decimals, exponent = sci.group(1), sci.group(2) or "", int(sci.group(3))
    if exponent > 20:
        return raw, False
    if len(decimals) < exponent:
        return raw, True
    try:
        value = Decimal(f"{lead}.{decimals}E{exponent}")
    except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
        return raw, False
    if value != value.to_integral_value():
        return raw, False
    return str(int(value)), False


def _repair_rows(raws: Sequence[str], candidates: Sequence[int]) -> tuple[Sequence[str], set[int]]:
    """:meth:`ContactRows._repair` for the rows ``candidates`` (a superset of those it repairs).

    Each candidate is repaired only if ``_FLOAT_END`` finds it, as in the joined column.
    """
    repaired: list[str] | None = None
    lost: set[int] = set()
    for i in candidates:
        raw = raws[i]
        if _FLOAT_END.search(raw) is None:
            continue
        fixed, digits_lost = repair_spreadsheet_number(raw)
        if repaired is None:
            repaired = list(raws)
        repaired[i] = fixed
        if digits_lost:
            lost.add(i)
    return (raws if repaired is None else repaired), lost


@cache
def _single_regions() -> dict[str, str]:
    """``"+33"`` → ``"FR"`` for every country code that belongs to one region only."""
    return {
        f"+{code}": regions[0]
        for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
        if len(regions) == 1 and regions[0] != "001"
    }


_MULTI = ""
_by_number = itemgetter(0)


@lru_cache(maxsize=1 << 14)
def why_invalid(raw: str, region: str) -> str:
    """Why the core refuses ``raw`` (memoised: junk values repeat, and asking is slow).

    ``normalise_many`` already said it is invalid: the core's reason is asked directly,
    without ``parse_phone`` normalising it once more.
    """
    return reason_invalid(raw, region)


@lru_cache(maxsize=1 << 16)
def _region_slow(e164: str) -> str:
    """The region of a number whose country code several regions share (+1, +262, +44…)."""
    return str(phonenumbers.region_code_for_number(phonenumbers.parse(e164, None)))


_prefix_regions: dict[str, str] = {}


def prefix_region(prefix: str) -> str:
    """The region of the numbers starting with ``prefix`` (``+`` and 3 digits), ``""`` if
    several regions share its country code."""
    singles = _single_regions()
    for size in (2, 3, 4):
        if prefix[:size] in singles:
            return singles[prefix[:size]]
    return _MULTI


def regions_of(numbers: Sequence[str]) -> list[str]:
    """The ISO region of each valid E.164 number, as ``phonenumbers`` says.

    A country code of one region (``+33`` FR) is answered by a dictionary keyed on the first
    four characters; shared codes (``+262`` RE/YT, ``+1``…) ask ``phonenumbers``, memoised.
    """
    table = _prefix_regions
    prefixes = list(map(itemgetter(slice(0, 4)), numbers))
    found: list[str | None] = list(map(table.get, prefixes))
    if None in found:  # prefixes not met yet: learn them, then look again
        for prefix in set(compress(prefixes, map(is_, found, repeat(None)))):
            table[prefix] = prefix_region(prefix)
        found = list(map(table.get, prefixes))
    if _MULTI not in found:
        return found  # type: ignore[return-value]
    return [region or _region_slow(number) for number, region in zip(numbers, found, strict=True)]


def custom_documents(names: Sequence[str], columns: Sequence[Sequence[str]]) -> list[str | None]:
    """Each row's custom fields as a JSON object of its non-empty cells (``None``: none)."""
    documents: list[str | None] = []
    for values in zip(*columns, strict=True):
        document = {name: value for name, value in zip(names, values, strict=True) if value}
        documents.append(json.dumps(document, ensure_ascii=False) if document else None)
    return documents


@dataclass(slots=True)
class ContactBatch:
    """The records of one chunk, and the first occurrence in the file of each new number."""

    records: list[ContactRecord]
    #: ``(phone_e164, line)`` of the numbers seen for the first time in the file.
    first_seen: list[tuple[str, int]] = field(default_factory=list)
    #: The numbers of ``records`` already seen in an earlier chunk of the file (the others
    #: are new to the file: a writer knows they are new to an account that had none).
    repeated: frozenset[str] = frozenset()


@dataclass
class ContactRows:
    """Turns chunks into :class:`ContactBatch` es and keeps the counts of the whole file."""

    plan: ColumnPlan
    region: str
    rejects: RejectReport
    #: Fill :attr:`ContactBatch.first_seen` (the consent ledger needs each number's line).
    track_lines: bool = False
    rows: int = 0
    blank: int = 0
    duplicates: int = 0
    distinct: int = 0
    #: Once the file is read (:meth:`finish`): each superseded row's line, in line order,
    #: and the line of the row that superseded it (its number's last row).
    superseded_lines: list[int] = field(default_factory=list, repr=False)
    superseded_by: list[int] = field(default_factory=list, repr=False)
    #: Each number seen in the file → the line of its latest row (``None``: a chunk's
    #: rejected rows, dropped after each chunk).
    _last: dict[str | None, int] = field(default_factory=dict, repr=False)
    #: ``(line, number)`` of the rows known to be superseded so far.
    _superseded: list[tuple[int, str]] = field(default_factory=list, repr=False)
    _reasons: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        plan = self.plan
        self._indexes = [plan.phone] + [plan.fields[f] for f in _TEXT_FIELDS if f in plan.fields]
        self._text_slots = [f in plan.fields for f in _TEXT_FIELDS]
        self._indexes += [i for _, i in plan.custom]
        self._custom_names = [name for name, _ in plan.custom]
        self._width = max(self._indexes) + 1
        self._pick = itemgetter(*self._indexes)

    def cells(self, rows: list[list[str]]) -> list[Sequence[str]]:
        """The cells of the columns used (:attr:`indexes`), a sequence per column; a short
        (ragged) row's missing cells are empty."""
        pick = self._pick
        width = self._width
        try:
            picked = list(map(pick, rows))
        except IndexError:  # ragged rows: pad the short ones with empty cells
            picked = [pick(r if len(r) >= width else r + [""] * (width - len(r))) for r in rows]
        if len(self._indexes) == 1:
            return [picked]
        return list(zip(*picked, strict=True)) if picked else [() for _ in self._indexes]

    def parse(self, chunk: Chunk) -> ContactBatch:
        """Normalise, reject and merge one chunk (rejects go to the report as they come)."""
        rows, lines = chunk.rows, chunk.lines
        n = len(rows)
        columns = self.cells(rows)
        numbers, invalid = self.numbers(columns[0], lines, rows.__getitem__)
        first_of, keep = self.firsts(numbers, invalid)
        texts = [list(map(str.strip, column)) for column in columns[1:]]
        if keep.count(True) + len(invalid) != n:
            self._merge(numbers, first_of, texts)
            self._supersede_within(numbers, first_of, lines)
        kept_numbers: list[str] = list(compress(numbers, keep))  # type: ignore[arg-type]
        kept_texts = [list(compress(column, keep)) for column in texts]
        new, repeated = self.novelty(kept_numbers, n - len(invalid))
        self._remember(numbers, lines, repeated)
        regions = regions_of(kept_numbers)
        fields = self._fields(kept_texts, len(kept_numbers))
        records: list[ContactRecord] = list(zip(kept_numbers, regions, *fields, strict=True))
        records.sort(key=_by_number)
        first_seen: list[tuple[str, int]] = []
        if new and self.track_lines:
            kept_lines = compress(lines, keep)
            first_seen = [
                (e, line) for e, line in zip(kept_numbers, kept_lines, strict=True) if e in new
            ]
        return ContactBatch(records, first_seen, repeated)

    # -- the steps, shared with the columnar parser (services.contacts.columns) --------------

    def numbers(
        self,
        raws: Sequence[str],
        lines: Sequence[int],
        row_at: Callable[[int], Sequence[str]],
        candidates: Sequence[int] | None = None,
        normalise: Callable[[Sequence[str]], list[str | None]] | None = None,
    ) -> tuple[list[str | None], list[int]]:
        """Each row's E.164 number (``None``: rejected or blank) and the indexes without one.

        Spreadsheet floats are repaired first (``candidates``: the only rows that may need it,
        when the caller found them); ``normalise`` replaces the core's ``normalise_many`` (a
        caller sharing the work with another process); every rejected row goes to the report
        with its line; blank rows (every cell of ``row_at(i)`` empty) are counted, not
        rejected.
        """
        if candidates is None:
            repaired, lost = self._repair(raws)
        else:
            repaired, lost = _repair_rows(raws, candidates)
        if normalise is None:
            numbers = normalise_many(repaired, self.region)
        else:
            numbers = normalise(repaired)
        invalid: list[int] = []
        blank_before = self.blank
        if None in numbers:
            invalid = self._reject(lines, raws, numbers, lost, row_at)
        self.rows += len(raws) - (self.blank - blank_before)
        if not gc.isenabled():
            # phonenumbers' error paths leave reference cycles (exception, traceback, frames)
            # whose frames hold this chunk: with the collector paused for the import they
            # would keep every chunk alive. The chunk itself is frozen (serial_batches), so
            # this young-generation pass only walks what parse() made so far: milliseconds.
            gc.collect(0)
        return numbers, invalid

    @staticmethod
    def firsts(numbers: list[str | None], invalid: list[int]) -> tuple[list[int], list[bool]]:
        """``(first_of, keep)``: each row's first row with its number, and the rows to keep.

        A row is kept when it is the first with its number and has one; duplicates point to
        their first row (rejected rows all share ``None``, and are never kept).
        """
        n = len(numbers)
        found: dict[str | None, int] = {}
        first_of = list(map(found.setdefault, numbers, range(n)))
        keep = list(map(eq, first_of, range(n)))
        for i in invalid:
            keep[i] = False
        return first_of, keep

    def novelty(self, kept_numbers: list[str], valid_rows: int) -> tuple[set[str], frozenset[str]]:
        """``(new, repeated)``: the chunk's numbers first seen in the file, and the others.

        Counts the file's distinct numbers and its duplicates (``valid_rows`` less the new).
        """
        distinct = set(kept_numbers)
        new = distinct.difference(self._last)  # looks each number up: O(len(distinct))
        repeated = frozenset(distinct - new) if len(new) != len(distinct) else frozenset()
        self.distinct += len(new)
        self.duplicates += valid_rows - len(new)
        return new, repeated

    def _remember(
        self, numbers: list[str | None], lines: Sequence[int], repeated: frozenset[str]
    ) -> None:
        """Note the latest row of each number: ``repeated`` numbers supersede an earlier
        chunk's row (its line, before this chunk's replace it)."""
        last = self._last
        if repeated:
            self._superseded.extend((last[number], number) for number in repeated)
        last.update(zip(numbers, lines, strict=True))  # in file order: the latest row stays
        last.pop(None, None)

    def _supersede_within(
        self, numbers: list[str | None], first_of: list[int], lines: Sequence[int]
    ) -> None:
        """Note the rows of this chunk that a later row of the chunk supersedes (a Python
        loop over the repeating rows only)."""
        previous: dict[str, int] = {}
        superseded = self._superseded
        for i in compress(range(len(first_of)), map(ne, first_of, range(len(first_of)))):
            number = numbers[i]
            if number is None:  # rejected rows all share None
                continue
            superseded.append((lines[previous.get(number, first_of[i])], number))
            previous[number] = i

    def finish(self) -> None:
        """Once the whole file is parsed: list the superseded rows in the reject report."""
        found = sorted(self._superseded)
        self._superseded = []
        numbers = [number for _, number in found]
        by_lines = list(map(self._last.__getitem__, numbers))
        self._last = {}
        self.report_superseded([line for line, _ in found], numbers, by_lines)

    def report_superseded(
        self, lines: list[int], numbers: Sequence[str], by_lines: list[int]
    ) -> None:
        """Record and report the superseded rows: ``lines`` in order, each row's number and
        the line of the row that superseded it."""
        self.superseded_lines, self.superseded_by = lines, by_lines
        self.rejects.add_superseded(lines, numbers, by_lines)

    def count_distinct(self, distinct: int, valid_rows: int) -> None:
        """Count a whole file's numbers at once: ``distinct`` of its ``valid_rows``."""
        self.distinct += distinct
        self.duplicates += valid_rows - distinct

    def learn_reasons(self, reasons: dict[str, str]) -> None:
        """Why some values are invalid, worked out elsewhere (another process)."""
        self._reasons.update(reasons)

    @property
    def indexes(self) -> list[int]:
        """The file columns used: the phone, the text fields present, then the custom ones."""
        return self._indexes

    @property
    def custom_names(self) -> list[str]:
        """The custom fields' names, in the order of their columns after the text fields."""
        return self._custom_names

    @property
    def text_slots(self) -> list[bool]:
        """Which of first name, last name, email, company the file has a column for."""
        return self._text_slots

    def _fields(self, texts: list[list[str]], count: int) -> list[Sequence[str | None]]:
        """The four text fields (empty where the file has no such column) and custom JSON."""
        empty = [""] * count
        out: list[Sequence[str | None]] = []
        position = 0
        for present in self._text_slots:
            if present:
                out.append(texts[position])
                position += 1
            else:
                out.append(empty)
        custom_columns = texts[position:]
        if not custom_columns:
            out.append([None] * count)
            return out
        out.append(custom_documents(self._custom_names, custom_columns))
        return out

    @staticmethod
    def _repair(raws: Sequence[str]) -> tuple[Sequence[str], set[int]]:
        """Repair the spreadsheet floats of a column; the indexes whose digits were lost.

        The candidates are found by one regex over the joined column; Python only runs for
        them (their index is the count of newlines before the match, counted in C).
        """
        text = "\n".join(raws)
        if text.count("\n") >= len(raws):
            # A cell holding a line break (quoted) would shift the indexes: look at each.
            return _repair_rows(raws, range(len(raws)))
        ends = [match.start() for match in _FLOAT_END.finditer(text)]
        if not ends:
            return raws, set()
        repaired = list(raws)
        lost: set[int] = set()
        index, position = 0, 0
        for end in ends:
            index += text.count("\n", position, end)
            position = end
            fixed, digits_lost = repair_spreadsheet_number(repaired[index])
            repaired[index] = fixed
            if digits_lost:
                lost.add(index)
        return repaired, lost

    def _reject(
        self,
        lines: Sequence[int],
        raws: Sequence[str],
        numbers: list[str | None],
        lost: set[int],
        row_at: Callable[[int], Sequence[str]],
    ) -> list[int]:
        """Report every row without a valid number; their indexes (blank rows included)."""
        invalid: list[int] = []
        i = -1
        while True:
            try:
                i = numbers.index(None, i + 1)
            except ValueError:
                return invalid
            invalid.append(i)
            raw = raws[i]
            line = lines[i]
            if not raw.strip():
                if not any(cell.strip() for cell in row_at(i)):
                    self.blank += 1
                    continue
                self.rejects.add(line, raw, RejectReason.MISSING_PHONE, "no phone number")
            elif i in lost:
                self.rejects.add(
                    line,
                    raw,
                    RejectReason.LOST_DIGITS,
                    "a spreadsheet wrote this number in scientific notation and dropped digits;"
                    " format the column as text and export again",
                )
            else:
                self.rejects.add(line, raw, RejectReason.INVALID_PHONE, self._why(raw))

    def _why(self, raw: str) -> str:
        return self._reasons.get(raw) or why_invalid(raw, self.region)

    @staticmethod
    def _merge(
        numbers: list[str | None],
        first_of: list[int],
        texts: list[list[str]],
    ) -> None:
        """Each duplicate row replaces the first row with its number whole (empty cells
        included): the last row of a number wins, never a mix of two people's fields."""
        for i, first in enumerate(first_of):
            if first == i or numbers[i] is None:
                continue
            for column in texts:
                column[first] = column[i]
