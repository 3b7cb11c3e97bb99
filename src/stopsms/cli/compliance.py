"""``stopsms preview``, ``stopsms window`` and ``stopsms classify``: the core's answers, by hand.

Each answers one question from options, or many with ``--batch`` (JSON lines on stdin; the
options then act as defaults for every line).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from stopsms.app import results
from stopsms.cli.batch import fields, run_batch
from stopsms.cli.console import console, escape, fail, handles_errors, print_json
from stopsms.cli.context import application, transaction
from stopsms.domain.mention import MentionStyle
from stopsms.services import compliance
from stopsms.services.accounts.accounts import check_mention, check_shortcode
from stopsms.services.compliance import (
    AccountSettings,
    Preview,
    PreviewRequest,
    WindowRequest,
    parse_instant,
    parse_message_type,
    with_account,
)

BatchOption = Annotated[
    bool, typer.Option("--batch", help="Read JSON lines on stdin, write one JSON result per line.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
TypeOption = Annotated[
    str, typer.Option("--type", help="marketing (default) or informative.", show_default=False)
]
AccountOption = Annotated[
    str | None,
    typer.Option(
        "--account",
        help="Answer with this account's mention, type, senders and sending hours.",
        show_default=False,
    ),
]
WindowAccountOption = Annotated[
    str | None,
    typer.Option(
        "--account",
        help="Answer with this account's sending-hours policy.",
        show_default=False,
    ),
]


def _account(name: str | None) -> AccountSettings | None:
    """The named account's settings, read once before any (batch) answer."""
    if name is None:
        return None
    with transaction() as connection:
        return compliance.account_settings(
            connection, name, public_url=application().settings.public_url
        )


# --- preview ---------------------------------------------------------------------------------


_PREVIEW_FIELDS: Mapping[str, type | tuple[type, ...]] = {
    "text": str,
    "to": str,
    "sender": str,
    "type": str,
    "shortcode": str,
    "mention_format": str,
    "smart_encoding": bool,
}


def _style(style: MentionStyle, shortcode: str | None, mention_format: str | None) -> MentionStyle:
    """``style`` with the shortcode and format given, refused as an account would refuse them."""
    if shortcode is not None:
        style = replace(style, shortcode=check_shortcode(shortcode))
    if mention_format is not None:
        style = replace(style, format=mention_format)
    if shortcode is not None or mention_format is not None:
        check_mention(style.format, style.shortcode)
    return style


def _preview_request(base: PreviewRequest, line: Mapping[str, Any]) -> PreviewRequest:
    given = fields(line, _PREVIEW_FIELDS)
    if given.get("text") is None:
        raise compliance.InvalidRequest("text", None, "every line needs a text")
    style = _style(base.style, given.get("shortcode"), given.get("mention_format"))
    return replace(
        base,
        text=given["text"],
        to=given.get("to", base.to),
        sender=given.get("sender", base.sender),
        message_type=parse_message_type(given["type"]) if given.get("type") else base.message_type,
        style=style,
        smart_encoding=given.get("smart_encoding") or base.smart_encoding,
    )


@handles_errors
def preview(
    text: Annotated[
        str | None, typer.Argument(help="The message body.", show_default=False)
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Recipient number, any format.")] = None,
    sender: Annotated[str | None, typer.Option("--sender", help="Sender ID.")] = None,
    message_type: TypeOption = "marketing",
    shortcode: Annotated[
        str | None,
        typer.Option(
            "--shortcode",
            help="STOP shortcode, 3 to 8 digits (default: the account's, else 36034).",
        ),
    ] = None,
    mention_format: Annotated[
        str | None,
        typer.Option(
            "--mention-format",
            help="e.g. 'STOP {shortcode}', 'STOP au {shortcode}' (default: the account's).",
        ),
    ] = None,
    smart_encoding: Annotated[
        bool, typer.Option("--smart-encoding", help="Replace look-alikes to stay in GSM-7.")
    ] = False,
    account: AccountOption = None,
    as_json: JsonOption = False,
    batch: BatchOption = False,
) -> None:
    """Show the SMS exactly as it will leave: mention, encoding, length, parts, warnings.

    Without --account, the built-in defaults apply (a marketing account, 'STOP 36034')."""
    base = PreviewRequest(
        text=text or "",
        to=to,
        sender=sender,
        message_type=parse_message_type(message_type),
        smart_encoding=smart_encoding,
    )
    settings = _account(account)
    if settings is not None:
        base = with_account(base, settings)
    base = replace(base, style=_style(base.style, shortcode, mention_format))
    if batch:
        if text is not None:
            fail("give the text either as an argument or in --batch lines, not both")
        errors = run_batch(
            lambda line: results.message_preview(compliance.preview(_preview_request(base, line)))
        )
        raise typer.Exit(1 if errors else 0)
    if text is None:
        fail("missing TEXT (or use --batch)")
    result = compliance.preview(base)
    if as_json:
        print_json(results.message_preview(result))
    else:
        _print_preview(result)
    if result.unverified_domains:
        raise typer.Exit(1)  # a campaign with this text is refused (rule 10)


def _print_preview(result: Preview) -> None:
    composed = result.composed
    console.print(Panel(escape(composed.text), title="SMS as it will leave", expand=False))
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row("encoding", composed.encoding.value)
    unit = "septets" if composed.encoding.value == "GSM-7" else "UTF-16 units"
    table.add_row("length", f"{composed.units} {unit}")
    table.add_row("parts", str(composed.segments))
    mention = composed.stop_mention or "none"
    table.add_row("STOP mention", f"{escape(mention)} ({escape(composed.mention_reason)})")
    if result.recipient is not None:
        r = result.recipient
        table.add_row("recipient", f"{r.e164} ({r.region}, {', '.join(r.time_zones)}, {r.kind})")
    if result.sender:
        table.add_row("sender", escape(result.sender))
    for replacement in composed.replacements:
        table.add_row(
            "replaced", f"{replacement.original} → {replacement.replacement} ×{replacement.count}"
        )
    console.print(table)
    for warning in composed.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if result.refusal is not None:
        console.print(f"[red]{escape(result.refusal)}[/]")
    if result.unverified_domains:
        listed = ", ".join(result.unverified_domains)
        console.print(
            f"[red]refused:[/] the text links to unverified domain(s) {escape(listed)}"
            " (anti-smishing): a campaign with this text is refused; verify them first with"
            " `stopsms domains add`"
        )


# --- window ----------------------------------------------------------------------------------


_WINDOW_FIELDS: Mapping[str, type | tuple[type, ...]] = {
    "to": str,
    "at": str,
    "type": str,
    "policy": str,
}


def _window_request(base: WindowRequest, line: Mapping[str, Any]) -> WindowRequest:
    given = fields(line, _WINDOW_FIELDS)
    if given.get("to") is None:
        raise compliance.InvalidRequest("to", None, "every line needs a recipient number")
    return replace(
        base,
        to=given["to"],
        at=parse_instant(given["at"]) if given.get("at") else base.at,
        message_type=parse_message_type(given["type"]) if given.get("type") else base.message_type,
        policy=given.get("policy") or base.policy,
    )


@handles_errors
def window(
    to: Annotated[str | None, typer.Option("--to", help="Recipient number, any format.")] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="ISO-8601 instant; without offset, the recipient's local time."),
    ] = None,
    message_type: TypeOption = "marketing",
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="fr-default, fr-mon-sat-8-20, fr-af2m-2024, courtesy (default: the account's,"
            " else by the recipient's country).",
        ),
    ] = None,
    account: WindowAccountOption = None,
    as_json: JsonOption = False,
    batch: BatchOption = False,
) -> None:
    """May a message reach this number now (or at --at)? If not, when next?"""
    now = datetime.now(UTC)
    settings = _account(account)
    base = WindowRequest(
        to=to or "",
        at=parse_instant(at) if at else None,
        message_type=parse_message_type(message_type),
        policy=policy or (settings.window_policy if settings else None),
    )
    if batch:
        errors = run_batch(
            lambda line: results.window_answer(compliance.window(_window_request(base, line), now))
        )
        raise typer.Exit(1 if errors else 0)
    if to is None:
        fail("missing --to NUMBER (or use --batch)")
    answer = compliance.window(base, now)
    if as_json:
        print_json(results.window_answer(answer))
        return
    decision = answer.decision
    verdict = "[green]allowed[/]" if decision.allowed else "[red]not allowed[/]"
    console.print(f"{verdict} for {answer.recipient.e164} ({answer.recipient.region})")
    console.print(f"local time    {decision.local_time.isoformat()}")
    console.print(f"rule          {escape(decision.rule)}")
    console.print(f"policy        {answer.policy}")
    if decision.next_allowed is not None:
        console.print(f"next allowed  {decision.next_allowed.isoformat()}")
    if decision.window_end is not None:
        console.print(f"window ends   {decision.window_end.isoformat()}")


# --- classify --------------------------------------------------------------------------------


def _classify_line(line: Mapping[str, Any]) -> dict[str, Any]:
    given = fields(line, {"text": str})
    if given.get("text") is None:
        raise compliance.InvalidRequest("text", None, "every line needs a text")
    return results.classification(compliance.classify(given["text"]))


@handles_errors
def classify(
    text: Annotated[
        str | None, typer.Argument(help="An inbound SMS text.", show_default=False)
    ] = None,
    as_json: JsonOption = False,
    batch: BatchOption = False,
) -> None:
    """Classify an inbound SMS: opt-out, opt-in, help or other, and how certain."""
    if batch:
        errors = run_batch(_classify_line)
        raise typer.Exit(1 if errors else 0)
    if text is None:
        fail("missing TEXT (or use --batch)")
    result = results.classification(compliance.classify(text))
    if as_json:
        print_json(result)
        return
    certainty = "certain" if result["certain"] else "uncertain"
    keyword = f", keyword {escape(result['keyword'])}" if result["keyword"] else ""
    console.print(f"{result['intent']} ({certainty}{keyword})")
