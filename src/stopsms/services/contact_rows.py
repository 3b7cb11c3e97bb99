"""From raw rows to contact records: normalise, reject, merge duplicates — a chunk at a time.

:class:`ContactRows` turns each :class:`~stopsms.imports.reader.Chunk` of a file into a
:class:`ContactBatch`: one record per distinct valid number of the chunk (duplicates inside the
chunk merged into the first; later non-empty values win, empty ones never erase), sorted by
number (B-tree friendly), every rejected row written to the reject report with its reason.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from itertools import compress
from operator import eq, itemgetter

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
    "regions_of",
    "repair_spreadsheet_number",
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
def _invalid_reason(raw: str, region: str) -> str:
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


def _prefix_region(prefix: str) -> str:
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
    found: list[str | None] = list(map(table.get, map(itemgetter(slice(0, 4)), numbers)))
    if None not in found and _MULTI not in found:
        return found  # type: ignore[return-value]
    out: list[str] = []
    for number, region in zip(numbers, found, strict=True):
        if region is None:
            region = table.setdefault(number[:4], _prefix_region(number[:4]))
        out.append(region or _region_slow(number))
    return out


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
    _seen: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        plan = self.plan
        self._indexes = [plan.phone] + [plan.fields[f] for f in _TEXT_FIELDS if f in plan.fields]
        self._text_slots = [f in plan.fields for f in _TEXT_FIELDS]
        self._indexes += [i for _, i in plan.custom]
        self._custom_names = [name for name, _ in plan.custom]
        self._width = max(self._indexes) + 1
        self._pick = itemgetter(*self._indexes)

    def _columns(self, rows: list[list[str]]) -> list[Sequence[str]]:
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
        columns = self._columns(rows)
        raws = columns[0]
        raws, lost = self._repair(raws)
        numbers = normalise_many(raws, self.region)
        invalid: list[int] = []
        blank_before = self.blank
        if None in numbers:
            invalid = self._reject(chunk, columns[0], numbers, lost)
        self.rows += n - (self.blank - blank_before)
        if not gc.isenabled():
            # phonenumbers' error paths leave reference cycles (exception, traceback, frames)
            # whose frames hold this chunk: with the collector paused for the import they
            # would keep every chunk alive. The chunk itself is frozen (serial_batches), so
            # this young-generation pass only walks what parse() made so far: milliseconds.
            gc.collect(0)
        # The index of each row's first row with the same number: duplicates point elsewhere.
        firsts: dict[str | None, int] = {}
        first_of = list(map(firsts.setdefault, numbers, range(n)))
        keep = list(map(eq, first_of, range(n)))
        texts = [list(map(str.strip, column)) for column in columns[1:]]
        if keep.count(True) != n:
            self._merge(numbers, first_of, texts)
        for i in invalid:
            keep[i] = False
        kept_numbers: list[str] = list(compress(numbers, keep))  # type: ignore[arg-type]
        kept_texts = [list(compress(column, keep)) for column in texts]
        distinct = set(kept_numbers)
        new = distinct - self._seen
        repeated = frozenset(distinct - new) if len(new) != len(distinct) else frozenset()
        self._seen |= new
        self.distinct += len(new)
        self.duplicates += n - len(invalid) - len(new)
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
        names = self._custom_names
        documents: list[str | None] = []
        for values in zip(*custom_columns, strict=True):
            document = {name: value for name, value in zip(names, values, strict=True) if value}
            documents.append(json.dumps(document, ensure_ascii=False) if document else None)
        out.append(documents)
        return out

    @staticmethod
    def _repair(raws: Sequence[str]) -> tuple[Sequence[str], set[int]]:
        """Repair the spreadsheet floats of a column; the indexes whose digits were lost.

        The candidates are found by one regex over the joined column; Python only runs for
        them (their index is the count of newlines before the match, counted in C).
        """
        text = "\n".join(raws)
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
        chunk: Chunk,
        raws: Sequence[str],
        numbers: list[str | None],
        lost: set[int],
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
            line = chunk.lines[i]
            if not raw.strip():
                if not any(cell.strip() for cell in chunk.rows[i]):
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
        return _invalid_reason(raw, self.region)

    @staticmethod
    def _merge(
        numbers: list[str | None],
        first_of: list[int],
        texts: list[list[str]],
    ) -> None:
        """Fold each duplicate row into the first row with its number (non-empty values win)."""
        for i, first in enumerate(first_of):
            if first == i or numbers[i] is None:
                continue
            for column in texts:
                value = column[i]
                if value:
                    column[first] = value
