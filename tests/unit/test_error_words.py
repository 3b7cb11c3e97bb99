"""Issue 8, item 1: service errors speak of values and fields, never of one interface's flags.

Every string the services, the domain and ``errors.py`` build (docstrings aside) is read: none
names a CLI option (``--rate``) or a CLI command (```stopsms accounts set …```). What to do
instead is a :class:`~stopsms.errors.Fix`, which the CLI words as a command in one place
(:mod:`stopsms.cli.hints`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from stopsms.cli.hints import command, worded
from stopsms.errors import Fix, InvalidInput

SRC = Path(__file__).resolve().parents[2] / "src" / "stopsms"
#: Every layer below the CLI: the application layer, the engine, the services, the file readers
#: and the domain.
BELOW_THE_CLI = ("app", "engine", "services", "imports", "domain")
CHECKED = [path for layer in BELOW_THE_CLI for path in sorted((SRC / layer).rglob("*.py"))]
CHECKED.append(SRC / "errors.py")
FLAG = re.compile(r"(?<![\w-])--[a-z]|`stopsms |\(stopsms ")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: str(p.relative_to(SRC)))
def test_no_cli_flag_or_command_in_service_words(path: Path) -> None:
    """Fails on main: ``invalid --rate``, ``Top up with `stopsms credits add …```…"""
    named = [f"{path.name}:{line}: {text!r}" for line, text in _strings(path) if FLAG.search(text)]
    assert named == []


def test_the_cli_words_a_fix_as_the_command_to_type() -> None:
    shortcode = Fix("set_account", (("account", "shop"), ("shortcode", "NNNNN")))
    assert command(shortcode) == "`stopsms accounts set shop --shortcode NNNNN`"
    mention = Fix("set_account", (("account", "shop"), ("mention_format", "STOP {shortcode}")))
    assert command(mention) == "`stopsms accounts set shop --mention-format 'STOP {shortcode}'`"
    top_up = Fix("add_credits", (("amount", "9"), ("account", "default")))
    assert "`stopsms credits add 9 --account default`" in (command(top_up) or "")
    assert "--allow-partial" in (command(top_up) or "")
    again = Fix("resubscribe", (("phone", "+33612345678"), ("evidence", "…")))
    assert command(again) == "`stopsms optouts remove +33612345678 --evidence …`"
    resume = Fix("resume_and_send", (("campaign", "7"),))
    assert command(resume) == (
        "`stopsms campaign resume 7` then `stopsms campaign send 7` (or a running"
        " `stopsms worker`) to go on"
    )
    assert command(Fix("resume_campaign", (("campaign", "7"),))) == "`stopsms campaign resume 7`"
    assert command(Fix("send_campaign", (("campaign", "7"),))) == "`stopsms campaign send 7`"
    assert command(Fix("map_column", (("field", "phone"),))) == "--map COLUMN=phone"
    assert command(Fix("choose_rejects")) == "--rejects FILE"
    assert command(Fix("something_else")) is None


def test_an_error_line_keeps_its_words_and_gains_the_command() -> None:
    plain = InvalidInput("rate", 0.0, "must be a positive number of messages per second")
    assert worded(plain) == "invalid rate 0.0: must be a positive number of messages per second"
    fixable = InvalidInput(
        "sender",
        "SHOP",
        "not on the account's list of senders",
        fix=Fix("add_sender", (("sender", "SHOP"),)),
    )
    assert worded(fixable) == (
        "invalid sender 'SHOP': not on the account's list of senders (`stopsms senders add SHOP`)"
    )
