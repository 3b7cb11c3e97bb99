"""``stopsms webhooks …``: endpoints, their deliveries and attempts (see docs/webhooks.md).

Every command calls :mod:`stopsms.app.webhooks`; ``--account`` as everywhere. A secret is
printed once, by ``add`` and ``rotate-secret``; nothing prints it again.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from stopsms.app import results
from stopsms.app import webhooks as use
from stopsms.cli.console import LARGEST_INTEGER, console, escape, handles_errors, print_json
from stopsms.cli.context import application
from stopsms.cli.options import AccountOption, JsonOption
from stopsms.services.webhooks.endpoints import Endpoint
from stopsms.services.webhooks.events import EVENT_TYPES

__all__ = ["webhooks_app"]

webhooks_app = typer.Typer(
    help="Webhook endpoints: signed HTTP POSTs of events (messages, replies, opt-outs,"
    " campaigns, credits) to your systems."
)

EndpointArgument = Annotated[int, typer.Argument(help="Endpoint id (see `webhooks list`).")]


def _shown_secret(endpoint: Endpoint, json: bool, what: str) -> None:
    if json:
        print_json(results.plain(endpoint))
        return
    console.print(f"{what} endpoint {endpoint.id}: {escape(endpoint.url)}")
    console.print(f"events: {', '.join(endpoint.events)}")
    console.print(f"secret (shown once, keep it): [bold]{endpoint.secret}[/]")


@webhooks_app.command("add")
@handles_errors
def add(
    url: Annotated[str, typer.Argument(help="http(s) URL that receives the POSTs.")],
    events: Annotated[
        str,
        typer.Option(
            "--events",
            help=f"Comma-separated event types, or * for all: {', '.join(EVENT_TYPES)}.",
        ),
    ],
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Add an endpoint; prints its signing secret once."""
    endpoint = use.add_endpoint(application(), account, url, [events])
    _shown_secret(endpoint, json, "added")


@webhooks_app.command("list")
@handles_errors
def list_(account: AccountOption = None, json: JsonOption = False) -> None:
    """The account's endpoints; a disabled one says why and how to enable it."""
    found = use.list_endpoints(application(), account)
    if json:
        for endpoint in found:
            print_json(results.plain(endpoint))
        return
    table = Table("id", "url", "events", "state", "failing")
    for e in found:
        failing = f"{e.consecutive_failures} in a row" if e.consecutive_failures else ""
        table.add_row(
            str(e.id),
            escape(e.url),
            ", ".join(e.events),
            "enabled" if e.enabled else "[bold red]disabled[/]",
            failing,
        )
    console.print(table)
    for e in found:
        if not e.enabled and e.disabled_at is not None:
            console.print(
                f"[bold yellow]endpoint {e.id} disabled on {e.disabled_at:%Y-%m-%d %H:%M} UTC:"
                f" {escape(e.disabled_reason or '')}[/]; fix the receiver, then"
                f" `stopsms webhooks enable {e.id}`"
            )


@webhooks_app.command("remove")
@handles_errors
def remove(endpoint: EndpointArgument, account: AccountOption = None) -> None:
    """Delete an endpoint and its deliveries."""
    removed = use.remove_endpoint(application(), account, endpoint)
    console.print(f"removed endpoint {removed.id}: {escape(removed.url)}")


@webhooks_app.command("rotate-secret")
@handles_errors
def rotate_secret(
    endpoint: EndpointArgument, account: AccountOption = None, json: JsonOption = False
) -> None:
    """A new signing secret (printed once); the old one also signs for 24 hours."""
    rotated = use.rotate_secret(application(), account, endpoint)
    _shown_secret(rotated, json, "rotated")
    if not json:
        console.print("the previous secret keeps signing (a second signature) for 24 hours")


@webhooks_app.command("enable")
@handles_errors
def enable(endpoint: EndpointArgument, account: AccountOption = None) -> None:
    """Enable a disabled endpoint: its pending deliveries are sent again at once."""
    enabled = use.enable_endpoint(application(), account, endpoint)
    console.print(f"enabled endpoint {enabled.id}: {escape(enabled.url)}")


@webhooks_app.command("deliveries")
@handles_errors
def deliveries(
    endpoint: Annotated[int | None, typer.Option("--endpoint", help="Endpoint id.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only deliveries that failed.")] = False,
    attempts: Annotated[
        int | None, typer.Option("--attempts", help="Every attempt of this delivery id.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=LARGEST_INTEGER, help="How many.")] = 50,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """The latest deliveries, newest first (or every attempt of one delivery)."""
    app = application()
    if attempts is not None:
        tried = use.delivery_attempts(app, account, attempts)
        if json:
            for attempt in tried:
                print_json(results.plain(attempt))
            return
        table = Table("attempt", "at", "status", "latency", "error")
        for a in tried:
            table.add_row(
                str(a.id),
                a.attempted_at.isoformat(timespec="seconds"),
                str(a.status_code or ""),
                f"{a.latency_ms} ms",
                escape(a.error or ""),
            )
        console.print(table)
        return
    found = use.list_deliveries(app, account, endpoint_id=endpoint, failed_only=failed, limit=limit)
    if json:
        for delivery in found:
            print_json(results.plain(delivery))
        return
    table = Table("id", "event", "type", "endpoint", "status", "attempts", "next", "last")
    for d in found:
        last = str(d.last_status_code or "") + (f" {d.last_error}" if d.last_error else "")
        table.add_row(
            str(d.id),
            d.event_id,
            d.event_type,
            str(d.endpoint_id),
            d.status,
            str(d.attempts),
            d.next_attempt_at.isoformat(timespec="seconds") if d.next_attempt_at else "",
            escape(last.strip()),
        )
    console.print(table)


@webhooks_app.command("replay")
@handles_errors
def replay(
    delivery: Annotated[int, typer.Argument(help="Delivery id (see `webhooks deliveries`).")],
    account: AccountOption = None,
) -> None:
    """Send a delivery again now (same webhook-id), with a fresh day of retries."""
    use.replay_delivery(application(), account, delivery)
    console.print(f"delivery {delivery} is due again; a running `stopsms worker` sends it")
