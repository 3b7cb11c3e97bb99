"""``stopsms users …`` and ``stopsms apikeys …`` through the CLI, as a person types them."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stopsms.cli.main import app as stopsms


def _ok(cli: CliRunner, args: list[str], stdin: str | None = None) -> str:
    result = cli.invoke(stopsms, args, input=stdin)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


def _refused(cli: CliRunner, args: list[str], stdin: str | None = None) -> str:
    result = cli.invoke(stopsms, args, input=stdin)
    assert result.exit_code == 2, (args, result.stdout)
    assert "Traceback" not in result.stderr
    return result.stderr


def test_users_are_created_with_a_role_listed_and_changed(cli: CliRunner) -> None:
    _ok(cli, ["accounts", "create", "shop"])
    made = _ok(
        cli,
        ["users", "create", "ana@shop.fr", "--password-stdin", "--account", "shop", "--json"],
        "correct horse battery\n",
    )
    assert json.loads(made)["roles"] == {"shop": "owner"}
    _ok(cli, ["users", "set-role", "ana@shop.fr", "viewer", "--account", "shop"])
    _ok(cli, ["users", "create", "root@shop.fr", "--password-stdin", "--admin"], "x" * 12 + "\n")
    listed = [json.loads(line) for line in _ok(cli, ["users", "list", "--json"]).splitlines()]
    assert [(u["email"], u["admin"], u["roles"]) for u in listed] == [
        ("ana@shop.fr", False, {"shop": "viewer"}),
        ("root@shop.fr", True, {}),
    ]
    _ok(cli, ["users", "reset-password", "ana@shop.fr", "--password-stdin"], "another long one\n")
    assert "at least 12 characters" in _refused(
        cli, ["users", "create", "bob@shop.fr", "--password-stdin"], "short\n"
    )
    assert "email" in _refused(cli, ["users", "create", "bob", "--password-stdin"], "x" * 12)
    assert "already exists" in _refused(
        cli, ["users", "create", "ANA@shop.fr", "--password-stdin"], "x" * 12
    )
    assert "role" in _refused(cli, ["users", "set-role", "ana@shop.fr", "boss", "-a", "shop"])
    assert "--password-stdin" in _refused(cli, ["users", "create", "bob@shop.fr"])


def test_a_key_is_printed_once_listed_by_prefix_and_revoked(cli: CliRunner) -> None:
    _ok(cli, ["accounts", "create", "shop"])
    made = json.loads(
        _ok(cli, ["apikeys", "create", "--account", "shop", "--name", "site", "--json"])
    )
    assert made["key"].startswith(f"ssk_{made['prefix']}_")
    assert made["role"] == "editor"
    listed = _ok(cli, ["apikeys", "list", "--account", "shop", "--json"])
    assert json.loads(listed)["prefix"] == made["prefix"]
    assert made["key"] not in listed + _ok(cli, ["apikeys", "list", "--account", "shop"])
    _ok(cli, ["apikeys", "revoke", str(made["id"]), "--account", "shop"])
    [row] = [json.loads(x) for x in _ok(cli, ["apikeys", "list", "-a", "shop", "--json"]).split()]
    assert row["revoked_at"] is not None
    assert "no API key 99" in _refused(cli, ["apikeys", "revoke", "99", "--account", "shop"])
    assert "no API key" in _refused(cli, ["apikeys", "revoke", str(made["id"])])  # default's
    assert "no account 'nope'" in _refused(cli, ["apikeys", "create", "-a", "nope", "--name", "x"])
