"""Writing import batches into ``contacts`` (and ``consents``), set-based, on each backend.

Both writers upsert on ``(account_id, phone_e164)`` with the same merge rule: over a contact
the account had before the import, a non-empty value of the file replaces the stored one, an
empty value never erases (``COALESCE``) and custom fields are merged key by key; over a contact
this import created (an earlier chunk of the same file had the number: ``id`` above the
account's largest before the import), the row replaces it whole — the last row of a number
wins whole, as inside a chunk; ``region`` follows the number; ``updated_at`` becomes the
import's timestamp (that is how the import finds its own rows afterwards, e.g. to fill a list).
With a consent request the contact's ``consent``/``consent_at`` are set in the same statement
— except over a ``withdrawn`` consent, which a bulk file does not override — and one ledger
row per number first seen in the file is appended, its evidence naming the file and the line.

- SQLite: ``executemany`` of one upsert whose constants (account, timestamps, consent) are
  literals of the statement — binding is most of the cost — over records sorted by number
  (the unique index is then filled in order).
- PostgreSQL: ``COPY`` of the whole file into a temporary table, ``ANALYZE`` of it, then once
  one ``UPDATE … FROM`` of the numbers the account had and one ``INSERT … SELECT`` of the
  others (each number once: the repeats across chunks merged first, the last row whole), the
  ledger and the list by one ``INSERT … SELECT`` each, and ``ANALYZE`` of the tables written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from itertools import compress
from operator import itemgetter, not_
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection

from stopsms.services.contacts.rows import ContactBatch, ContactRecord
from stopsms.store import tables as t
from stopsms.store.bulk import parents_held
from stopsms.store.statistics import analyze_written

__all__ = [
    "ConsentRequest",
    "ContactWriter",
    "PostgresWriter",
    "SqliteStagedWriter",
    "contact_writer",
]

_FIELDS = ("first_name", "last_name", "email", "company")
_STAGING = "stopsms_import_rows"
_number = itemgetter(0)


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """Record ``kind`` consent for every imported contact (rule 6)."""

    kind: str  # opt_in | customer
    source: str
    evidence: str  # "clients.csv (sha256 1a2b…)"; " line N" is appended per contact


class ContactWriter(Protocol):
    """Writes the batches of one import inside the caller's transaction.

    ``inserted`` counts the contacts created, where the backend tells (PostgreSQL); ``None``
    where the caller must count (SQLite, whose write lock makes a before/after count exact).
    """

    consents: int
    inserted: int | None

    def write(self, batch: ContactBatch) -> None: ...

    def finish(self) -> None:
        """Write what the batches left staged (after the last batch, before the counts)."""


def contact_writer(
    connection: Connection,
    account_id: int,
    now: datetime,
    consent: ConsentRequest | None,
    list_id: int | None = None,
) -> ContactWriter:
    """The fastest writer for the connection's backend (``list_id``: where it fills lists)."""
    if connection.dialect.name == "postgresql":
        return PostgresWriter(connection, account_id, now, consent, list_id)
    return SqliteWriter(connection, account_id, now, consent, list_id)


def _stored(connection: Connection, value: datetime) -> Any:
    """``value`` as the driver receives it for a UTCDateTime column (raw statements)."""
    # dialect_impl: the TypeDecorator's own bind_processor skips the dialect's DATETIME
    # formatting (it would hand sqlite3 a datetime, stored without ".000000").
    column_type = t.contacts.c.updated_at.type.dialect_impl(connection.dialect)
    processor = column_type.bind_processor(connection.dialect)
    return processor(value) if processor is not None else value


def _literal(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _last_contact_id(connection: Connection) -> int:
    """The largest contact id before the import: contacts above it are the import's own."""
    found = connection.exec_driver_sql("SELECT max(id) FROM contacts").scalar()
    return int(found or 0)


def _sqlite_upsert_parts(
    account: str, stamp: str, consent: ConsentRequest | None, cells: list[str], base: int = 0
) -> tuple[list[str], list[str], list[str]]:
    """``(columns, values, merge)`` of the SQLite contact upsert.

    ``cells`` are the SQL of the phone, region, four text fields and custom JSON (parameters
    or a staged row's columns); ``merge`` is the ``DO UPDATE SET`` list: non-empty values
    replace, empty ones keep, custom fields merge key by key, a withdrawn consent stays.
    """
    names = ["account_id", "phone_e164", "region", *_FIELDS, "custom"]
    values = [account, *cells]
    own = f"contacts.id > {base}"  # created by this import: the later row wins whole
    merge = [
        "region = excluded.region",
        *(
            f"{f} = CASE WHEN {own} THEN excluded.{f} ELSE COALESCE(excluded.{f}, contacts.{f}) END"
            for f in _FIELDS
        ),
        f"custom = CASE WHEN {own} THEN excluded.custom"
        " WHEN excluded.custom IS NULL THEN contacts.custom"
        " WHEN contacts.custom IS NULL THEN excluded.custom"
        " ELSE json_patch(contacts.custom, excluded.custom) END",
        "updated_at = excluded.updated_at",
    ]
    if consent is not None:
        names += ["consent", "consent_at"]
        values += [_literal(consent.kind), stamp]
        kept = "contacts.consent = 'withdrawn'"
        merge += [
            f"consent = CASE WHEN {kept} THEN contacts.consent ELSE excluded.consent END",
            f"consent_at = CASE WHEN {kept} THEN contacts.consent_at ELSE excluded.consent_at END",
        ]
    names += ["created_at", "updated_at"]
    values += [stamp, stamp]
    return names, values, merge


class _SqliteWriting:
    """What both SQLite writers hold: the transaction's connection and the import's constants
    (account, timestamp) as SQL literals — binding them for every row is most of the cost."""

    def __init__(
        self,
        connection: Connection,
        account_id: int,
        now: datetime,
        consent: ConsentRequest | None,
        list_id: int | None = None,
    ) -> None:
        self._connection = connection
        self._consent = consent
        self._list_id = list_id
        self.consents = 0
        self.inserted: int | None = None
        self._stamp = _literal(_stored(connection, now))
        self._account = _literal(account_id)
        self._base = _last_contact_id(connection)

    def finish(self) -> None:
        """Nothing left: every batch is written as it comes."""


class SqliteWriter(_SqliteWriting):
    """Plain ``INSERT`` of the numbers new to the account, upserts for the others.

    Which numbers are new: those first seen in the file by this chunk, less those one lookup
    finds through the unique index (none when the account had no contacts: then every
    number new to the file is inserted without a lookup). A plain ``INSERT`` gives the new
    rows consecutive ids (checked: ``last_insert_rowid() - max(id) before`` equals their
    count), so their ledger rows and list memberships are ``INSERT … SELECT`` over that id
    range, with no join back through the unique index.
    """

    def __init__(
        self,
        connection: Connection,
        account_id: int,
        now: datetime,
        consent: ConsentRequest | None,
        list_id: int | None = None,
    ) -> None:
        super().__init__(connection, account_id, now, consent, list_id)
        self.inserted = 0
        stamp, account = self._stamp, self._account
        self._empty = (
            connection.exec_driver_sql(
                "SELECT 1 FROM contacts WHERE account_id = ? AND phone_e164 IS NOT NULL LIMIT 1",
                (account_id,),
            ).first()
            is None
        )
        cells = ["?", "?", *("NULLIF(?, '')" for _ in _FIELDS), "?"]
        names, values, merge = _sqlite_upsert_parts(account, stamp, consent, cells, self._base)
        if consent is not None:
            kind = _literal(consent.kind)
            head = (
                "INSERT INTO consents (account_id, contact_id, kind, source, evidence,"
                f" recorded_at) SELECT {account}, "
            )
            evidence = _literal(consent.evidence + " line ")
            # Numbers the account had: one statement per chunk over a JSON array of
            # [number, line]; CROSS JOIN keeps the array outside, each number found through
            # the unique index.
            self._ledger = (
                f"{head}c.id, {kind}, {_literal(consent.source)},"
                f" {evidence} || json_extract(j.value, '$[1]'),"
                f" {stamp} FROM json_each(?) AS j CROSS JOIN contacts AS c"
                f" WHERE c.account_id = {account}"
                " AND c.phone_e164 = json_extract(j.value, '$[0]')"
                f" AND c.consent = {kind}"
            )
            # New contacts: ids first + 0, first + 1…, lines a JSON array in the same order.
            self._ledger_new = (
                f"{head}? + j.key, {kind}, {_literal(consent.source)}, {evidence} || j.value,"
                f" {stamp} FROM json_each(?) AS j"
            )
        self._insert = f"INSERT INTO contacts ({', '.join(names)}) VALUES ({', '.join(values)})"
        self._upsert = (
            f"{self._insert} ON CONFLICT (account_id, phone_e164) DO UPDATE SET {', '.join(merge)}"
        )
        self._lookup = (
            "SELECT c.phone_e164 FROM json_each(?) AS j CROSS JOIN contacts AS c"
            f" WHERE c.account_id = {account} AND c.phone_e164 = j.value"
        )
        if list_id is not None:
            members = f"INSERT OR IGNORE INTO list_members (list_id, contact_id) SELECT {list_id}, "
            self._members_new = f"{members}id FROM contacts WHERE id BETWEEN ? AND ?"
            self._members = (
                f"{members}c.id FROM json_each(?) AS j CROSS JOIN contacts AS c"
                f" WHERE c.account_id = {account} AND c.phone_e164 = j.value"
            )

    def write(self, batch: ContactBatch) -> None:
        records, repeated = batch.records, batch.repeated
        fresh, known = records, []
        if repeated:
            again = list(map(repeated.__contains__, map(_number, records)))
            known = list(compress(records, again))
            fresh = list(compress(records, map(not_, again)))
        cursor = self._connection.connection.cursor()
        try:
            stored: list[str] = []
            if fresh and not self._empty:
                cursor.execute(self._lookup, (json.dumps([r[0] for r in fresh]),))
                stored = [row[0] for row in cursor.fetchall()]
                if stored:
                    found = set(stored)
                    known = sorted([*known, *(r for r in fresh if r[0] in found)], key=_number)
                    fresh = [r for r in fresh if r[0] not in found]
            if known:
                self._many(cursor, self._upsert, known)
            if fresh:
                self._insert_fresh(cursor, fresh, batch, stored)
            if stored:
                self._touch_stored(cursor, stored, batch)
        finally:
            cursor.close()

    def _many(self, cursor: Any, statement: str, records: list[ContactRecord]) -> None:
        if self._consent is None:
            cursor.executemany(statement, records)
            return
        # The consent CHECK (``consent IN (…)``) builds its IN table again for every row of
        # an executemany: 2 µs a row, as much as the insert itself. The consent written is a
        # literal of the statement (a kind of CONSENT_CHOICES), so the check is lifted for
        # this one call; the ledger statements keep theirs.
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        try:
            cursor.executemany(statement, records)
        finally:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")

    def _insert_fresh(
        self, cursor: Any, fresh: list[ContactRecord], batch: ContactBatch, stored: list[str]
    ) -> None:
        base = cursor.execute("SELECT max(id) FROM contacts").fetchone()[0] or 0
        self._many(cursor, self._insert, fresh)
        last = cursor.execute("SELECT last_insert_rowid()").fetchone()[0]
        self.inserted = (self.inserted or 0) + len(fresh)
        if last - base != len(fresh):  # pragma: no cover - ids not consecutive: by number
            stored.extend(r[0] for r in fresh)
            return
        if self._consent is not None and batch.first_seen:
            line = dict(batch.first_seen)
            lines = json.dumps([line[r[0]] for r in fresh])
            cursor.execute(self._ledger_new, (base + 1, lines))
            self.consents += cursor.rowcount
        if self._list_id is not None:
            cursor.execute(self._members_new, (base + 1, last))

    def _touch_stored(self, cursor: Any, stored: list[str], batch: ContactBatch) -> None:
        """Ledger rows and list memberships of the numbers the account already had."""
        if self._consent is not None and batch.first_seen:
            found = set(stored)
            pairs = [pair for pair in batch.first_seen if pair[0] in found]
            cursor.execute(self._ledger, (json.dumps(pairs),))
            self.consents += cursor.rowcount
        if self._list_id is not None:
            cursor.execute(self._members, (json.dumps(stored),))


class PostgresWriter:
    r"""``COPY`` of every batch into one staging table, then set-based merges once, at the end.

    The whole file is staged first (a temporary table: no WAL, dropped at commit), then
    ``ANALYZE``\ d, so the planner knows both sides of every join: merging chunk by chunk
    over tables it has no statistics for made it pick nested loops over unindexed rows
    (1,000,000 rows with ``--consent`` still running after 20 minutes). :meth:`finish` then
    writes, one statement each: the update of the numbers the account had, the insert of the
    others, the consent ledger, the list — and ``ANALYZE`` of what it wrote (a bulk write:
    :mod:`stopsms.store.statistics`), so the ledger's join and what follows the import (a
    preview, a preparation) are planned on the real sizes.
    Numbers repeated across row-path chunks are merged in SQL first: the last row wins
    whole, the ledger's line is the number's first.
    """

    def __init__(
        self,
        connection: Connection,
        account_id: int,
        now: datetime,
        consent: ConsentRequest | None,
        list_id: int | None = None,
    ) -> None:
        raw = connection.connection.driver_connection
        assert raw is not None
        self._connection = connection
        self._raw: Any = raw
        self._consent = consent
        self._list_id = list_id
        self._constants: dict[str, Any] = {"account": account_id, "now": now, "list": list_id}
        if consent is not None:
            self._constants.update(
                kind=consent.kind, source=consent.source, evidence=consent.evidence + " line "
            )
        self.consents = 0
        self.inserted: int | None = 0
        self._repeated = False
        with raw.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} (phone_e164 text, region text,"
                " first_name text, last_name text, email text, company text, custom text,"
                " line integer, seq bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP"
            )
            cursor.execute(f"TRUNCATE {_STAGING}")

    def write(self, batch: ContactBatch) -> None:
        """Stage one batch of the row path (merged by :meth:`finish`)."""
        first = dict(batch.first_seen)
        self._repeated = self._repeated or bool(batch.repeated)
        with (
            self._raw.cursor() as cursor,
            cursor.copy(f"COPY {_STAGING} ({_STAGED_COLUMNS}) FROM STDIN") as copy,
        ):
            write = copy.write_row
            get = first.get
            for record in batch.records:
                write((*record, get(record[0], 0)))

    def write_csv(self, rows: bytes) -> None:
        """Stage CSV rows in the staging table's column order (the columnar path's parts:
        :data:`~stopsms.services.contacts.columns.STAGED_SCHEMA`, written by Arrow, a
        ``line`` for the rows that are a number's first in the file; a number is in one
        part only)."""
        with (
            self._raw.cursor() as cursor,
            cursor.copy(f"COPY {_STAGING} ({_STAGED_COLUMNS}) FROM STDIN (FORMAT csv)") as copy,
        ):
            copy.write(rows)

    def finish(self) -> None:
        """Merge what was staged into the account's contacts, ledger and list.

        The merges run with the account and the list locked once instead of a foreign-key
        check per row where the role may (:func:`~stopsms.store.bulk.parents_held`): every
        ledger row and membership names a contact these statements just inserted or updated
        (locked by this transaction until it ends), or one they lock as they read it.
        """
        parents = [("accounts", self._constants["account"]), ("lists", self._list_id)]
        with parents_held(self._connection, parents) as held, self._raw.cursor() as cursor:
            source = _STAGING
            if self._repeated:
                source = _MERGED
                # An earlier import in the same transaction may have left it (dropped at commit).
                cursor.execute(f"DROP TABLE IF EXISTS {_MERGED}")
                cursor.execute(_merge_repeats())
            cursor.execute(f"ANALYZE {source}")
            statements = _merges(
                source, self._consent is not None, self._list_id is not None, lock=held
            )
            cursor.execute(statements.update, self._constants)
            updated = cursor.rowcount
            cursor.execute(statements.insert, self._constants)
            self.inserted = cursor.rowcount
            written = {"contacts": updated + cursor.rowcount}
            analyze_written(self._connection, written["contacts"], "contacts")
            if statements.ledger is not None:
                cursor.execute(statements.ledger, self._constants)
                self.consents = written["consents"] = cursor.rowcount
            if statements.members is not None:
                cursor.execute(statements.members, self._constants)
                written["list_members"] = cursor.rowcount
        for table, rows in written.items():
            if table != "contacts":
                analyze_written(self._connection, rows, table)


_STAGED_COLUMNS = "phone_e164, region, first_name, last_name, email, company, custom, line"
_MERGED = "stopsms_import_merged"


def _merge_repeats() -> str:
    """The staged rows, one per number: its last row whole, the line of its first."""
    return (
        f"CREATE TEMPORARY TABLE {_MERGED} ON COMMIT DROP AS SELECT DISTINCT ON (phone_e164)"
        f" {_STAGED_COLUMNS.removesuffix(', line')},"
        " max(line) OVER (PARTITION BY phone_e164) AS line"
        f" FROM {_STAGING} ORDER BY phone_e164, seq DESC"
    )


@dataclass(frozen=True, slots=True)
class _PostgresMerges:
    update: str
    insert: str
    ledger: str | None
    members: str | None


def _merges(source: str, consent: bool, listed: bool, *, lock: bool = False) -> _PostgresMerges:
    """The statements of :meth:`PostgresWriter.finish` over ``source`` (one row a number).

    ``lock``: the ledger and the list lock each contact they name ``FOR KEY SHARE`` (what
    the skipped foreign-key checks did). Nearly all are this import's own rows, locked
    already; the lock covers a contact of the number that another transaction committed
    between this import's update and insert (the insert then skips it).

    Update what exists, then insert the rest: twice as fast as ``INSERT … ON CONFLICT``
    (speculative insertion) into an empty account, and the insert's row count is the exact
    number of new contacts. A number inserted by a concurrent import between the two
    statements fails this import on the unique index (nothing half-done); the list the same.
    """
    names = ["account_id", "phone_e164", "region", *_FIELDS, "custom"]
    values = [
        "%(account)s",
        "s.phone_e164",
        "s.region",
        *(f"NULLIF(s.{f}, '')" for f in _FIELDS),
        "s.custom::jsonb",
    ]
    changes = [
        "region = s.region",
        *(f"{f} = COALESCE(NULLIF(s.{f}, ''), c.{f})" for f in _FIELDS),
        "custom = CASE WHEN s.custom IS NULL THEN c.custom"
        " ELSE COALESCE(c.custom, '{}'::jsonb) || s.custom::jsonb END",
        "updated_at = %(now)s",
    ]
    if consent:
        names += ["consent", "consent_at"]
        values += ["%(kind)s::text", "%(now)s"]
        kept = "c.consent = 'withdrawn'"
        changes += [
            f"consent = CASE WHEN {kept} THEN c.consent ELSE %(kind)s::text END",
            f"consent_at = CASE WHEN {kept} THEN c.consent_at ELSE %(now)s END",
        ]
    names += ["created_at", "updated_at"]
    values += ["%(now)s", "%(now)s"]
    same = "c.account_id = %(account)s AND c.phone_e164 = s.phone_e164"
    joined = f"{source} s JOIN contacts c ON {same}"
    locked = " FOR KEY SHARE OF c" if lock else ""
    return _PostgresMerges(
        update=f"UPDATE contacts AS c SET {', '.join(changes)} FROM {source} s WHERE {same}",
        insert=(
            f"INSERT INTO contacts ({', '.join(names)}) SELECT {', '.join(values)}"
            f" FROM {source} s WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE {same})"
        ),
        ledger=(
            "INSERT INTO consents (account_id, contact_id, kind, source, evidence, recorded_at)"
            " SELECT %(account)s, c.id, %(kind)s::text, %(source)s::text,"
            f" %(evidence)s::text || s.line::text, %(now)s FROM {joined}"
            " WHERE s.line > 0 AND c.consent = %(kind)s::text" + locked
            if consent
            else None
        ),
        members=(
            "INSERT INTO list_members (list_id, contact_id) SELECT %(list)s, c.id"
            f" FROM {joined} WHERE NOT EXISTS (SELECT 1 FROM list_members m"
            " WHERE m.list_id = %(list)s AND m.contact_id = c.id)" + locked
            if listed
            else None
        ),
    )


class SqliteStagedWriter(_SqliteWriting):
    """Upserts the contacts of staging files (:mod:`stopsms.store.staging`), one statement each.

    A staging file holds a range of the file's contacts in number order, as
    :data:`~stopsms.services.contacts.columns.STAGED_SCHEMA`; it is attached to the import's
    connection and read in that order by ``INSERT … SELECT … ON CONFLICT DO UPDATE`` (the
    same merge as :class:`SqliteWriter`'s upsert), then the consent ledger (``line`` set) and
    the list, ``INSERT … SELECT`` each. No row crosses Python. ``inserted`` counts the new
    contacts (the ids each statement added), ``None`` until a file is merged.
    """

    def write_staged(self, path: Path) -> None:
        """Merge the staging file ``path`` into the account's contacts (then unlink it)."""
        from stopsms.store.staging import STAGED_TABLE, attach

        name = attach(self._connection, path)
        path.unlink()  # the attached handle keeps it readable until the pool detaches it
        source = f"{name}.{STAGED_TABLE}"
        account, stamp = self._account, self._stamp
        cells = ["s.phone", "s.region", *(f"NULLIF(s.{f}, '')" for f in _FIELDS), "s.custom"]
        names, values, merge = _sqlite_upsert_parts(
            account, stamp, self._consent, cells, self._base
        )
        tracked = self._consent is not None or self._list_id is not None
        base = self._last_id()
        # WHERE true: SQLite's parser would read the ON of ON CONFLICT as a join constraint.
        self._connection.exec_driver_sql(
            f"INSERT INTO contacts ({', '.join(names)}) SELECT {', '.join(values)}"
            f" FROM {source} AS s WHERE true ORDER BY s.rowid"
            f" ON CONFLICT (account_id, phone_e164) DO UPDATE SET {', '.join(merge)}"
        )
        # New rows get the largest id plus one, under the write lock: the ids the statement
        # added are its new contacts (counting the account's contacts again afterwards read
        # its 940,000 index entries back: 0.09 s).
        added = self._last_id() - base
        self.inserted = (self.inserted or 0) + added
        if not tracked:
            return
        staged = self._connection.exec_driver_sql(f"SELECT count(*) FROM {source}").scalar_one()
        kind = _literal(self._consent.kind) if self._consent is not None else ""
        if added == staged:
            # Every staged number was new: inserted in staged order, the contact of staged row
            # r got id base + r (SQLite gives each new row the largest id plus one) — the
            # ledger and the list are then written without looking the numbers up again.
            ids, rows = f"{base} + s.rowid", f"{source} AS s"
            ledger_rows, list_rows = "s.line IS NOT NULL", "true"
        else:
            # CROSS JOIN: the staged rows outside, each number found through the unique index.
            ids, rows = "c.id", f"{source} AS s CROSS JOIN contacts AS c"
            list_rows = f"c.account_id = {account} AND c.phone_e164 = s.phone"
            ledger_rows = f"s.line IS NOT NULL AND {list_rows} AND c.consent = {kind}"
        if self._consent is not None:
            evidence = _literal(self._consent.evidence + " line ")
            result = self._connection.exec_driver_sql(
                "INSERT INTO consents (account_id, contact_id, kind, source, evidence,"
                f" recorded_at) SELECT {account}, {ids}, {kind}, {_literal(self._consent.source)},"
                f" {evidence} || s.line, {stamp} FROM {rows} WHERE {ledger_rows}"
            )
            self.consents += result.rowcount
        if self._list_id is not None:
            self._connection.exec_driver_sql(
                "INSERT OR IGNORE INTO list_members (list_id, contact_id)"
                f" SELECT {self._list_id}, {ids} FROM {rows} WHERE {list_rows}"
            )

    def _last_id(self) -> int:
        found = self._connection.exec_driver_sql("SELECT max(id) FROM contacts").scalar()
        return int(found or 0)
