"""``preview`` and ``window`` with ``--account``: the account's mention, senders and hours."""

import json

import pytest
from typer.testing import CliRunner

from stopsms.cli.main import app


@pytest.fixture
def cli(cli: CliRunner) -> CliRunner:
    """The shared runner (tests/integration/conftest.py), with account ``shop`` set up."""
    runner = cli
    for step in (
        [
            "accounts",
            "create",
            "shop",
            "--shortcode",
            "36173",
            "--mention-format",
            "STOP au {shortcode}",
            "--validated",
            "--window-policy",
            "fr-af2m-2024",
        ],
        ["senders", "add", "MaBoutique", "--account", "shop"],
        ["accounts", "create", "fresh"],
    ):
        result = runner.invoke(app, step)
        assert result.exit_code == 0, (step, result.output)
    return runner


def test_preview_uses_the_accounts_mention_and_checks_its_senders(cli: CliRunner) -> None:
    answer = json.loads(
        cli.invoke(
            app, ["preview", "Soldes", "--account", "shop", "--sender", "MaBoutique", "--json"]
        ).stdout
    )
    assert answer["text"] == "Soldes STOP au 36173"
    assert answer["sender"] == "MaBoutique"

    unknown = cli.invoke(app, ["preview", "Soldes", "--account", "shop", "--sender", "Autre"])
    assert unknown.exit_code == 2
    assert "not on the account's list of senders" in unknown.stderr

    # An unvalidated account cannot choose: its default shortcode (the 00000 placeholder).
    fresh = json.loads(
        cli.invoke(
            app, ["preview", "Soldes", "--account", "fresh", "--sender", "X1", "--json"]
        ).stdout
    )
    assert fresh["text"] == "Soldes STOP 00000"
    assert fresh["sender"] == "00000"


def test_explicit_options_override_the_account(cli: CliRunner) -> None:
    answer = json.loads(
        cli.invoke(
            app, ["preview", "Soldes", "--account", "shop", "--shortcode", "36034", "--json"]
        ).stdout
    )
    assert answer["text"] == "Soldes STOP au 36034"


def test_window_uses_the_accounts_policy(cli: CliRunner) -> None:
    # Saturday 21:00 in Paris: closed by default (Sat 10–18), open under the AF2M charter.
    at = "2026-11-28T21:00:00+01:00"
    default = json.loads(
        cli.invoke(app, ["window", "--to", "0612345678", "--at", at, "--json"]).stdout
    )
    charter = json.loads(
        cli.invoke(
            app, ["window", "--to", "0612345678", "--at", at, "--account", "shop", "--json"]
        ).stdout
    )
    assert default["allowed"] is False
    assert charter["allowed"] is True
    assert charter["policy"] == "fr-af2m-2024"


def test_an_unknown_account_is_one_clear_line(cli: CliRunner) -> None:
    result = cli.invoke(app, ["preview", "Soldes", "--account", "nope"])
    assert result.exit_code == 2
    assert "nope" in result.stderr
    assert "Traceback" not in result.output
