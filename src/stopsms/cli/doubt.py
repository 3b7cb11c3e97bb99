"""``stopsms campaign resolve-unknown``: send again, or close, the messages left in doubt.

Registered on the campaign group by :mod:`stopsms.cli.main`. The use case is
:mod:`stopsms.services.messages.doubt`; this module states the duplicate risk and asks before
a re-queue (``--yes`` or ``--json`` does not ask), then prints what was done and what runs
next.
"""

from __future__ import annotations

from typing import Annotated

import typer

from stopsms.app import results
from stopsms.cli.console import LARGEST_INTEGER, console, fail, handles_errors, print_json
from stopsms.cli.context import application
from stopsms.cli.options import AccountOption, JsonOption
from stopsms.domain.campaign import ACTIVE, CampaignStatus
from stopsms.services.accounts.credits import format_credits
from stopsms.services.messages.doubt import Resolution, Resolve, in_doubt, resolve_unknown

__all__ = ["resolve_unknown_command"]


def _risk(campaign_id: int, unknown: int, stopped: int, cost: int) -> str:
    line = (
        f"campaign {campaign_id} has {unknown:,} message(s) in doubt: each was on the wire when"
        " a run stopped or the link dropped, so its recipient may already have it; sending"
        " again may deliver it twice"
    )
    if stopped:
        line += f" ({stopped:,} opted out since: never sent again)"
    return line + f"; {format_credits(cost)} credits when accepted"


def _done(r: Resolution) -> str:
    n = r.campaign_id
    if r.action is Resolve.CLOSE:
        return f"campaign {n}: {r.closed:,} unknown message(s) closed for good (never sent again)"
    line = f"campaign {n}: {r.requeued:,} unknown message(s) re-queued"
    if r.excluded_opted_out:
        line += f", {r.excluded_opted_out:,} excluded (opted out since)"
    if not r.requeued:
        return line
    if r.campaign_status in ACTIVE:
        return line + f"; `stopsms campaign send {n}` (or a running `stopsms worker`) sends them"
    if r.campaign_status is CampaignStatus.PAUSED:
        return line + f"; the campaign is paused: `stopsms campaign resume {n}` then send it"
    return line


@handles_errors
def resolve_unknown_command(
    campaign_id: Annotated[
        int, typer.Argument(min=1, max=LARGEST_INTEGER, help="Campaign id.", show_default=False)
    ],
    requeue: Annotated[
        bool,
        typer.Option("--requeue", help="Send them again (a recipient may receive it twice)."),
    ] = False,
    close: Annotated[bool, typer.Option("--close", help="Close them for good.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Re-queue without asking.")] = False,
    account: AccountOption = None,
    json_output: JsonOption = False,
) -> None:
    """Re-queue (--requeue) or close (--close) a campaign's messages in doubt ('unknown')."""
    if requeue == close:
        fail("give one of --requeue (send them again) or --close (never send them)")
    action = Resolve.REQUEUE if requeue else Resolve.CLOSE
    app = application()
    if action is Resolve.REQUEUE and not (yes or json_output):
        with app.reader() as connection:
            found = in_doubt(connection, app.account_name(account), campaign_id)
        if found.unknown:
            console.print(
                _risk(
                    campaign_id, found.unknown, found.opted_out_since, found.credits_millicredits
                ),
                soft_wrap=True,
            )
            if not typer.confirm("send them again?", default=False):
                fail("nothing re-queued", code=1)
    with app.transaction() as connection:
        done = resolve_unknown(connection, app.account_name(account), campaign_id, action)
    if json_output:
        print_json(results.unknown_resolution(done))
        return
    console.print(_done(done), soft_wrap=True)
