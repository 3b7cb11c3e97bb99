"""``stopsms campaign …``: create, preview, list, report, export, pause, resume, cancel.

The sub-app is :data:`campaign_app` (``send`` is added to it by :mod:`stopsms.cli.main` from
:mod:`stopsms.cli.sending`). Every command takes ``--account NAME`` (default from settings),
turns refusals into one clear line, and ``--json`` prints one JSON document instead.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from sqlalchemy import Connection

from stopsms.app import App, results
from stopsms.cli.console import (
    LARGEST_INTEGER,
    console,
    err_console,
    escape,
    fail,
    handles_errors,
    print_json,
)
from stopsms.cli.context import account_name, application, transaction
from stopsms.cli.hints import worded
from stopsms.cli.options import AccountOption, JsonOption
from stopsms.clock import SystemClock
from stopsms.domain.campaign import CampaignStatus
from stopsms.domain.mention import MessageType
from stopsms.domain.parts import TooManyParts
from stopsms.services.accounts.credits import format_credits
from stopsms.services.campaigns import campaigns as svc
from stopsms.services.campaigns import reports
from stopsms.services.campaigns.campaigns import Campaign
from stopsms.services.campaigns.holds import DISPLAY_ZONE, describe_holds
from stopsms.services.campaigns.lengths import check_length
from stopsms.services.campaigns.preparation import resume_sending
from stopsms.services.campaigns.shortfall import shortfall_of
from stopsms.services.exports import export_format, written_whole

__all__ = ["campaign_app"]

campaign_app = typer.Typer(help="Campaigns: create, preview, send, follow and report.")

IdArgument = Annotated[
    int, typer.Argument(min=1, max=LARGEST_INTEGER, help="Campaign id.", show_default=False)
]


def _credits(millicredits: int) -> str:
    return format_credits(millicredits)


def _when(value: datetime | None, zone: ZoneInfo = DISPLAY_ZONE) -> str:
    """An instant in the account's zone, named (``Tue 2026-11-24 08:00:00 Europe/Paris``):
    an abbreviation such as ``CET`` or ``AST`` is ambiguous, and the machine's zone is not
    the account's."""
    return f"{value.astimezone(zone):%a %Y-%m-%d %H:%M:%S} {zone.key}" if value else "—"


def _zone(app: App, connection: Connection, account: str | None) -> ZoneInfo:
    """The acting account's time zone (its ``time_zone`` setting)."""
    return ZoneInfo(app.account(connection, account).time_zone)


@campaign_app.command("create")
@handles_errors
def create(
    list_name: Annotated[str, typer.Option("--list", help="Name of the list to send to.")],
    text: Annotated[str, typer.Option("--text", help="The message ($prenom, {first_name}…).")],
    sender: Annotated[str, typer.Option("--sender", help="Sender ID (on the account's list).")],
    message_type: Annotated[
        str, typer.Option("--type", help="marketing (default) or informative.")
    ] = "marketing",
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Schedule (ISO-8601; without an offset: the account's time zone, Europe/Paris"
            " unless set).",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Campaign name.")] = None,
    account: AccountOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a campaign (draft, or scheduled with --at) and print its id."""
    try:
        kind = MessageType(message_type.strip().lower())
    except ValueError:
        fail(f"invalid --type {message_type!r}: marketing or informative")
    app = application()
    with app.transaction() as connection:
        created = svc.create_campaign(
            connection,
            account_name(account),
            list_name=list_name,
            text=text,
            sender=sender,
            clock=SystemClock(),
            message_type=kind,
            at=at,
            name=name,
            shortcode_substitution=app.shortcode_substitution,
        )
        # Too many parts: refused, and the transaction (the new campaign) rolled back.
        owner = app.account(connection, account)
        long_text = check_length(created.campaign, owner, app.max_parts)
    zone = ZoneInfo(owner.time_zone)
    campaign = created.campaign
    notes = [*created.notes, *([long_text] if long_text else [])]
    if json_output:
        print_json({**results.campaign(campaign), "notes": notes})
        return
    for note in created.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if long_text:
        err_console.print(f"[yellow]warning:[/] {escape(long_text)}", soft_wrap=True)
    if campaign.scheduled_at is not None:
        console.print(
            f"campaign {campaign.id} scheduled for {_when(campaign.scheduled_at, zone)}",
            highlight=False,
        )
    console.print(str(campaign.id), highlight=False)


@campaign_app.command("preview")
@handles_errors
def preview(
    campaign_id: IdArgument,
    rate: Annotated[
        float | None,
        typer.Option("--rate", help="Messages per second (default: the provider URL's tps)."),
    ] = None,
    account: AccountOption = None,
    json_output: JsonOption = False,
) -> None:
    """The exact SMS, counts by decision, parts, credits and the expected finish time."""
    app = application()
    with app.transaction() as connection:
        result = reports.preview_campaign(
            connection,
            app.account_name(account),
            campaign_id,
            SystemClock(),
            rate=rate if rate is not None else app.rate,
            shortcode_substitution=app.shortcode_substitution,
            max_parts=app.max_parts,
            public_url=app.settings.public_url,
        )
        owner = app.account(connection, account)
        try:
            length = check_length(result.campaign, owner, app.max_parts)
        except TooManyParts as refused:
            length = f"refused at send: {refused}"
    if json_output:
        print_json(results.campaign_preview(result, length))
        return
    print_preview(result, ZoneInfo(owner.time_zone))
    if length:
        console.print(f"[yellow]warning:[/] {escape(length)}", soft_wrap=True)


def _epoch_dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def print_preview(result: reports.CampaignPreview, zone: ZoneInfo = DISPLAY_ZONE) -> None:
    """The human form of a campaign preview (also printed by ``stopsms demo``), its instants
    in ``zone`` (the account's)."""
    s, p, c = result.summary, result.plan, result.campaign
    console.print(f"[bold]campaign {c.id}[/] {escape(c.name)} — {c.status.value}, {c.type.value}")
    if result.sample is not None:
        composed = result.sample.composed
        console.print(f"sample to {result.sample.phone_e164} ({result.sample.region}):")
        console.print(f"  {escape(composed.text)}", soft_wrap=True)
        console.print(
            f"  {composed.encoding.value}, {composed.units} units, "
            f"{len(result.sample.parts)} part(s)"
        )
        for warning in composed.warnings:
            console.print(f"  [yellow]warning:[/] {escape(warning)}")
    table = Table("decision", "recipients", box=None)
    table.add_row("targeted", f"{s.targeted:,}")
    table.add_row("ready", f"{s.ready:,}")
    for reason, count in s.excluded.items():
        table.add_row(f"excluded: {reason}", f"{count:,}")
    console.print(table)
    _print_mentions(result)
    mix = ", ".join(f"{k} {v:,}" for k, v in s.encodings.items()) or "—"
    console.print(f"parts {s.parts:,} · credits {_credits(s.credits_millicredits)} · {mix}")
    short = shortfall_of(c.id, result.account_name, s)
    if short is not None:
        console.print(f"[red]send will refuse:[/] {escape(worded(short))}", soft_wrap=True)
    console.print(
        f"at {result.rate:,.0f}/s from {_when(result.start, zone)}: "
        f"{p.now:,} leave in the current window"
        + (f", {describe_holds(result.held_groups, zone=zone)}" if p.held else ", 0 held")
    )
    if p.unplanned:
        console.print(f"[red]{p.unplanned:,} have no sending window in the coming months[/]")
    console.print(f"expected finish: {_when(_epoch_dt(p.finish), zone)}")


@campaign_app.command("list")
@handles_errors
def list_(
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    account: AccountOption = None,
    json_output: JsonOption = False,
) -> None:
    """The account's campaigns, newest first."""
    wanted = None
    if status is not None:
        try:
            wanted = CampaignStatus(status.strip().lower())
        except ValueError:
            known = ", ".join(s.value for s in CampaignStatus)
            fail(f"invalid --status {status!r}: one of {known}")
    app = application()
    with app.reader() as connection:
        listing = svc.list_campaigns(connection, app.account_name(account), status=wanted)
        zone = _zone(app, connection, account)
    if json_output:
        print_json(results.campaign_listing(listing))
        return
    table = Table("id", "name", "status", "type", "list", "sender", "scheduled", "ready", "sent")
    for item in listing:
        c = item.campaign
        table.add_row(
            str(c.id),
            escape(c.name),
            c.status.value,
            c.type.value,
            escape(c.list_name or "—"),
            c.sender,
            _when(c.scheduled_at, zone),
            f"{item.ready:,}",
            f"{item.sent:,}",
        )
    console.print(table)


@campaign_app.command("report")
@handles_errors
def report(
    campaign_id: IdArgument, account: AccountOption = None, json_output: JsonOption = False
) -> None:
    """Targeted, excluded by reason, sent, delivered, failed, STOPs and credits."""
    app = application()
    with app.reader() as connection:
        r = reports.campaign_report(connection, app.account_name(account), campaign_id)
        zone = _zone(app, connection, account)
    if json_output:
        print_json(results.campaign_report(r))
        return
    print_report(r, zone)


def print_report(r: reports.CampaignReport, zone: ZoneInfo = DISPLAY_ZONE) -> None:
    """The human form of a campaign report (also printed by ``stopsms demo``), its instants
    in ``zone`` (the account's)."""
    c = r.campaign
    console.print(f"[bold]campaign {c.id}[/] {escape(c.name)} — {c.status.value}")
    if c.status is CampaignStatus.PAUSED and c.settings.get("paused_reason"):
        console.print(f"paused: {escape(str(c.settings['paused_reason']))}", soft_wrap=True)
    table = Table("", "recipients", box=None)
    rows: list[tuple[str, int]] = [("targeted", r.targeted), ("ready", r.ready)]
    rows += [
        (f"excluded: {k}" + (" (at send)" if k in r.excluded_at_send else ""), v)
        for k, v in r.excluded.items()
    ]
    rows += [
        ("sent", r.sent),
        ("delivered", r.delivered),
        ("failed", r.failed),
        ("unknown (in doubt, not sent)", r.unknown),
        *([("closed (were in doubt)", r.closed)] if r.closed else []),
        ("rejected", r.rejected),
        ("waiting", r.waiting),
        *([("on the wire now", r.in_flight)] if r.in_flight else []),
        ("cancelled", r.cancelled),
    ]
    for label, value in rows:
        table.add_row(label, f"{value:,}")
    table.add_row("STOPs", f"{r.stops:,} ({r.stop_rate:.2f}% of sent)")
    table.add_row("credits spent", _credits(r.credits_millicredits))
    console.print(table)
    if r.held:
        console.print(describe_holds(r.held_groups, zone=zone))
    if r.unknown:
        console.print(
            f"[yellow]{r.unknown:,} message(s) in doubt:[/] on the wire when a run stopped or"
            " the link dropped, maybe received, never sent again on their own;"
            f" `stopsms campaign resolve-unknown {c.id} --requeue` sends them again (some"
            f" recipients may get it twice), `--close` closes them for good",
            soft_wrap=True,
        )


@campaign_app.command("export")
@handles_errors
def export(
    campaign_id: IdArgument,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format", help="csv or xlsx (default: from --output's extension, else csv)."
        ),
    ] = None,
    account: AccountOption = None,
) -> None:
    """One row per recipient: number, decision, reason, status (STOPPED…), times, parts.

    CSV is ';'-separated (UTF-8 with a byte-order mark in a file), like every export."""
    fmt = export_format(output, format)
    with (
        written_whole(output) if output is not None else nullcontext(None) as target,
        transaction() as connection,
    ):
        count = reports.export_campaign(
            connection,
            account_name(account),
            campaign_id,
            target if target is not None else sys.stdout,
            format=fmt,
        )
    if output is not None:
        console.print(f"{count:,} recipients written to {escape(str(output))}")


def _lifecycle(
    campaign_id: int, account: str | None, action: str, *, allow_partial: bool = False
) -> Campaign:
    app = application()
    with app.transaction() as connection:
        name = app.account_name(account)
        clock = SystemClock()
        if action == "pause":
            return svc.pause_campaign(connection, name, campaign_id, clock)
        if action == "resume":
            campaign, rechecked = resume_sending(
                connection,
                name,
                campaign_id,
                clock,
                allow_partial=allow_partial,
                shortcode_substitution=app.shortcode_substitution,
                max_parts=app.max_parts,
                public_url=app.settings.public_url,
            )
            if rechecked is not None and rechecked.targeted:
                console.print(
                    f"decided now: {rechecked.ready:,} ready of {rechecked.targeted:,}"
                    + "".join(f", {n:,} {r}" for r, n in rechecked.excluded.items())
                )
            return campaign
        campaign, cancelled = svc.cancel_campaign(connection, name, campaign_id, clock)
        console.print(f"{cancelled:,} waiting messages cancelled")
        return campaign


@campaign_app.command("pause")
@handles_errors
def pause(campaign_id: IdArgument, account: AccountOption = None) -> None:
    """Pause sending; `resume` continues where it stopped."""
    campaign = _lifecycle(campaign_id, account, "pause")
    console.print(f"campaign {campaign.id} {campaign.status.value}")


@campaign_app.command("resume")
@handles_errors
def resume(
    campaign_id: IdArgument,
    account: AccountOption = None,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="When the credits still cannot pay every recipient, resume for those they "
            "pay for instead of refusing.",
        ),
    ] = False,
) -> None:
    """Resume a paused campaign; recipients left for want of credit are decided again (a
    top-up reaches them). `campaign send` or a running `worker` then sends it."""
    campaign = _lifecycle(campaign_id, account, "resume", allow_partial=allow_partial)
    console.print(f"campaign {campaign.id} {campaign.status.value}")


@campaign_app.command("cancel")
@handles_errors
def cancel(campaign_id: IdArgument, account: AccountOption = None) -> None:
    """Cancel for good: messages not yet sent are cancelled."""
    campaign = _lifecycle(campaign_id, account, "cancel")
    console.print(f"campaign {campaign.id} {campaign.status.value}")


def _print_mentions(result: reports.CampaignPreview) -> None:
    """Every STOP mention the campaign uses, per region, and the refusal if any."""
    if result.mentions:
        console.print("STOP mention by region:")
    for m in result.mentions:
        line = f"  {m.region or '?'}: {escape(m.mention or 'no mention')} ({m.ready:,} ready"
        if m.no_unsubscribe_page:
            line += (
                f"; {m.no_unsubscribe_page:,} excluded: no unsubscribe page, give the account"
                " its own with `stopsms accounts set NAME --unsubscribe-url URL`"
            )
        console.print(line + ")", highlight=False)
    if result.refusal is not None:
        console.print(f"[red]refused at send:[/] {escape(result.refusal)}")
