"""``stopsms demo`` (what ``make run`` runs): the main job end to end on a fresh machine.

It starts the built-in SMSC simulator (a real SMPP 3.4 server on loopback), sets up a
``demo`` account (validated, shortcode 36034, sender and link domain verified, credits),
imports the bundled contact file (careless formats, a duplicate, bad numbers), creates a
Black Friday campaign, previews it, sends it over SMPP while some recipients reply STOP in
the middle of the campaign, and prints the report: STOPs honoured, confirmed and attributed.

Outside the legal sending hours the campaign would (rightly) wait for Monday; the demo then
runs on a simulated clock that jumps to the next opening, and says so.
"""

from __future__ import annotations

import asyncio
import random
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Connection, select

from stopsms.cli import campaigns as campaign_cli
from stopsms.cli import sending as sending_cli
from stopsms.cli.console import console, escape, handles_errors
from stopsms.clock import Clock, FakeClock, SystemClock
from stopsms.domain.phone import describe
from stopsms.domain.windows import check_window
from stopsms.providers.smpp import SmppProvider
from stopsms.services import accounts, credits, reports
from stopsms.services.campaigns import create_campaign
from stopsms.services.contact_import import ImportOptions, import_contacts
from stopsms.services.errors import UnknownAccount
from stopsms.services.preparation import prepare_campaign
from stopsms.smsc.scenario import parse_scenario
from stopsms.smsc.server import SmscSimulator, exit_process
from stopsms.store import tables as t
from stopsms.store.database import Database, open_database

ACCOUNT = "demo"
LIST = "black-friday"
SENDER = "BOUTIQUE"
DOMAIN = "boutique-demo.fr"
TEXT = (
    "Black Friday chez Boutique Démo : -30% sur tout le magasin, {first_name} ! "
    "Jusqu'à dimanche sur https://boutique-demo.fr/bf"
)
#: What the recipients who answer send back (the classifier must read each one right).
REPLIES = ("STOP", "stop svp", "Stop36034", "ARRET", "Merci mais stop", "STPO", "Merci !")


def _step(number: int, text: str) -> None:
    console.print(f"\n[bold cyan]{number}.[/] [bold]{text}[/]")


def _bundled_contacts() -> Path:
    return Path(str(resources.files("stopsms.demo").joinpath("contacts.csv")))


def _set_up_account(conn: Connection) -> accounts.Account:
    try:
        account = accounts.get_account(conn, ACCOUNT)
    except UnknownAccount:
        account = accounts.create_account(
            conn, ACCOUNT, validated=True, shortcode="36034", brand="Boutique Démo"
        )
    if SENDER not in {s.sender for s in accounts.list_senders(conn, account)}:
        accounts.add_sender(conn, account, SENDER)
    if DOMAIN not in accounts.list_domains(conn, account):
        accounts.add_domain(conn, account, DOMAIN)
    if credits.balance(conn, account).balance_millicredits < 5_000_000:
        credits.add_credits(conn, account, 10_000_000, reference="demo top-up")
    return account


def _repliers(conn: Connection, campaign_id: int, count: int) -> list[str]:
    """Numbers the simulator will answer for: some of the campaign's ready recipients."""
    m = t.messages.c
    ready = conn.execute(
        select(m.phone_e164)
        .where(m.campaign_id == campaign_id, m.decision == "ready")
        .order_by(m.id)
    ).scalars()
    numbers = [n for n in ready if n]
    # Spread over the whole campaign, so STOPs arrive while it is still sending.
    return random.Random(campaign_id).sample(numbers, min(count, len(numbers)))


def _choose_clock(database: Database) -> tuple[Clock, str | None]:
    now = SystemClock().now()
    paris = describe("+33612345678")
    decision = check_window(now, region=paris.region, time_zones=paris.time_zones)
    if decision.allowed:
        return SystemClock(), None
    note = (
        f"It is {decision.local_time:%A %H:%M} in Paris: {decision.rule}. Marketing must wait"
        f" until {decision.next_allowed:%A %d %B %H:%M}. The demo runs on a simulated clock,"
        " so you see the campaign held, then resumed when the window opens."
    )
    return FakeClock(now), note


async def _send(
    database: Database, campaign_id: int, clock: Clock, scenario_text: str, rate: float
) -> None:
    simulator = SmscSimulator(
        scenario=parse_scenario(scenario_text), deliver_ratio=0.97, receipt_delay=0.2, seed=7
    )
    port = await simulator.start()
    console.print(f"SMSC simulator listening on 127.0.0.1:{port} (SMPP 3.4, smpp34 server)")
    provider = SmppProvider(f"smpp://demo:demo@127.0.0.1:{port}?window=64&tps={rate:g}")
    try:
        await sending_cli.send_with_progress(
            database,
            campaign_id,
            provider,
            clock,
            wait=True,
            receipt_timeout=60.0,
            idle_max=None if isinstance(clock, FakeClock) else 1.0,
        )
    finally:
        await simulator.stop()
    replies = sum(1 for record in simulator.mo if record.acknowledged)
    console.print(
        f"simulator: {len(simulator.messages):,} SMS received, "
        f"{replies} replies acknowledged by stopsms after commit"
    )


@handles_errors
def demo(
    rate: Annotated[
        float, typer.Option("--rate", help="Messages per second over SMPP.", min=1.0)
    ] = 400.0,
    repliers: Annotated[
        int, typer.Option("--replies", help="How many recipients answer.", min=0)
    ] = 14,
) -> None:
    """Run a demo campaign end to end on the built-in SMSC simulator, with STOP replies."""
    database = open_database()
    try:
        _step(1, "Account 'demo': validated, shortcode 36034, sender BOUTIQUE, link domain")
        with database.transaction() as conn:
            account = _set_up_account(conn)
            balance = credits.balance(conn, account)
        console.print(
            f"account {account.name} · {credits.format_credits(balance.balance_millicredits)}"
            " credits"
        )

        _step(2, "Import the bundled contact file (careless formats, a duplicate, bad rows)")
        source = _bundled_contacts()
        with database.transaction() as conn:
            summary = import_contacts(
                conn,
                account,
                source,
                ImportOptions(
                    list_name=LIST,
                    consent="opt-in",
                    consent_source="demo: shop loyalty form",
                    rejects_path=Path("demo-contacts.rejects.csv").resolve(),
                ),
            )
        console.print(
            f"{summary.rows:,} rows: {summary.imported:,} imported, {summary.updated:,} updated,"
            f" {summary.duplicates:,} duplicate merged, {summary.rejected:,} rejected ("
            + ", ".join(f"{k}: {v}" for k, v in summary.rejected_by_reason.items())
            + ")",
            soft_wrap=True,
        )
        if summary.rejects_path:
            console.print(f"rejects with line numbers: {escape(summary.rejects_path)}")

        clock, clock_note = _choose_clock(database)
        _step(3, "Create and preview the campaign")
        with database.transaction() as conn:
            created = create_campaign(
                conn,
                account,
                list_name=LIST,
                text=TEXT,
                sender=SENDER,
                clock=clock,
                name="Black Friday (demo)",
            )
        campaign_id = created.campaign.id
        prepare_campaign(database, campaign_id, clock, account=ACCOUNT)
        with database.reader() as conn:
            campaign_cli.print_preview(
                reports.preview_campaign(conn, account, campaign_id, clock, rate=rate)
            )
            chosen = _repliers(conn, campaign_id, repliers + 1)
        answering, blocked = chosen[:-1], chosen[-1:]

        _step(4, f"Send over SMPP; {len(answering)} recipients answer while it is sending")
        if clock_note:
            console.print(f"[yellow]{escape(clock_note)}[/]")
        lines = [f"after-first {n} {REPLIES[i % len(REPLIES)]}" for i, n in enumerate(answering)]
        # The aggregator already blocks one number: its receipt says 061 (an opt-out too).
        lines += [f"blocked {n} 061" for n in blocked]
        for line in lines:
            console.print(f"  scenario: {escape(line)}", style="dim")
        asyncio.run(_send(database, campaign_id, clock, "\n".join(lines), rate))

        _step(5, "Report")
        with database.reader() as conn:
            report = reports.campaign_report(conn, account, campaign_id)
        campaign_cli.print_report(report)
        console.print(
            f"\nNext: [bold]stopsms campaign export {campaign_id} --account demo[/],"
            " [bold]stopsms replies list --account demo[/],"
            " [bold]stopsms optouts list --account demo[/]"
        )
    finally:
        database.close()
    exit_process(0)  # the simulator ran in this process: see exit_process (smpp34's threads)
