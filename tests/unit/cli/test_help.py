"""Every command's ``--help`` reads as written for users, generated from the Typer app.

The list of commands comes from the app itself, so a new command is checked without being
named here: no Python type in angle brackets (``<str>``, ``<bool>``), no reStructuredText
double backticks, no help text eaten by Rich markup (``[default: …]`` vanished, leaving " ."),
no "(rule 9)" pointing to a document users do not have.
"""

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from stopsms.cli.main import app

runner = CliRunner()


def _paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _paths(sub, (*path, name))


def _command(path: tuple[str, ...]) -> Any:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


PATHS = list(_paths(typer.main.get_command(app)))


def test_the_tree_is_walked() -> None:
    assert ("credits", "add") in PATHS
    assert ("campaign", "send") in PATHS
    assert ("preview",) in PATHS
    assert len(PATHS) > 40


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "stopsms")
def test_help_has_no_artefacts(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert re.search(r"<[a-z][\w\[\]|, ]*>", text) is None, text  # <str>, <bool>, <list[str]>
    assert "``" not in text
    assert re.search(r" [.,](\s|$)", text) is None, text
    assert re.search(r"\(rule \d+\)", text) is None, text


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "stopsms")
def test_help_sources_have_no_markup_rich_would_eat(path: tuple[str, ...]) -> None:
    """Rich reads ``[word…]`` in help as a style tag and drops it: write (default: …)."""
    command = _command(path)
    texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
    for text in texts:
        assert re.search(r"\[[a-z/][^\]]*\]", text) is None, text


def test_flags_show_no_value_and_options_their_kind() -> None:
    text = runner.invoke(app, ["contacts", "list", "--help"], env={"COLUMNS": "200"}).stdout
    json_line = next(line for line in text.splitlines() if "--json" in line)
    assert "TEXT" not in json_line
    assert "BOOL" not in json_line.upper().replace("--JSON", "")
    limit_line = next(line for line in text.splitlines() if "--limit" in line)
    assert "INTEGER" in limit_line


def test_validated_is_spelled_the_same_on_every_command() -> None:
    for path in (("accounts", "create"), ("accounts", "set")):
        text = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).stdout
        assert "--no-validated" in text
        assert "--not-validated" not in text


def test_window_account_help_is_its_own() -> None:
    preview = runner.invoke(app, ["preview", "--help"], env={"COLUMNS": "200"}).stdout
    window = runner.invoke(app, ["window", "--help"], env={"COLUMNS": "200"}).stdout
    assert "sending-hours policy" in window
    assert "mention, type, senders" not in window
    assert "mention, type, senders" in preview
