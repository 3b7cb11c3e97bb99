"""The reject report: one CSV row per rejected line, then one per superseded line.

The report is written as rows are rejected, into a hidden temporary file beside its final
place, and only :meth:`RejectReport.commit` (called once the import committed) moves it into
place: an import that changes nothing leaves no report behind. It is UTF-8 with a BOM and
uses the delimiter of the imported file (``;`` for a workbook), so it opens in the same
spreadsheet the file came from; every value goes through
:func:`~stopsms.imports.cells.neutralise` since it is someone else's data.

Columns: ``line`` (as in the imported file, header = 1), ``value`` (the phone cell as
written, cut at 200 characters), ``reason`` (a stable code, see :class:`RejectReason`) and
``detail`` (words a person can act on).

After the rejected rows (in line order) come the rows that a later row of the same number
superseded (in line order, :meth:`RejectReport.add_superseded`): reason ``superseded``, the
number as stored (E.164, which shows why differently written cells are one contact) and
``superseded by line N`` — the number's last row, which the import kept whole. They are not
rejections: :attr:`RejectReport.counts` and ``len()`` leave them out.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections import Counter
from collections.abc import Sequence
from enum import StrEnum
from itertools import repeat
from pathlib import Path
from typing import IO

from stopsms.errors import Fix, InvalidInput
from stopsms.imports.cells import neutralise

__all__ = ["REPORT_COLUMNS", "RejectReason", "RejectReport", "default_report_path"]

REPORT_COLUMNS = ("line", "value", "reason", "detail")
_VALUE_LIMIT = 200


class RejectReason(StrEnum):
    """Why a row was not imported (stable codes: scripts may count them)."""

    MISSING_PHONE = "missing_phone"  # the phone cell is empty
    INVALID_PHONE = "invalid_phone"  # not a valid number (detail: why)
    LOST_DIGITS = "lost_digits"  # a spreadsheet's scientific notation dropped digits
    #: Not a rejection: a later row of the same number replaced this one (not counted).
    SUPERSEDED = "superseded"


def default_report_path(source: Path) -> Path:
    """``clients.csv`` → ``clients.rejects.csv`` beside it."""
    return source.with_name(f"{source.stem}.rejects.csv")


class RejectReport:
    """Rejected rows of one import: counted by reason, streamed to a CSV report."""

    def __init__(self, path: Path, delimiter: str = ";") -> None:
        self.path = path
        self.delimiter = delimiter
        self.counts: Counter[str] = Counter()
        self._temp = path.with_name(f".{path.name}.{os.getpid()}.part")
        self._handle: IO[str] | None = None
        self._writer: csv.DictWriter[str] | None = None
        self._started = False
        #: How many superseded rows the report lists (not rejections).
        self.superseded = 0

    def __len__(self) -> int:
        return self.counts.total()

    def add(self, line: int, value: str, reason: RejectReason, detail: str) -> None:
        """Record one rejected row."""
        self.counts[reason.value] += 1
        if self._writer is None:
            self._open()
        assert self._writer is not None
        if len(value) > _VALUE_LIMIT:
            value = value[:_VALUE_LIMIT] + "…"
        self._writer.writerow(
            {
                "line": line,
                "value": neutralise(value.replace("\x00", "")),
                "reason": reason.value,
                "detail": neutralise(detail),
            }
        )

    def add_superseded(
        self, lines: Sequence[int], numbers: Sequence[str], by_lines: Sequence[int]
    ) -> None:
        """List rows superseded by a later row of the same number (after every rejection).

        ``numbers`` are E.164 (``+`` and digits: nothing to neutralise); one ``writerows``.
        """
        if not lines:
            return
        self.superseded += len(lines)
        if self._writer is None:
            self._open()
        assert self._handle is not None
        reason = RejectReason.SUPERSEDED.value
        details = [
            f"superseded by line {by} (the number's last row, kept whole)" for by in by_lines
        ]
        writer = csv.writer(self._handle, delimiter=self.delimiter)
        writer.writerows(zip(lines, numbers, repeat(reason, len(lines)), details, strict=True))

    def _open(self) -> None:
        try:
            handle = self._temp.open("w", encoding="utf-8-sig", newline="")
        except OSError as error:
            raise InvalidInput(
                "reject report",
                str(self.path),
                f"cannot write it ({error.strerror or error}); choose another place",
                fix=Fix("choose_rejects"),
            ) from None
        self._handle = handle
        self._started = True
        self._writer = csv.DictWriter(handle, REPORT_COLUMNS, delimiter=self.delimiter)
        self._writer.writeheader()

    def close(self) -> None:
        """Close the temporary file, leaving it for :meth:`commit` or :meth:`discard`.

        For a report written by another process (a parse worker): that one closes it, this
        one :meth:`adopt` s its counts, then commits or discards.
        """
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._writer = None

    def adopt(self, counts: dict[str, int], superseded: int = 0) -> None:
        """Take over a report another process wrote to the same temporary file."""
        self.counts = Counter(counts)
        self.superseded = superseded
        self._started = self._started or self.counts.total() > 0 or superseded > 0

    def commit(self) -> Path | None:
        """Put the report in place; ``None`` (and no file) when it lists no row."""
        if not self._started:
            return None
        self.close()
        try:
            os.replace(self._temp, self.path)
        except OSError as error:  # e.g. the path names a folder: the import is rolled back
            self.discard()
            raise InvalidInput(
                "reject report",
                str(self.path),
                f"cannot write it ({error.strerror or error}); choose another place",
                fix=Fix("choose_rejects"),
            ) from None
        return self.path

    def discard(self) -> None:
        """Drop the report (the import changed nothing)."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self._temp.unlink()
