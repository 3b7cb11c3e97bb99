"""The ``stopsms`` command: one Typer app; each group lives in its own module.

A command line imports only the module of the command it names (:class:`_Root`, built on
:class:`~stopsms.cli.help.LazyCommands`): importing every group took 0.77 s of each
command's start-up, where ``stopsms contacts import`` needs its own module (``-X
importtime``, load 2.5).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from functools import cache, partial
from typing import Any, ClassVar

import typer

from stopsms import __version__
from stopsms.cli.help import StopsmsGroup

#: Every command but ``version``, in the order ``stopsms --help`` lists them: its name, the
#: module that defines it and the object there (a Typer group, or a command's function).
_COMMANDS: dict[str, tuple[str, str]] = {
    # The compliance core, by hand.
    "preview": ("stopsms.cli.compliance", "preview"),
    "window": ("stopsms.cli.compliance", "window"),
    "classify": ("stopsms.cli.compliance", "classify"),
    # Accounts, contacts and the registry.
    "accounts": ("stopsms.cli.accounts", "accounts_app"),
    "senders": ("stopsms.cli.accounts", "senders_app"),
    "domains": ("stopsms.cli.accounts", "domains_app"),
    "credits": ("stopsms.cli.accounts", "credits_app"),
    "optouts": ("stopsms.cli.optouts", "optouts_app"),
    "contacts": ("stopsms.cli.contacts", "contacts_app"),
    "lists": ("stopsms.cli.contacts", "lists_app"),
    # Campaigns, sending and what comes back.
    "campaign": ("stopsms.cli.main", "campaign_group"),
    "worker": ("stopsms.cli.sending", "worker"),
    "replies": ("stopsms.cli.sending", "replies_app"),
    "webhooks": ("stopsms.cli.webhooks", "webhooks_app"),
    # Background jobs (imports, sends, exports), and the worker that runs them.
    "jobs": ("stopsms.cli.jobs", "jobs_app"),
    # The database's schema (commands also migrate a database that is behind, on first use).
    "migrate": ("stopsms.cli.migrate", "migrate"),
    # The HTTP API (and on SQLite the engine beside it); who may use it.
    "serve": ("stopsms.cli.serve", "serve"),
    "users": ("stopsms.cli.access", "users_app"),
    "apikeys": ("stopsms.cli.access", "apikeys_app"),
    # The built-in SMSC simulator, and the demo that runs everything on it (`make run`).
    "smsc": ("stopsms.cli.smsc", "smsc"),
    "demo": ("stopsms.cli.demo", "demo"),
}


@cache
def campaign_group() -> typer.Typer:
    """``stopsms campaign``: its own commands, with ``send`` and ``resolve-unknown``."""
    from stopsms.cli import doubt, sending
    from stopsms.cli.campaigns import campaign_app

    campaign_app.command("send")(sending.send)
    campaign_app.command("resolve-unknown")(doubt.resolve_unknown_command)
    return campaign_app


def _nothing() -> None:
    """(A group's callback: a group even when it holds one command.)"""


def _build(name: str) -> Any:
    """The click command ``stopsms <name>``, made by Typer as if registered on the root."""
    module, attribute = _COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if attribute == "campaign_group":
        target = target()
    holder = typer.Typer(add_completion=False)
    holder.callback()(_nothing)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


class _Root(StopsmsGroup):
    lazy: ClassVar[Mapping[str, Callable[[], Any]]] = {
        name: partial(_build, name) for name in _COMMANDS
    }


app = typer.Typer(
    name="stopsms",
    cls=_Root,
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
