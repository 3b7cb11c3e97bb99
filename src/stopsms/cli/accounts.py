"""``stopsms accounts|senders|domains|credits``: accounts and what they may do.

Sub-apps (registered in :mod:`stopsms.cli.main`): ``accounts_app``, ``senders_app``,
``domains_app``, ``credits_app``. Every command acting on an account takes ``--account NAME``
(default: ``STOPSMS_ACCOUNT`` or ``default``). Errors are one line on stderr, exit code 2.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from stopsms.app import results
from stopsms.cli.console import LARGEST_INTEGER, console, escape, handles_errors, print_json
from stopsms.cli.context import account_name, transaction
from stopsms.cli.options import AccountOption, JsonOption
from stopsms.errors import InvalidInput
from stopsms.services.accounts import accounts as svc
from stopsms.services.accounts import credits as money
from stopsms.services.accounts.names import typed_text

__all__ = ["accounts_app", "credits_app", "domains_app", "senders_app"]

accounts_app = typer.Typer(help="Accounts (licences): type, shortcode, mention, scope, prices.")
senders_app = typer.Typer(
    help="Sender IDs an account may use: 3 to 11 letters or digits with at least one letter,"
    " a shortcode or a +E.164 number; generic or protected names need an authorisation."
)
domains_app = typer.Typer(
    help="Domains an account's messages may link to; a link to any other domain is refused"
    " (anti-smishing)."
)
credits_app = typer.Typer(
    help="Credit balance, top-ups and transfers; credits are debited when a message leaves."
)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# -- accounts -----------------------------------------------------------------------------------


@accounts_app.command("create")
@handles_errors
def create(
    name: Annotated[str, typer.Argument(help="Unique account name.")],
    type: Annotated[str, typer.Option("--type", help="marketing or notification.")] = "marketing",
    shortcode: Annotated[str, typer.Option(help="Default shortcode (sender fallback, STOP).")] = (
        "00000"
    ),
    brand: Annotated[str | None, typer.Option(help="Name in the STOP confirmation.")] = None,
    validated: Annotated[bool, typer.Option(help="The account passed validation.")] = False,
    mention_format: Annotated[str, typer.Option(help="e.g. 'STOP {shortcode}'.")] = (
        "STOP {shortcode}"
    ),
    optout_scope: Annotated[str, typer.Option(help="account or sender.")] = "account",
    window_policy: Annotated[str | None, typer.Option(help="Sending-hours policy name.")] = None,
    unsubscribe_url: Annotated[str | None, typer.Option(help="Outside France.")] = None,
    json: JsonOption = False,
) -> None:
    """Create an account."""
    with transaction() as conn:
        account = svc.create_account(
            conn,
            name,
            type=type,
            shortcode=shortcode,
            brand=brand,
            validated=validated,
            mention_format=mention_format,
            optout_scope=optout_scope,
            window_policy=window_policy,
            unsubscribe_url=unsubscribe_url,
        )
    if json:
        print_json(results.account(account))
    else:
        console.print(f"created account [bold]{escape(account.name)}[/] (id {account.id})")


@accounts_app.command("list")
@handles_errors
def list_(json: JsonOption = False) -> None:
    """List every account."""
    with transaction() as conn:
        found = svc.list_accounts(conn)
    if json:
        print_json([results.account(a) for a in found])
        return
    table = Table("name", "type", "validated", "shortcode", "scope", "balance")
    for a in found:
        table.add_row(
            escape(a.name),
            a.type,
            _yes(a.validated),
            a.shortcode,
            a.optout_scope,
            money.format_credits(a.balance_millicredits),
        )
    console.print(table)


@accounts_app.command("show")
@handles_errors
def show(
    name: Annotated[str | None, typer.Argument(help="Account (default: --account).")] = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Show an account: settings, senders, domains, prices, keywords, balance."""
    with transaction() as conn:
        acc = svc.get_account(conn, name or account_name(account))
        senders = svc.list_senders(conn, acc)
        domains = svc.list_domains(conn, acc)
        prices = svc.price_table(conn, acc)
        keywords = svc.keywords(conn, acc)
    if json:
        print_json(results.account_details(acc, senders, domains, prices, keywords))
        return
    table = Table(title=f"account {escape(acc.name)}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = {
        "type": acc.type,
        "validated": _yes(acc.validated),
        "shortcode": acc.shortcode,
        "mention": f"{acc.mention} ({'on' if acc.mention_enabled else 'off'})",
        "unsubscribe url": acc.unsubscribe_url or "-",
        "opt-out scope": acc.optout_scope,
        "window policy": acc.window_policy or "(per country)",
        "brand": acc.brand,
        "confirmation": acc.confirmation,
        "balance": f"{money.format_credits(acc.balance_millicredits)} credits",
        "alert threshold": f"{money.format_credits(acc.alert_threshold_millicredits)} credits",
        "time zone": acc.time_zone,
        "senders": ", ".join(s.sender for s in senders) or "-",
        "domains": ", ".join(domains) or "-",
        "prices / part": ", ".join(
            [f"{r} {money.format_credits(p)}" for r, p in sorted(prices.by_region.items())]
            + [f"* {money.format_credits(prices.fallback_millicredits)}"]
        ),
        "keywords": ", ".join(f"{k}={v}" for k, v in sorted(keywords.items())) or "-",
        "created": acc.created_at.isoformat(timespec="seconds"),
    }
    for key, value in rows.items():
        table.add_row(key, escape(value))
    console.print(table)


def _pairs(values: list[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise InvalidInput(option, value, "expected KEY=VALUE")
        pairs.append((key.strip(), rest.strip()))
    return pairs


@accounts_app.command("set")
@handles_errors
def set_(
    name: Annotated[str, typer.Argument(help="Account to change.")],
    type: Annotated[str | None, typer.Option("--type", help="marketing or notification.")] = None,
    validated: Annotated[bool | None, typer.Option("--validated/--no-validated")] = None,
    shortcode: Annotated[str | None, typer.Option()] = None,
    mention_format: Annotated[str | None, typer.Option(help="e.g. 'STOP au {shortcode}'.")] = None,
    mention: Annotated[
        bool | None, typer.Option("--mention/--no-mention", help="Notification accounts only.")
    ] = None,
    unsubscribe_url: Annotated[str | None, typer.Option(help="'' clears it.")] = None,
    optout_scope: Annotated[str | None, typer.Option(help="account or sender.")] = None,
    window_policy: Annotated[str | None, typer.Option(help="'' clears it.")] = None,
    brand: Annotated[str | None, typer.Option()] = None,
    confirmation_text: Annotated[str | None, typer.Option(help="May use {brand}.")] = None,
    alert_threshold: Annotated[str | None, typer.Option(help="Credits, e.g. 100.")] = None,
    time_zone: Annotated[
        str | None,
        typer.Option(
            help="IANA zone, e.g. Europe/Brussels: the customer area's times and an"
            " offset-less --at."
        ),
    ] = None,
    price: Annotated[
        list[str] | None, typer.Option(help="REGION=CREDITS per part, e.g. FR=0.045 or *=0.1.")
    ] = None,
    keyword: Annotated[
        list[str] | None, typer.Option(help="WORD=INTENT (optout, optin, help).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Change an account's settings, prices and keywords."""
    changes = svc.AccountChanges(
        type=type,
        validated=validated,
        shortcode=shortcode,
        mention_format=mention_format,
        mention_enabled=mention,
        unsubscribe_url=unsubscribe_url,  # '' clears it
        optout_scope=optout_scope,
        window_policy=window_policy,  # '' clears it
        brand=brand,
        confirmation_text=confirmation_text,
        alert_threshold_millicredits=(
            None if alert_threshold is None else money.parse_credits(alert_threshold)
        ),
        time_zone=time_zone,
    )
    prices = _pairs(price or [], "--price")
    keywords = _pairs(keyword or [], "--keyword")
    with transaction() as conn:
        acc = svc.update_account(conn, name, changes)
        for region, credits_text in prices:
            svc.set_price(conn, acc, region, money.parse_credits(credits_text))
        for word, intent in keywords:
            svc.add_keyword(conn, acc, word, intent)
    if json:
        print_json(results.account(acc))
    else:
        console.print(f"updated account [bold]{escape(acc.name)}[/]")


# -- senders ------------------------------------------------------------------------------------


@senders_app.command("add")
@handles_errors
def senders_add(
    sender: Annotated[str, typer.Argument(help="3–11 letters/digits, a shortcode or +E.164.")],
    authorised: Annotated[
        bool, typer.Option(help="A written authorisation covers a generic/protected name.")
    ] = False,
    account: AccountOption = None,
) -> None:
    """Add a sender ID to the account's list."""
    with transaction() as conn:
        added = svc.add_sender(conn, account_name(account), sender, authorised_protected=authorised)
        acc = svc.get_account(conn, account_name(account))
    console.print(
        f"sender [bold]{escape(added.sender)}[/] ({added.kind}) added to {escape(acc.name)}"
    )
    if not acc.validated:
        console.print(
            f"note: {escape(acc.name)} is not validated, so its messages leave from its "
            f"shortcode {acc.shortcode} until it is (stopsms accounts set {escape(acc.name)}"
            " --validated)"
        )


@senders_app.command("list")
@handles_errors
def senders_list(account: AccountOption = None, json: JsonOption = False) -> None:
    """List the account's sender IDs."""
    with transaction() as conn:
        found = svc.list_senders(conn, account_name(account))
    if json:
        print_json([results.plain(s) for s in found])
        return
    table = Table("sender", "kind", "authorised", "added")
    for s in found:
        table.add_row(
            escape(s.sender), s.kind, _yes(s.authorised_protected), s.created_at.date().isoformat()
        )
    console.print(table)


@senders_app.command("remove")
@handles_errors
def senders_remove(sender: str, account: AccountOption = None) -> None:
    """Remove a sender ID from the account's list."""
    with transaction() as conn:
        svc.remove_sender(conn, account_name(account), sender)
    console.print(f"sender {escape(sender)} removed")


# -- domains ------------------------------------------------------------------------------------


@domains_app.command("add")
@handles_errors
def domains_add(
    domain: Annotated[str, typer.Argument(help="e.g. shop.example.fr (subdomains included).")],
    account: AccountOption = None,
) -> None:
    """Allow links to a domain (and its subdomains) in the account's messages.

    Nothing checks that the account owns the domain: add only domains it controls."""
    with transaction() as conn:
        value = svc.add_domain(conn, account_name(account), domain)
    console.print(f"domain [bold]{escape(value)}[/] allowed in links (with its subdomains)")


@domains_app.command("list")
@handles_errors
def domains_list(account: AccountOption = None, json: JsonOption = False) -> None:
    """List the domains the account's messages may link to."""
    with transaction() as conn:
        found = svc.list_domains(conn, account_name(account))
    if json:
        print_json(found)
        return
    table = Table("domain")
    for domain in found:
        table.add_row(escape(domain))
    console.print(table)


@domains_app.command("remove")
@handles_errors
def domains_remove(domain: str, account: AccountOption = None) -> None:
    """Stop allowing links to a domain."""
    with transaction() as conn:
        svc.remove_domain(conn, account_name(account), domain)
    console.print(f"domain {escape(domain)} removed")


# -- credits ------------------------------------------------------------------------------------


@credits_app.command("add")
@handles_errors
def credits_add(
    amount: Annotated[str, typer.Argument(help="Credits, up to 3 decimals (e.g. 1000 or 12.5).")],
    reference: Annotated[str | None, typer.Option(help="Order, invoice…")] = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Add credits to the account."""
    reference = typed_text("--reference", reference) if reference else reference
    with transaction() as conn:
        entry = money.add_credits(
            conn, account_name(account), money.parse_credits(amount), reference=reference
        )
    if json:
        print_json(results.plain(entry))
    else:
        console.print(
            f"{escape(entry.account)}: +{money.format_credits(entry.delta_millicredits)} credits,"
            f" balance {money.format_credits(entry.balance_after_millicredits)}"
        )


@credits_app.command("show")
@handles_errors
def credits_show(
    history: Annotated[
        int, typer.Option(min=0, max=LARGEST_INTEGER, help="How many ledger entries to show.")
    ] = 10,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Show the balance, the alert threshold and the latest ledger entries."""
    with transaction() as conn:
        balance = money.balance(conn, account_name(account))
        entries = money.ledger(conn, balance.account, limit=history)
    if json:
        print_json(results.balance(balance, entries))
        return
    console.print(
        f"{escape(balance.account)}: [bold]{money.format_credits(balance.balance_millicredits)}"
        f"[/] credits (alert at {money.format_credits(balance.alert_threshold_millicredits)})"
    )
    if balance.below_threshold:
        console.print("[bold yellow]balance at or below the alert threshold[/]")
    if entries:
        table = Table("at", "change", "balance", "reason", "reference")
        for e in entries:
            table.add_row(
                e.at.isoformat(timespec="seconds"),
                money.format_credits(e.delta_millicredits),
                money.format_credits(e.balance_after_millicredits),
                e.reason,
                escape(e.reference or ""),
            )
        console.print(table)


@credits_app.command("transfer")
@handles_errors
def credits_transfer(
    amount: Annotated[str, typer.Argument(help="Credits to move.")],
    to: Annotated[str, typer.Option("--to", help="Receiving account.")],
    reference: Annotated[str | None, typer.Option()] = None,
    account: AccountOption = None,
) -> None:
    """Move credits from --account to --to, atomically."""
    reference = typed_text("--reference", reference) if reference else reference
    with transaction() as conn:
        out, into = money.transfer(
            conn, account_name(account), to, money.parse_credits(amount), reference=reference
        )
    console.print(
        f"moved {money.format_credits(into.delta_millicredits)} credits: "
        f"{escape(out.account)} {money.format_credits(out.balance_after_millicredits)}, "
        f"{escape(into.account)} {money.format_credits(into.balance_after_millicredits)}"
    )
