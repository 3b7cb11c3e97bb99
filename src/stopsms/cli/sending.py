"""``stopsms campaign send``, ``stopsms worker`` and ``stopsms replies list``.

Registered in :mod:`stopsms.cli.main`: ``send`` on the campaign group, ``worker`` as a
top-level command, ``replies_app`` as the ``replies`` group. The provider comes from
``--provider URL`` or ``STOPSMS_PROVIDER_URL`` (``smpp://id:pw@host:port?window=64&tps=500``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from stopsms.cli.console import LARGEST_INTEGER, console, escape, fail, handles_errors, print_json
from stopsms.clock import Clock, SystemClock
from stopsms.config import load_settings
from stopsms.dispatch.outbox import Reconciliation
from stopsms.providers.base import Provider
from stopsms.services.accounts import Account, get_account
from stopsms.services.sending import SendProgress, SendReport, run_worker, send_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database, open_database

__all__ = ["replies_app", "send", "send_with_progress", "worker"]

replies_app = typer.Typer(help="Inbound SMS (replies, STOP, START) received by the account.")

ProviderOption = Annotated[
    str | None,
    typer.Option("--provider", help="Provider URL (default: STOPSMS_PROVIDER_URL)."),
]


def _provider(url: str | None) -> Provider:
    url = url or load_settings().provider_url
    if not url:
        fail("no provider: give --provider smpp://… or set STOPSMS_PROVIDER_URL")
    if not url.startswith(("smpp://", "smpps://")):
        fail(f"unsupported provider URL {escape(url)!r} (expected smpp:// or smpps://)")
    from stopsms.providers.smpp import SmppProvider

    return SmppProvider(url)


def _describe(progress: SendProgress) -> str:
    text = (
        f"sent {progress.sent:,} · delivered {progress.delivered:,} · "
        f"STOPs {progress.stops:,} · {progress.status.value}"
    )
    if progress.held and progress.held_until is not None:
        local = progress.held_until.astimezone()
        text += f" · {progress.held:,} held until {local:%a %d %b %H:%M}"
    return text


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
) -> SendReport:
    """Run :func:`send_campaign` under a Rich progress bar (sent, delivered, STOPs, held until …)
    and print what it reconciled and how it ended. ``campaign send`` and ``demo`` use it."""
    columns = (
        TextColumn("[bold]campaign {task.fields[campaign]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("starting", total=None, campaign=campaign_id)

        def on_progress(progress: SendProgress) -> None:
            bar.update(
                task,
                total=max(progress.ready, 1),
                completed=progress.sent + progress.rejected,
                description=_describe(progress),
            )

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
        )
    for campaign in report.dispatch.paused_campaigns:
        console.print(f"[red]campaign {campaign} paused after repeated provider errors[/]")
    if wait and not report.receipts_complete:
        console.print(f"[yellow]receipts still awaited after {receipt_timeout:g} s[/]")
    console.print(_describe(report.progress))
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
        typer.Option("--receipt-timeout", min=0, help="With --wait: give up after S seconds."),
    ] = 300.0,
    account: Annotated[
        str | None, typer.Option("--account", "-a", help="Account owning the campaign.")
    ] = None,
) -> None:
    """Send a campaign (preparing it first if needed); run it again to resume after a crash."""
    database = open_database()
    route = _provider(provider)
    try:
        with database.reader() as conn:
            owner = get_account(conn, account) if account else None
        asyncio.run(
            send_with_progress(
                database,
                campaign_id,
                route,
                SystemClock(),
                account=owner,
                wait=wait,
                receipt_timeout=receipt_timeout,
            )
        )
    finally:
        database.close()


@handles_errors
def worker(provider: ProviderOption = None) -> None:
    """Keep the provider bound: handle STOP replies and receipts, send confirmations and
    informative messages, dispatch active campaigns and start scheduled ones on time."""
    database = open_database()
    route = _provider(provider)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        console.print("worker bound; Ctrl-C to stop")
        report = await run_worker(database, route, SystemClock(), stop)
        console.print(
            f"stopped: {report.dispatch.submitted:,} sent, {report.inbound.inbound:,} inbound "
            f"({report.inbound.optouts:,} opt-outs), {report.inbound.receipts:,} receipts; "
            f"{report.reconciled.unknown:,} in-flight message(s) reconciled at start"
        )

    asyncio.run(main())
    database.close()


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
    database = open_database()
    i = t.inbound_messages
    with database.reader() as conn:
        acc = get_account(conn, account or load_settings().default_account)
        rows = conn.execute(
            select(
                i.c.id,
                i.c.received_at,
                i.c.sender_e164,
                i.c.recipient,
                i.c.text,
                i.c.intent,
                i.c.certain,
                i.c.campaign_id,
            )
            .where(i.c.account_id == acc.id)
            .order_by(i.c.id.desc())
            .limit(limit)
        ).all()
    database.close()
    if json_output:
        for row in rows:
            print_json(dict(row._mapping))
        return
    table = Table("id", "received", "from", "to", "text", "intent", "campaign")
    for row in rows:
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
