"""``stopsms optouts …``: the opt-out registry from the command line.

``optouts_app`` (registered in :mod:`stopsms.cli.main`): ``import``, ``export``, ``add``,
``remove``, ``check``, ``list``, ``review``. :func:`erase` is the ``contacts erase NUMBER``
command, for the contacts sub-app to register.
"""

from __future__ import annotations

import csv
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, overload

import typer
from rich.table import Table
from sqlalchemy import Connection

from stopsms.app import results
from stopsms.cli.console import LARGEST_INTEGER, console, escape, handles_errors, print_json
from stopsms.cli.context import account_name, application, transaction
from stopsms.cli.options import AccountOption, JsonOption
from stopsms.errors import InvalidInput
from stopsms.imports.cells import neutralise
from stopsms.services.accounts.accounts import get_account
from stopsms.services.accounts.names import typed_text
from stopsms.services.contacts import erasure
from stopsms.services.exports import (
    CSV_DELIMITER,
    CSV_FILE_ENCODING,
    export_format,
    written_whole,
)
from stopsms.services.optouts import files as optout_files
from stopsms.services.optouts import optouts
from stopsms.services.optouts import review as optout_review

__all__ = ["erase", "optouts_app"]

optouts_app = typer.Typer(help="The opt-out registry: who must never be messaged again.")

SenderOption = Annotated[
    str | None, typer.Option("--sender", help="Only this sender ID (sender-scoped opt-outs).")
]


def _who() -> str:
    """Who acts: recorded with every opt-out this command changes."""
    return application().actor


def _table(records: list[optouts.OptOut], title: str | None = None) -> Table:
    table = Table(
        "id", "phone", "scope", "source", "detail", "recorded (UTC)", "status", title=title
    )
    for o in records:
        status = "active" if o.active else f"revoked {o.revoked_at:%Y-%m-%d}"
        if o.uncertain and o.active:
            status += ", reviewed" if o.reviewed_at else ", uncertain"
        table.add_row(
            str(o.id),
            o.phone_e164 or "(erased)",
            o.scope if o.scope == "account" else f"sender {escape(o.sender)}",
            o.source,
            escape(o.detail or ""),
            f"{o.recorded_at:%Y-%m-%d %H:%M}",
            status,
        )
    return table


@overload
def _typed(option: str, value: str) -> str: ...
@overload
def _typed(option: str, value: None) -> None: ...
def _typed(option: str, value: str | None) -> str | None:
    """Free text typed for ``option``, refused when it holds a control character (a blank one
    is left to the command, which says what it needs)."""
    return value if value is None or not value.strip() else typed_text(option, value)


def _named_sender(
    conn: Connection, account: str, number: str, sender: str | None, otherwise: str
) -> str | None:
    """``--sender`` as the account spells it: one of its senders, or one an opt-out record of
    ``number`` names (a sender since removed); refused as ``optouts add`` refuses it otherwise."""
    if sender is None or not sender.strip():
        return sender
    acc = get_account(conn, account)
    try:
        return optouts.known_sender(conn, acc, sender, otherwise=otherwise)
    except InvalidInput:
        named = {r.sender.casefold(): r.sender for r in optouts.history(conn, acc, number)}
        if sender.strip().casefold() in named:
            return named[sender.strip().casefold()]
        raise


@optouts_app.command("import")
@handles_errors
def import_(
    file: Annotated[
        Path, typer.Argument(help="One number per line, CSV with a number column, or .xlsx.")
    ],
    rejects: Annotated[
        Path | None, typer.Option(help="Write rejected rows (line, value, reason) to this CSV.")
    ] = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Import a blacklist: every number is opted out of the account (source 'import')."""
    with (
        written_whole(rejects) if rejects is not None else nullcontext(None) as report,
        transaction() as conn,
    ):
        result = optout_files.import_optouts(conn, account_name(account), file, recorded_by=_who())
        if report is not None:  # written before the commit: a report that fails undoes it
            with report.open("w", newline="", encoding=CSV_FILE_ENCODING) as stream:
                writer = csv.writer(stream, delimiter=CSV_DELIMITER)
                writer.writerow(["line", "value", "reason"])
                writer.writerows([r.line, neutralise(r.value), r.reason] for r in result.rejected)
    if json:
        print_json(results.plain(result))
        return
    console.print(
        f"{escape(file.name)}: {result.rows:,} rows, [bold]{result.added:,} added[/], "
        f"{result.already:,} already opted out, {result.duplicates:,} duplicates, "
        f"{len(result.rejected):,} rejected"
    )
    if result.rejected:
        table = Table("line", "value", "reason", title="rejected")
        for r in result.rejected[:20]:
            table.add_row(str(r.line), escape(r.value), escape(r.reason))
        console.print(table)
        if len(result.rejected) > 20:
            more = len(result.rejected) - 20
            hint = "" if rejects else " (--rejects FILE writes them all)"
            console.print(f"… and {more:,} more{hint}")


@optouts_app.command("export")
@handles_errors
def export(
    format: Annotated[
        str | None, typer.Option("--format", help="csv or xlsx (default: from --output, else csv).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: stdout).")
    ] = None,
    include_all: Annotated[bool, typer.Option("--all", help="Include revoked records.")] = False,
    account: AccountOption = None,
) -> None:
    """Export the account's opt-outs."""
    fmt = export_format(output, format)
    with (
        written_whole(output) if output is not None else nullcontext(None) as target,
        transaction() as conn,
    ):
        destination = target if target is not None else sys.stdout
        count = optout_files.export_optouts(
            conn, account_name(account), destination, fmt=fmt, include_revoked=include_all
        )
    if output is not None:
        console.print(f"{count:,} opt-outs written to {escape(str(output))}")


@optouts_app.command("add")
@handles_errors
def add(
    number: Annotated[str, typer.Argument(help="Phone number, any format.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept as the record's detail).")] = None,
    source: Annotated[
        str, typer.Option(help="manual, web_form, provider_report, provider_blocked…")
    ] = "manual",
    sender: SenderOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Opt a number out of the account (or of one sender ID with --sender, when the account's
    opt-out scope is sender; otherwise the opt-out covers the whole account)."""
    reason = _typed("--reason", reason)
    with transaction() as conn:
        result = optouts.record_optout(
            conn,
            account_name(account),
            number,
            source=source,
            detail=reason,
            sender=sender,
            scope="sender" if sender else "account",
            recorded_by=_who(),
        )
    widened = bool(sender and sender.strip()) and result.optout.scope == "account"
    if json:
        print_json(results.optout_recorded(result, widened=widened))
        return
    if widened:
        console.print(
            f"the account's opt-out scope is 'account': an opt-out covers every sender, "
            f"not only {escape((sender or '').strip())}"
        )
    if result.created:
        whole = "" if result.optout.sender else " of the whole account"
        console.print(f"{result.optout.phone_e164} opted out{whole} (record {result.optout.id})")
    else:
        console.print(
            f"{result.optout.phone_e164} was already opted out (record {result.optout.id}, "
            f"{result.optout.source}, {result.optout.recorded_at:%Y-%m-%d})"
        )


@optouts_app.command("remove")
@handles_errors
def remove(
    number: Annotated[str, typer.Argument(help="Phone number, any format.")],
    evidence: Annotated[
        str, typer.Option(help="The person's own request: text, reference, date (required).")
    ],
    sender: SenderOption = None,
    account: AccountOption = None,
) -> None:
    """Re-subscribe a number on its owner's evidenced request; the history stays."""
    evidence = _typed("--evidence", evidence)
    with transaction() as conn:
        name = account_name(account)
        sender = _named_sender(conn, name, number, sender, "to re-subscribe it to every sender")
        revoked = optouts.resubscribe(
            conn, name, number, evidence=evidence, by=_who(), sender=sender
        )
    ids = ", ".join(str(r.id) for r in revoked)
    console.print(f"{revoked[0].phone_e164} re-subscribed (revoked record {ids})")


@optouts_app.command("check")
@handles_errors
def check(
    number: Annotated[str, typer.Argument(help="Phone number, any format.")],
    sender: SenderOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Is this number suppressed (for this sender)? By which record? With its history."""
    with transaction() as conn:
        name = account_name(account)
        sender = _named_sender(conn, name, number, sender, "to check every sender")
        found = optouts.is_suppressed(conn, name, number, sender)
        records = optouts.history(conn, name, number)
        e164 = optouts.to_e164(number)
    if json:
        print_json(results.optout_check(e164, found, records))
        return
    if found is None:
        console.print(f"{e164}: [green]not suppressed[/]")
    else:
        console.print(
            f"{e164}: [bold red]SUPPRESSED[/] by record {found.id} ({found.source}, "
            f"{found.recorded_at:%Y-%m-%d %H:%M} UTC"
            + (f", {escape(found.detail)}" if found.detail else "")
            + ")"
        )
    if records:
        console.print(_table(records, title="history"))


@optouts_app.command("list")
@handles_errors
def list_(
    include_all: Annotated[bool, typer.Option("--all", help="Include revoked records.")] = False,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=LARGEST_INTEGER, help="At most this many, newest first.")
    ] = 100,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """List the account's opt-outs, newest first."""
    with transaction() as conn:
        name = account_name(account)
        records = optout_review.list_optouts(
            conn, name, include_revoked=include_all, source=source, limit=limit
        )
        total = optout_review.count_optouts(conn, name, include_revoked=include_all)
    if json:
        print_json([results.optout(r) for r in records])
        return
    console.print(_table(records))
    if total > len(records):
        console.print(f"{len(records):,} of {total:,} shown (--limit, or export them all)")


@optouts_app.command("review")
@handles_errors
def review(
    confirm: Annotated[
        list[int] | None,
        typer.Option(
            min=1,
            max=LARGEST_INTEGER,
            help="Record id (repeatable): the text was an opt-out, keep it in force.",
        ),
    ] = None,
    dismiss: Annotated[
        list[int] | None,
        typer.Option(
            min=1,
            max=LARGEST_INTEGER,
            help="Record id (repeatable): the text was not an opt-out, revoke it.",
        ),
    ] = None,
    evidence: Annotated[
        str | None, typer.Option(help="Why the dismissed text is not an opt-out.")
    ] = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """List uncertain keyword opt-outs (already in force) and confirm or dismiss them.

    Only uncertain records are reviewed; a certain opt-out is lifted with `optouts remove`.
    """
    evidence = _typed("--evidence", evidence)
    with transaction() as conn:
        name = account_name(account)
        if confirm or dismiss or evidence is not None:
            done = optout_review.review(
                conn,
                name,
                confirm=confirm or (),
                dismiss=dismiss or (),
                evidence=evidence,
                by=_who(),
            )
            _print_reviewed(done, json)
            return
        queue = optout_review.review_queue(conn, name)
    if json:
        print_json([results.optout(r) for r in queue])
    elif not queue:
        console.print("nothing to review")
    else:
        console.print(_table(queue, title="uncertain opt-outs (in force until dismissed)"))


def _print_reviewed(done: list[optout_review.Reviewed], json: bool) -> None:
    if json:
        print_json(results.reviewed(done))
        return
    for r in done:
        o = r.optout
        if r.action == "dismissed":
            console.print(f"record {o.id} dismissed: {o.phone_e164} may be messaged again")
        elif o.id == r.optout_id:
            console.print(f"record {o.id} confirmed: {o.phone_e164} stays opted out")
        else:
            console.print(
                f"record {r.optout_id} confirmed: it had been dismissed, {o.phone_e164} is "
                f"opted out again (record {o.id})"
            )


@handles_errors
def erase(
    number: Annotated[str, typer.Argument(help="Phone number, any format.")],
    keep_reachable: Annotated[
        bool,
        typer.Option(help="Do not opt the number out (by default an erasure also objects)."),
    ] = False,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Erase a person's data (GDPR); their opt-out is kept as a keyed hash of the number."""
    with transaction() as conn:
        done = erasure.erase_contact(
            conn, account_name(account), number, by=_who(), suppress=not keep_reachable
        )
    if json:
        print_json(results.plain(done))
        return
    console.print(
        f"{done.phone_e164} erased: {done.contacts} contact(s), {done.messages} message(s) "
        f"({done.cancelled} not yet sent, cancelled), {done.inbound} repl(ies), "
        f"{done.optouts} opt-out record(s) kept as a hash"
    )
