"""The provider's event handlers: MO and receipts, group-committed, acknowledged after commit.

:class:`InboundHandler` gives a provider its :class:`~stopsms.providers.base.EventHandlers`.
Each call queues its event with a :class:`~stopsms.engine.group_commit.GroupCommit` (one
transaction for everything queued meanwhile, on the dispatcher's database thread) and
returns only once that transaction committed — the provider acknowledges then. MO have
their own committer in the thread's *urgent* lane: a STOP does not wait behind the
dispatcher's claims and results nor behind receipts (a job already running excepted).
Receipts stay in the normal lane, FIFO with the dispatcher's jobs, on SQLite; on PostgreSQL
they commit on a thread and connection of their own, each batch after the dispatcher's jobs
queued before it arrived: either way a receipt is applied after the recording of its
message's submit result.

For an MO, the :class:`~stopsms.engine.gate.SuppressionGate` is told first (the number is
*pending*: nothing new leaves for it), then, once committed, the opt-out is *blocked* in the
gate, and the handler waits for any chunk already on the wire to that number to be answered
before returning — in this process (the gate) and in every other worker on the database
(:func:`~stopsms.services.messages.outbox.in_flight_to`, locked against a pre-wire
transaction in progress). Hence: no submit to a number after its STOP was acknowledged,
however many workers send.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import Connection

from stopsms.clock import Clock
from stopsms.domain.keywords import Intent
from stopsms.engine.database_thread import DatabaseThread
from stopsms.engine.gate import SuppressionGate
from stopsms.engine.group_commit import GroupCommit
from stopsms.providers.base import DeliveryReceipt, EventHandlers, InboundMessage
from stopsms.services.messages import outbox
from stopsms.services.messages.mo import MoOutcome, handle_many, sender_e164, warm_up
from stopsms.services.messages.receipts import (
    DEFAULT_BLOCKED_CODES,
    ReceiptsApplied,
    apply_receipts,
)

__all__ = ["OTHER_WORKERS_WAIT", "InboundHandler", "InboundStats"]

#: Longest wait, after a STOP committed, for other workers' submits to that number to be
#: answered before the STOP is acknowledged (their answer comes within the provider's window
#: timeout; a dead worker's are settled by its lease).
OTHER_WORKERS_WAIT = 5.0

Event = InboundMessage | DeliveryReceipt | tuple[DeliveryReceipt, ...]
Outcome = MoOutcome | ReceiptsApplied


@dataclass(slots=True)
class InboundStats:
    """Counters, and the MO-arrival-to-commit latencies (seconds) for the benchmark."""

    inbound: int = 0
    optouts: int = 0
    confirmations: int = 0
    receipts: int = 0
    delivered: int = 0
    failed: int = 0
    blocked: int = 0
    latencies: list[float] = field(default_factory=list)


def _warm(conn: Connection) -> None:
    """Compile the MO path's statements (see :func:`~stopsms.services.messages.mo.warm_up`); a
    failure here only means the first real batch compiles them."""
    with contextlib.suppress(Exception):
        warm_up(conn)


def _always(_: Event) -> bool:
    return True


def _weight(event: Event) -> int:
    """What an event weighs in a transaction (at most 2,000 per transaction): its receipts."""
    return len(event) if isinstance(event, tuple) else 1


class InboundHandler:
    """MO and receipt handling for one process; ``handlers`` is what a provider starts with.

    ``on_confirmation`` is called when a STOP queued a confirmation (the dispatcher's
    ``wake``), so it leaves at once even if the dispatcher was idle.

    ``receipts_apart`` (default: on PostgreSQL): receipts commit on a second database thread
    with its own connection, beside the dispatcher's, instead of FIFO on the dispatcher's
    thread. A receipts job starts only once every normal job the dispatcher's thread had
    been given when its receipts arrived has finished
    (:meth:`~stopsms.engine.database_thread.DatabaseThread.wait_for`), so a receipt still
    finds its message's submit result committed. Why: on PostgreSQL the one thread was the
    bottleneck (busy ~90 % of a 12,000-message dispatch; receipts a third of its time) and
    the server takes concurrent writers; SQLite has one writer, so it keeps one thread. The
    receipts' rows (``submitted``) are none of the dispatcher's (``claimed``,
    ``submitting``); a deadlock, were one to happen, is retried (:mod:`stopsms.store.faults`).
    """

    def __init__(
        self,
        thread: DatabaseThread,
        clock: Clock,
        gate: SuppressionGate,
        *,
        blocked_codes: Collection[str] = DEFAULT_BLOCKED_CODES,
        on_confirmation: Callable[[], None] | None = None,
        keep_latencies: bool = False,
        receipts_apart: bool | None = None,
    ) -> None:
        self.clock = clock
        self.gate = gate
        self._thread = thread
        self.blocked_codes = frozenset(blocked_codes)
        self.on_confirmation = on_confirmation
        self.stats = InboundStats()
        self._keep_latencies = keep_latencies
        # MO: urgent lane, may join any MO job not started yet. Receipts: normal lane, each
        # taken only by a job queued after it arrived (after its submit result's recording).
        self._mo_commit: GroupCommit[Event, Outcome] = GroupCommit(
            thread, self._process, max_batch=2000, may_join=_always, urgent=True
        )
        if receipts_apart is None:
            receipts_apart = thread.database.engine.dialect.name == "postgresql"
        #: PostgreSQL: the receipts' own thread and connection (see the class doc).
        self._receipts_thread = DatabaseThread(thread.database) if receipts_apart else None
        self._commit: GroupCommit[Event, Outcome] = GroupCommit(
            self._receipts_thread or thread,
            self._process,
            max_batch=2000,
            weight=_weight,
            barrier=thread if receipts_apart else None,
        )
        warm_up()  # once per process: the first STOP must not pay for building caches
        try:  # and the statements, on the database thread, before the first MO if possible
            self._warming: asyncio.Future[None] | None = thread.submit(_warm, urgent=True)
        except RuntimeError:  # built outside an event loop: the first batch compiles them
            self._warming = None
        self.handlers = EventHandlers(
            on_receipt=self.on_receipt, on_inbound=self.on_inbound, on_receipts=self.on_receipts
        )

    def _process(self, conn: Connection, events: Sequence[Event]) -> list[Outcome]:
        """One transaction for a batch: receipts and MOs set-based (MOs as if one by one)."""
        now = self.clock.now()
        receipts: list[DeliveryReceipt] = []
        inbound: list[InboundMessage] = []
        for event in events:
            if isinstance(event, InboundMessage):
                inbound.append(event)
            elif isinstance(event, tuple):
                receipts += event
            else:
                receipts.append(event)
        applied = apply_receipts(conn, receipts, now, self.blocked_codes) if receipts else None
        mos = iter(handle_many(conn, inbound, now)) if inbound else iter(())
        out: list[Outcome] = []
        for event in events:
            if isinstance(event, InboundMessage):
                out.append(next(mos))
            else:
                assert applied is not None
                out.append(applied)  # the batch's total: callers only read ``blocked``
        return out

    async def close(self) -> None:
        await self._mo_commit.close()
        await self._commit.close()
        if self._receipts_thread is not None:
            self._receipts_thread.close()

    async def on_inbound(self, message: InboundMessage) -> None:
        """Handle one MO; returns once committed and nothing to that number is in flight."""
        started = time.perf_counter()
        phone = sender_e164(message.sender) or message.sender
        self.gate.mark_pending(phone)
        try:
            outcome = await self._mo_commit.submit(message)
            if self._keep_latencies:
                self.stats.latencies.append(time.perf_counter() - started)
            assert isinstance(outcome, MoOutcome)
            self.stats.inbound += 1
            if outcome.phone is not None and outcome.intent is Intent.OPT_OUT:
                self.gate.block(outcome.account_id, outcome.phone, outcome.optout_sender)
                self.stats.optouts += int(outcome.optout_created)
            elif outcome.phone is not None and outcome.resubscribed:
                self.gate.unblock(outcome.account_id, outcome.phone)
        finally:
            self.gate.clear_pending(phone)
        if outcome.confirmation_id is not None:
            self.stats.confirmations += 1
            if self.on_confirmation is not None:
                self.on_confirmation()
        await self.gate.wait_clear(phone)
        if outcome.phone is not None and outcome.intent is Intent.OPT_OUT:
            await self._wait_other_workers(outcome.account_id, outcome.phone)

    async def _wait_other_workers(self, account_id: int, phone: str) -> None:
        """Wait until no process has a message to ``phone`` on the wire (at most
        :data:`OTHER_WORKERS_WAIT` seconds): the gate covers this process's chunks, this the
        other workers' (:func:`~stopsms.services.messages.outbox.in_flight_to`)."""
        deadline = time.monotonic() + OTHER_WORKERS_WAIT
        while True:
            in_flight = await self._thread.run(
                partial(outbox.in_flight_to, account_id=account_id, phone=phone), urgent=True
            )
            if not in_flight or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.01)

    async def on_receipt(self, receipt: DeliveryReceipt) -> None:
        """Apply one receipt; returns once committed."""
        applied = await self._commit.submit(receipt)
        assert isinstance(applied, ReceiptsApplied)
        self.stats.receipts += 1
        for account_id, phone in applied.blocked:
            self.gate.block(account_id, phone)

    async def on_receipts(self, receipts: Sequence[DeliveryReceipt]) -> None:
        """Apply the receipts a provider read at once: one event, one future; returns once
        they are committed."""
        if not receipts:
            return
        applied = await self._commit.submit(tuple(receipts))
        assert isinstance(applied, ReceiptsApplied)
        self.stats.receipts += len(receipts)
        for account_id, phone in applied.blocked:
            self.gate.block(account_id, phone)
