"""Output and error conventions shared by every command.

Human output goes through one Rich console; ``--json`` output is one JSON document (or one
per line in batch mode) on stdout. Every error stopsms raises on purpose becomes one clear
line on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from stopsms.app.results import dumps
from stopsms.cli.context import command_scope
from stopsms.cli.hints import worded
from stopsms.domain.errors import StopsmsError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

EXIT_USAGE = 2
#: The largest integer both databases store (BIGINT): the ``max=`` of integer options and ids,
#: so that a larger one is refused by name instead of overflowing the driver.
LARGEST_INTEGER = 2**63 - 1

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one error line on stderr and leave with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True, markup=True)
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn any :class:`StopsmsError` raised inside into one clear line and exit 2."""
    try:
        yield
    except StopsmsError as error:
        fail(escape(worded(error)))


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command: it runs with its own App (:func:`stopsms.cli.context.command_scope`:
    built on first use, closed when the command ends), and a :class:`StopsmsError` is
    reported, not raised."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with command_scope(), reported_errors():
            return command(*args, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover - reported_errors exits

    return wrapper


def escape(text: str) -> str:
    """Escape Rich markup in user-provided text."""
    return text.replace("[", r"\[")


def print_json(value: Any) -> None:
    """One JSON document on one line of stdout (the shapes: :mod:`stopsms.app.results`)."""
    sys.stdout.write(dumps(value) + "\n")
