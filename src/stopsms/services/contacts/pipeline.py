"""Running an import's work side by side: the machine has two CPUs, Python one per process.

The row path — :func:`parallel_batches`: a forked worker parses, this process writes.

Parsing (CSV, normalisation, merging) and writing (SQLite's B-trees, or feeding ``COPY``) each
take about half of a large import and each needs a CPU; one Python process runs one at a
time. :func:`parallel_batches` forks a worker that takes over the rest of the file (its open
handle is inherited) and sends each chunk's batch through a pipe while this process writes
the previous one; the pipe's buffer bounds what is in flight to about one batch.

The worker never touches the database connection it inherited (it ends with ``os._exit``,
so nothing of the parent's is closed or flushed twice), writes rejected rows to the same
temporary report (the superseded rows at the end), and sends its counts and the superseded
lines at the end. Any error it meets — an unreadable line half-way through the file
included — comes back here and is raised before the caller's transaction commits, so an
import stays all or nothing.

:func:`serial_batches` is the same stream without a worker (small files, one CPU, or a
platform without ``fork``).

The columnar path — :func:`forked_normaliser`: a forked worker normalises half of the phone
column while this process does the other half; :func:`staged_parts`: a thread stages the
next range of contacts (Arrow, the ADBC driver) while this thread merges the previous one
into the database, both mostly outside the GIL.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import threading
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from itertools import chain
from multiprocessing.connection import Connection as Pipe
from typing import Any

from stopsms.domain.phone import normalise_many
from stopsms.errors import UnreadableFile
from stopsms.imports.reader import Chunk, Table
from stopsms.services.contacts.rows import ContactBatch, ContactRows, why_invalid

__all__ = [
    "PARALLEL_MIN_BYTES",
    "forked_normaliser",
    "parallel_available",
    "parallel_batches",
    "serial_batches",
    "staged_parts",
]

#: Below this size a worker costs more than it saves.
PARALLEL_MIN_BYTES = 16 << 20

#: ``(batch, progress)``: the progress is in the table's unit (bytes or rows).
Batches = Generator[tuple[ContactBatch, int], None, None]


def parallel_available(*, idle_only: bool = False) -> bool:
    """Whether a parse worker can run here: ``fork`` exists and there is a second CPU.

    ``idle_only``: and that CPU is idle now (load average below CPUs − 1): on a busy
    machine the worker only competes with the writer and adds the cost of the pipe.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    if cpus < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    return not idle_only or os.getloadavg()[0] <= cpus - 1


def serial_batches(
    table: Table, parser: ContactRows, chunk_rows: int, first: Chunk | None = None
) -> Batches:
    """Parse ``first`` (a headerless file's first row) then every chunk, in this process;
    at the end, the superseded rows go to the report (:meth:`ContactRows.finish`)."""
    bulk = not gc.isenabled()
    chunks = table.chunks(chunk_rows)
    for chunk in chain([first] if first is not None else [], chunks):
        if bulk:
            # Out of the collector's sight until the import ends (freed by reference
            # counting as usual): the young generation then holds only what parse() makes.
            gc.freeze()
        yield parser.parse(chunk), table.progress()
    parser.finish()


def _work(
    sender: Pipe, table: Table, parser: ContactRows, chunk_rows: int, first: Chunk | None
) -> None:
    """The worker: stream batches, then the counts (or what went wrong)."""
    gc.disable()  # the same reason as in the parent: no cycles, many allocations
    try:
        for batch, done in serial_batches(table, parser, chunk_rows, first):
            sender.send(("batch", batch.records, batch.first_seen, batch.repeated, done))
        parser.rejects.close()
        counts = dict(parser.rejects.counts)
        counts_of = (parser.rows, parser.blank, parser.duplicates, parser.distinct)
        superseded = (parser.superseded_lines, parser.superseded_by, parser.rejects.superseded)
        sender.send(("done", *counts_of, counts, *superseded))
    except UnreadableFile as error:
        parser.rejects.close()
        sender.send(("unreadable", error.path, error.reason, error.fix))
    except BaseException as error:  # reported to the parent, which raises it
        sender.send(("failed", f"{type(error).__name__}: {error}"))
    finally:
        sender.close()


def _start(worker: multiprocessing.process.BaseProcess) -> None:
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a threaded process (a progress bar's refresh
        # thread): the workers use no lock any thread may hold, only their data and a pipe.
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        worker.start()


def parallel_batches(
    table: Table, parser: ContactRows, chunk_rows: int, first: Chunk | None = None
) -> Batches:
    """Like :func:`serial_batches`, parsed by a forked worker; ``parser`` gets its counts."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_work, args=(sender, table, parser, chunk_rows, first), daemon=True
    )
    _start(worker)
    sender.close()
    try:
        while True:
            try:
                message: tuple[Any, ...] = receiver.recv()
            except EOFError:
                raise RuntimeError(
                    f"the parse worker stopped (exit code {worker.exitcode})"
                ) from None
            kind = message[0]
            if kind == "batch":
                yield ContactBatch(message[1], message[2], message[3]), message[4]
            elif kind == "done":
                parser.rows, parser.blank, parser.duplicates, parser.distinct = message[1:5]
                parser.superseded_lines, parser.superseded_by = message[6:8]
                parser.rejects.adopt(message[5], message[8])
                return
            elif kind == "unreadable":
                raise UnreadableFile(message[1], message[2], fix=message[3])
            else:
                raise RuntimeError(f"the parse worker failed: {message[1]}")
    finally:
        receiver.close()
        if worker.is_alive():
            worker.terminate()
        worker.join()


# -- the columnar path: a staging thread, no fork -----------------------------------------

_END = object()


def _threaded(
    source: Iterator[Any], work: Callable[[Any], Any], stop: threading.Event, name: str
) -> Generator[Any, None, None]:
    """``map(work, source)`` run by a thread, one result ahead of the consumer.

    An exception in the thread (``source``'s included) is raised in the consumer; a consumer
    that stops early (or fails) sets ``stop`` and waits for the thread to finish its item.
    """
    results: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

    def put(item: tuple[bool, Any]) -> None:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def run() -> None:
        try:
            for item in source:
                if stop.is_set():
                    return
                put((True, work(item)))
            put((True, _END))
        except BaseException as error:  # handed to the consumer, which raises it
            put((False, error))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # an upstream stage: its thread stops too

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while True:
            try:
                ok, value = results.get(timeout=0.05)
            except queue.Empty:
                if thread.is_alive() or not results.empty():
                    continue
                return  # stopped: the thread left without a result
            if not ok:
                raise value
            if value is _END:
                return
            yield value
    finally:
        stop.set()
        thread.join()


def staged_parts(parts: Iterator[Any], stage: Callable[[Any], Any]) -> Generator[Any, None, None]:
    """Stage each part in a thread, one ahead; yield what ``stage`` made, in order.

    The thread spends its time in Arrow and the ADBC driver, this one (the caller merging
    part ``k`` into the database) in the database: both without the GIL, side by side.
    """
    yield from _threaded(parts, stage, threading.Event(), "stopsms-import-stage")


# -- normalising a column with two CPUs ---------------------------------------------------


def forked_normaliser(
    region: str, learn: Callable[[dict[str, str]], None]
) -> Callable[[Sequence[str]], list[str | None]]:
    """``normalise_many`` over a column, its second half done by a forked worker meanwhile.

    Normalising is the largest part of parsing a file that Python must do value by value;
    the worker (forked: it shares the column and the compiled patterns, nothing is sent to
    it) returns its half and why each of its invalid values is invalid; this process works
    out the same for its own half meanwhile, and hands both to ``learn`` for the reject
    report. The worker's errors are raised here.
    """

    def normalise(values: Sequence[str]) -> list[str | None]:
        middle = len(values) // 2
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        worker = context.Process(
            target=_normalise_half, args=(sender, values, middle, region), daemon=True
        )
        _start(worker)
        sender.close()
        try:
            head = normalise_many(values[:middle], region)
            learn(_reasons(values[:middle], head, region))  # while the worker works too
            try:
                message: tuple[Any, ...] = receiver.recv()
            except EOFError:
                raise RuntimeError(
                    f"the normalisation worker stopped (exit code {worker.exitcode})"
                ) from None
        finally:
            receiver.close()
            if worker.is_alive():
                worker.terminate()
            worker.join()
        if message[0] != "done":
            raise RuntimeError(f"the normalisation worker failed: {message[1]}")
        learn(message[2])
        tail: list[str | None] = message[1]
        return head + tail

    return normalise


def _normalise_half(sender: Pipe, values: Sequence[str], middle: int, region: str) -> None:
    try:
        half = values[middle:]
        numbers = normalise_many(half, region)
        sender.send(("done", numbers, _reasons(half, numbers, region)))
    except BaseException as error:  # reported to the parent, which raises it
        sender.send(("failed", f"{type(error).__name__}: {error}"))
    finally:
        sender.close()
        # Leave now: multiprocessing would flush the inherited stdout/stderr on the way out,
        # and a thread of the parent (a progress bar's refresh) may have held their lock at
        # the fork: that flush could wait forever.
        os._exit(0)


def _reasons(values: Sequence[str], numbers: list[str | None], region: str) -> dict[str, str]:
    """Why each invalid value is invalid (the reject report asks for them next)."""
    return {
        value: why_invalid(value, region)
        for value, number in zip(values, numbers, strict=True)
        if number is None and value.strip()
    }
