"""Contacts and lists of an account: reading, exporting, lists (groups).

Importing lives in :mod:`stopsms.services.contacts.importing`, erasure (GDPR) in
:mod:`stopsms.services.contacts.erasure`. Every function takes a connection inside the caller's
transaction and an account reference; erased contacts (tombstones) are never listed or
exported.

Exports are CSV (UTF-8 with BOM, ``;`` by default, as a French Excel expects) or ``.xlsx``;
every text cell goes through :func:`~stopsms.imports.cells.neutralise`, since a contact's name
is someone else's input and must not become a formula in the marketer's spreadsheet.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, RowMapping, Select, func, insert, select
from sqlalchemy.exc import IntegrityError

from stopsms.errors import AlreadyExists, InvalidInput, NotFound
from stopsms.imports.cells import neutralise
from stopsms.services.accounts.accounts import Account, AccountRef, resolve_account
from stopsms.services.accounts.names import display_name
from stopsms.services.exports import CSV_DELIMITER, CSV_FILE_ENCODING
from stopsms.store import tables as t

__all__ = [
    "EXPORT_COLUMNS",
    "Contact",
    "ContactList",
    "count_contacts",
    "create_list",
    "ensure_list",
    "export_contacts",
    "iter_contacts",
    "list_contacts",
    "list_lists",
]

EXPORT_COLUMNS = (
    "phone",
    "region",
    "first_name",
    "last_name",
    "email",
    "company",
    "consent",
    "consent_at",
    "created_at",
    "updated_at",
)
_C = t.contacts.c


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    phone_e164: str
    region: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    company: str | None
    custom: dict[str, Any]
    consent: str | None
    consent_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ContactList:
    id: int
    name: str
    members: int
    created_at: datetime


def _contact(row: RowMapping) -> Contact:
    custom = row["custom"]
    if isinstance(custom, str):  # raw JSON text (written by an import's fast path)
        custom = json.loads(custom)
    return Contact(
        id=row["id"],
        phone_e164=row["phone_e164"],
        region=row["region"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        email=row["email"],
        company=row["company"],
        custom=dict(custom or {}),
        consent=row["consent"],
        consent_at=row["consent_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# -- lists ----------------------------------------------------------------------------------


def _check_list_name(name: str) -> str:
    return display_name("list name", name, limit=200)


def _list_id(connection: Connection, account_id: int, name: str) -> int | None:
    found = connection.execute(
        select(t.lists.c.id).where(t.lists.c.account_id == account_id, t.lists.c.name == name)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def create_list(
    connection: Connection, account: AccountRef, name: str, *, now: datetime | None = None
) -> ContactList:
    """Create an empty list; :class:`AlreadyExists` if the account has one of that name."""
    acc = resolve_account(connection, account)
    cleaned = _check_list_name(name)
    at = now or datetime.now(UTC)
    if _list_id(connection, acc.id, cleaned) is not None:
        raise AlreadyExists("list", cleaned)
    try:
        with connection.begin_nested():
            new_id = connection.execute(
                insert(t.lists)
                .values(account_id=acc.id, name=cleaned, created_at=at)
                .returning(t.lists.c.id)
            ).scalar_one()
    except IntegrityError:  # created concurrently
        raise AlreadyExists("list", cleaned) from None
    return ContactList(int(new_id), cleaned, 0, at)


def ensure_list(
    connection: Connection, account: AccountRef, name: str, *, now: datetime | None = None
) -> int:
    """The id of the account's list ``name``, created if missing."""
    acc = resolve_account(connection, account)
    cleaned = _check_list_name(name)
    found = _list_id(connection, acc.id, cleaned)
    if found is not None:
        return found
    try:
        return create_list(connection, acc, cleaned, now=now).id
    except AlreadyExists:  # pragma: no cover - lost a race with another import
        found = _list_id(connection, acc.id, cleaned)
        assert found is not None
        return found


def list_lists(connection: Connection, account: AccountRef) -> list[ContactList]:
    """The account's lists with their number of (non-erased) members, by name."""
    acc = resolve_account(connection, account)
    m = t.list_members.c
    members = (
        select(func.count())
        .select_from(t.list_members.join(t.contacts, _C.id == m.contact_id))
        .where(m.list_id == t.lists.c.id, _C.erased_at.is_(None))
        .scalar_subquery()
    )
    rows = connection.execute(
        select(t.lists.c.id, t.lists.c.name, members, t.lists.c.created_at)
        .where(t.lists.c.account_id == acc.id)
        .order_by(t.lists.c.name)
    ).all()
    return [ContactList(int(i), name, int(n), at) for i, name, n, at in rows]


# -- reading --------------------------------------------------------------------------------


def _selection(connection: Connection, acc: Account, list_name: str | None) -> Select[Any]:
    query = select(t.contacts).where(_C.account_id == acc.id, _C.erased_at.is_(None))
    if list_name is not None:
        list_id = _list_id(connection, acc.id, _check_list_name(list_name))
        if list_id is None:
            raise NotFound("list", list_name)
        m = t.list_members.c
        query = query.join(t.list_members, m.contact_id == _C.id).where(m.list_id == list_id)
    return query


def count_contacts(
    connection: Connection, account: AccountRef, *, list_name: str | None = None
) -> int:
    """How many (non-erased) contacts the account, or one of its lists, has."""
    acc = resolve_account(connection, account)
    query = _selection(connection, acc, list_name).with_only_columns(func.count(_C.id))
    return int(connection.execute(query).scalar_one())


def list_contacts(
    connection: Connection,
    account: AccountRef,
    *,
    list_name: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Contact]:
    """A page of the account's contacts (or a list's), oldest first."""
    acc = resolve_account(connection, account)
    query = _selection(connection, acc, list_name).order_by(_C.id).limit(limit).offset(offset)
    return [_contact(row) for row in connection.execute(query).mappings()]


def iter_contacts(
    connection: Connection, account: AccountRef, *, list_name: str | None = None
) -> Iterator[Contact]:
    """Every contact of the account (or a list), streamed in id order."""
    acc = resolve_account(connection, account)
    query = _selection(connection, acc, list_name).order_by(_C.id)
    result = connection.execution_options(yield_per=5000).execute(query)
    for row in result.mappings():
        yield _contact(row)


# -- export ---------------------------------------------------------------------------------


def _custom_keys(connection: Connection, acc: Account, list_name: str | None) -> list[str]:
    """Every custom field name in use, in order of first appearance (one column each)."""
    keys: dict[str, None] = {}
    query = _selection(connection, acc, list_name).with_only_columns(_C.custom)
    query = query.where(_C.custom.is_not(None)).order_by(_C.id)
    for (custom,) in connection.execution_options(yield_per=5000).execute(query):
        document = json.loads(custom) if isinstance(custom, str) else custom
        for key in document or {}:
            keys.setdefault(key, None)
    return list(keys)


def _cells(contact: Contact, custom_keys: Sequence[str]) -> list[str]:
    def text(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return value.isoformat(timespec="seconds")
        return neutralise(str(value))

    fixed = (
        contact.phone_e164,
        contact.region,
        contact.first_name,
        contact.last_name,
        contact.email,
        contact.company,
        contact.consent,
        contact.consent_at,
        contact.created_at,
        contact.updated_at,
    )
    return [text(v) for v in fixed] + [text(contact.custom.get(k)) for k in custom_keys]


def export_contacts(
    connection: Connection,
    account: AccountRef,
    output: Path | IO[str],
    *,
    format: str = "csv",
    list_name: str | None = None,
    delimiter: str = CSV_DELIMITER,
) -> int:
    """Write the account's contacts (or a list's) to ``output``; returns how many.

    ``format`` is ``csv`` (to a path or a text stream) or ``xlsx`` (to a path). Columns:
    :data:`EXPORT_COLUMNS`, then one per custom field.
    """
    acc = resolve_account(connection, account)
    if format not in ("csv", "xlsx"):
        raise InvalidInput("format", format, "csv or xlsx")
    keys = _custom_keys(connection, acc, list_name)
    header = [*EXPORT_COLUMNS, *keys]
    rows = (_cells(c, keys) for c in iter_contacts(connection, acc, list_name=list_name))
    if format == "xlsx":
        if not isinstance(output, Path):
            raise InvalidInput("output", output, "an .xlsx export needs a file path")
        return _write_xlsx(output, header, rows)
    if isinstance(output, Path):
        with output.open("w", encoding=CSV_FILE_ENCODING, newline="") as handle:
            return _write_csv(handle, header, rows, delimiter)
    return _write_csv(output, header, rows, delimiter)


def _write_csv(
    handle: IO[str], header: list[str], rows: Iterator[list[str]], delimiter: str
) -> int:
    writer = csv.writer(handle, delimiter=delimiter)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def _write_xlsx(path: Path, header: list[str], rows: Iterator[list[str]]) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("contacts")
    sheet.append(header)
    count = 0
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # text, never a formula or a number (keeps "+33…")
            cells.append(cell)
        sheet.append(cells)
        count += 1
    workbook.save(path)
    return count
