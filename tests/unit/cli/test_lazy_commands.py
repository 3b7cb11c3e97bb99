"""A command line imports the module of the command it names, not every command group's.

Run in a fresh interpreter: the test process itself has imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import typer.main

from stopsms.cli.main import app

_PROBE = """
import json, sys
from typer.testing import CliRunner
from stopsms.cli.main import app
result = CliRunner().invoke(app, {args!r})
print(json.dumps([result.exit_code, sorted(m for m in sys.modules if m.startswith("stopsms"))]))
"""


def _modules_after(*args: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(args=list(args))],
        capture_output=True,
        text=True,
        check=True,
    )
    code, modules = json.loads(done.stdout.strip().splitlines()[-1])
    return code, set(modules)


def test_contacts_import_loads_neither_the_engine_nor_the_other_groups() -> None:
    code, modules = _modules_after("contacts", "import", "--help")
    assert code == 0
    assert "stopsms.cli.contacts" in modules
    for unused in (
        "stopsms.cli.campaigns",
        "stopsms.cli.demo",
        "stopsms.cli.serve",
        "stopsms.cli.compliance",
        "stopsms.app.intake",
        "stopsms.engine.sending",
    ):
        assert unused not in modules, unused


def test_every_command_is_listed_and_built_on_demand() -> None:
    root: Any = typer.main.get_command(app)
    ctx = typer.Context(root)
    names = root.list_commands(ctx)
    assert names[:4] == ["version", "preview", "window", "classify"]
    assert {"contacts", "campaign", "demo", "serve"} <= set(names)
    campaign = root.get_command(ctx, "campaign")
    assert campaign is not None
    assert {"send", "resolve-unknown"} <= set(campaign.commands)
    # Built once per process: a second root gets the same subcommands, not two of each.
    other: Any = typer.main.get_command(app)
    again = other.get_command(ctx, "campaign")
    assert again is not None
    assert sorted(again.commands) == sorted(campaign.commands)
    assert root.get_command(ctx, "no-such-command") is None
