"""The ``stopsms`` command: one Typer app; each group lives in its own module."""

from __future__ import annotations

import typer

from stopsms import __version__
from stopsms.cli import compliance, demo, sending, serve
from stopsms.cli.access import apikeys_app, users_app
from stopsms.cli.accounts import accounts_app, credits_app, domains_app, senders_app
from stopsms.cli.campaigns import campaign_app
from stopsms.cli.contacts import contacts_app, lists_app
from stopsms.cli.help import StopsmsGroup
from stopsms.cli.migrate import migrate
from stopsms.cli.optouts import optouts_app
from stopsms.cli.smsc import smsc

app = typer.Typer(
    name="stopsms",
    cls=StopsmsGroup,
    help="SMS campaigns that are compliant by construction.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """SMS campaigns that are compliant by construction."""


@app.command()
def version() -> None:
    """Print the stopsms version."""
    typer.echo(__version__)


# The compliance core, by hand.
app.command()(compliance.preview)
app.command()(compliance.window)
app.command()(compliance.classify)

# Accounts, contacts and the registry.
app.add_typer(accounts_app, name="accounts")
app.add_typer(senders_app, name="senders")
app.add_typer(domains_app, name="domains")
app.add_typer(credits_app, name="credits")
app.add_typer(optouts_app, name="optouts")
app.add_typer(contacts_app, name="contacts")
app.add_typer(lists_app, name="lists")

# Campaigns, sending and what comes back.
campaign_app.command("send")(sending.send)
app.add_typer(campaign_app, name="campaign")
app.command()(sending.worker)
app.add_typer(sending.replies_app, name="replies")

# The database's schema (commands also migrate a database that is behind, on first use).
app.command()(migrate)

# The HTTP API (and on SQLite the engine beside it); who may use it.
app.command()(serve.serve)
app.add_typer(users_app, name="users")
app.add_typer(apikeys_app, name="apikeys")

# The built-in SMSC simulator, and the demo that runs everything on it (`make run`).
app.command()(smsc)
app.command()(demo.demo)
