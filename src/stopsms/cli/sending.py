"""``stopsms campaign send``, ``stopsms worker`` and ``stopsms replies list``.

Registered in :mod:`stopsms.cli.main`: ``send`` on the campaign group, ``worker`` as a
top-level command, ``replies_app`` as the ``replies`` group. The provider comes from
``--provider URL`` or ``STOPSMS_PROVIDER_URL`` (``smpp://id:pw@host:port?window=64&tps=500``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stopsms.app import NoProvider, results
from stopsms.cli.console import (
    LARGEST_INTEGER,
    console,
    err_console,
    escape,
    fail,
    handles_errors,
    print_json,
)
from stopsms.cli.context import application
from stopsms.cli.hints import command, worded
from stopsms.cli.jobs import jobs_alongside
from stopsms.clock import Clock, SystemClock
from stopsms.domain.campaign import CampaignStatus
from stopsms.domain.errors import StopsmsError
from stopsms.engine.sending import (
    DATABASE_KEPT,
    SendProgress,
    SendReport,
    SendStopped,
    resume_fix,
    resume_hint,
    run_worker,
    send_campaign,
)
from stopsms.providers.base import Provider, ProviderError
from stopsms.services.accounts.accounts import Account, get_account
from stopsms.services.campaigns.holds import DISPLAY_ZONE, describe_holds
from stopsms.services.messages.outbox import Reconciliation
from stopsms.services.messages.replies import latest_replies
from stopsms.store.database import Database
from stopsms.store.faults import DatabaseFault

__all__ = ["replies_app", "send", "send_with_progress", "worker"]

replies_app = typer.Typer(help="Inbound SMS (replies, STOP, START) received by the account.")

#: Seconds between two plain progress lines when the output is not a terminal.
PLAIN_EVERY = 2.0

ProviderOption = Annotated[
    str | None,
    typer.Option("--provider", help="Provider URL (default: STOPSMS_PROVIDER_URL)."),
]


def _provider(url: str | None) -> Provider:
    """The provider of ``--provider URL``, else of the settings (wired by the App)."""
    try:
        return application().provider(url)
    except NoProvider:
        fail("no provider: give --provider smpp://… or set STOPSMS_PROVIDER_URL")


def _describe(progress: SendProgress, zone: ZoneInfo = DISPLAY_ZONE) -> str:
    text = f"sent {progress.sent:,} · delivered {progress.delivered:,} · "
    if progress.unknown:
        text += f"unknown {progress.unknown:,} · "
    text += f"STOPs {progress.stops:,} · {progress.status.value}"
    if progress.held and progress.held_groups:
        text += f" · {describe_holds(progress.held_groups, zone=zone)}"
    return text


def _plain_progress(campaign_id: int, zone: ZoneInfo) -> Callable[[SendProgress], None]:
    """Progress as plain lines for an output that is not a terminal (a pipe, a log): a line
    when something changed, at most every :data:`PLAIN_EVERY` seconds, and each status change
    at once (Rich's live bar prints nothing there until the end)."""
    last: dict[str, object] = {"at": -PLAIN_EVERY, "line": "", "status": None}

    def on_progress(progress: SendProgress) -> None:
        now = time.monotonic()
        line = f"campaign {campaign_id}: {progress.done:,}/"
        line += f"{progress.ready:,} · {_describe(progress, zone)}"
        moved = progress.status is not last["status"]
        if line != last["line"] and (moved or now - float(str(last["at"])) >= PLAIN_EVERY):
            console.print(line, soft_wrap=True)
            console.file.flush()
            last.update(at=now, line=line, status=progress.status)

    return on_progress


def _event(line: str) -> None:
    """One event line, flushed at once (a pipe would otherwise hold it)."""
    console.print(f"{datetime.now().astimezone():%H:%M:%S} {escape(line)}", soft_wrap=True)
    console.file.flush()


async def send_with_progress(
    database: Database,
    campaign_id: int,
    provider: Provider,
    clock: Clock,
    *,
    account: Account | None = None,
    wait: bool = False,
    receipt_timeout: float = 300.0,
    idle_max: float | None = 1.0,
    allow_partial: bool = False,
    max_parts: int,
    public_url: str | None = None,
    zone: ZoneInfo = DISPLAY_ZONE,
) -> SendReport:
    """Run :func:`send_campaign` under a Rich progress bar (sent, delivered, STOPs, held until …,
    in ``zone``: the account's) and print what it reconciled and how it ended. ``campaign
    send`` and ``demo`` use it."""
    columns = (
        TextColumn("[bold]campaign {task.fields[campaign]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    terminal = console.is_terminal
    with Progress(*columns, console=console, transient=False, disable=not terminal) as bar:
        task = bar.add_task("starting", total=None, campaign=campaign_id)

        def on_bar(progress: SendProgress) -> None:
            bar.update(
                task,
                total=max(progress.ready, 1),
                completed=progress.done,
                description=_describe(progress, zone),
            )

        on_progress = on_bar if terminal else _plain_progress(campaign_id, zone)
        if not terminal:
            console.print(f"campaign {campaign_id}: starting", soft_wrap=True)
            console.file.flush()

        def on_reconciled(reconciled: Reconciliation) -> None:
            if reconciled.unknown:
                console.print(
                    f"[yellow]{reconciled.unknown:,} message(s) were in flight when the previous"
                    " run stopped: reconciled as 'unknown' (never resent)[/]"
                )
            if reconciled.released:
                console.print(f"{reconciled.released:,} claimed message(s) put back in the queue")
            console.file.flush()  # reported even if this run is killed in turn

        report = await send_campaign(
            database,
            campaign_id,
            provider,
            clock,
            account=account,
            wait=wait,
            receipt_timeout=receipt_timeout,
            on_progress=on_progress,
            on_reconciled=on_reconciled,
            idle_max=idle_max,
            allow_partial=allow_partial,
            max_parts=max_parts,
            public_url=public_url,
        )
    for campaign in report.dispatch.paused_campaigns:
        console.print(f"[red]campaign {campaign} paused after repeated provider errors[/]")
    if wait and not report.receipts_complete:
        console.print(f"[yellow]receipts still awaited after {receipt_timeout:g} s[/]")
    console.print(_describe(report.progress, zone))
    return report


@handles_errors
def send(
    campaign_id: Annotated[
        int, typer.Argument(min=1, max=LARGEST_INTEGER, help="Campaign id.", show_default=False)
    ],
    provider: ProviderOption = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Stay bound until every receipt arrived.")
    ] = False,
    receipt_timeout: Annotated[
        float,
        typer.Option(
            "--receipt-timeout",
            min=0,
            max=86_400,
            help="With --wait: give up after S seconds (at most a day).",
        ),
    ] = 300.0,
    account: Annotated[
        str | None, typer.Option("--account", "-a", help="Account owning the campaign.")
    ] = None,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="When the credits cannot pay every message, send to the first recipients "
            "they pay for (list order) instead of refusing; the others wait for a top-up and "
            "`campaign resume`.",
        ),
    ] = False,
) -> None:
    """Send a campaign (preparing it first if needed); run it again to resume after a crash.

    Exit status: 0 when the campaign completed; 1 when it ended otherwise (paused, cancelled);
    2 when it was refused or could not start; 130 when interrupted (it is left paused).
    """
    app = application()
    database = app.database
    route = _provider(provider)
    with app.reader() as conn:
        owner = get_account(conn, account) if account else None
        zone = DISPLAY_ZONE  # the acting account's, when there is one to act as
        with contextlib.suppress(StopsmsError):
            zone = ZoneInfo((owner or app.account(conn, None)).time_zone)

    async def main() -> SendReport:
        # Ctrl-C and SIGTERM cancel the send, which then leaves the campaign paused.
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, task.cancel)
        return await send_with_progress(
            database,
            campaign_id,
            route,
            SystemClock(),
            account=owner,
            wait=wait,
            receipt_timeout=receipt_timeout,
            allow_partial=allow_partial,
            max_parts=app.max_parts,
            public_url=app.settings.public_url,
            zone=zone,
        )

    try:
        report = asyncio.run(main())
    except SendStopped as stopped:
        if stopped.interrupted:
            err_console.print(f"[yellow]{escape(worded(stopped))}[/]", soft_wrap=True)
            raise typer.Exit(130) from None
        raise
    _ending(campaign_id, report.progress)


def _carried_on(campaign_id: int, status: CampaignStatus) -> str:
    """Where the campaign was left, with the commands that carry it on."""
    fix = resume_fix(campaign_id, status)
    hint = command(fix) if fix is not None else None
    return resume_hint(campaign_id, status) + (f" ({hint})" if hint else "")


def _ending(campaign_id: int, progress: SendProgress) -> None:
    """Say how the send ended when it did not complete the campaign, and exit 1 then."""
    status = progress.status
    if status is CampaignStatus.COMPLETED:
        return
    if status is CampaignStatus.PAUSED:
        fail(
            f"campaign {campaign_id} is paused, not completed: {progress.sent:,} sent, "
            f"{progress.waiting:,} waiting — see `stopsms campaign report {campaign_id}`; "
            + _carried_on(campaign_id, status),
            code=1,
        )
    if status is CampaignStatus.CANCELLED:
        fail(
            f"campaign {campaign_id} was cancelled, not completed: {progress.sent:,} sent "
            "before the cancellation",
            code=1,
        )
    fail(f"campaign {campaign_id} ended {status.value}, not completed", code=1)


@handles_errors
def worker(
    provider: ProviderOption = None,
    jobs: Annotated[
        bool, typer.Option("--jobs", help="Also run background jobs (imports, sends, exports).")
    ] = False,
) -> None:
    """Keep the provider bound: handle STOP replies and receipts, send confirmations and
    informative messages, dispatch active campaigns and start scheduled ones on time."""
    app = application()
    database = app.database
    route = _provider(provider)
    route_name = getattr(getattr(route, "config", None), "redacted", lambda: "the SMSC")()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        _event(f"worker: binding to {route_name}")
        try:
            async with jobs_alongside(app) if jobs else contextlib.nullcontext():
                report = await run_worker(
                    database,
                    route,
                    SystemClock(),
                    stop,
                    on_event=_event,
                    max_parts=app.max_parts,
                    public_url=app.settings.public_url,
                    webhooks_allow_private=app.settings.webhooks_allow_private,
                )
        except ProviderError as exc:
            fail(
                f"worker cannot bind, nothing handled: {escape(str(exc))}; run `stopsms worker`"
                " again once the SMSC accepts the bind"
            )
        except DatabaseFault as fault:
            fail(
                f"worker stopped: {escape(str(fault))}; {DATABASE_KEPT}: run `stopsms worker`"
                " again once that is fixed"
            )
        console.print(
            f"stopped: {report.dispatch.submitted:,} sent, {report.inbound.inbound:,} inbound "
            f"({report.inbound.optouts:,} opt-outs), {report.inbound.receipts:,} receipts; "
            f"{report.reconciled.unknown:,} in-flight message(s) reconciled at start"
        )

    asyncio.run(main())


@replies_app.command("list")
@handles_errors
def list_replies(
    account: Annotated[str | None, typer.Option("--account", "-a", help="Account.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=LARGEST_INTEGER, help="How many, newest first.")
    ] = 50,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """The latest inbound SMS of the account: who, what, how it was understood."""
    app = application()
    with app.reader() as conn:
        replies = latest_replies(conn, app.account_name(account), limit)
    if json_output:
        for reply in replies:
            print_json(results.plain(reply))
        return
    table = Table("id", "received", "from", "to", "text", "intent", "campaign")
    for row in replies:
        intent = row.intent + ("" if row.certain else " (uncertain)")
        table.add_row(
            str(row.id),
            f"{row.received_at:%Y-%m-%d %H:%M:%S}",
            row.sender_e164 or "",
            row.recipient or "",
            escape(row.text or ""),
            intent,
            str(row.campaign_id or ""),
        )
    console.print(table)
