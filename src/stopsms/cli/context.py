"""The command's :class:`~stopsms.app.App`: one per command run, closed when the command ends.

Every command runs inside :func:`command_scope` (through
:func:`stopsms.cli.console.handles_errors`); the first code of the command that asks for
:func:`application` builds the App from the settings (``STOPSMS_*``), acting as
``cli:<login>``, and its database opens on first use. A process running one command opens its
database once, however many transactions the command takes, and closes it when the command
returns; a test invoking many commands gets a fresh App, with the settings of the moment, for
each.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Connection

from stopsms.app import App

__all__ = ["account_name", "application", "command_scope", "transaction"]

#: The running command's App, once built (an empty list until then).
_scope: ContextVar[list[App] | None] = ContextVar("stopsms_cli_app", default=None)


def _login() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in some containers
        return "cli"


@contextmanager
def command_scope() -> Iterator[None]:
    """Run a command: the App it asks for is built on first use and closed at the end."""
    built: list[App] = []
    token = _scope.set(built)
    try:
        yield
    finally:
        _scope.reset(token)
        for app in built:
            app.close()


def application() -> App:
    """The running command's App (built on first use)."""
    built = _scope.get()
    if built is None:
        raise RuntimeError("application() is for code run by a command (see command_scope)")
    if not built:
        built.append(App(actor=_login()))
    return built[0]


@contextmanager
def transaction() -> Iterator[Connection]:
    """A read-write transaction of the command's App."""
    with application().transaction() as connection:
        yield connection


def account_name(account: str | None) -> str:
    """The ``--account`` given, else the configured default."""
    return application().account_name(account)
