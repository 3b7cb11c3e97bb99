"""The dispatcher: the async loop that takes messages from the outbox to a provider.

One iteration::

    claim a batch (priority 0 first) ─► for each chunk, paced to the provider's rate:
        placeholder check (never from 00000, never STOP 00000 unless the provider replaces
        it, never a placeholder unsubscribe link) and length check (never above the
        protocol's 255 parts: ``too_long``) ─►
        window check (marketing only, at the clock's now) ─► gate (STOPs of this process)
        ─► one transaction: campaign still active? registry re-check, holds, exclusions,
           the rest marked ``submitting`` ─► provider.submit_many ─► results recorded
           (submitted + credits debited | rejected | retry with back-off | unknown)

When nothing is due, campaigns are settled (``sending`` ⇄ ``held`` → ``completed``) and the
loop sleeps on the injected clock until the earliest hold or back-off ends, or until it is
woken (an inbound STOP queued a confirmation). A campaign paused or cancelled by a person is
honoured at the next chunk: its claimed messages are put back (paused) or cancelled; after
``max_consecutive_errors`` provider errors in a row the dispatcher pauses the campaign itself
(refusals and unknown outcomes; a retry is no error, and a connection lost under a chunk is
one, however many messages were in flight).

All database work runs on the :class:`~stopsms.engine.database_thread.DatabaseThread`, so
the loop keeps reading PDUs while a batch commits. Results are recorded without waiting for
the commit (at most two batches behind), in submission order on that one thread — which is
also why a receipt, handled after its submit's result, always finds its message. With an
in-doubt bound (at most a window ``submitting`` and not recorded), a chunk's results and the
next waiting chunk's ``submitting`` mark share one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Connection

from stopsms.clock import Clock
from stopsms.domain.campaign import ACTIVE, CampaignStatus, MessageStatus
from stopsms.domain.errors import DomainError
from stopsms.domain.mention import placeholder_on_wire
from stopsms.domain.parts import beyond_protocol
from stopsms.domain.phone import describe, territory_zones
from stopsms.domain.windows import NoSendingWindow, calendar_for, get_policy, policy_for
from stopsms.engine.database_thread import DatabaseThread
from stopsms.engine.gate import SuppressionGate
from stopsms.providers.base import (
    CONNECTION_LOST,
    DataCoding,
    OutboundMessage,
    Provider,
    SubmitOutcome,
    SubmitResult,
)
from stopsms.services.messages import outbox
from stopsms.services.messages.outbox import Claimed

__all__ = ["DispatchStats", "Dispatcher"]

log = logging.getLogger(__name__)

_SUBMITTING = MessageStatus.SUBMITTING.value
_UCS2 = DataCoding.UCS2.value
#: The STOP confirmation goes to a number that just opted out: never suppressed, never held.
CONFIRMATION = "confirmation"
#: How much sending time one chunk represents at a finite rate: small enough that pacing
#: and window checks are fine-grained, large enough to keep the provider's window full.
_CHUNK_SECONDS = 0.05
#: How much sending time one claim holds at a finite rate.
_CLAIM_SECONDS = 2.0
#: Chunks handled at once: while one is on the wire, the next one's pre-wire transaction
#: commits (and its submits may start as the window frees), so the provider's window never
#: drains between chunks. Each chunk still commits ``submitting`` before its first byte.
_PIPELINE = 3


T = TypeVar("T")
#: A transaction for the database thread.
_Job = Callable[[Connection], T]
#: What the pre-wire transaction decided: (to send, excluded, put back).
_Marked = tuple[list[Claimed], int, int]


@dataclass(slots=True)
class DispatchStats:
    """What this dispatcher did since it started (for progress bars and benchmarks)."""

    submitted: int = 0
    rejected: int = 0
    retried: int = 0
    unknown: int = 0
    held: int = 0
    excluded: int = 0
    released: int = 0
    chunks: int = 0
    paused_campaigns: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Chunk:
    """One chunk on its way to the wire, and what the checks decided for its messages."""

    messages: list[Claimed]
    holds: list[tuple[int, datetime]] = field(default_factory=list)
    excluded: dict[str, list[int]] = field(default_factory=dict)
    put_back: list[int] = field(default_factory=list)
    sendable: list[Claimed] = field(default_factory=list)


class Dispatcher:
    """Sends due outbox messages through ``provider``; see the module doc.

    ``campaign_id`` restricts it to one campaign (plus messages of no campaign, such as STOP
    confirmations); ``rate`` overrides the provider's throughput (messages per second,
    ``inf`` = as fast as the provider answers); ``idle_max`` caps one idle sleep (``None``:
    sleep until the next due instant, which is what a fake clock wants). ``token``: the claim
    token, the id of this process's row in ``workers`` (whose lease keeps its claims its own;
    see :mod:`~stopsms.services.messages.workers`); a fresh one when not given.
    ``in_doubt_max``: at most this many messages marked ``submitting`` and not yet recorded
    at once — all a crash can leave in doubt (default: the provider's ``window``; ``0``: no
    bound). Chunks are then at most half of it, so two overlap: one on the wire while the
    next commits; a chunk waiting for a slot has its mark committed in the same transaction
    as the results that free it (one transaction per chunk instead of two: 68 instead of
    129 for 63 chunks, ``test_workers.py``).
    """

    def __init__(
        self,
        thread: DatabaseThread,
        provider: Provider,
        clock: Clock,
        *,
        gate: SuppressionGate | None = None,
        campaign_id: int | None = None,
        rate: float | None = None,
        claim_size: int = 2048,
        chunk_size: int = 256,
        max_consecutive_errors: int = 50,
        idle_max: float | None = 1.0,
        token: str | None = None,
        in_doubt_max: int | None = None,
    ) -> None:
        self.thread = thread
        self.provider = provider
        self.clock = clock
        self.gate = gate or SuppressionGate()
        self.campaign_id = campaign_id
        self.rate = rate if rate is not None else provider.throughput
        if not self.rate > 0:
            raise ValueError(f"dispatch rate must be positive, not {self.rate!r}")
        # At a finite rate, claim at most _CLAIM_SECONDS of sending: claims hoarded beyond
        # that would wait on this worker while others idle (and a crash would hold them for
        # a whole lease).
        self.claim_size = (
            claim_size
            if math.isinf(self.rate)
            else max(1, min(claim_size, math.ceil(self.rate * _CLAIM_SECONDS)))
        )
        self.chunk_size = (
            chunk_size
            if math.isinf(self.rate)
            else max(1, min(chunk_size, int(self.rate * _CHUNK_SECONDS)))
        )
        # At most in_doubt_max messages marked `submitting` and not yet recorded: what a crash
        # can leave in doubt. Default: the provider's window (one window in doubt at most).
        doubt = in_doubt_max if in_doubt_max is not None else getattr(provider, "window", None)
        #: Free in-doubt slots (one chunk each), ``None``: unbounded. A chunk waiting for one
        #: queues its pre-wire transaction in _waiting; see _hand_over.
        self._free: int | None = None
        self._waiting: deque[tuple[_Job[_Marked], asyncio.Future[asyncio.Future[_Marked]]]] = (
            deque()
        )
        if doubt is not None and doubt > 0:
            self.chunk_size = max(1, min(self.chunk_size, doubt // 2 or 1))
            self._free = max(1, doubt // self.chunk_size)
        # Bounded, two chunks more than the slots: one usually waits for a slot when a
        # chunk's results come in, so its mark joins their transaction (_hand_over).
        self._pipeline = _PIPELINE if self._free is None else max(_PIPELINE, self._free + 2)
        self.max_consecutive_errors = max_consecutive_errors
        self.idle_max = idle_max
        self.stats = DispatchStats()
        #: Why the provider's binds are refused, once it said so (the campaigns were paused).
        self.bind_refusal: str | None = None
        self._claimed_from: set[int] = set()  # campaigns this dispatcher has claimed from
        self.held_until: datetime | None = None
        self._token = token or uuid.uuid4().hex
        self._wake = asyncio.Event()
        self._next_slot = 0.0
        self._errors: dict[int, int] = {}
        self._recording: list[asyncio.Future[outbox.Recorded]] = []
        #: The provider replaces STOP 00000 by its own shortcode (for alphanumeric senders).
        self.substitution = bool(getattr(provider, "shortcode_substitution", False))
        # (region) -> its one time zone, for the window check's fast path (see _check)
        self._single_zone: dict[str, tuple[str, ...] | None] = {}

    # ------------------------------------------------------------------ control

    @property
    def token(self) -> str:
        """The claim token of this dispatcher's messages."""
        return self._token

    def wake(self) -> None:
        """Something became due now (a confirmation was queued): stop idling."""
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None, *, until_done: bool = True) -> None:
        """Dispatch until ``stop`` is set or, with ``until_done`` and a campaign, until the
        campaign is no longer active (completed, paused or cancelled)."""
        try:
            while stop is None or not stop.is_set():
                if await self.step():
                    continue
                done, wake_at = await self._settle()
                if done and until_done and self.campaign_id is not None:
                    break
                await self._idle(wake_at, stop)
        finally:
            await self.flush()

    async def flush(self) -> None:
        """Wait until every result handed to the database thread is committed."""
        pending, self._recording = self._recording, []
        # Every one awaited (none left with an exception never retrieved); the first raised.
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def step(self) -> bool:
        """Claim one batch and send it; ``False`` when nothing was due, or when the provider
        keeps refusing to bind (:meth:`_bind_refused`: nothing is claimed meanwhile)."""
        refused = getattr(self.provider, "bind_refused", None)
        if refused:
            await self._bind_refused(refused)
            return False
        now = self.clock.now()
        campaign_id, limit, token = self.campaign_id, self.claim_size, self._token

        def claim(
            conn: Connection,
        ) -> tuple[list[Claimed], tuple[dict[int, str | None], dict[int, str | None]]]:
            outbox.release_due(conn, now)
            claimed = outbox.claim(conn, token=token, now=now, limit=limit, campaign_id=campaign_id)
            policies = outbox.window_policies(
                conn,
                (m.campaign_id for m in claimed if m.campaign_id is not None),
                (m.account_id for m in claimed),
            )
            return claimed, policies

        claimed, policies = await self.thread.run(claim)
        if not claimed:
            return False
        self._claimed_from.update(m.campaign_id for m in claimed if m.campaign_id is not None)
        # Up to _PIPELINE chunks at once (more when bounded: __init__), started in order (so
        # paced, checked and marked in order on the one database thread); each awaits its own
        # pre-wire commit.
        running: list[asyncio.Task[None]] = []
        try:
            for start in range(0, len(claimed), self.chunk_size):
                chunk = claimed[start : start + self.chunk_size]
                running.append(asyncio.create_task(self._send_chunk(chunk, policies)))
                # let it reach its pre-wire transaction before the next one is started
                await asyncio.sleep(0)
                while len(running) >= self._pipeline:
                    await running.pop(0)
            while running:
                await running.pop(0)
        finally:
            for task in running:  # cancelled or failed: stop the others too
                task.cancel()
            for task in running:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return True

    async def _bind_refused(self, reason: str) -> None:
        """The provider's binds are refused again and again (a password changed, an account
        disabled after an SMSC restart): the campaigns this dispatcher has claimed from are
        paused with ``reason`` (``campaign resume`` is the way out, once the account is
        fixed), instead of rebinding forever under them. The provider keeps trying to bind
        meanwhile."""
        self.bind_refusal = reason
        now = self.clock.now()
        # Only what this dispatcher was sending: another worker's binds (another provider
        # URL) may be fine, its campaigns are not this refusal's business.
        ids = [self.campaign_id] if self.campaign_id is not None else sorted(self._claimed_from)

        def pause(conn: Connection) -> list[int]:
            return [cid for cid in ids if outbox.pause_campaign(conn, cid, now, reason=reason)]

        for paused in await self.thread.run(pause):
            log.warning("campaign %s paused: %s", paused, reason)
            self.stats.paused_campaigns.append(paused)

    # ------------------------------------------------------------------ one chunk

    async def _pace(self, count: int) -> None:
        """Wait on the clock so that, on average, ``rate`` messages leave per second.

        Only the chunks' cadence: chunks paced here may still wait for an in-doubt slot and
        then reach the provider together. The cap itself is the provider's, counted at each
        ``submit_sm`` written (:mod:`stopsms.providers.pacing`).
        """
        if math.isinf(self.rate):
            return
        now = self.clock.now().timestamp()
        # After an idle spell, start afresh rather than bursting the accumulated credit. The
        # slot is reserved before sleeping, so chunks started together leave one after another.
        self._next_slot = max(self._next_slot, now)
        slot = self._next_slot
        self._next_slot += count / self.rate
        if slot > now:
            await self.clock.sleep(slot - now)

    def _check(
        self,
        messages: Sequence[Claimed],
        policies: tuple[dict[int, str | None], dict[int, str | None]],
    ) -> _Chunk:
        """Placeholders, length, windows (marketing only) and the gate, at the clock's now;
        no I/O."""
        chunk = _Chunk(list(messages))
        at = self.clock.now()
        epoch = at.timestamp()
        by_campaign, by_account = policies
        gate = self.gate
        substitution = self.substitution
        for m in messages:
            if m.kind == CONFIRMATION:  # the one SMS an opted-out number must still get
                chunk.sendable.append(m)
                continue
            placeholder = placeholder_on_wire(m.text, m.sender or "", substitution=substitution)
            if placeholder is not None:
                chunk.excluded.setdefault(placeholder, []).append(m.id)
                continue
            if beyond_protocol(m.text, m.segments, ucs2=m.encoding == _UCS2):
                chunk.excluded.setdefault("too_long", []).append(m.id)
                continue
            if gate.is_blocked(m.account_id, m.phone, m.sender):
                chunk.excluded.setdefault("opted_out", []).append(m.id)
                continue
            if gate.is_pending(m.phone):
                chunk.put_back.append(m.id)
                continue
            if m.marketing:
                try:
                    name = (by_campaign.get(m.campaign_id) if m.campaign_id else None) or (
                        by_account.get(m.account_id)
                    )
                    zones = self._zones_of_region(m.region) if m.region else None
                    if zones is not None and m.region is not None:
                        region = m.region
                    else:
                        number = describe(m.phone)
                        region, zones = m.region or number.region, number.time_zones
                    policy = get_policy(name) if name else policy_for(region)
                    calendar = calendar_for(region, zones, policy)
                    if not calendar.allowed_epoch(epoch):
                        opens = calendar.next_allowed_epoch(epoch)
                        chunk.holds.append((m.id, datetime.fromtimestamp(opens, UTC)))
                        continue
                except NoSendingWindow:
                    chunk.excluded.setdefault("no_sending_window", []).append(m.id)
                    continue
                except DomainError:
                    chunk.excluded.setdefault("invalid_number", []).append(m.id)
                    continue
            chunk.sendable.append(m)
        return chunk

    def _zones_of_region(self, region: str) -> tuple[str, ...] | None:
        """The time zone of a territory that has exactly one (``None`` otherwise).

        The window check's fast path: parsing a number (``describe``, ~0.1 ms, memoised per
        number but every recipient is a new number) only tells a single-zone territory's
        number what its territory already says; the stored ``region`` was validated at
        import. Multi-zone territories and numbers without a region still go through
        ``describe``.
        """
        cache = self._single_zone
        if region not in cache:
            own = territory_zones().get(region, ())
            cache[region] = own if len(own) == 1 else None
        return cache[region]

    async def _send_chunk(
        self,
        messages: Sequence[Claimed],
        policies: tuple[dict[int, str | None], dict[int, str | None]],
    ) -> None:
        await self._pace(len(messages))
        if getattr(self.provider, "bind_refused", None):
            # Binds refused again and again: not a chunk more waits on them (a timeout each);
            # the claims go back, and the next step pauses the campaigns (_bind_refused).
            ids, token = [m.id for m in messages], self._token
            self.stats.released += await self.thread.run(
                lambda conn: outbox.release(conn, ids, token=token)
            )
            return
        chunk = self._check(messages, policies)
        now = self.clock.now()
        token = self._token

        def before_wire(conn: Connection) -> _Marked:
            return _before_wire(conn, chunk, now, token)

        slot = self._free is not None
        try:
            if self._free is None:
                marking = self.thread.submit(before_wire)
            elif self._free > 0:
                self._free -= 1
                marking = self.thread.submit(before_wire)
            else:  # a slot is handed over by a chunk whose results come in (_hand_over)
                handed: asyncio.Future[asyncio.Future[_Marked]] = (
                    asyncio.get_running_loop().create_future()
                )
                self._waiting.append((before_wire, handed))
                marking = await handed
            marked = await marking
        except BaseException:
            if slot:
                self._give_back()
            raise
        await self._send_marked(chunk, marked, slot)

    def _give_back(self, _: object = None) -> None:
        """A chunk's in-doubt slot is free again (its results committed, or it failed): the
        next waiting chunk's pre-wire transaction runs alone, or the slot is kept free."""
        while self._waiting:
            before_wire, handed = self._waiting.popleft()
            if not handed.done():  # its chunk was cancelled meanwhile
                handed.set_result(self.thread.submit(before_wire))
                return
        if self._free is not None:
            self._free += 1

    def _hand_over(self, record: _Job[outbox.Recorded]) -> asyncio.Future[outbox.Recorded]:
        """Queue a chunk's results; when another chunk waits for an in-doubt slot, its
        pre-wire transaction joins this one and the slot passes to it at that commit.

        One transaction instead of two per chunk, and no round trip through the event loop
        between the commit that frees the slot and the one that takes it: the bound holds
        at every commit (the merged one records as many messages as it marks, at most a
        chunk). Measured: ``python -m bench doubt`` (docs/dispatch.md).
        """
        while self._waiting:
            before_wire, handed = self._waiting.popleft()
            if handed.done():  # its chunk was cancelled meanwhile
                continue

            def both(
                conn: Connection, before_wire: _Job[_Marked] = before_wire
            ) -> tuple[outbox.Recorded, _Marked]:
                return record(conn), before_wire(conn)

            merged = self.thread.submit(both)
            handed.set_result(asyncio.ensure_future(_second(merged)))
            return asyncio.ensure_future(_first(merged))
        recording = self.thread.submit(record)
        if self._free is not None:
            recording.add_done_callback(self._give_back)
        return recording

    async def _send_marked(self, chunk: _Chunk, marked: _Marked, slot: bool) -> None:
        """Submit what the pre-wire transaction marked, hand the results over; ``slot``:
        the chunk holds an in-doubt slot, passed on with its results' commit."""
        to_send, excluded, released = marked
        self.stats.held += len(chunk.holds)
        self.stats.excluded += excluded
        self.stats.released += released
        # Re-check the gate: a STOP may have been committed while that transaction ran.
        late_block = [
            m.id
            for m in to_send
            if m.kind != CONFIRMATION and self.gate.is_blocked(m.account_id, m.phone, m.sender)
        ]
        late_back = [
            m.id for m in to_send if m.kind != CONFIRMATION and self.gate.is_pending(m.phone)
        ]
        late = set(late_block) | set(late_back)
        to_send = [m for m in to_send if m.id not in late]
        results: list[SubmitResult] = []
        if to_send:
            ticket = self.gate.enter(m.phone for m in to_send)
            try:
                results = await self.provider.submit_many([_outbound(m) for m in to_send])
            except Exception as exc:  # the provider failed mid-way: outcome unknown, not resent
                log.exception("provider failed during submit_many")
                results = [
                    SubmitResult(m.id, SubmitOutcome.UNKNOWN, error_text=str(exc)) for m in to_send
                ]
            except BaseException:
                if slot:
                    self._give_back()
                raise
            finally:
                self.gate.leave(ticket)
        claimed = {m.id: m for m in to_send}
        at = self.clock.now()

        def record(conn: Connection) -> outbox.Recorded:
            outbox.exclude(conn, late_block, "opted_out", from_status=_SUBMITTING)
            outbox.release(conn, late_back, from_status=_SUBMITTING)
            return outbox.record_results(conn, results, claimed, at)

        # Enqueued in this same step, before any receipt of these messages can be handled.
        recording = self._hand_over(record) if slot else self.thread.submit(record)
        self._recording.append(recording)
        while len(self._recording) > 2:
            await self._recording.pop(0)
        self.stats.chunks += 1
        self.stats.excluded += len(late_block)
        self.stats.released += len(late_back)
        await self._count(results, claimed)

    async def _count(self, results: Sequence[SubmitResult], claimed: dict[int, Claimed]) -> None:
        """Keep the counters, and pause a campaign after too many provider errors in a row.

        An error is a message the provider refused for good or whose outcome is unknown. Not
        errors: a ``RETRY`` (not sent — throttled, or no bind yet — and queued again with
        back-off), and a connection lost under a chunk counts once for the chunk, not once per
        message in flight: an SMSC restart loses up to a window (64) at once, which would
        otherwise pause every campaign it interrupts, though the provider rebinds and the
        rest of the campaign can go.
        """
        to_pause: set[int] = set()
        lost_in_chunk: set[int | None] = set()
        for result in results:
            outcome = result.outcome
            campaign_id = claimed[result.ref].campaign_id
            if outcome is SubmitOutcome.ACCEPTED:
                self.stats.submitted += 1
                if campaign_id is not None:
                    self._errors[campaign_id] = 0
                continue
            if outcome is SubmitOutcome.REJECTED:
                self.stats.rejected += 1
            elif outcome is SubmitOutcome.RETRY:
                self.stats.retried += 1
                continue
            else:
                self.stats.unknown += 1
                if result.error_code == CONNECTION_LOST:
                    if campaign_id in lost_in_chunk:
                        continue
                    lost_in_chunk.add(campaign_id)
            if campaign_id is not None:
                errors = self._errors.get(campaign_id, 0) + 1
                self._errors[campaign_id] = errors
                if errors >= self.max_consecutive_errors:
                    to_pause.add(campaign_id)
        for campaign_id in sorted(to_pause):
            self._errors[campaign_id] = 0
            now = self.clock.now()
            moved = await self.thread.run(
                functools.partial(
                    outbox.move_campaign,
                    campaign_id=campaign_id,
                    target=CampaignStatus.PAUSED,
                    now=now,
                )
            )
            if moved:
                log.warning(
                    "campaign %s paused after %s consecutive provider errors",
                    campaign_id,
                    self.max_consecutive_errors,
                )
                self.stats.paused_campaigns.append(campaign_id)

    # ------------------------------------------------------------------ idle

    async def _settle(self) -> tuple[bool, datetime | None]:
        """Settle campaign states; returns (this dispatcher's campaign is finished with,
        when the next held or backed-off message is due)."""
        await self.flush()
        now = self.clock.now()
        campaign_id = self.campaign_id

        def settle(conn: Connection) -> tuple[bool, datetime | None, datetime | None]:
            ids = [campaign_id] if campaign_id is not None else outbox.active_campaigns(conn)
            done = False
            held_until: datetime | None = None
            for cid in ids:
                progress = outbox.settle_campaign(conn, cid, now)
                if cid == campaign_id:
                    done = progress.status not in ACTIVE
                if progress.status is CampaignStatus.HELD and progress.next_release is not None:
                    held_until = min(filter(None, (held_until, progress.next_release)))
            return done, held_until, outbox.next_due(conn, now, campaign_id=campaign_id)

        done, self.held_until, wake_at = await self.thread.run(settle)
        return done, wake_at

    async def _idle(self, wake_at: datetime | None, stop: asyncio.Event | None) -> None:
        """Sleep on the clock until ``wake_at`` (at most ``idle_max``), a wake-up or a stop."""
        seconds = (wake_at - self.clock.now()).total_seconds() if wake_at is not None else math.inf
        if self.idle_max is not None:
            seconds = min(seconds, self.idle_max)
        if math.isinf(seconds):
            seconds = 3600.0
        self._wake.clear()
        waiters: list[asyncio.Future[object]] = [
            asyncio.ensure_future(self.clock.sleep(max(0.0, seconds))),
            asyncio.ensure_future(self._wake.wait()),
        ]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter


def _before_wire(conn: Connection, chunk: _Chunk, now: datetime, token: str) -> _Marked:
    """The last transaction before the wire: campaign still active, registry re-check,
    holds and exclusions written, the rest marked ``submitting``.

    Every move is made only on messages still claimed under ``token``; the ones sent are
    those ``begin_submit`` marked (its row count checked against the chunk): a claim taken
    over by another worker meanwhile is dropped from the chunk, never sent twice.
    """
    for reason, ids in chunk.excluded.items():
        outbox.exclude(conn, ids, reason, token=token)
    outbox.release(conn, chunk.put_back, token=token)
    outbox.hold(conn, chunk.holds, token=token)
    # Mark first, then re-check the registry: the mark locks the rows, so a STOP handler of
    # another worker either sees them in flight (and waits for their answers) or committed
    # its opt-out before this re-check reads it (outbox.in_flight_to). Only messages of
    # active campaigns (or of none) are marked; the campaigns of the others are read only
    # then (a person paused or cancelled one: its messages go back or are cancelled).
    sendable = chunk.sendable
    marked = outbox.begin_submit(conn, [m.id for m in sendable], now, token=token, active_only=True)
    active, paused, cancelled = sendable, [], []
    if len(marked) != len(sendable):
        kept = set(marked)
        active = [m for m in sendable if m.id in kept]
        left = [m for m in sendable if m.id not in kept]
        statuses = outbox.campaign_statuses(
            conn, (m.campaign_id for m in left if m.campaign_id is not None)
        )
        taken = 0
        for m in left:
            status = statuses.get(m.campaign_id) if m.campaign_id is not None else None
            if status is None or status in ACTIVE:
                taken += 1  # still active, not marked: no longer claimed under our token
            elif status is CampaignStatus.PAUSED:
                paused.append(m.id)
            else:
                cancelled.append(m.id)
        outbox.release(conn, paused, token=token)
        outbox.cancel(conn, cancelled, token=token)
        if taken:
            log.warning(
                "%s claimed message(s) taken over by another worker: not sent by this one",
                taken,
            )
    stopped = outbox.opted_out(conn, [m for m in active if m.kind != CONFIRMATION])
    sendable = [m for m in active if m.id not in stopped]
    excluded = dict(chunk.excluded)
    if stopped:
        outbox.exclude(conn, stopped, "opted_out", from_status=_SUBMITTING, token=token)
        excluded.setdefault("opted_out", []).extend(stopped)
    excluded_count = sum(len(ids) for ids in excluded.values())
    return sendable, excluded_count, len(paused) + len(chunk.put_back)


async def _first(merged: asyncio.Future[tuple[outbox.Recorded, _Marked]]) -> outbox.Recorded:
    """The recording half of a merged transaction (shielded: a chunk cancelled while it
    awaits the other half never cancels the job, which records this one's results)."""
    return (await asyncio.shield(merged))[0]


async def _second(merged: asyncio.Future[tuple[outbox.Recorded, _Marked]]) -> _Marked:
    """The pre-wire half of a merged transaction (shielded, as :func:`_first`)."""
    return (await asyncio.shield(merged))[1]


def _outbound(message: Claimed) -> OutboundMessage:
    coding = DataCoding.UCS2 if message.encoding == DataCoding.UCS2.value else DataCoding.GSM7
    return OutboundMessage(
        ref=message.id,
        source=message.sender or "",
        destination=message.phone,
        text=message.text,
        coding=coding,
    )
