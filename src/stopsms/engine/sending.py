"""Sending: ``campaign send`` and ``worker``, the use cases that run the sending engine.

Both wire the same parts around one provider bind: a
:class:`~stopsms.engine.database_thread.DatabaseThread` (all database work), a
:class:`~stopsms.engine.gate.SuppressionGate`, an
:class:`~stopsms.engine.inbound.InboundHandler` (MO and receipts, acknowledged after commit)
and a :class:`~stopsms.engine.dispatcher.Dispatcher`.

- :func:`send_campaign` prepares the campaign if it is still a draft or scheduled, reconciles
  what a previous run left in flight (counted in the report), sends until the campaign is
  completed (or paused, or cancelled), and with ``wait`` keeps the bind open until every
  message's receipt arrived or ``receipt_timeout`` passed (confirmations of late STOPs still
  leave meanwhile). Run it again after a crash: it resumes.
- :func:`run_worker` keeps the bind open between campaigns: MO and receipts are handled,
  confirmations and informative messages leave, active campaigns are dispatched, and
  scheduled campaigns are prepared when their time comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from sqlalchemy import Connection, func, select

from stopsms.clock import Clock
from stopsms.domain.campaign import ACTIVE, LEFT, CampaignStatus, MessageStatus
from stopsms.domain.errors import StopsmsError
from stopsms.domain.parts import DEFAULT_MAX_PARTS, TooManyParts
from stopsms.engine.database_thread import DatabaseThread
from stopsms.engine.dispatcher import Dispatcher, DispatchStats
from stopsms.engine.gate import SuppressionGate
from stopsms.engine.inbound import InboundHandler, InboundStats
from stopsms.engine.membership import Membership, bind_slots
from stopsms.engine.webhooks import WebhookSender
from stopsms.errors import Fix, ServiceError
from stopsms.providers.base import Provider, ProviderError
from stopsms.services.accounts.accounts import AccountRef
from stopsms.services.campaigns.holds import HeldGroups, held_groups
from stopsms.services.campaigns.lengths import check_length
from stopsms.services.campaigns.preparation import (
    NothingToSend,
    PreparationInterrupted,
    campaign_of,
    park_scheduled,
    prepare_campaign,
)
from stopsms.services.campaigns.shortfall import CreditShortfall
from stopsms.services.campaigns.stop_mention import (
    MentionRefused,
    check_sending,
    substitutes_shortcode,
)
from stopsms.services.messages import outbox
from stopsms.services.messages.outbox import Reconciliation
from stopsms.services.messages.receipts import DEFAULT_BLOCKED_CODES
from stopsms.services.messages.workers import Reaped
from stopsms.store import tables as t
from stopsms.store.database import Database
from stopsms.store.faults import DatabaseFault

__all__ = [
    "DATABASE_KEPT",
    "SendProgress",
    "SendReport",
    "SendStopped",
    "WorkerReport",
    "resume_fix",
    "resume_hint",
    "run_worker",
    "send_campaign",
]

log = logging.getLogger(__name__)

#: How long a ``campaign send`` waits for a free bind slot (URL ``binds``) before giving up.
_BIND_SLOT_WAIT = 15.0
_LEASE_LOST = (
    "this process's worker lease ran out (it stalled longer than the lease): what it held was "
    "taken over by the other workers, so it stopped sending"
)

_M = t.messages
_S = MessageStatus


@dataclass(frozen=True, slots=True)
class SendProgress:
    """Where a campaign stands, for a progress bar."""

    campaign_id: int
    status: CampaignStatus
    ready: int  # messages to send (every message but the excluded at preparation)
    sent: int  # taken by the provider: submitted, delivered or failed (not unknown)
    delivered: int
    failed: int
    rejected: int
    unknown: int
    held: int
    waiting: int  # pending, held or claimed
    stops: int  # opt-outs attributed to this campaign
    held_until: datetime | None
    held_groups: HeldGroups = ()  # held messages by release instant (services.campaigns.holds)

    @property
    def awaiting_receipt(self) -> int:
        return self.sent - self.delivered - self.failed

    @property
    def done(self) -> int:
        """Messages past the provider's answer: sent, rejected or in doubt (a progress bar's
        completed count, out of :attr:`ready`)."""
        return self.sent + self.rejected + self.unknown


@dataclass(frozen=True, slots=True)
class SendReport:
    """What :func:`send_campaign` did."""

    progress: SendProgress
    reconciled: Reconciliation
    dispatch: DispatchStats
    inbound: InboundStats
    receipts_complete: bool


@dataclass(slots=True)
class WorkerReport:
    """What :func:`run_worker` did before it was stopped."""

    reconciled: Reconciliation
    dispatch: DispatchStats
    inbound: InboundStats
    prepared: list[int] = field(default_factory=list)


def campaign_send_progress(conn: Connection, campaign_id: int) -> SendProgress:
    """The :class:`SendProgress` of a campaign (one read)."""
    progress = outbox.campaign_progress(conn, campaign_id)
    c = progress.count
    stops = conn.execute(
        select(func.count()).where(t.optouts.c.campaign_id == campaign_id)
    ).scalar_one()
    sent = c(*LEFT)
    total = sum(progress.counts.values())
    prepared_excluded = conn.execute(
        select(func.count()).where(_M.c.campaign_id == campaign_id, _M.c.decision == "excluded")
    ).scalar_one()
    return SendProgress(
        campaign_id=campaign_id,
        status=progress.status,
        ready=total - int(prepared_excluded),
        sent=sent,
        delivered=c(_S.DELIVERED),
        failed=c(_S.FAILED),
        rejected=c(_S.REJECTED),
        unknown=c(_S.UNKNOWN),
        held=c(_S.HELD),
        waiting=progress.waiting,
        stops=int(stops),
        held_until=progress.next_release,
        held_groups=held_groups(conn, campaign_id) if c(_S.HELD) else (),
    )


class SendStopped(ServiceError):
    """A send that failed to start or was interrupted; the campaign is left where it can be
    resumed from (``paused``), or as it was when nothing was prepared (``draft``).

    ``interrupted``: stopped by a signal (Ctrl-C, SIGTERM) rather than by an error.
    """

    def __init__(
        self, campaign_id: int, status: CampaignStatus | None, cause: str, *, interrupted: bool
    ) -> None:
        self.campaign_id = campaign_id
        self.status = status
        self.interrupted = interrupted
        super().__init__(
            f"{cause}; {resume_hint(campaign_id, status)}", fix=resume_fix(campaign_id, status)
        )


#: What a run stopped by a database fault kept (the engine's transactions are whole).
DATABASE_KEPT = (
    "every message recorded before is kept, those on the wire at that moment will count as"
    " unknown (in doubt) at the next run"
)


def resume_hint(campaign_id: int, status: CampaignStatus | None) -> str:
    """Where campaign ``campaign_id`` was left and what carries it on, in words (``None``: left
    as it was, unread — the database failing); each interface words :func:`resume_fix`, the
    use cases to run, its own way."""
    n = campaign_id
    if status is None:
        return f"campaign {n} was left as it was, sending it again goes on once that is fixed"
    if status in ACTIVE:
        return f"campaign {n} is {status.value}, sending it again goes on"
    if status is CampaignStatus.PAUSED:
        return f"campaign {n} is paused, nothing will send it until it is resumed and sent"
    if status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        return f"campaign {n} is still {status.value}, nothing prepared"
    return f"campaign {n} is {status.value}"


def resume_fix(campaign_id: int, status: CampaignStatus | None) -> Fix | None:
    """What carries campaign ``campaign_id`` on from ``status``: send it again (left as it was,
    or still active), resume then send it (a paused one), send it (one not prepared yet),
    nothing (any other)."""
    campaign = (("campaign", str(campaign_id)),)
    if status is None or status in ACTIVE:
        return Fix("go_on_sending", campaign)
    if status is CampaignStatus.PAUSED:
        return Fix("resume_and_send", campaign)
    if status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        return Fix("send_campaign", campaign)
    return None


def _check_startable(
    conn: Connection, campaign_id: int, account: AccountRef | None, substitution: bool = False
) -> CampaignStatus:
    """Refuse, before binding, a campaign that this send cannot start (among others, one whose
    STOP mention would not work through this provider; ``substitution``: it replaces
    ``STOP 00000``); return its status."""
    campaign, acc = campaign_of(conn, campaign_id, account)
    check_sending(acc, campaign.sender, campaign.type, substitution=substitution)
    if campaign.status is CampaignStatus.PREPARING:
        # A preparation is one transaction: "preparing" only shows a crash before commit
        # on a backend without DDL-safe rollback, or another process preparing right now.
        raise ServiceError(f"campaign {campaign_id} is being prepared; try again shortly")
    if campaign.status is CampaignStatus.PAUSED:
        raise ServiceError(
            f"campaign {campaign_id} is paused: resume it first",
            fix=Fix("resume_campaign", (("campaign", str(campaign_id)),)),
        )
    return campaign.status


def _start_campaign(
    conn: Connection,
    campaign_id: int,
    clock: Clock,
    account: AccountRef | None,
    *,
    allow_partial: bool = False,
    should_stop: Callable[[], bool] | None = None,
    max_parts: int = DEFAULT_MAX_PARTS,
    substitution: bool = False,
    public_url: str | None = None,
) -> CampaignStatus:
    """Prepare a draft or scheduled campaign (refused, with nothing written, when its text
    takes more than ``max_parts`` parts, when the credits cannot pay it all unless
    ``allow_partial``, or when nobody is left to send to); return its status."""
    status = _check_startable(conn, campaign_id, account, substitution)
    if status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        campaign, acc = campaign_of(conn, campaign_id, account)
        check_length(campaign, acc, max_parts)
        summary = prepare_campaign(
            conn,
            campaign_id,
            clock,
            allow_partial=allow_partial,
            allow_empty=False,
            should_stop=should_stop,
            shortcode_substitution=substitution,
            max_parts=max_parts,
            public_url=public_url,
        )
        assert summary.status is not None
        return summary.status
    return status


def _pause_if_active(
    conn: Connection, campaign_id: int, now: datetime, token: str | None = None
) -> CampaignStatus:
    """Leave an active campaign ``paused`` (and this run's claims ``pending`` again); return
    the campaign's status after that."""
    outbox.move_campaign(conn, campaign_id, CampaignStatus.PAUSED, now)
    if token is not None:
        outbox.release_token(conn, token)
    return outbox.campaign_progress(conn, campaign_id).status


#: The largest share of the database thread the progress bar's reads may take.
PROGRESS_SHARE = 0.05


async def _report_progress(
    thread: DatabaseThread,
    campaign_id: int,
    on_progress: Callable[[SendProgress], None],
    interval: float,
) -> None:
    """Read the campaign's progress every ``interval`` seconds, or less often when a read is
    slow: at most :data:`PROGRESS_SHARE` of the database thread.

    A read counts every message of the campaign (two scans of it), and it runs on the
    dispatcher's thread, between the chunks' transactions. At a fixed 0.25 s, 500,000
    recipients on PostgreSQL: 169 ms and 111 ms a read, 97 s of a 222 s send spent in them
    (``python -m bench send``'s path, statements timed), a cost that grew with the campaign.
    Waiting 20 times the last read's duration keeps the bar live on a small campaign (a few
    ms a read: every 0.25 s) and its cost a fixed share of the thread on a large one.
    """

    def read(conn: Connection) -> tuple[SendProgress, float]:
        started = time.perf_counter()
        progress = campaign_send_progress(conn, campaign_id)
        return progress, time.perf_counter() - started

    while True:
        progress, took = await thread.run(read)
        on_progress(progress)
        await asyncio.sleep(max(interval, took / PROGRESS_SHARE))


async def send_campaign(
    database: Database,
    campaign_id: int,
    provider: Provider,
    clock: Clock,
    *,
    account: AccountRef | None = None,
    wait: bool = False,
    receipt_timeout: float = 60.0,
    on_progress: Callable[[SendProgress], None] | None = None,
    on_reconciled: Callable[[Reconciliation], None] | None = None,
    progress_interval: float = 0.25,
    rate: float | None = None,
    idle_max: float | None = 1.0,
    allow_partial: bool = False,
    max_parts: int = DEFAULT_MAX_PARTS,
    public_url: str | None = None,
    in_doubt_max: int | None = None,
) -> SendReport:
    """Send campaign ``campaign_id`` through ``provider`` (see the module doc).

    ``on_reconciled`` is told at once what the reconciliation found (so it is reported even
    if this run dies too). ``account``, when given, must own the campaign. ``rate``
    overrides the provider's throughput; ``idle_max`` caps one idle sleep on ``clock``
    (``None`` for a fake clock). ``allow_partial``: send to the recipients the credits pay
    for instead of refusing (:mod:`stopsms.services.campaigns.shortfall`). ``in_doubt_max``:
    the dispatcher's bound on messages in doubt (default the provider's window; ``0``: none,
    for the benchmark that prices the bound).

    The provider is bound before anything is prepared, so a send that cannot reach its SMSC
    leaves a draft a draft. Once bound, any failure or cancellation (Ctrl-C) stops an
    unfinished preparation before it commits and leaves an active campaign ``paused``: a
    running worker never sends it behind the user's back. Both raise :class:`SendStopped`.
    """
    thread = DatabaseThread(database)

    def reaped(found: Reaped) -> None:
        if on_reconciled is not None and (found.released or found.unknown):
            on_reconciled(Reconciliation(released=found.released, unknown=found.unknown))

    membership = Membership(database, role="send", on_reaped=reaped)
    stop_preparing = threading.Event()
    try:
        substitution = substitutes_shortcode(provider)
        await thread.run(lambda conn: _check_startable(conn, campaign_id, account, substitution))
        try:
            await membership.start()  # the first write of a send
        except DatabaseFault as fault:
            raise SendStopped(
                campaign_id, None, f"{fault}; {DATABASE_KEPT}", interrupted=False
            ) from None
        gate = SuppressionGate()
        dispatcher = Dispatcher(
            thread,
            provider,
            clock,
            gate=gate,
            campaign_id=campaign_id,
            rate=rate,
            idle_max=idle_max,
            token=membership.id,
            in_doubt_max=in_doubt_max,
        )
        inbound = InboundHandler(
            thread,
            clock,
            gate,
            blocked_codes=getattr(provider, "blocked_codes", DEFAULT_BLOCKED_CODES),
            on_confirmation=dispatcher.wake,
        )
        try:
            slots = bind_slots(provider)
            if slots is not None:
                await membership.acquire_binds(slots, timeout=_BIND_SLOT_WAIT)
            await provider.start(inbound.handlers)
        except (ProviderError, asyncio.CancelledError) as exc:
            await _stopped(thread, campaign_id, clock, exc, stop_preparing)
            raise AssertionError("unreachable") from exc  # pragma: no cover
        try:
            return await _send_bound(
                thread,
                campaign_id,
                provider,
                clock,
                dispatcher,
                inbound,
                account=account,
                wait=wait,
                receipt_timeout=receipt_timeout,
                on_progress=on_progress,
                on_reconciled=on_reconciled,
                progress_interval=progress_interval,
                allow_partial=allow_partial,
                stop_preparing=stop_preparing,
                max_parts=max_parts,
                public_url=public_url,
                lost=membership.lost,
            )
        except BaseException as exc:
            if isinstance(exc, DatabaseFault):
                # Writing "paused" would fail as well: the campaign stays where it was.
                raise SendStopped(
                    campaign_id, None, f"{exc}; {DATABASE_KEPT}", interrupted=False
                ) from None
            if isinstance(exc, ServiceError) and not isinstance(exc, PreparationInterrupted):
                # a refusal (credit, nobody to send to, state): nothing was changed
                status = await thread.run(lambda conn: _status(conn, campaign_id))
                if status not in ACTIVE:
                    raise
            if not isinstance(exc, StopsmsError | asyncio.CancelledError | KeyboardInterrupt):
                stop_preparing.set()
                now = clock.now()
                await thread.run(
                    partial(
                        _pause_if_active, campaign_id=campaign_id, now=now, token=dispatcher.token
                    )
                )
                raise  # a bug: its traceback, but the campaign left paused all the same
            await _stopped(thread, campaign_id, clock, exc, stop_preparing, dispatcher.token)
            raise AssertionError("unreachable") from exc  # pragma: no cover
    finally:
        await membership.close()
        thread.close()


def _status(conn: Connection, campaign_id: int) -> CampaignStatus:
    return outbox.campaign_progress(conn, campaign_id).status


async def _stopped(
    thread: DatabaseThread,
    campaign_id: int,
    clock: Clock,
    exc: BaseException,
    stop_preparing: threading.Event,
    token: str | None = None,
) -> None:
    """After a failure or an interruption: stop preparing, pause, raise :class:`SendStopped`."""
    stop_preparing.set()
    interrupted = isinstance(
        exc, asyncio.CancelledError | KeyboardInterrupt | PreparationInterrupted
    )
    now = clock.now()
    status = await thread.run(
        partial(_pause_if_active, campaign_id=campaign_id, now=now, token=token)
    )
    cause = "interrupted" if interrupted else str(exc)
    raise SendStopped(campaign_id, status, cause, interrupted=interrupted) from exc


async def _send_bound(
    thread: DatabaseThread,
    campaign_id: int,
    provider: Provider,
    clock: Clock,
    dispatcher: Dispatcher,
    inbound: InboundHandler,
    *,
    account: AccountRef | None,
    wait: bool,
    receipt_timeout: float,
    on_progress: Callable[[SendProgress], None] | None,
    on_reconciled: Callable[[Reconciliation], None] | None,
    progress_interval: float,
    allow_partial: bool,
    stop_preparing: threading.Event,
    max_parts: int,
    public_url: str | None,
    lost: asyncio.Event,
) -> SendReport:
    """The send once the provider is bound (the provider is closed when it returns).

    ``lost`` is set when this process's worker lease ran out: it stops sending at once."""
    receipts_complete = True
    reporter: asyncio.Task[None] | None = None
    try:
        status = await thread.run(
            partial(
                _start_campaign,
                campaign_id=campaign_id,
                clock=clock,
                account=account,
                allow_partial=allow_partial,
                should_stop=stop_preparing.is_set,
                max_parts=max_parts,
                substitution=substitutes_shortcode(provider),
                public_url=public_url,
            )
        )
        reconciled = await thread.run(lambda conn: outbox.reconcile(conn, campaign_id=campaign_id))
        if on_reconciled is not None:
            on_reconciled(reconciled)
        if reconciled.unknown or reconciled.released:
            log.warning(
                "campaign %s: %s in-flight message(s) reconciled as unknown, %s claimed put back",
                campaign_id,
                reconciled.unknown,
                reconciled.released,
            )
        if on_progress is not None:
            reporter = asyncio.create_task(
                _report_progress(thread, campaign_id, on_progress, progress_interval)
            )
        if status in ACTIVE:
            await dispatcher.run(lost, until_done=True)
        if lost.is_set():
            raise ServiceError(_LEASE_LOST)
        if dispatcher.bind_refusal is not None:  # the campaign was paused for it
            paused = await thread.run(lambda conn: _status(conn, campaign_id))
            raise SendStopped(campaign_id, paused, dispatcher.bind_refusal, interrupted=False)
        if wait:
            receipts_complete = await _wait_for_receipts(
                thread, dispatcher, campaign_id, receipt_timeout
            )
        else:
            await _drain_confirmations(thread, dispatcher)
    finally:
        if reporter is not None:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
        await provider.close()
        await inbound.close()
        await dispatcher.flush()
    progress = await thread.run(lambda conn: campaign_send_progress(conn, campaign_id))
    if on_progress is not None:
        on_progress(progress)
    return SendReport(progress, reconciled, dispatcher.stats, inbound.stats, receipts_complete)


#: A campaign's messages still to send or awaiting their receipt (``waiting`` and
#: ``awaiting_receipt`` of :class:`SendProgress`).
_OUTSTANDING = tuple(s.value for s in (_S.PENDING, _S.HELD, _S.CLAIMED, _S.SUBMITTED))


def _outstanding(conn: Connection, campaign_id: int) -> bool:
    """Whether a message of the campaign still waits to be sent or for its receipt, or a STOP
    confirmation waits to leave: what ``--wait`` waits for.

    Two probes of an index (``(campaign_id, status)``; confirmations by the claim index), not
    the counts of :func:`campaign_send_progress`, which read every message of the campaign:
    asked every 50 ms, those took the database thread from the receipts on a large campaign.
    """
    campaign = select(_M.c.id).where(_M.c.campaign_id == campaign_id, _M.c.status.in_(_OUTSTANDING))
    confirmation = select(_M.c.id).where(
        _M.c.campaign_id.is_(None),
        _M.c.kind == "confirmation",
        _M.c.status.in_((_S.PENDING.value, _S.CLAIMED.value)),
    )
    return any(
        conn.execute(query.limit(1)).first() is not None for query in (campaign, confirmation)
    )


async def _drain_confirmations(thread: DatabaseThread, dispatcher: Dispatcher) -> None:
    """Send the confirmations queued by STOPs handled during this run before unbinding."""
    while await dispatcher.step():
        pass
    await dispatcher.flush()


async def _wait_for_receipts(
    thread: DatabaseThread,
    dispatcher: Dispatcher,
    campaign_id: int,
    timeout: float,
) -> bool:
    """Keep dispatching (confirmations) and handling events until every sent message of the
    campaign has its receipt, or ``timeout`` real seconds passed.

    Receipts travel on the network, so the wait is measured on the event loop's clock, not on
    the injected business clock: a simulated clock (a demo outside sending hours, a test)
    would otherwise declare them late after a few milliseconds of real time.
    """
    stop = asyncio.Event()
    runner = asyncio.create_task(dispatcher.run(stop, until_done=False))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    complete = False
    try:
        while loop.time() < deadline:
            if not await thread.run(lambda conn: _outstanding(conn, campaign_id)):
                complete = True
                break
            if runner.done():
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        dispatcher.wake()
        await runner
    return complete


def _prepare_one(
    conn: Connection,
    *,
    campaign_id: int,
    clock: Clock,
    max_parts: int,
    substitution: bool,
    public_url: str | None,
) -> None:
    campaign, acc = campaign_of(conn, campaign_id, None)
    check_length(campaign, acc, max_parts)
    prepare_campaign(
        conn,
        campaign_id,
        clock,
        allow_empty=False,
        shortcode_substitution=substitution,
        max_parts=max_parts,
        public_url=public_url,
    )


async def _prepare_due(
    thread: DatabaseThread,
    clock: Clock,
    on_event: Callable[[str], None] | None = None,
    max_parts: int = DEFAULT_MAX_PARTS,
    substitution: bool = False,
    public_url: str | None = None,
) -> list[int]:
    """Prepare every scheduled campaign whose time has come; returns their ids.

    A campaign the credits cannot pay in full, with nobody to send to, too long, or whose STOP
    mention would not work through this provider (``substitution``: it replaces
    ``STOP 00000``) is not sent at all:
    it is parked ``paused`` with the reason (:func:`~stopsms.services.campaigns.preparation.
    park_scheduled`), and resuming it prepares it then.
    """
    now = clock.now()
    c = t.campaigns
    due = await thread.run(
        lambda conn: list(
            conn.execute(
                select(c.c.id).where(
                    c.c.status == CampaignStatus.SCHEDULED.value, c.c.scheduled_at <= now
                )
            ).scalars()
        )
    )
    prepared: list[int] = []
    for campaign_id in due:
        try:
            await thread.run(
                partial(
                    _prepare_one,
                    campaign_id=campaign_id,
                    clock=clock,
                    max_parts=max_parts,
                    substitution=substitution,
                    public_url=public_url,
                )
            )
        except (CreditShortfall, NothingToSend, TooManyParts, MentionRefused) as exc:
            reason = str(exc)
            await thread.run(
                partial(park_scheduled, campaign_id=campaign_id, reason=reason, clock=clock)
            )
            log.error("scheduled campaign %s not started: %s", campaign_id, reason)
            if on_event is not None:
                on_event(f"campaign {campaign_id} not started, paused: {reason}; then resume it")
            continue
        except ServiceError as exc:
            log.error("scheduled campaign %s could not be prepared: %s", campaign_id, exc)
            continue
        prepared.append(campaign_id)
        if on_event is not None:
            on_event(f"campaign {campaign_id} started (scheduled)")
    return prepared


def _last_optout(conn: Connection) -> int:
    o = t.optouts.c
    return int(conn.execute(select(func.coalesce(func.max(o.id), 0))).scalar_one())


async def _watch(
    thread: DatabaseThread,
    provider: Provider,
    on_event: Callable[[str], None],
    stop: asyncio.Event,
    interval: float,
    last_stop: int,
) -> None:
    """Tell ``on_event`` what changes: campaign statuses, STOPs recorded (after opt-out
    ``last_stop``), the bind lost or restored. Polled (one small read per ``interval``), so it
    sees what other processes do too (a ``campaign pause``, a ``send`` next door)."""
    c, o = t.campaigns, t.optouts

    def read(conn: Connection, after: int) -> tuple[dict[int, str], list[tuple[int, str, int]]]:
        live = c.c.status.not_in(("draft", "completed", "cancelled"))
        ended = c.c.completed_at.is_not(None)
        statuses = {
            row.id: row.status
            for row in conn.execute(select(c.c.id, c.c.status).where(live | ended))
        }
        stops = [
            (row.id, row.phone_e164 or "(erased)", row.campaign_id)
            for row in conn.execute(
                select(o.c.id, o.c.phone_e164, o.c.campaign_id)
                .where(o.c.id > after, o.c.source == "keyword")
                .order_by(o.c.id)
            )
        ]
        return statuses, stops

    known, _ = await thread.run(partial(read, after=last_stop))
    bound = getattr(provider, "bound", None)
    while not stop.is_set():
        await asyncio.sleep(interval)
        statuses, stops = await thread.run(partial(read, after=last_stop))
        for campaign_id, status in sorted(statuses.items()):
            before = known.get(campaign_id)
            if before is not None and before != status:
                on_event(f"campaign {campaign_id}: {before} → {status}")
            elif before is None and status not in ("scheduled", "completed", "cancelled"):
                on_event(f"campaign {campaign_id}: {status}")
        known = statuses
        for optout_id, phone, campaign_id in stops:
            last_stop = optout_id
            about = f" (campaign {campaign_id})" if campaign_id else ""
            on_event(f"STOP from {phone}{about}: suppressed, confirmation queued")
        now_bound = getattr(provider, "bound", None)
        if bound is not None and now_bound is not None and now_bound != bound:
            on_event("bind restored" if now_bound else "bind lost: reconnecting")
        bound = now_bound


async def run_worker(
    database: Database,
    provider: Provider,
    clock: Clock,
    stop: asyncio.Event,
    *,
    schedule_interval: float = 5.0,
    rate: float | None = None,
    idle_max: float | None = 1.0,
    on_event: Callable[[str], None] | None = None,
    event_interval: float = 0.5,
    max_parts: int = DEFAULT_MAX_PARTS,
    public_url: str | None = None,
    webhooks_allow_private: bool = False,
) -> WorkerReport:
    """Keep the bind open and run everything that sends or receives, until ``stop`` is set.

    Webhook deliveries (:class:`~stopsms.engine.webhooks.WebhookSender`) run beside the
    dispatcher on the same database thread; ``webhooks_allow_private`` is
    ``STOPSMS_WEBHOOKS_ALLOW_PRIVATE``.

    ``on_event`` is told, as one line each, that the bind is up, a campaign started, changed
    status or could not start, a STOP was recorded, the bind was lost or restored. The bind
    failing at start raises :class:`~stopsms.providers.base.ProviderError` (nothing ran).
    """
    thread = DatabaseThread(database)
    membership = Membership(database, role="worker", on_event=on_event)
    try:
        await membership.start()
        reconciled = await thread.run(lambda conn: outbox.reconcile(conn))
        gate = SuppressionGate()
        dispatcher = Dispatcher(
            thread,
            provider,
            clock,
            gate=gate,
            rate=rate,
            idle_max=idle_max,
            token=membership.id,
        )
        inbound = InboundHandler(
            thread,
            clock,
            gate,
            blocked_codes=getattr(provider, "blocked_codes", DEFAULT_BLOCKED_CODES),
            on_confirmation=dispatcher.wake,
        )
        report = WorkerReport(reconciled, dispatcher.stats, inbound.stats)
        halt = asyncio.Event()

        async def halt_when(event: asyncio.Event) -> None:
            await event.wait()
            halt.set()

        halters = [asyncio.create_task(halt_when(e)) for e in (stop, membership.lost)]

        async def schedule() -> None:
            while not halt.is_set():
                prepared = await _prepare_due(
                    thread,
                    clock,
                    on_event,
                    max_parts,
                    substitutes_shortcode(provider),
                    public_url,
                )
                if prepared:
                    report.prepared.extend(prepared)
                    dispatcher.wake()
                await clock.sleep(schedule_interval)

        try:
            slots = bind_slots(provider)
            if slots is not None and not await membership.acquire_binds(slots, stop=halt):
                return report
            # STOPs are reported from here on, the bind included (one may arrive at once).
            last_stop = await thread.run(_last_optout)
            await provider.start(inbound.handlers)
            if on_event is not None:
                on_event("bound to the SMSC; Ctrl-C to stop")
            scheduler = asyncio.create_task(schedule())
            webhooks = WebhookSender(
                thread, clock, allow_private=webhooks_allow_private, on_event=on_event
            )
            webhook_task = asyncio.create_task(webhooks.run(halt))
            watcher = None
            if on_event is not None:
                watcher = asyncio.create_task(
                    _watch(thread, provider, on_event, halt, event_interval, last_stop)
                )
            try:
                await dispatcher.run(halt, until_done=False)
            finally:
                for task in (scheduler, webhook_task, watcher):
                    if task is None:
                        continue
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await provider.close()
                await inbound.close()
        finally:
            for task in halters:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if membership.lost.is_set():
            raise ServiceError(_LEASE_LOST)
        return report
    finally:
        await membership.close()
        thread.close()
