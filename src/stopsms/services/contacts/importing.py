"""The contact import use case: a CSV or Excel file into an account's contacts, all or nothing.

``import_contacts(connection, account, path, options)`` runs inside the caller's transaction:

1. the file is opened and its columns recognised before anything is written — a file that
   cannot be read (missing, empty, binary, corrupt, no phone column…) raises
   :class:`~stopsms.errors.UnreadableFile` and changes nothing;
2. numbers are normalised in bulk (default region ``FR``), rejected rows written to the
   reject report with their line and reason, duplicates merged — within the file and against
   the account's contacts — by one of two paths with the same results, which
   :func:`import_contacts` chooses itself (the fastest that is exact for the file):

   - the **columnar path** (a CSV file into SQLite, read by Arrow exactly as the csv module
     reads it: :mod:`~stopsms.imports.arrow_csv`): the whole file parsed column-wise
     (:mod:`~stopsms.services.contacts.columns`, half of the numbers by a forked worker), then
     staged part by part in a thread (:mod:`~stopsms.store.staging`) while this thread
     merges the previous part into the database with ``INSERT … SELECT``;
   - a CSV file over 64 MiB is **streamed** (:mod:`~stopsms.services.contacts.streaming`):
     batches spilled to disk by range of numbers, each range merged as above — batches
     read by Arrow, or by the csv module when Arrow cannot read the file exactly (ragged
     rows, a line break inside quotes, CP1252…): memory bounded by the batch, not the file;
   - the **row path** (anything else): rows streamed in chunks (50,000 by default), each
     chunk upserted set-based (:mod:`~stopsms.services.contacts.writers`);
3. with ``consent`` a ledger entry per number is appended (evidence: file, its SHA-256,
   line); with ``list_name`` every contact of the file joins the list.

Merge rule for a number already in the account: non-empty values of the file's row replace
stored ones, empty cells never erase, custom fields merge key by key.
Counting: ``rows = imported + updated + duplicates + rejected`` (blank lines aside), where
``imported`` are new contacts, ``updated`` existing contacts of the account the file touched,
and ``duplicates`` rows whose number appeared earlier in the same file. Within the file a
number's last row wins whole; the summary says how many numbers had several rows and which
lines were superseded (by which line), and the reject report lists them after the rejected
rows (reason ``superseded``), the same on both paths.

The reject report is moved into place when the import succeeded (at the end of the call, the
caller then commits); a failed import leaves none, nor does a failed commit when the import
runs through :func:`import_contacts_committed`.
"""

from __future__ import annotations

import gc
import hashlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import phonenumbers
from sqlalchemy import Connection, func, select

from stopsms.domain.phone import normalise, normalise_many
from stopsms.errors import InvalidInput, UnreadableFile
from stopsms.imports.columns import ColumnError, ColumnPlan, headerless_plan, recognise
from stopsms.imports.reader import Chunk, CsvTable, Table, open_table
from stopsms.imports.rejects import RejectReport, default_report_path
from stopsms.services.accounts.accounts import Account, AccountRef, get_account
from stopsms.services.contacts.contacts import ensure_list
from stopsms.services.contacts.pipeline import (
    PARALLEL_MIN_BYTES,
    forked_normaliser,
    parallel_available,
    parallel_batches,
    serial_batches,
    staged_parts,
)
from stopsms.services.contacts.rows import ContactRows
from stopsms.services.contacts.writers import (
    ConsentRequest,
    ContactWriter,
    PostgresWriter,
    SqliteStagedWriter,
    contact_writer,
)
from stopsms.store import tables as t

if TYPE_CHECKING:
    import pyarrow as pa

    from stopsms.imports.arrow_csv import ArrowRows, ArrowStream
    from stopsms.services.contacts.streaming import Spilled

__all__ = [
    "CONSENT_CHOICES",
    "ImportOptions",
    "ImportSummary",
    "Progress",
    "Superseded",
    "Transactions",
    "import_contacts",
    "import_contacts_committed",
]

#: What ``consent`` accepts, and the ledger kind each means.
CONSENT_CHOICES = {"opt-in": "opt_in", "opt_in": "opt_in", "customer": "customer"}
DEFAULT_CHUNK_ROWS = 50_000
#: The columnar path stages a file's contacts in at most this many parts (each a staging
#: file, which stays attached until the transaction ends: SQLite attaches ten at most) of at
#: least ``_MIN_PART_ROWS`` contacts.
_MAX_PARTS = 8
_MIN_PART_ROWS = 20_000
#: From this many rows, a forked worker normalises half of the phone column.
_SPLIT_MIN_ROWS = 200_000
#: SQLite page cache during an import (per connection, restored after): the unique index of
#: a million contacts then stays in memory.
_SQLITE_IMPORT_CACHE_KIB = 262_144
#: The same for the columnar path, which fills the B-trees in number order.
_SQLITE_COLUMNAR_CACHE_KIB = 16_384

#: ``progress(done, total)`` in the file's unit (bytes of a CSV, rows of a workbook).
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ImportOptions:
    """How to read and what to record (the CLI options of ``contacts import``)."""

    list_name: str | None = None
    consent: str | None = None  # "opt-in" / "opt_in" / "customer"
    consent_source: str | None = None
    overrides: Mapping[str, str] = field(
        default_factory=dict
    )  # column → field, e.g. {'GSM client': 'phone'}
    delimiter: str | None = None
    encoding: str | None = None
    region: str = "FR"
    rejects_path: Path | None = None
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    #: Parse in a forked worker while writing: ``None`` decides (files of 16 MiB or more,
    #: with a second, idle CPU and ``fork``), ``False`` never, ``True`` whenever possible.
    #: (Row path only.)
    parallel: bool | None = None


@dataclass(frozen=True, slots=True)
class Superseded:
    """A row of the file that a later row of the same number replaced whole (``by_line``:
    that number's last row, the one the contact keeps)."""

    line: int
    by_line: int


@dataclass(frozen=True)
class ImportSummary:
    """What an import did; ``rows = imported + updated + duplicates + rejected``."""

    file: str
    account: str
    format: str
    encoding: str | None
    delimiter: str | None
    columns: dict[str, str]
    notes: list[str]
    rows: int
    imported: int
    updated: int
    duplicates: int
    rejected: int
    rejected_by_reason: dict[str, int]
    blank_lines: int
    rejects_path: str | None
    list_name: str | None
    consent: str | None
    consents_recorded: int
    seconds: float
    #: Whether the columnar path read it (Arrow, staging files); else the row reader (the
    #: csv module; a CSV file over 64 MiB then goes through the stream's spill all the same).
    columnar: bool = False
    #: With a list: how many members it has after the import (all of them, not only this
    #: file's), and how many this import added.
    list_members: int = 0
    list_added: int = 0
    #: How many numbers had several rows in the file, and every row superseded by its
    #: number's last row, in line order (``len(superseded) == duplicates``; the reject
    #: report lists them too).
    merged_numbers: int = 0
    superseded: list[Superseded] = field(default_factory=list)


class _ConsentAsked:
    """The consent an import records, checked at once; its evidence names the file's SHA-256,
    which a thread computes while the import reads the file (0.33 s of 60 MiB, on the
    import's path until then; ``hashlib`` leaves the GIL)."""

    def __init__(self, path: Path, kind: str, source: str) -> None:
        self._path = path
        self._kind = kind
        self._source = source
        self._hex: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="stopsms-import-digest")
        self._thread.daemon = True
        self._thread.start()

    def _run(self) -> None:
        try:
            self._hex = _digest(self._path)
        except BaseException as error:  # raised by request(), in the import's thread
            self._error = error

    def join(self) -> None:
        self._thread.join()

    def request(self) -> ConsentRequest:
        """The request, its evidence complete (waits for the digest)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._hex is not None
        return ConsentRequest(
            self._kind, self._source, f"{self._path.name} (sha256 {self._hex[:16]})"
        )


def _consent_asked(path: Path, options: ImportOptions) -> _ConsentAsked | None:
    if options.consent is None:
        return None
    kind = CONSENT_CHOICES.get(options.consent.strip().lower())
    if kind is None:
        raise InvalidInput("consent", options.consent, "one of opt-in, customer")
    source = (options.consent_source or "").strip() or f"import of {path.name}"
    return _ConsentAsked(path, kind, source)


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_region(region: str) -> str:
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput("region", region, "an ISO region code such as FR, BE, RE")
    return code


def _plan(table: Table, options: ImportOptions, region: str) -> tuple[ColumnPlan, Chunk | None]:
    """The column plan; for a file without a header, also its first row as data."""
    try:
        return recognise(table.header, options.overrides), None
    except ColumnError as error:
        if not options.overrides:
            for i, cell in enumerate(table.header):
                if cell.strip() and normalise(cell, region) is not None:
                    first = Chunk([table.header_line], [table.header])
                    return headerless_plan(len(table.header), i), first
        raise UnreadableFile(str(table.path), str(error), fix=error.fix) from None


def _parallel(path: Path, options: ImportOptions) -> bool:
    if options.parallel is None:
        large = path.stat().st_size >= PARALLEL_MIN_BYTES
        return large and parallel_available(idle_only=True)
    return options.parallel and parallel_available()


def _columnar(
    connection: Connection, table: Table, headerless: bool
) -> ArrowRows | ArrowStream | None:
    """The file's rows as Arrow columns when the columnar path can import it, else ``None``.

    That path is for CSV files that Arrow reads exactly as the csv module does
    (:mod:`stopsms.imports.arrow_csv`), into SQLite (through staging files attached to the
    connection: it needs a free attachment slot) or PostgreSQL (through ``COPY``).
    """
    if not isinstance(table, CsvTable):
        return None
    backend = connection.dialect.name
    if backend not in ("sqlite", "postgresql"):
        return None
    from stopsms.imports.arrow_csv import MAX_BYTES, read_columns, stream_columns

    if backend == "sqlite":
        from stopsms.store.staging import free_attach_slots

        if free_attach_slots(connection) < 1:
            return None
    if table.total_units is not None and table.total_units > MAX_BYTES:
        return stream_columns(table, include_header=headerless)
    return read_columns(table, include_header=headerless)


def _stage_slots(connection: Connection) -> int:
    """How many staging parts the columnar path may make (SQLite: its attachment slots)."""
    if connection.dialect.name != "sqlite":
        return _MAX_PARTS
    from stopsms.store.staging import free_attach_slots

    return max(1, min(_MAX_PARTS, free_attach_slots(connection)))


def _spill(
    stream: ArrowStream, parser: ContactRows, table: Table, slots: int, progress: Progress | None
) -> Spilled:
    """Pass 1 of a streamed file (:func:`~stopsms.services.contacts.streaming.spill`)."""
    from stopsms.services.contacts.streaming import spill

    normalise = (
        forked_normaliser(parser.region, parser.learn_reasons) if parallel_available() else None
    )
    total = table.total_units
    expected = max(1, int(stream.body_bytes * stream.rows_per_byte))

    def read(rows: int) -> None:
        if progress is not None and total is not None:
            progress(min(total // 2, total * rows // (2 * expected)), total)

    # The collector paused, as for the whole-file path (``_bulk_session``): the parser then
    # collects, after each batch's numbers, the cycles phonenumbers' errors leave — with the
    # collector on, some outlived their batch, and with them the batch's Arrow columns
    # (220 MiB held at 3,000,000 rows, measured).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return spill(stream, parser, normalise, least_parts=slots, progress=read)
    finally:
        if collecting:
            gc.enable()


def _streams_rows(connection: Connection, table: Table) -> bool:
    """Whether the row path's reader spills this file (:func:`_spill_rows`): a CSV file over
    :data:`~stopsms.imports.arrow_csv.MAX_BYTES` (as the stream: smaller files keep the row
    path and its speed) into a database the staged writers take (SQLite with an attachment
    slot free, or PostgreSQL)."""
    if not isinstance(table, CsvTable) or connection.dialect.name not in ("sqlite", "postgresql"):
        return False
    from stopsms.imports.arrow_csv import MAX_BYTES

    if table.total_units is None or table.total_units <= MAX_BYTES:
        return False
    if connection.dialect.name == "sqlite":
        from stopsms.store.staging import free_attach_slots

        return free_attach_slots(connection) >= 1
    return True


def _spill_rows(
    table: CsvTable,
    parser: ContactRows,
    first: Chunk | None,
    slots: int,
    progress: Progress | None,
) -> Spilled:
    """Pass 1 of a large file read by the csv module
    (:func:`~stopsms.services.contacts.streaming.spill_rows`); pass 2 is the stream's."""
    from stopsms.services.contacts.streaming import spill_rows

    normalise = (
        forked_normaliser(parser.region, parser.learn_reasons) if parallel_available() else None
    )
    total = table.total_units

    def read(rows: int) -> None:
        if progress is not None and total is not None:
            progress(min(total // 2, table.progress() // 2), total)

    collecting = gc.isenabled()
    gc.disable()  # as for the stream (:func:`_spill`)
    try:
        return spill_rows(table, parser, normalise, first, least_parts=slots, progress=read)
    finally:
        if collecting:
            gc.enable()


def _write_spilled(
    spilled: Spilled,
    writer: SqliteStagedWriter | PostgresWriter,
    slots: int,
    table: Table,
    progress: Progress | None,
) -> None:
    """Pass 2 of a streamed file: its ranges staged by a thread, merged here, in order.

    On SQLite consecutive ranges share a staging file (at most ``slots``: each stays
    attached until the transaction ends), written range after range from a stream of
    batches — one range in memory at a time; on PostgreSQL each range is one ``COPY``.
    """
    import pyarrow as pa

    from stopsms.services.contacts.columns import STAGED_SCHEMA

    if isinstance(writer, PostgresWriter):
        groups = [[index] for index in range(spilled.parts)]
    else:
        size = max(1, -(-spilled.parts // slots))
        groups = [
            list(range(start, min(start + size, spilled.parts)))
            for start in range(0, spilled.parts, size)
        ]

    def assemble(index: int) -> pa.Table | pa.RecordBatchReader:
        group = groups[index]
        if len(group) == 1:
            return spilled.stage(group[0])
        batches = (batch for i in group for batch in spilled.stage(i).to_batches())
        return pa.RecordBatchReader.from_batches(STAGED_SCHEMA, batches)

    total = table.total_units
    with (
        _stages(writer, assemble) as (stage, merge),
        closing(staged_parts(iter(range(len(groups))), stage)) as results,
    ):
        for done, result in enumerate(results, 1):
            merge(result)
            if progress is not None and total is not None:
                progress(total // 2 + total * done // (2 * len(groups)), total)
    spilled.record_counts()


def _write_columns(
    connection: Connection,
    rows: ArrowRows,
    parser: ContactRows,
    writer: SqliteStagedWriter | PostgresWriter,
    table: Table,
    progress: Progress | None,
) -> None:
    """The columnar path: the file's numbers, then its contacts staged and merged by range.

    Once every number is known, the file is cut into ranges of numbers; each range is merged,
    assembled and staged by a thread — a staging file for SQLite, CSV for PostgreSQL's
    ``COPY`` — while this one merges the previous range into the database
    (:func:`~stopsms.services.contacts.pipeline.staged_parts`).
    """
    from stopsms.services.contacts.columns import ContactColumns

    first = rows.first_line
    normalise = (
        forked_normaliser(parser.region, parser.learn_reasons)
        if rows.count >= _SPLIT_MIN_ROWS and parallel_available()
        else None
    )
    parts = max(1, min(_MAX_PARTS, rows.count // _MIN_PART_ROWS))
    if isinstance(writer, SqliteStagedWriter):
        from stopsms.store.staging import free_attach_slots

        parts = max(1, min(parts, free_attach_slots(connection)))
    staged = ContactColumns(parser).parse(
        rows.columns, range(first, first + rows.count), normalise, parts
    )
    parser.blank += rows.trailing_blank
    total = table.total_units
    if progress is not None and total is not None:
        progress(total // 2, total)  # parsed: the first half of the work
    distinct = 0

    def assemble(index: int) -> pa.Table:
        nonlocal distinct
        part = staged.part(index)
        distinct += part.num_rows
        return part

    with (
        _stages(writer, assemble) as (stage, merge),
        closing(staged_parts(iter(range(staged.parts)), stage)) as results,
    ):
        for done, result in enumerate(results, 1):
            merge(result)
            if progress is not None and total is not None:
                progress(total // 2 + total * done // (2 * staged.parts), total)
    staged.record_counts(distinct)


@contextmanager
def _stages(
    writer: SqliteStagedWriter | PostgresWriter,
    assemble: Callable[[int], pa.Table | pa.RecordBatchReader],
) -> Iterator[tuple[Callable[[int], Any], Callable[[Any], None]]]:
    """``(stage, merge)`` for the backend: what the thread makes of a part, and what this
    thread does with it (SQLite: a staging file, removed at the end; PostgreSQL: CSV)."""
    if isinstance(writer, PostgresWriter):
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        options = pa_csv.WriteOptions(include_header=False)

        def to_csv(index: int) -> bytes:
            sink = pa.BufferOutputStream()
            part = assemble(index)
            if isinstance(part, pa.RecordBatchReader):
                part = part.read_all()
            pa_csv.write_csv(part, sink, write_options=options)
            return bytes(sink.getvalue())

        yield to_csv, writer.write_csv
        return
    from stopsms.store.staging import write_staging

    directory = Path(tempfile.mkdtemp(prefix="stopsms-import-"))

    def to_file(index: int) -> Path:
        path = directory / f"part-{index}.db"
        write_staging(path, assemble(index))
        return path

    try:
        yield to_file, writer.write_staged
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _count(connection: Connection, account_id: int) -> int:
    c = t.contacts.c
    query = select(func.count(c.phone_e164)).where(c.account_id == account_id)
    return int(connection.execute(query).scalar_one())


def _list_size(connection: Connection, list_id: int | None) -> int:
    if list_id is None:
        return 0
    m = t.list_members.c
    query = select(func.count()).select_from(t.list_members).where(m.list_id == list_id)
    return int(connection.execute(query).scalar_one())


def import_contacts(
    connection: Connection,
    account: AccountRef,
    path: str | Path,
    options: ImportOptions | None = None,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    row_path: bool = False,
) -> ImportSummary:
    """Import the contacts of ``path`` into ``account`` (see the module doc).

    The one entry point of an import, whatever the file and the database: it takes the
    columnar path whenever that path gives exactly what the row path gives (a CSV file that
    Arrow reads as the csv module does, into PostgreSQL, or into SQLite with an attachment slot
    free), else the row path; :attr:`ImportSummary.columnar` says which ran. The caller does
    not choose: :class:`ImportOptions` holds what a user asks for (the file's reading, the
    list, the consent), and no interface offers a speed setting that could only be slower.

    ``row_path=True`` forces the row path. It is the reference the columnar path is checked
    against (the tests import one file both ways and compare contacts, counts and reject
    reports) and the baseline the benchmark measures; an interface never passes it.
    """
    started = time.perf_counter()
    options = options or ImportOptions()
    path = Path(path)
    region = _check_region(options.region)
    # The core's number patterns compile once per process (0.2-0.6 s): in a thread, while
    # the file is opened and read (Arrow's reader and the encoding scan leave the GIL).
    warm = threading.Thread(target=normalise_many, args=(["+33612345678"], region), daemon=True)
    warm.start()
    acc: Account = account if isinstance(account, Account) else get_account(connection, account)
    at = now or datetime.now(UTC)
    with open_table(path, delimiter=options.delimiter, encoding=options.encoding) as table:
        plan, first_rows = _plan(table, options, region)
        asked = _consent_asked(path, options)
        consent: ConsentRequest | None = None
        report = RejectReport(
            options.rejects_path or default_report_path(path), delimiter=table.delimiter or ";"
        )
        parser = ContactRows(plan, region, report, track_lines=asked is not None)
        try:
            list_id = (
                ensure_list(connection, acc, options.list_name, now=at)
                if options.list_name is not None  # "" is refused by name, not ignored
                else None
            )
            before = _count(connection, acc.id)
            members_before = _list_size(connection, list_id)
            columns = None if row_path else _columnar(connection, table, first_rows is not None)
            warm.join()
            spilled: Spilled | None = None
            if columns is not None:
                from stopsms.imports.arrow_csv import ArrowStream, NotExact  # loaded: columns
            if columns is not None and isinstance(columns, ArrowStream):
                try:
                    spilled = _spill(columns, parser, table, _stage_slots(connection), progress)
                except NotExact:
                    # Not the csv module's rows after all: read by the row path, afresh
                    # (nothing was written; the rejects reported so far are dropped).
                    report.discard()
                    report = RejectReport(report.path, delimiter=report.delimiter)
                    parser = ContactRows(plan, region, report, track_lines=asked is not None)
                    columns = None
            if columns is None and not row_path and _streams_rows(connection, table):
                assert isinstance(table, CsvTable)
                spilled = _spill_rows(table, parser, first_rows, _stage_slots(connection), progress)
            writer: ContactWriter | SqliteStagedWriter
            consent = asked.request() if asked is not None else None
            if columns is not None or spilled is not None:
                staged_writer = (
                    PostgresWriter(connection, acc.id, at, consent, list_id)
                    if connection.dialect.name == "postgresql"
                    else SqliteStagedWriter(connection, acc.id, at, consent, list_id)
                )
                writer = staged_writer
                # In number order the B-trees are only written at their right edge: a small
                # page cache, whose dirty pages go to the WAL as the import runs, commits
                # faster than a large one (a million contacts: 0.42-0.47 s against 0.67-1.04 s).
                with _bulk_session(connection, cache_kib=_SQLITE_COLUMNAR_CACHE_KIB):
                    if spilled is not None:
                        try:
                            _write_spilled(
                                spilled,
                                staged_writer,
                                _stage_slots(connection),
                                table,
                                progress,
                            )
                        finally:
                            spilled.close()
                    else:
                        assert columns is not None
                        assert not isinstance(columns, ArrowStream)
                        _write_columns(connection, columns, parser, staged_writer, table, progress)
            else:
                writer = contact_writer(connection, acc.id, at, consent, list_id)
                stream = parallel_batches if _parallel(path, options) else serial_batches
                with (
                    _bulk_session(connection),
                    closing(stream(table, parser, options.chunk_rows, first_rows)) as batches,
                ):
                    for batch, done in batches:
                        writer.write(batch)
                        if progress is not None:
                            progress(done, table.total_units)
            writer.finish()
            imported = (
                writer.inserted
                if writer.inserted is not None
                else _count(connection, acc.id) - before
            )
            members = _list_size(connection, list_id)
            rejects_path = report.commit()
        except BaseException:
            report.discard()
            raise
        finally:
            warm.join()
            if asked is not None:
                asked.join()
    return ImportSummary(
        file=str(path),
        account=acc.name,
        format=table.kind,
        encoding=table.encoding,
        delimiter=table.delimiter,
        columns=plan.describe(),
        notes=list(plan.notes),
        rows=parser.rows,
        imported=imported,
        updated=parser.distinct - imported,
        duplicates=parser.duplicates,
        rejected=len(report),
        rejected_by_reason=dict(report.counts),
        blank_lines=parser.blank,
        rejects_path=str(rejects_path) if rejects_path else None,
        list_name=options.list_name,
        consent=consent.kind if consent else None,
        consents_recorded=writer.consents,
        seconds=time.perf_counter() - started,
        columnar=columns is not None,
        list_members=members,
        list_added=members - members_before,
        merged_numbers=len(set(parser.superseded_by)),
        superseded=list(map(Superseded, parser.superseded_lines, parser.superseded_by)),
    )


class _bulk_session:  # noqa: N801 - used as a context manager, reads as one
    """Settings for the duration of an import's bulk work, restored afterwards.

    - the cyclic garbage collector is paused: a chunk allocates ~100,000 lists and tuples,
      each allocation counting towards a collection that would walk every live chunk again
      (it made the parse stage twice as slow). Each chunk is frozen once read and the
      parser collects the young generation (the cycles phonenumbers' error paths leave)
      itself, which costs milliseconds;
    - on SQLite, a 256 MiB page cache, so the unique index of a million contacts stays in
      memory while it is filled in file order (memory only: durability and locking are
      unchanged); 16 MiB for the columnar path, which fills it in number order.
    """

    def __init__(
        self, connection: Connection, *, cache_kib: int = _SQLITE_IMPORT_CACHE_KIB
    ) -> None:
        self._connection = connection
        self._cache_kib = cache_kib
        self._previous_cache: int | None = None
        self._collecting = gc.isenabled()

    def __enter__(self) -> None:
        gc.disable()
        if self._connection.dialect.name == "sqlite":
            cache = self._connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
            self._previous_cache = int(cache)
            self._connection.exec_driver_sql(f"PRAGMA cache_size=-{self._cache_kib}")

    def __exit__(self, *exc: object) -> None:
        if self._previous_cache is not None:
            self._connection.exec_driver_sql(f"PRAGMA cache_size={self._previous_cache}")
        gc.unfreeze()  # what serial_batches froze goes back under the collector's watch
        if self._collecting:
            gc.enable()


class Transactions(Protocol):
    """Opens a read-write transaction (``App.transaction``, ``Database.transaction``)."""

    def __call__(self, *, foreign_keys: bool = ...) -> AbstractContextManager[Connection]: ...


def import_contacts_committed(
    transaction: Transactions,
    account: AccountRef,
    path: str | Path,
    options: ImportOptions | None = None,
    *,
    progress: Progress | None = None,
) -> ImportSummary:
    """:func:`import_contacts` in a transaction of its own (``transaction()``, e.g.
    ``App.transaction``), committed. The reject report is put in place just before the commit:
    a commit that fails takes it back, so a failed import leaves no report behind.

    The transaction runs without SQLite's foreign-key checks (``foreign_keys=False``): every
    row the import writes names the account it read, the list it ensured, or a contact it
    has just inserted or updated, all under the write lock it holds to the end, and it
    removes nothing. Those checks were one lookup per ledger row and list membership: 0.8 s
    of 1,000,000 rows with ``--list --consent`` (in-process, interleaved, load 1.3-2.0).
    """
    summary: ImportSummary | None = None
    try:
        with transaction(foreign_keys=False) as connection:
            summary = import_contacts(connection, account, path, options, progress=progress)
    except BaseException:
        if summary is not None and summary.rejects_path:
            Path(summary.rejects_path).unlink(missing_ok=True)
        raise
    return summary
