"""Open a contact file, whatever a spreadsheet or a careless export made of it, as text rows.

:func:`open_table` looks at the bytes, not the file name:

- ``.xlsx`` (a ZIP holding ``xl/workbook.xml``): the first worksheet, streamed with openpyxl's
  read-only mode; numbers come back as text the way a person typed them (``33612345678.0``
  becomes ``33612345678``), dates as ISO text.
- anything else is CSV-like text. The encoding is decided over the whole file before a row is
  read: a BOM (UTF-8, UTF-16) wins; otherwise strict UTF-8 if every byte decodes; otherwise
  CP1252 (Latin-1 when a byte CP1252 leaves undefined is present); a file mixing UTF-8 and
  CP1252 lines (two exports pasted together) is read as UTF-8 with each undecodable byte
  taken as CP1252. The delimiter (``;`` ``,`` tab ``|``) is the one that splits the first
  records into the most consistent number of fields, unless given. NUL bytes are dropped.

Rows come in :class:`Chunk` s with the line number of each row as a text editor counts lines
(the header is line 1; a quoted field spanning lines makes its row start where it starts);
for a workbook the line is the spreadsheet's row number.

What cannot be read at all raises :class:`~stopsms.errors.UnreadableFile` whose
message names the file and, where it applies, the line: a missing or empty file, a binary or
legacy ``.xls`` file, a corrupt workbook, a field over 128 KiB.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import islice
from pathlib import Path
from typing import IO, Any

from stopsms.errors import UnreadableFile

__all__ = [
    "DELIMITERS",
    "Chunk",
    "CsvTable",
    "Table",
    "XlsxTable",
    "detect_encoding",
    "open_table",
    "parse_delimiter",
    "sniff_delimiter",
]

#: Candidate delimiters, in order of preference when two split the sample equally well
#: (``;`` first: it is what a French Excel writes).
DELIMITERS = (";", ",", "\t", "|")
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}

_HEAD_BYTES = 64 * 1024
_SCAN_BLOCK = 1 << 20
_SNIFF_RECORDS = 50
#: Bytes CP1252 leaves undefined; a file holding one is read as Latin-1 instead.
_CP1252_HOLES = frozenset(b"\x81\x8d\x8f\x90\x9d")
#: A well-formed multi-byte UTF-8 sequence: its presence beside invalid bytes means "mixed".
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_MIXED_ERRORS = "stopsms.cp1252_fallback"

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "a legacy Excel .xls file or a password-protected workbook; save it as .xlsx"
        " (no password) or CSV",
    ),
    (b"%PDF", "a PDF document, not a CSV or .xlsx file"),
    (b"\x89PNG", "a PNG image, not a CSV or .xlsx file"),
    (b"GIF8", "a GIF image, not a CSV or .xlsx file"),
    (b"\xff\xd8\xff", "a JPEG image, not a CSV or .xlsx file"),
    (b"\x1f\x8b", "a gzip archive; uncompress it first"),
    (b"7z\xbc\xaf", "a 7-Zip archive; extract it first"),
    (b"Rar!", "a RAR archive; extract it first"),
)


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: decode the bytes UTF-8 refused as CP1252 (Latin-1 for its holes)."""
    if not isinstance(error, UnicodeDecodeError):  # pragma: no cover - registered for decoding
        raise error
    bad = error.object[error.start : error.end]
    return "".join(
        bytes([b]).decode("latin-1" if b in _CP1252_HOLES else "cp1252") for b in bad
    ), error.end


codecs.register_error(_MIXED_ERRORS, _cp1252_fallback)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive rows of a file and the line (or spreadsheet row) each one starts on."""

    lines: Sequence[int]
    rows: list[list[str]]


@dataclass
class Table:
    """An opened contact file: its header row and an iterator over the rows below it.

    ``header`` is the first row that is not blank, ``header_line`` its line; a file with no
    header (just numbers) still has its first row here: the caller decides what it is.
    ``encoding`` and ``delimiter`` are what was detected (``None`` for a workbook).
    """

    path: Path
    kind: str
    header: list[str]
    header_line: int
    encoding: str | None = None
    delimiter: str | None = None
    total_units: int | None = None
    _closers: list[IO[Any]] = field(default_factory=list, repr=False)

    def chunks(self, size: int) -> Iterator[Chunk]:  # pragma: no cover - abstract
        """The rows after the header, ``size`` at a time."""
        raise NotImplementedError

    def progress(self) -> int:  # pragma: no cover - abstract
        """How far reading has gone, in the unit of ``total_units`` (bytes or rows)."""
        raise NotImplementedError

    def close(self) -> None:
        for handle in self._closers:
            handle.close()
        self._closers.clear()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_delimiter(value: str) -> str:
    """A delimiter from the command line: one character, or ``tab``/``\\t``/``semicolon``…"""
    named = _DELIMITER_NAMES.get(value.lower(), value)
    if len(named) != 1 or named in '"\r\n' or named.isalnum():
        raise ValueError(
            f"delimiter must be one character such as ';' ',' '|' or 'tab', not {value!r}"
        )
    return named


# --- encodings ---------------------------------------------------------------------------


def detect_encoding(path: Path, head: bytes) -> tuple[str, str, bool]:
    """``(codec, errors, has_nul)`` for a text file, reading it once in 1 MiB blocks.

    ``codec`` is what :func:`open` takes; ``errors`` is ``strict`` or the CP1252 fallback for a
    mixed file. A file that looks binary raises ``UnreadableFile``.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "strict", False
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "strict", False
    utf16 = _bomless_utf16(head)
    if utf16 is not None:
        return utf16, "strict", False
    _refuse_binary(path, head)
    decoder = codecs.getincrementaldecoder("utf-8")()
    valid_utf8, has_multibyte, has_nul, holes = True, False, False, False
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_SCAN_BLOCK), b""):
            has_nul = has_nul or b"\x00" in block
            if valid_utf8:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    valid_utf8 = False
            if not valid_utf8:
                has_multibyte = has_multibyte or _UTF8_SEQUENCE.search(block) is not None
                holes = holes or any(
                    b in block for b in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
                )
        if valid_utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                valid_utf8 = False
    if valid_utf8:
        return "utf-8", "strict", has_nul
    if has_multibyte:
        return "utf-8", _MIXED_ERRORS, has_nul
    return ("latin-1" if holes else "cp1252"), "strict", has_nul


def _bomless_utf16(head: bytes) -> str | None:
    """``utf-16-le``/``-be`` when the head is ASCII-ish text with a NUL in every other byte."""
    sample = head[: 4096 - 4096 % 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _refuse_binary(path: Path, head: bytes) -> None:
    sample = head[:8192]
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    if controls > max(8, 0.05 * len(sample)):
        raise UnreadableFile(str(path), "a binary file, not CSV text or an .xlsx workbook")


# --- delimiters --------------------------------------------------------------------------


def sniff_delimiter(sample: str) -> str | None:
    """The delimiter splitting the sample's records most consistently; ``None``: one column.

    Each candidate parses the first records (quotes respected); the winner has the most
    records with its most common field count, then the most fields, then comes first in
    :data:`DELIMITERS`. A candidate that never splits a record is out.
    """
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample cut a record short
    best: tuple[int, int, int] | None = None
    chosen: str | None = None
    for rank, delimiter in enumerate(DELIMITERS):
        counts: dict[int, int] = {}
        try:
            for i, record in enumerate(csv.reader(lines, delimiter=delimiter)):
                if i >= _SNIFF_RECORDS:
                    break
                if record and any(cell.strip() for cell in record):
                    counts[len(record)] = counts.get(len(record), 0) + 1
        except csv.Error:
            continue
        if not counts:
            continue
        width, agreeing = max(counts.items(), key=lambda item: (item[1], item[0]))
        if width < 2:
            continue
        score = (agreeing, width, -rank)
        if best is None or score > best:
            best, chosen = score, delimiter
    return chosen


# --- CSV ---------------------------------------------------------------------------------


class CsvTable(Table):
    """A delimited text file, decoded and split with the :mod:`csv` module."""

    def __init__(
        self,
        path: Path,
        raw: IO[bytes],
        text: io.TextIOWrapper,
        encoding: str,
        delimiter: str | None,
        has_nul: bool,
        total_bytes: int,
    ) -> None:
        lines: Iterable[str] = text
        if has_nul:
            lines = (line.replace("\x00", "") for line in text)
        self._raw = raw
        self._reader = csv.reader(lines, delimiter=delimiter or ",", strict=False)
        self._last_line = 0
        self._path = path
        #: How the bytes are decoded (``open``'s codec and errors), and whether NULs are dropped.
        self.codec, self.errors, self.has_nul = text.encoding, text.errors, has_nul
        header, header_line = self._first_row()
        #: The line the rows under the header start on (a quoted header may span lines).
        self.body_line = self._last_line + 1
        super().__init__(
            path=path,
            kind="csv",
            header=header,
            header_line=header_line,
            encoding=encoding,
            delimiter=delimiter,
            total_units=total_bytes,
        )
        self._closers.extend([text, raw])

    def _next(self) -> list[str] | None:
        try:
            return next(self._reader)
        except StopIteration:
            return None
        except csv.Error as error:
            raise UnreadableFile(str(self._path), f"line {self._last_line + 1}: {error}") from None
        except UnicodeDecodeError as error:
            raise UnreadableFile(
                str(self._path), f"after line {self._last_line}: not valid {error.encoding}"
            ) from None

    def _first_row(self) -> tuple[list[str], int]:
        while True:
            row = self._next()
            if row is None:
                raise UnreadableFile(str(self._path), "no rows (the file is blank)")
            line = self._last_line + 1
            self._last_line = self._reader.line_num
            if any(cell.strip() for cell in row):
                return row, line

    def chunks(self, size: int) -> Iterator[Chunk]:
        reader = self._reader
        while True:
            last = self._last_line
            try:
                rows = list(islice(reader, size))
            except csv.Error as error:
                raise UnreadableFile(
                    str(self._path), f"line {self._error_line(last)}: {error}"
                ) from None
            except UnicodeDecodeError as error:
                raise UnreadableFile(
                    str(self._path), f"after line {last}: not valid {error.encoding}"
                ) from None
            if not rows:
                return
            self._last_line = reader.line_num
            if reader.line_num - last == len(rows):
                lines: Sequence[int] = range(last + 1, last + 1 + len(rows))
            else:
                lines = _record_lines(rows, last)
            yield Chunk(lines, rows)

    def _error_line(self, before_chunk: int) -> int:
        """The line where the csv module gave up (it counts lines as it goes)."""
        return max(self._reader.line_num, before_chunk + 1)

    def progress(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):  # pragma: no cover - closed or unseekable
            return self.total_units or 0


# --- XLSX --------------------------------------------------------------------------------


def _record_lines(rows: list[list[str]], last: int) -> list[int]:
    """Start line of each record when some span several lines (newlines inside quotes)."""
    lines: list[int] = []
    line = last + 1
    for row in rows:
        lines.append(line)
        line += 1 + sum(cell.count("\n") for cell in row)
    return lines


def _cell_text(value: object) -> str:
    """A cell as the text a person sees (integral floats without ``.0``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e18:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


class XlsxTable(Table):
    """The first worksheet of an Excel workbook, streamed (openpyxl read-only mode)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._row_number = 0
        try:
            import openpyxl

            self._workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
            sheet = self._workbook.worksheets[0]
            total = sheet.max_row if isinstance(sheet.max_row, int) else None
            self._rows: Iterator[tuple[object, ...]] = sheet.iter_rows(values_only=True)
        except Exception as error:  # openpyxl/zipfile/XML errors alike: the file is unusable
            raise UnreadableFile(
                str(path), f"not a readable .xlsx workbook ({_why(error)})"
            ) from None
        try:
            header, header_line = self._first_row()
        except UnreadableFile:
            self._workbook.close()
            raise
        super().__init__(
            path=path, kind="xlsx", header=header, header_line=header_line, total_units=total
        )

    def _next(self) -> list[str] | None:
        try:
            values = next(self._rows)
        except StopIteration:
            return None
        except Exception as error:
            raise UnreadableFile(
                str(self._path), f"row {self._row_number + 1}: unreadable ({_why(error)})"
            ) from None
        self._row_number += 1
        return [_cell_text(v) for v in values]

    def _first_row(self) -> tuple[list[str], int]:
        while True:
            row = self._next()
            if row is None:
                raise UnreadableFile(str(self._path), "the first worksheet has no rows")
            if any(cell.strip() for cell in row):
                return row, self._row_number

    def chunks(self, size: int) -> Iterator[Chunk]:
        while True:
            lines: list[int] = []
            rows: list[list[str]] = []
            while len(rows) < size:
                row = self._next()
                if row is None:
                    break
                lines.append(self._row_number)
                rows.append(row)
            if not rows:
                return
            yield Chunk(lines, rows)

    def progress(self) -> int:
        return self._row_number

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._workbook.close()
        super().close()


def _why(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    name = type(error).__name__
    return f"{name}: {text[:120]}" if text else name


# --- opening -----------------------------------------------------------------------------


def _xlsx_or_refuse(path: Path) -> None:
    """A ZIP file must be an Office Open XML workbook; say what it is otherwise."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = (
                archive.read("mimetype").decode("ascii", "replace") if "mimetype" in names else ""
            )
    except (zipfile.BadZipFile, OSError, KeyError) as error:
        raise UnreadableFile(str(path), f"not a readable .xlsx workbook ({_why(error)})") from None
    if "xl/workbook.xml" in names:
        return
    if "opendocument.spreadsheet" in mimetype:
        raise UnreadableFile(str(path), "an OpenDocument spreadsheet; save it as .xlsx or CSV")
    if "word/document.xml" in names:
        raise UnreadableFile(str(path), "a Word document, not a CSV or .xlsx file")
    raise UnreadableFile(str(path), "a ZIP archive, not an .xlsx workbook")


def open_table(
    path: str | Path, *, delimiter: str | None = None, encoding: str | None = None
) -> Table:
    """Open ``path`` as a :class:`Table` (see the module doc); close it, or use ``with``.

    ``delimiter`` and ``encoding`` override detection for CSV files.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except FileNotFoundError:
        raise UnreadableFile(str(path), "no such file") from None
    except IsADirectoryError:
        raise UnreadableFile(str(path), "is a directory, not a file") from None
    except PermissionError:
        raise UnreadableFile(str(path), "permission denied") from None
    except OSError as error:
        raise UnreadableFile(str(path), error.strerror or str(error)) from None
    if not head:
        raise UnreadableFile(str(path), "the file is empty")
    if head.startswith(b"PK\x03\x04"):
        _xlsx_or_refuse(path)
        return XlsxTable(path)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise UnreadableFile(str(path), what)
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise UnreadableFile(str(path), f"unknown encoding {encoding!r}") from None
        errors, has_nul = "strict", b"\x00" in head
    else:
        codec, errors, has_nul = detect_encoding(path, head)
    if delimiter is None:
        sample = head.decode(codec, errors="ignore" if errors == "strict" else errors)
        if codec == "utf-8-sig" or codec == "utf-16":
            sample = sample.lstrip("\ufeff")
        delimiter = sniff_delimiter(sample.replace("\x00", ""))
    raw = path.open("rb")
    text = io.TextIOWrapper(raw, encoding=codec, errors=errors, newline="")
    try:
        return CsvTable(
            path, raw, text, _label(codec, errors), delimiter, has_nul, path.stat().st_size
        )
    except BaseException:
        text.close()
        raise


def _label(codec: str, errors: str) -> str:
    if errors == _MIXED_ERRORS:
        return "mixed utf-8/cp1252"
    return codec
