"""``stopsms demo`` (what ``make run`` runs): the main job end to end on a fresh machine.

It starts the built-in SMSC simulator (a real SMPP 3.4 server on loopback), sets up a
``demo`` account (validated, shortcode 36034, sender and link domain verified, credits),
imports the bundled contact file (careless formats, a duplicate, bad numbers), creates a
Black Friday campaign, previews it, sends it over SMPP while some recipients reply STOP in
the middle of the campaign, and prints the report: STOPs honoured, confirmed and attributed.

The demo must finish in seconds at any hour, on any day, whatever the machine's time zone. Its
contacts live in several territories (mainland France, Réunion, Mayotte, the Antilles,
Guiana…), each with its own local hours and holidays, so the clock is chosen from the windows
of every recipient of the list, not from Paris alone: when any of them would be held now or
before the campaign can finish (its expected duration plus a margin), the demo runs on a
simulated clock that jumps to each next opening, and says which territories are closed and
until when. Only when every recipient is open for the whole run does it use the real clock.
``--start`` (hidden, for tests) starts the simulated clock at a given instant.

Every step is printed as it starts, flushed, whether or not the output is a terminal.

Then, unless ``--no-serve``, it serves the customer area on http://127.0.0.1:8000 (``--port``)
with the demo account, its campaign and a user of the demo account, ``demo@boutique-demo.fr``,
whose password is made anew by each run and printed with the address: a password that never
changes would be a door left open on any machine where the demo once ran. The port is taken
before the demo starts, so a port in use is one sentence at once (with ``--port`` as the way
out), not after the campaign. A new simulator (no scripted replies) stays up while it serves,
so what one sends from the composer leaves; ``STOPSMS_PROVIDER_URL``, when set, is used
instead. Ctrl-C stops it: the server finishes its requests, the engine and the simulator
stop, exit code 0, no traceback.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import secrets
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Connection, select

from stopsms.app import App
from stopsms.cli import campaigns as campaign_cli
from stopsms.cli import sending as sending_cli
from stopsms.cli.console import console, escape, fail, handles_errors
from stopsms.cli.contacts import merged_text
from stopsms.cli.context import application
from stopsms.clock import Clock, FakeClock, SystemClock
from stopsms.domain.parts import DEFAULT_MAX_PARTS
from stopsms.domain.phone import describe
from stopsms.domain.windows import check_window, policy_for
from stopsms.errors import NotFound, UnknownAccount
from stopsms.providers.smpp import SmppProvider
from stopsms.services.access import users
from stopsms.services.access.roles import Role
from stopsms.services.accounts import accounts, credits
from stopsms.services.campaigns import reports
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.contacts.importing import (
    ImportOptions,
    import_contacts_committed,
)
from stopsms.smsc.scenario import parse_scenario
from stopsms.smsc.server import SmscSimulator, exit_process
from stopsms.store import tables as t
from stopsms.store.database import Database

ACCOUNT = "demo"
LIST = "black-friday"
SENDER = "BOUTIQUE"
DOMAIN = "boutique-demo.fr"
TEXT = (
    "Black Friday chez Boutique Démo : -30% sur tout le magasin, {first_name} ! "
    "Jusqu'à dimanche sur https://boutique-demo.fr/bf"
)
#: The customer area's demo user (an owner of the demo account) and where it is served.
DEMO_EMAIL = "demo@boutique-demo.fr"
HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: What the recipients who answer send back (the classifier must read each one right).
REPLIES = ("STOP", "stop svp", "Stop36034", "ARRET", "Merci mais stop", "STPO", "Merci !")


#: Besides the messages themselves (count / rate), what a run needs: receipts, confirmations.
_RUN_MARGIN = timedelta(minutes=5)


def _step(number: int, text: str) -> None:
    console.print(f"\n[bold cyan]{number}.[/] [bold]{text}[/]")
    console.file.flush()  # shown at once, also into a pipe


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


def _territories(conn: Connection, list_name: str) -> dict[tuple[str, tuple[str, ...]], int]:
    """(territory, time zones) → how many members of the list live there."""
    c, m, li = t.contacts.c, t.list_members.c, t.lists.c
    numbers = conn.execute(
        select(c.phone_e164)
        .join(t.list_members, m.contact_id == c.id)
        .join(t.lists, li.id == m.list_id)
        .where(li.name == list_name, c.account_id == li.account_id, c.phone_e164.isnot(None))
    ).scalars()
    found: dict[tuple[str, tuple[str, ...]], int] = {}
    for number in numbers:
        described = describe(number)
        key = (described.region, described.time_zones)
        found[key] = found.get(key, 0) + 1
    return found


def choose_clock(
    territories: dict[tuple[str, tuple[str, ...]], int],
    now: datetime,
    duration: timedelta,
    *,
    window_policy: str | None = None,
    start: datetime | None = None,
) -> tuple[Clock, str | None]:
    """The real clock when every recipient's window is open from ``now`` until the run is
    over (``duration`` later), else a simulated clock starting at ``now``, with a note saying
    which territories are closed and until when. ``start`` forces a simulated clock there."""
    at = start or now
    closed: list[str] = []
    for (region, zones), _count in sorted(territories.items()):
        policy = policy_for(region, window_policy)
        now_there = check_window(at, region=region, time_zones=zones, policy=policy)
        if now_there.allowed:
            end = check_window(at + duration, region=region, time_zones=zones, policy=policy)
            if end.allowed:
                continue
            closes = now_there.window_end
            why = f"open, but closes {closes:%a %H:%M} local before the run can finish"
            opens = end.next_allowed
        else:
            why = f"{now_there.local_time:%a %H:%M} there: {now_there.rule}"
            opens = now_there.next_allowed
        reopen = f"opens {opens:%a %d %b %H:%M} local" if opens is not None else "no opening soon"
        closed.append(f"  {region}: {why}; {reopen}")
    if start is None and not closed:
        return SystemClock(), None
    lines = [
        f"Simulated clock from {at.astimezone(UTC):%a %d %b %Y %H:%M} UTC"
        + (" (--start)" if start is not None else "")
        + (": some recipients are outside their legal sending hours." if closed else ".")
    ]
    if closed:
        lines += closed
        lines.append(
            "Marketing waits for each recipient's own hours: the simulated clock jumps to each"
            " next opening, so you see the campaign held, then resumed, in seconds."
        )
    return FakeClock(at), "\n".join(lines)


def _start_option(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--start {escape(value)!r}: not an ISO date and time (e.g. 2026-11-27T18:30Z)")
    if start.tzinfo is None:
        fail(f"--start {escape(value)!r}: give its offset (e.g. Z or +01:00)")
    return start


async def _send(
    database: Database,
    campaign_id: int,
    clock: Clock,
    scenario_text: str,
    rate: float,
    max_parts: int,
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
            max_parts=max_parts,
        )
    finally:
        await simulator.stop()
    replies = sum(1 for record in simulator.mo if record.acknowledged)
    console.print(
        f"simulator: {len(simulator.messages):,} SMS received, "
        f"{replies} replies acknowledged by stopsms after commit"
    )


def run_demo(
    database: Database,
    *,
    rate: float = 400.0,
    repliers: int = 14,
    start: datetime | None = None,
    contacts: Path | None = None,
    max_parts: int = DEFAULT_MAX_PARTS,
) -> int:
    """Every step of the demo on ``database``; the campaign's id. ``start``: a simulated
    clock's start (else the clock is chosen from the recipients' windows, see the module)."""
    _step(1, "Account 'demo': validated, shortcode 36034, sender BOUTIQUE, link domain")
    with database.transaction() as conn:
        account = _set_up_account(conn)
        balance = credits.balance(conn, account)
    console.print(
        f"account {account.name} · {credits.format_credits(balance.balance_millicredits)} credits"
    )

    _step(2, "Import the bundled contact file (careless formats, a duplicate, bad rows)")
    source = contacts or _bundled_contacts()
    summary = import_contacts_committed(
        database.transaction,
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
    if summary.superseded:
        console.print(f"merged: {escape(merged_text(summary, report=False))}", soft_wrap=True)
    if summary.rejects_path:
        console.print(
            f"rejected and superseded rows with line numbers: {escape(summary.rejects_path)}",
            soft_wrap=True,
        )

    with database.reader() as conn:
        territories = _territories(conn, LIST)
    members = sum(territories.values())
    clock, clock_note = choose_clock(
        territories,
        SystemClock().now(),
        timedelta(seconds=members / rate) + _RUN_MARGIN,
        window_policy=account.window_policy,
        start=start,
    )
    if clock_note:
        console.print(f"[yellow]{escape(clock_note)}[/]", soft_wrap=True)
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
        console.print("[yellow]on the simulated clock (see above)[/]")
    lines = [f"after-first {n} {REPLIES[i % len(REPLIES)]}" for i, n in enumerate(answering)]
    # The aggregator already blocks one number: its receipt says 061 (an opt-out too).
    lines += [f"blocked {n} 061" for n in blocked]
    for line in lines:
        console.print(f"  scenario: {escape(line)}", style="dim")
    asyncio.run(_send(database, campaign_id, clock, "\n".join(lines), rate, max_parts))

    _step(5, "Report")
    with database.reader() as conn:
        report = reports.campaign_report(conn, account, campaign_id)
    campaign_cli.print_report(report)
    console.print(
        f"\nNext: [bold]stopsms campaign export {campaign_id} --account demo[/],"
        " [bold]stopsms replies list --account demo[/],"
        " [bold]stopsms optouts list --account demo[/]"
    )
    return campaign_id


def listen(port: int) -> socket.socket:
    """A socket listening on :data:`HOST`:``port`` (0: any free port), taken before the demo
    runs; a port in use is one line naming the way out."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            fail(
                f"port {port} on {HOST} is taken (another server, or a demo still running):"
                " choose another one with `stopsms demo --port 8001` (`make run PORT=8001`;"
                " 0: any free port), or run the demo alone with `stopsms demo --no-serve`"
            )
        fail(f"cannot listen on {HOST}:{port}: {error.strerror} (`stopsms demo --port N`)")
    return sock


def demo_login(database: Database) -> str:
    """Make :data:`DEMO_EMAIL` an owner of the demo account with a new random password (each
    run: see the module doc); the password."""
    password = secrets.token_urlsafe(12)  # 16 characters, 96 bits
    now = SystemClock().now()
    with database.transaction() as conn:
        try:
            users.reset_password(conn, DEMO_EMAIL, password, actor="demo", now=now)
            users.set_role(conn, DEMO_EMAIL, ACCOUNT, Role.OWNER, actor="demo", now=now)
        except NotFound:
            users.create_user(
                conn, DEMO_EMAIL, password, account=ACCOUNT, role=Role.OWNER, actor="demo", now=now
            )
    return password


async def _serve(app: App, server: Any, sock: socket.socket) -> None:
    simulator = None
    if app.settings.provider_url is None:
        simulator = SmscSimulator(deliver_ratio=0.97, receipt_delay=0.2, seed=7)
        smsc_port = await simulator.start()
        url = f"smpp://demo:demo@127.0.0.1:{smsc_port}?window=64&tps=400"
        app.settings = replace(app.settings, provider_url=url)  # read when the engine starts
    try:
        await server.serve(sockets=[sock])
    finally:
        if simulator is not None:
            await simulator.stop()


def serve_area(app: App, sock: socket.socket) -> None:
    """Serve the customer area on ``sock`` until Ctrl-C, after printing its address and the
    demo login.

    Ctrl-C is caught from before the address is printed (someone may press it at once): the
    server then starts and stops at once, cleanly. uvicorn's own signal capture is turned off,
    as it raises the signal again once stopped, which would end the demo with a traceback.
    """
    import uvicorn  # here: every other command starts without it

    from stopsms.server import create_server

    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # serve_area's handlers, installed before the address is printed

    config = uvicorn.Config(
        create_server(app, engine=True), log_level="warning", access_log=False, lifespan="on"
    )
    server = Server(config)
    handled = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.signal(sig, server.handle_exit) for sig in handled}
    try:
        password = demo_login(app.database)
        port = sock.getsockname()[1]
        _step(6, "The customer area")
        console.print(
            f"open http://{HOST}:{port}/login and sign in as {DEMO_EMAIL} with the password"
            f" {password}",
            soft_wrap=True,
            highlight=False,
        )
        console.print("serving until Ctrl-C")
        console.file.flush()
        logging.basicConfig(level=logging.WARNING, format="%(levelname)-9s %(message)s")
        asyncio.run(_serve(app, server, sock))
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    console.print("stopped")


@handles_errors
def demo(
    rate: Annotated[
        float, typer.Option("--rate", help="Messages per second over SMPP.", min=1.0)
    ] = 400.0,
    repliers: Annotated[
        int, typer.Option("--replies", help="How many recipients answer.", min=0)
    ] = 14,
    no_serve: Annotated[
        bool,
        typer.Option("--no-serve", help="Run the demo alone, without serving the area after it."),
    ] = False,
    port: Annotated[
        int,
        typer.Option(
            "--port", min=0, max=65535, help="Port of the customer area (0: any free one)."
        ),
    ] = DEFAULT_PORT,
    start: Annotated[
        str | None,
        typer.Option("--start", hidden=True, help="Start a simulated clock at this instant."),
    ] = None,
    contacts: Annotated[
        Path | None, typer.Option("--contacts", hidden=True, help="Another contact file.")
    ] = None,
) -> None:
    """Run a demo campaign end to end on the built-in SMSC simulator, with STOP replies, then
    serve the customer area on it (http://127.0.0.1:8000) until Ctrl-C."""
    simulated_start = _start_option(start)
    sock = None if no_serve else listen(port)
    app = application()
    try:
        run_demo(
            app.database,
            rate=rate,
            repliers=repliers,
            start=simulated_start,
            contacts=contacts,
            max_parts=app.max_parts,
        )
        if sock is not None:
            serve_area(app, sock)
    finally:
        if sock is not None:
            sock.close()
        app.close()
    exit_process(0)  # the simulator ran in this process: see exit_process (smpp34's threads)
