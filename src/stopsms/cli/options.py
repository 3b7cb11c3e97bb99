"""Typer option types that many commands share (``--account``, ``--json``)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["AccountOption", "JsonOption"]

AccountOption = Annotated[
    str | None,
    typer.Option(
        "--account", "-a", help="Account to act on (default: STOPSMS_ACCOUNT or 'default')."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
