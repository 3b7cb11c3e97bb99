"""A contact file uploaded in the customer area, kept until a person has checked its columns.

The web area imports in two steps: the file is uploaded and its first rows shown with the
columns as :func:`~stopsms.imports.columns.recognise` guesses them (:func:`preview_file`);
the person corrects the mapping and confirms, and the file moves into a ``contact_import``
job (the job the API's ``POST /v1/contacts/imports`` submits) in the transaction that deletes
the upload (:func:`take_upload`): never both, never neither.

Uploads live in the database (``uploads``, migration 0009) rather than on one server's disk,
so the confirming request may reach another server of the same database. One left
unconfirmed is dropped at the account's next upload once it is :data:`UPLOAD_LIFETIME` old.

The mapping a form posts (column index → target) becomes the import's column map by
:func:`column_overrides`, which refuses, naming the field, before anything is written: a
column the file does not have, a target that is not a field, no phone, a field chosen twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from sqlalchemy import Connection, delete, insert, select

from stopsms.domain.phone import normalise
from stopsms.errors import InvalidInput, NotFound
from stopsms.imports.columns import (
    CUSTOM_PREFIX,
    IGNORE,
    ColumnError,
    Field,
    recognise,
)
from stopsms.imports.reader import open_table
from stopsms.services.accounts.accounts import AccountRef, resolve_account
from stopsms.store import tables as t

__all__ = [
    "CUSTOM",
    "PREVIEW_ROWS",
    "TARGETS",
    "UPLOAD_LIFETIME",
    "FilePreview",
    "Upload",
    "column_overrides",
    "get_upload",
    "keep_upload",
    "preview_file",
    "take_upload",
]

#: Rows shown under the header before the import.
PREVIEW_ROWS: Final = 5
#: How long an upload waits for its mapping before the account's next upload drops it.
UPLOAD_LIFETIME: Final = timedelta(days=1)
#: The mapping's target keeping a column as a custom field under its header.
CUSTOM: Final = "custom"
#: What a column may become, in the order a form offers them.
TARGETS: Final = (*(f.value for f in Field), CUSTOM, IGNORE)


@dataclass(frozen=True, slots=True)
class Upload:
    """An uploaded file waiting for its mapping."""

    id: int
    name: str
    content: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FilePreview:
    """What a file looks like before its import: the header, the first rows and, per column,
    what the import would make of it (a :data:`TARGETS` value).

    ``has_header`` False: the first row is already a number (a file of bare numbers); the
    columns are then ``column_1``…, the phone the column holding it, the mapping fixed.
    ``problem``: why no column was taken for the phone (the person must choose one).
    """

    kind: str
    encoding: str | None
    delimiter: str | None
    headers: tuple[str, ...]
    lines: tuple[int, ...]
    rows: tuple[tuple[str, ...], ...]
    guessed: tuple[str, ...]
    notes: tuple[str, ...]
    has_header: bool
    problem: str | None


def preview_file(path: Path, *, rows: int = PREVIEW_ROWS, region: str = "FR") -> FilePreview:
    """The header, the first ``rows`` rows and the guessed columns of the file at ``path``
    (read as the import reads it: :func:`~stopsms.imports.reader.open_table`; a file that
    cannot be read raises :class:`~stopsms.errors.UnreadableFile` naming why)."""
    with open_table(path) as table:
        header = list(table.header)
        chunk = next(iter(table.chunks(rows)), None)
        lines = list(chunk.lines) if chunk is not None else []
        body = [list(row) for row in chunk.rows] if chunk is not None else []
        kind, encoding, delimiter = table.kind, table.encoding, table.delimiter
        header_line = table.header_line
    width = max([len(header), *(len(row) for row in body)])
    notes: tuple[str, ...] = ()
    problem: str | None = None
    has_header = True
    try:
        plan = recognise(header)
    except ColumnError as error:
        phone = next(
            (i for i, c in enumerate(header) if c.strip() and normalise(c, region) is not None),
            None,
        )
        guessed = [CUSTOM] * width
        if phone is None:
            problem = str(error)
        else:  # a file without a header: its first row is data
            has_header = False
            guessed[phone] = Field.PHONE.value
            body = [header, *body][:rows]
            lines = [header_line, *lines][:rows]
            header = [f"column_{i + 1}" for i in range(width)]
    else:
        guessed = [CUSTOM] * width
        for field, index in plan.fields.items():
            guessed[index] = field.value
        for index in plan.ignored:
            guessed[index] = IGNORE
        notes = plan.notes
    headers = tuple(header + [""] * (width - len(header)))
    shown = tuple(tuple(row + [""] * (width - len(row))) for row in body)
    return FilePreview(
        kind=kind,
        encoding=encoding,
        delimiter=delimiter,
        headers=headers,
        lines=tuple(lines),
        rows=shown,
        guessed=tuple(guessed),
        notes=tuple(notes),
        has_header=has_header,
        problem=problem,
    )


def column_overrides(headers: tuple[str, ...], mapping: Mapping[int, str]) -> dict[str, str]:
    """The import's column map (``#N`` → target) for a form's ``mapping`` (column index →
    one of :data:`TARGETS`); columns the mapping leaves out are recognised by their header.

    Raises :class:`~stopsms.errors.InvalidInput` (field ``mapping``) for a column the file
    does not have or a target that is not a field, and
    :class:`~stopsms.imports.columns.ColumnError` when no column is the phone or a field is
    chosen for two columns.
    """
    width = len(headers)
    chosen: dict[str, int] = {}
    overrides: dict[str, str] = {}
    taken: set[str] = set()
    for index, target in sorted(mapping.items()):
        if not 0 <= index < width:
            raise InvalidInput("mapping", f"column {index + 1}", f"the file has {width} columns")
        label = headers[index].strip() or f"column_{index + 1}"
        if target not in TARGETS:
            raise InvalidInput(
                f"mapping of column {label!r}", target, "one of " + ", ".join(TARGETS)
            )
        if target in chosen:
            raise ColumnError(
                f"mapping: {target} is chosen for two columns,"
                f" {headers[chosen[target]]!r} and {headers[index]!r}; choose one"
            )
        if target == CUSTOM:
            name, n = label, 2
            while name in taken:
                name, n = f"{label}_{n}", n + 1
            taken.add(name)
            overrides[f"#{index + 1}"] = CUSTOM_PREFIX + name
            continue
        if target != IGNORE:
            chosen[target] = index
        overrides[f"#{index + 1}"] = target
    if Field.PHONE.value not in chosen:
        raise ColumnError("mapping: no column is the phone; choose the one holding the numbers")
    recognise(headers, overrides)  # the import's own check, before anything is written
    return overrides


def keep_upload(
    connection: Connection, account: AccountRef, name: str, content: bytes, now: datetime
) -> Upload:
    """Keep ``content`` (the file ``name``) for ``account`` until its mapping is confirmed;
    the account's uploads older than :data:`UPLOAD_LIFETIME` go."""
    acc = resolve_account(connection, account)
    u = t.uploads.c
    connection.execute(
        delete(t.uploads).where(u.account_id == acc.id, u.created_at < now - UPLOAD_LIFETIME)
    )
    upload_id = connection.execute(
        insert(t.uploads)
        .values(account_id=acc.id, name=Path(name).name, content=content, created_at=now)
        .returning(u.id)
    ).scalar_one()
    return Upload(int(upload_id), Path(name).name, content, now)


def get_upload(connection: Connection, account: AccountRef, upload_id: int) -> Upload:
    """``account``'s upload ``upload_id``; another account's is not found, as a missing one."""
    acc = resolve_account(connection, account)
    u = t.uploads.c
    row = connection.execute(
        select(u.id, u.name, u.content, u.created_at).where(
            u.id == upload_id, u.account_id == acc.id
        )
    ).one_or_none()
    if row is None:
        raise NotFound("upload", upload_id)
    return Upload(int(row.id), row.name, bytes(row.content), row.created_at)


def take_upload(connection: Connection, account: AccountRef, upload_id: int) -> Upload:
    """``account``'s upload ``upload_id``, deleted in the caller's transaction (the import
    job that takes its content commits with the deletion)."""
    upload = get_upload(connection, account, upload_id)
    connection.execute(delete(t.uploads).where(t.uploads.c.id == upload.id))
    return upload
