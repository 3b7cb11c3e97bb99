"""Sending: ``campaign send`` and ``worker``, the use cases that run the dispatch engine.

Both wire the same parts around one provider bind: a
:class:`~stopsms.dispatch.worker_thread.DatabaseThread` (all database work), a
:class:`~stopsms.dispatch.gate.SuppressionGate`, an
:class:`~stopsms.inbound.handler.InboundHandler` (MO and receipts, acknowledged after commit)
and a :class:`~stopsms.dispatch.dispatcher.Dispatcher`.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from sqlalchemy import Connection, func, select

from stopsms.clock import Clock
from stopsms.dispatch import outbox
from stopsms.dispatch.dispatcher import Dispatcher, DispatchStats
from stopsms.dispatch.gate import SuppressionGate
from stopsms.dispatch.outbox import Reconciliation
from stopsms.dispatch.worker_thread import DatabaseThread
from stopsms.domain.campaign import ACTIVE, CampaignStatus, MessageStatus
from stopsms.inbound.handler import InboundHandler, InboundStats
from stopsms.inbound.receipts import DEFAULT_BLOCKED_CODES
from stopsms.providers.base import Provider
from stopsms.services.accounts import AccountRef
from stopsms.services.errors import ServiceError
from stopsms.services.preparation import campaign_of, prepare_campaign
from stopsms.services.stop_mention import check_sending, substitutes_shortcode
from stopsms.store import tables as t
from stopsms.store.database import Database

__all__ = ["SendProgress", "SendReport", "WorkerReport", "run_worker", "send_campaign"]

log = logging.getLogger(__name__)

_M = t.messages
_S = MessageStatus


@dataclass(frozen=True, slots=True)
class SendProgress:
    """Where a campaign stands, for a progress bar."""

    campaign_id: int
    status: CampaignStatus
    ready: int  # messages to send (every message but the excluded at preparation)
    sent: int  # left for the provider: submitted, delivered, failed or unknown
    delivered: int
    failed: int
    rejected: int
    unknown: int
    held: int
    waiting: int  # pending, held or claimed
    stops: int  # opt-outs attributed to this campaign
    held_until: datetime | None

    @property
    def awaiting_receipt(self) -> int:
        return self.sent - self.delivered - self.failed - self.unknown


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
    sent = c(_S.SUBMITTED, _S.DELIVERED, _S.FAILED, _S.UNKNOWN)
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
    )


def _start_campaign(
    conn: Connection,
    campaign_id: int,
    clock: Clock,
    account: AccountRef | None,
    substitution: bool = False,
) -> CampaignStatus:
    """Prepare a draft or scheduled campaign; refuse a paused one, or one whose STOP mention
    would not work through this provider (``substitution``: it replaces ``STOP 00000``);
    return its status."""
    campaign, acc = campaign_of(conn, campaign_id, account)
    check_sending(acc, campaign.sender, campaign.type, substitution=substitution)
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        prepare_campaign(conn, campaign_id, clock, shortcode_substitution=substitution)
        return campaign_of(conn, campaign_id, account)[0].status
    if campaign.status is CampaignStatus.PREPARING:
        # A preparation is one transaction: "preparing" only shows a crash before commit
        # on a backend without DDL-safe rollback, or another process preparing right now.
        raise ServiceError(f"campaign {campaign_id} is being prepared; try again shortly")
    if campaign.status is CampaignStatus.PAUSED:
        raise ServiceError(
            f"campaign {campaign_id} is paused: `stopsms campaign resume {campaign_id}` first"
        )
    return campaign.status


async def _report_progress(
    thread: DatabaseThread,
    campaign_id: int,
    on_progress: Callable[[SendProgress], None],
    interval: float,
) -> None:
    while True:
        on_progress(await thread.run(lambda conn: campaign_send_progress(conn, campaign_id)))
        await asyncio.sleep(interval)


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
) -> SendReport:
    """Send campaign ``campaign_id`` through ``provider`` (see the module doc).

    ``on_reconciled`` is told at once what the reconciliation found (so it is reported even
    if this run dies too). ``account``, when given, must own the campaign. ``rate``
    overrides the provider's throughput; ``idle_max`` caps one idle sleep on ``clock``
    (``None`` for a fake clock).
    """
    thread = DatabaseThread(database)
    try:
        substitution = substitutes_shortcode(provider)
        status = await thread.run(
            lambda conn: _start_campaign(conn, campaign_id, clock, account, substitution)
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
        gate = SuppressionGate()
        dispatcher = Dispatcher(
            thread,
            provider,
            clock,
            gate=gate,
            campaign_id=campaign_id,
            rate=rate,
            idle_max=idle_max,
        )
        inbound = InboundHandler(
            thread,
            clock,
            gate,
            blocked_codes=getattr(provider, "blocked_codes", DEFAULT_BLOCKED_CODES),
            on_confirmation=dispatcher.wake,
        )
        receipts_complete = True
        reporter: asyncio.Task[None] | None = None
        await provider.start(inbound.handlers)
        try:
            if on_progress is not None:
                reporter = asyncio.create_task(
                    _report_progress(thread, campaign_id, on_progress, progress_interval)
                )
            if status in ACTIVE:
                await dispatcher.run(until_done=True)
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
    finally:
        thread.close()


def _confirmations_waiting(conn: Connection) -> int:
    waiting = (_S.PENDING.value, _S.CLAIMED.value)
    return int(
        conn.execute(
            select(func.count()).where(
                _M.c.campaign_id.is_(None), _M.c.kind == "confirmation", _M.c.status.in_(waiting)
            )
        ).scalar_one()
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
            progress = await thread.run(lambda conn: campaign_send_progress(conn, campaign_id))
            confirmations = await thread.run(_confirmations_waiting)
            if progress.awaiting_receipt <= 0 and progress.waiting == 0 and confirmations == 0:
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
    conn: Connection, *, campaign_id: int, clock: Clock, substitution: bool = False
) -> None:
    prepare_campaign(conn, campaign_id, clock, shortcode_substitution=substitution)


async def _prepare_due(
    thread: DatabaseThread, clock: Clock, substitution: bool = False
) -> list[int]:
    """Prepare every scheduled campaign whose time has come; returns their ids."""
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
                    _prepare_one, campaign_id=campaign_id, clock=clock, substitution=substitution
                )
            )
        except ServiceError as exc:
            log.error("scheduled campaign %s could not be prepared: %s", campaign_id, exc)
            continue
        prepared.append(campaign_id)
    return prepared


async def run_worker(
    database: Database,
    provider: Provider,
    clock: Clock,
    stop: asyncio.Event,
    *,
    schedule_interval: float = 5.0,
    rate: float | None = None,
    idle_max: float | None = 1.0,
) -> WorkerReport:
    """Keep the bind open and run everything that sends or receives, until ``stop`` is set."""
    thread = DatabaseThread(database)
    try:
        reconciled = await thread.run(lambda conn: outbox.reconcile(conn))
        gate = SuppressionGate()
        dispatcher = Dispatcher(thread, provider, clock, gate=gate, rate=rate, idle_max=idle_max)
        inbound = InboundHandler(
            thread,
            clock,
            gate,
            blocked_codes=getattr(provider, "blocked_codes", DEFAULT_BLOCKED_CODES),
            on_confirmation=dispatcher.wake,
        )
        report = WorkerReport(reconciled, dispatcher.stats, inbound.stats)

        async def schedule() -> None:
            while not stop.is_set():
                prepared = await _prepare_due(thread, clock, substitutes_shortcode(provider))
                if prepared:
                    report.prepared.extend(prepared)
                    dispatcher.wake()
                await clock.sleep(schedule_interval)

        await provider.start(inbound.handlers)
        scheduler = asyncio.create_task(schedule())
        try:
            await dispatcher.run(stop, until_done=False)
        finally:
            scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scheduler
            await provider.close()
            await inbound.close()
        return report
    finally:
        thread.close()
