"""``stopsms contacts …`` and ``stopsms lists …``: an account's audience from the command line.

Sub-apps (to register in :mod:`stopsms.cli.main`): ``contacts_app`` (``import``, ``list``,
``export``, ``erase``, ``consent``) and ``lists_app`` (``create``, ``list``). Every command takes
``--account NAME`` (default: ``STOPSMS_ACCOUNT`` or ``default``); errors are one line on
stderr, exit code 2, and an import that fails changes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from stopsms.app import results
from stopsms.cli.consent import consent_history
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
from stopsms.cli.options import AccountOption, JsonOption
from stopsms.cli.optouts import erase
from stopsms.imports.columns import parse_overrides
from stopsms.imports.reader import parse_delimiter
from stopsms.services.contacts import contacts as svc
from stopsms.services.contacts.importing import (
    ImportOptions,
    ImportSummary,
    import_contacts_committed,
)
from stopsms.services.exports import CSV_DELIMITER, export_format, written_whole

__all__ = ["contacts_app", "lists_app", "merged_text"]

#: How many superseded lines the summary names (``--json`` and the report list them all).
MERGED_LINES_SHOWN = 20

contacts_app = typer.Typer(help="Contacts: import a CSV/Excel file, list, export, erase (GDPR).")
lists_app = typer.Typer(help="Lists (groups) of contacts.")

ListOption = Annotated[
    str | None, typer.Option("--list", "-l", help="Only this list (import: add to it).")
]

contacts_app.command("erase")(erase)
contacts_app.command("consent")(consent_history)


def _delimiter(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_delimiter(value)
    except ValueError as error:
        fail(escape(f"--delimiter: {error}"))


@contextmanager
def _progress_bar(file: Path, enabled: bool) -> Iterator[Any]:
    """A Rich bar on a terminal (nothing when piped or with ``--json``)."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn(f"[bold]importing {escape(file.name)}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("import", total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contacts_app.command("import")
@handles_errors
def import_(
    file: Annotated[Path, typer.Argument(help="CSV (any delimiter/encoding) or .xlsx file.")],
    list_name: ListOption = None,
    consent: Annotated[
        str | None,
        typer.Option(
            help="Record consent for every contact: opt-in (asked for marketing SMS) or customer"
            " (an existing customer, for similar products).",
        ),
    ] = None,
    consent_source: Annotated[
        str | None, typer.Option(help="Where the consent comes from (default: the file).")
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="COLUMN=FIELD: phone, first_name, last_name, email, company, ignore, or a"
            " custom field name (repeatable).",
        ),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="CSV delimiter (default: detected), e.g. ';' or tab.")
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="CSV encoding (default: detected).")] = None,
    region: Annotated[
        str, typer.Option(help="Country of numbers written without +code (ISO code).")
    ] = "FR",
    rejects: Annotated[
        Path | None,
        typer.Option(help="Where to write the reject report (default: FILE.rejects.csv)."),
    ] = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Import contacts; duplicates are merged, rejected rows reported with line and reason."""
    options = ImportOptions(
        list_name=list_name,
        consent=consent,
        consent_source=consent_source,
        overrides=parse_overrides(mapping or []),
        delimiter=_delimiter(delimiter),
        encoding=encoding,
        region=region,
        rejects_path=rejects,
    )
    app = application()
    with _progress_bar(file, not json and err_console.is_terminal) as progress:
        summary = import_contacts_committed(
            app.transaction, app.account_name(account), file, options, progress=progress
        )
    if json:
        print_json(results.import_summary(summary))
    else:
        _print_summary(summary)


def merged_text(s: ImportSummary, limit: int = MERGED_LINES_SHOWN, *, report: bool = True) -> str:
    """What the import merged, in words: ``2 number(s) had several rows, …; lines superseded:
    2 by 16, 7 by 16 — all in clients.rejects.csv`` (the first ``limit`` lines, then a count;
    ``report``: name the report that lists them all).
    """
    shown = ", ".join(f"{row.line} by {row.by_line}" for row in s.superseded[:limit])
    more = len(s.superseded) - limit
    where = f" — all in {s.rejects_path}" if report and s.rejects_path else ""
    return (
        f"{s.merged_numbers:,} number(s) had several rows, each kept as its last row whole;"
        f" lines superseded: {shown}{f', and {more:,} more' if more > 0 else ''}{where}"
    )


def _print_summary(s: ImportSummary) -> None:
    console.print(
        f"{escape(s.file)} → account {escape(s.account)}: [bold]{s.imported:,}[/] imported,"
        f" {s.updated:,} updated, {s.duplicates:,} duplicate row(s) merged (a number's last"
        " row wins whole),"
        f" {s.rejected:,} rejected ({s.rows:,} rows in {s.seconds:.1f} s)"
    )
    if s.rejected:
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(s.rejected_by_reason.items()))
        console.print(f"  rejected: {reasons} — see {escape(s.rejects_path or '')}", soft_wrap=True)
    if s.superseded:
        # A path is never broken by a newline: the terminal wraps the line, not rich.
        console.print(f"  merged: {escape(merged_text(s))}", soft_wrap=True)
    columns = ", ".join(f"{k} ← {escape(repr(v))}" for k, v in s.columns.items())
    console.print(f"  columns: {columns}")
    read_as = s.format if s.format != "csv" else f"csv, {s.encoding}, delimiter {s.delimiter!r}"
    path = "columnar" if s.columnar else "row by row"
    console.print(f"  read as {escape(read_as)} ({path})")
    for note in s.notes:
        console.print(f"  [yellow]note:[/] {escape(note)}")
    if s.list_name:
        console.print(
            f"  list {escape(s.list_name)!r}: {s.list_members:,} contact(s),"
            f" {s.list_added:,} added by this import"
        )
    if s.consent:
        console.print(f"  consent {s.consent} recorded for {s.consents_recorded:,} contact(s)")


@contacts_app.command("list")
@handles_errors
def list_(
    list_name: ListOption = None,
    limit: Annotated[
        int, typer.Option(min=1, max=LARGEST_INTEGER, help="Show at most N contacts.")
    ] = 50,
    offset: Annotated[
        int, typer.Option(min=0, max=LARGEST_INTEGER, help="Skip the first N contacts.")
    ] = 0,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """List an account's contacts (or a list's), oldest first."""
    with transaction() as conn:
        total = svc.count_contacts(conn, account_name(account), list_name=list_name)
        shown = svc.list_contacts(
            conn, account_name(account), list_name=list_name, limit=limit, offset=offset
        )
    if json:
        print_json({"total": total, "contacts": [results.plain(c) for c in shown]})
        return
    table = Table("phone", "first name", "last name", "email", "company", "consent")
    for c in shown:
        table.add_row(
            c.phone_e164,
            escape(c.first_name or ""),
            escape(c.last_name or ""),
            escape(c.email or ""),
            escape(c.company or ""),
            c.consent or "",
        )
    console.print(table)
    console.print(f"{len(shown):,} of {total:,} contact(s) shown")


@contacts_app.command("export")
@handles_errors
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (CSV: default stdout).")
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format", help="csv or xlsx (default: from --output's extension, else csv)."
        ),
    ] = None,
    list_name: ListOption = None,
    delimiter: Annotated[str, typer.Option(help="CSV delimiter.")] = CSV_DELIMITER,
    account: AccountOption = None,
) -> None:
    """Export contacts to CSV or Excel (cells that would run as formulas are neutralised)."""
    chosen = export_format(output, format)
    separator = _delimiter(delimiter) or CSV_DELIMITER
    with (
        written_whole(output) if output is not None else nullcontext(None) as target,
        transaction() as conn,
    ):
        count = svc.export_contacts(
            conn,
            account_name(account),
            target if target is not None else sys.stdout,
            format=chosen,
            list_name=list_name,
            delimiter=separator,
        )
    if output is not None:
        console.print(f"{count:,} contact(s) exported to {escape(str(output))}")
    else:
        err_console.print(f"{count:,} contact(s) exported")


@lists_app.command("create")
@handles_errors
def create_list(
    name: Annotated[str, typer.Argument(help="List name.")],
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Create an empty list (imports with --list create theirs as needed)."""
    with transaction() as conn:
        created = svc.create_list(conn, account_name(account), name)
    if json:
        print_json(results.plain(created))
    else:
        console.print(f"list {escape(created.name)!r} created")


@lists_app.command("list")
@handles_errors
def list_lists(account: AccountOption = None, json: JsonOption = False) -> None:
    """The account's lists and how many contacts each holds."""
    with transaction() as conn:
        found = svc.list_lists(conn, account_name(account))
    if json:
        print_json([results.plain(x) for x in found])
        return
    table = Table("name", "contacts", "created")
    for x in found:
        table.add_row(escape(x.name), f"{x.members:,}", x.created_at.isoformat(timespec="seconds"))
    console.print(table)
