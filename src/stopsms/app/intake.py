"""Group commit of direct messages: concurrent ``POST /v1/messages`` share one transaction.

Every request used to open its own write transaction; on SQLite those take turns on the
process's write lock (:meth:`~stopsms.app.App.transaction`), so 32 requests in flight meant 32
threads queueing for it, each paying ``BEGIN IMMEDIATE``, the account's reads and ``COMMIT`` alone.
:class:`Intake` gives the queueing to one writer thread instead: a request hands its
:class:`~stopsms.services.direct.DirectRequest` over and waits on a future; the thread takes
every request waiting (at most :data:`MAX_BATCH`), runs
:func:`~stopsms.services.direct.queue_messages` on them in one transaction, per account (the
account, its :class:`~stopsms.services.direct.AccountContext` and its recipients' opt-outs
read once, its messages without an idempotency key inserted in one statement), commits, and
only then answers each future — a 202 is never given for a message that is not committed.

Each request's API key is checked again in the batch's transaction (one read per batch,
:func:`~stopsms.services.access.keys.live_keys`): a key revoked since the server verified it
(the server keeps verified keys a few seconds, :class:`~stopsms.app.principals.VerifiedKeys`)
queues nothing, :class:`~stopsms.services.access.keys.RevokedKey`.

The rules are :func:`~stopsms.services.direct.queue_message`'s, unchanged, message by message
in arrival order: a refused message (opted out, unknown sender, too little credit…) writes
nothing and its refusal is its own, its batch-mates go on; an idempotency
key used twice in one batch finds the first message, as across batches. A batch never waits
for company: a lone request is a batch of one, so an idle server answers as soon as before.

A failure that is not a refusal (the database) rolls the whole batch back; each of its
messages is then queued again in a transaction of its own, so one bad message fails alone.

The trade-off: one thread writes, so a slow statement delays the batch behind it (as the
write lock already did on SQLite); on PostgreSQL a process writes one batch at a time too,
and more processes (``stopsms serve`` behind a balancer) write in parallel.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from stopsms.config import Settings
from stopsms.domain.errors import StopsmsError
from stopsms.errors import ServiceError
from stopsms.services.access.keys import Principal, RevokedKey, live_keys
from stopsms.services.accounts.accounts import get_account_by_id
from stopsms.services.direct import (
    DirectMessage,
    DirectRequest,
    account_context,
    queue_messages,
)


class Host(Protocol):
    """What the intake needs of its :class:`~stopsms.app.App` (which owns it)."""

    settings: Settings

    def transaction(self) -> AbstractContextManager[Connection]: ...

    @property
    def max_parts(self) -> int: ...

    @property
    def shortcode_substitution(self) -> bool: ...


__all__ = ["MAX_BATCH", "Host", "Intake"]

_LOG = logging.getLogger(__name__)

#: The most messages one transaction queues (bounds the time a batch holds the write lock).
MAX_BATCH = 64


@dataclass(slots=True)
class _Item:
    who: Principal
    request: DirectRequest
    now: datetime
    future: Future[DirectMessage] = field(default_factory=Future)


class Intake:
    """The writer thread of direct messages for one App (see the module)."""

    def __init__(self, app: Host) -> None:
        self._app = app
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: Batches committed and messages they held (for tests and the benchmark).
        self.batches = 0
        self.messages = 0

    def submit(
        self, who: Principal, request: DirectRequest, now: datetime
    ) -> Future[DirectMessage]:
        """Queue ``request`` for ``who``'s account; the future gives the message (or raises
        what :func:`~stopsms.services.direct.queue_message` raised) once committed."""
        item = _Item(who, request, now)
        with self._lock:
            if self._closed:
                raise RuntimeError("the intake is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="stopsms-intake", daemon=True
                )
                self._thread.start()
            self._queue.put(item)
        return item.future

    def queue(self, who: Principal, request: DirectRequest, now: datetime) -> DirectMessage:
        """:meth:`submit` and wait (for a caller on a thread of its own)."""
        return self.submit(who, request, now).result()

    def close(self) -> None:
        """Finish the batches already handed over, then stop the thread."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Item]) -> None:
        batch = [item for item in batch if not item.future.cancelled()]  # caller gone
        if not batch:
            return
        try:
            outcomes = self._in_one_transaction(batch)
        except Exception as error:
            if len(batch) == 1:
                _fail(batch[0], error)
                return
            _LOG.warning("a batch of %d messages rolled back (%s); one by one", len(batch), error)
            for item in batch:
                self._write([item])
            return
        self.batches += 1
        self.messages += len(batch)
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                _fail(item, outcome)
            elif item.future.set_running_or_notify_cancel():
                item.future.set_result(outcome)

    def _in_one_transaction(self, batch: list[_Item]) -> list[DirectMessage | StopsmsError]:
        app = self._app
        max_parts, substitution = app.max_parts, app.shortcode_substitution
        public_url = app.settings.public_url
        outcomes: dict[int, DirectMessage | StopsmsError] = {}
        with app.transaction() as connection:
            keys = {item.who.key_id for item in batch if item.who.key_id is not None}
            live = live_keys(connection, keys)
            by_account: dict[int, list[int]] = {}
            for i, item in enumerate(batch):
                if item.who.key_id is not None and item.who.key_id not in live:
                    outcomes[i] = RevokedKey(f"API key {item.who.key_id} was revoked")
                else:
                    by_account.setdefault(item.who.account_id, []).append(i)
            for indexes in by_account.values():
                try:  # the account's own refusal (e.g. gone) is each of its messages'
                    account = get_account_by_id(connection, batch[indexes[0]].who.account_id)
                    context = account_context(connection, account, public_url)
                except ServiceError as refused:
                    outcomes.update(dict.fromkeys(indexes, refused))
                    continue
                queued = queue_messages(
                    connection,
                    account,
                    [(batch[i].request, batch[i].now) for i in indexes],
                    max_parts=max_parts,
                    substitution=substitution,
                    public_url=public_url,
                    context=context,
                )
                outcomes.update(zip(indexes, queued, strict=True))
        return [outcomes[i] for i in range(len(batch))]


def _fail(item: _Item, error: BaseException) -> None:
    if item.future.set_running_or_notify_cancel():
        item.future.set_exception(error)
