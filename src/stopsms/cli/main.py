"""The ``stopsms`` command: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from stopsms import __version__
from stopsms.cli import compliance

app = typer.Typer(
    name="stopsms",
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


app.command()(compliance.preview)
app.command()(compliance.window)
app.command()(compliance.classify)
