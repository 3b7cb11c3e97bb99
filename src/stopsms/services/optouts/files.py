"""Blacklist files: importing opt-outs (rule 4) and exporting the registry.

Import reads a plain list (one number per line, ``#`` comments allowed) or a CSV/TSV (any of
``, ; TAB |``; UTF-8 with or without BOM, else CP1252) or an Excel ``.xlsx`` sheet. A header
row is recognised by its column names (``numero``, ``téléphone``, ``mobile``, ``phone``,
``msisdn``…; an optional ``motif``/``reason`` column becomes the record's detail); without
one, numbers are read from the first column. Every unusable row is reported with its line,
value and reason and the others are imported; a file that cannot be read at all (missing,
binary, no number column, no numbers at all) raises :class:`UnreadableFile` before anything
is written.

Export writes the account's opt-outs (active, or all with history) as CSV (``;``-separated,
like every export: :mod:`stopsms.services.exports`) or ``.xlsx``.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection

from stopsms.domain.errors import InvalidPhoneNumber
from stopsms.domain.phone import normalise_many, parse_phone
from stopsms.errors import InvalidInput, UnreadableFile
from stopsms.imports.cells import neutralise
from stopsms.services.accounts.accounts import AccountRef
from stopsms.services.exports import CSV_DELIMITER, CSV_FILE_ENCODING
from stopsms.services.optouts.optouts import OptOut, record_many
from stopsms.services.optouts.review import iter_optouts
from stopsms.store.statistics import analyze_written

__all__ = [
    "EXPORT_COLUMNS",
    "OptOutImport",
    "Reject",
    "export_optouts",
    "import_optouts",
    "read_blacklist",
]

_NUMBER_COLUMNS = frozenset(
    {
        "number",
        "numbers",
        "numero",
        "numeros",
        "num",
        "phone",
        "phonenumber",
        "mobile",
        "mobilephone",
        "mobilenumber",
        "portable",
        "telephone",
        "tel",
        "gsm",
        "msisdn",
        "cell",
        "cellphone",
        "numerodetelephone",
        "numerodemobile",
        "numeromobile",
        "numerotelephone",
        "destinataire",
    }
)
_REASON_COLUMNS = frozenset(
    {"reason", "motif", "raison", "comment", "commentaire", "detail", "details"}
)
_DELIMITERS = ",;\t|"

EXPORT_COLUMNS = (
    "phone",
    "scope",
    "sender",
    "source",
    "detail",
    "uncertain",
    "campaign_id",
    "recorded_by",
    "recorded_at",
    "revoked_at",
    "revoke_evidence",
    "revoked_by",
)


@dataclass(frozen=True, slots=True)
class Reject:
    """A row that could not be imported: where, what and why."""

    line: int
    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class OptOutImport:
    """The outcome of a blacklist import."""

    path: str
    rows: int
    added: int
    already: int
    duplicates: int
    rejected: list[Reject] = field(default_factory=list)


def _column_name(cell: str) -> str:
    decomposed = unicodedata.normalize("NFKD", cell)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data[:65536]:
        raise UnreadableFile(str(path), "binary content (expected text, CSV or .xlsx)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _text_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableFile(str(path), error.strerror or str(error)) from error
    text = _decode(path, data)
    first = text.split("\n", 1)[0]
    delimiter = next((d for d in _DELIMITERS if d in first), None)
    if delimiter is None:
        for number, line in enumerate(text.splitlines(), start=1):
            yield number, [line]
        return
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as error:
        raise UnreadableFile(str(path), f"line {reader.line_num}: {error}") from error


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a broken file
        raise UnreadableFile(str(path), f"not a readable .xlsx file ({error})") from error
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, ["" if v is None else _cell_text(v) for v in values]
    finally:
        workbook.close()


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores 33612345678 as a float
    return str(value)


def read_blacklist(path: Path) -> tuple[list[tuple[int, str, str | None]], bool]:
    """Read ``path`` into ``(line, raw number, reason or None)`` rows, skipping blank lines.

    Returns the rows and whether a header row was found. Raises :class:`UnreadableFile`.
    """
    if not path.is_file():
        raise UnreadableFile(str(path), "a folder, not a file" if path.is_dir() else "no such file")
    rows = _xlsx_rows(path) if path.suffix.lower() in (".xlsx", ".xlsm") else _text_rows(path)
    out: list[tuple[int, str, str | None]] = []
    number_col = 0
    reason_col: int | None = None
    has_header = False
    for index, (line, cells) in enumerate(rows):
        cells = [c.strip() for c in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if index == 0 or (not out and not has_header):
            names = [_column_name(c) for c in cells]
            numbers = [i for i, n in enumerate(names) if n in _NUMBER_COLUMNS]
            if numbers:
                has_header = True
                number_col = numbers[0]
                reasons = [i for i, n in enumerate(names) if n in _REASON_COLUMNS]
                reason_col = reasons[0] if reasons else None
                continue
            if len(cells) > 1 and not any(c.isdigit() for c in cells[0]):
                raise UnreadableFile(
                    str(path),
                    f"no phone number column in the header {cells!r}"
                    " (name it e.g. 'numero', 'mobile' or 'phone')",
                )
        raw = cells[number_col] if number_col < len(cells) else ""
        reason = cells[reason_col] if reason_col is not None and reason_col < len(cells) else None
        out.append((line, raw, reason or None))
    return out, has_header


def import_optouts(
    connection: Connection,
    account: AccountRef,
    path: Path,
    *,
    source: str = "import",
    detail: str | None = None,
    recorded_by: str = "import",
    default_region: str = "FR",
    now: datetime | None = None,
) -> OptOutImport:
    """Import a blacklist file into the account's registry (see the module doc)."""
    rows, _ = read_blacklist(path)
    if not rows:
        raise UnreadableFile(str(path), "it holds no numbers")
    e164s = normalise_many([raw for _, raw, _ in rows], default_region)
    rejected: list[Reject] = []
    valid: list[str] = []
    details: dict[str, str] = {}
    for (line, raw, reason), e164 in zip(rows, e164s, strict=True):
        if e164 is None:
            rejected.append(Reject(line, raw, _why(raw, default_region)))
            continue
        valid.append(e164)
        if reason and e164 not in details:
            details[e164] = reason
    unique = len(set(valid))
    added, already = record_many(
        connection,
        account,
        valid,
        source=source,
        detail=detail or f"import {path.name}",
        details=details,
        recorded_by=recorded_by,
        now=now,
    )
    analyze_written(connection, added, "optouts")
    return OptOutImport(
        path=str(path),
        rows=len(rows),
        added=added,
        already=already,
        duplicates=len(valid) - unique,
        rejected=rejected,
    )


def _why(raw: str, default_region: str) -> str:
    if not raw:
        return "empty"
    try:
        parse_phone(raw, default_region)
    except InvalidPhoneNumber as error:
        return error.reason
    return "not a valid phone number"  # pragma: no cover - normalise and parse agree


def _export_row(optout: OptOut) -> list[Any]:
    return [
        optout.phone_e164 or "",
        optout.scope,
        optout.sender,
        optout.source,
        neutralise(optout.detail or ""),  # an SMS text or a reason: never a formula
        "yes" if optout.uncertain else "",
        optout.campaign_id or "",
        optout.recorded_by,
        optout.recorded_at.isoformat(),
        optout.revoked_at.isoformat() if optout.revoked_at else "",
        neutralise(optout.revoke_evidence or ""),
        optout.revoked_by or "",
    ]


def export_optouts(
    connection: Connection,
    account: AccountRef,
    destination: Path | IO[str],
    *,
    fmt: str = "csv",
    include_revoked: bool = False,
) -> int:
    """Write the account's opt-outs to ``destination`` (a path, or a text stream for CSV).

    Erased people appear with an empty phone (their suppression is kept as a hash only).
    Returns the number of records written.
    """
    records = iter_optouts(connection, account, include_revoked=include_revoked)
    if fmt == "csv":
        if isinstance(destination, Path):
            with destination.open("w", newline="", encoding=CSV_FILE_ENCODING) as stream:
                return _write_csv(stream, records)
        return _write_csv(destination, records)
    if fmt == "xlsx":
        if not isinstance(destination, Path):
            raise InvalidInput("output", "-", "an .xlsx export needs an output file")
        return _write_xlsx(destination, records)
    raise InvalidInput("format", fmt, "csv or xlsx")


def _write_csv(stream: IO[str], records: Iterator[OptOut]) -> int:
    writer = csv.writer(stream, delimiter=CSV_DELIMITER)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for optout in records:
        writer.writerow(_export_row(optout))
        count += 1
    return count


def _write_xlsx(path: Path, records: Iterator[OptOut]) -> int:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("optouts")
    sheet.append(list(EXPORT_COLUMNS))
    count = 0
    for optout in records:
        sheet.append(_export_row(optout))
        count += 1
    workbook.save(path)
    return count
