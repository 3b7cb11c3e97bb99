"""``stopsms contacts consent NUMBER``: a number's consent ledger, oldest first.

The ledger (:mod:`stopsms.services.contacts.consent`) tells the whole story: consents recorded by an
import or a person, withdrawals written by opt-outs (source ``opt-out: …``) and the consents
re-subscriptions restored (source ``re-subscription``). The opt-out registry's own records are
shown by ``stopsms optouts check NUMBER``. Registered by :mod:`stopsms.cli.contacts`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from stopsms.app import results
from stopsms.cli.console import console, escape, handles_errors, print_json
from stopsms.cli.context import account_name, transaction
from stopsms.cli.options import AccountOption, JsonOption
from stopsms.services.contacts import consent as ledger
from stopsms.services.optouts.optouts import to_e164

__all__ = ["consent_history"]


@handles_errors
def consent_history(
    number: Annotated[str, typer.Argument(help="Phone number, any format.")],
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Show a number's consent history: consents, withdrawals by opt-outs, re-subscriptions."""
    with transaction() as conn:
        entries = ledger.consent_history(conn, account_name(account), number)
        e164 = to_e164(number)
    if json:
        print_json(results.consent_history(e164, entries))
        return
    if not entries:
        console.print(f"{e164}: no consent recorded")
        return
    table = Table("recorded (UTC)", "kind", "source", "evidence", title=f"consent of {e164}")
    for entry in entries:
        table.add_row(
            f"{entry.recorded_at:%Y-%m-%d %H:%M}",
            entry.kind,
            escape(entry.source),
            escape(entry.evidence or ""),
        )
    console.print(table)
    latest = entries[-1]
    verdict = "allows marketing" if latest.allows_marketing else "no marketing"
    console.print(f"now: {latest.kind} ({verdict})")
