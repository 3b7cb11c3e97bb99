"""Issue 12, hostile input tried on the commands it touched, after its first round: each was
accepted (or written somewhere it should not be) and is now refused by one line naming the
value, exit 2, with nothing changed. Run through the whole ``stopsms`` app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.integration.test_bad_input_cli import CONTACTS, ok, refused


@pytest.fixture
def cli(cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """The shared runner (tests/integration/conftest.py), working in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return cli


def account(cli: CliRunner) -> dict[str, object]:
    shown: dict[str, object] = json.loads(ok(cli, "accounts", "show", "--json"))
    return shown


@pytest.mark.parametrize(
    ("mention_format", "says"),
    [
        ("STOP 1{shortcode}", "shows the number 136034, not the shortcode"),
        ("STOP {shortcode}9", "shows the number 360349, not the shortcode"),
        ("STOP \uff10{shortcode}", "not the shortcode"),
        ("STOP {shortcode}\n", "control character"),
        ("STOP\x1b[8m {shortcode}", "control character"),
        ("STOP {shortcode} " * 30, "at most 100"),
    ],
)
def test_a_mention_format_shows_exactly_the_shortcode_on_one_line(
    cli: CliRunner, mention_format: str, says: str
) -> None:
    ok(cli, "accounts", "set", "default", "--shortcode", "36034")
    refused(cli, "accounts", "set", "default", "--mention-format", mention_format, says=says)
    refused(CliRunner(), "preview", "Soldes", "--mention-format", mention_format, says=says)
    assert account(cli)["mention_format"] == "STOP {shortcode}"
    ok(cli, "accounts", "set", "default", "--mention-format", "Stop SMS au {shortcode}")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://shop.fr/u\x1b[2J", "an http(s):// URL"),
        ("https://shop.fr/" + "a" * 300, "at most 100"),
        ("https://127.0.0.1/stop", "leads no recipient to an unsubscribe page"),
        ("https://[::1]/stop", "leads no recipient to an unsubscribe page"),
        ("http://192.168.1.10/stop", "leads no recipient to an unsubscribe page"),
        ("https://shop.fr@evil.com/stop", "the link leads to what follows the '@'"),
        ("https://shop.fr:x@evil.com/stop", "the link leads to what follows the '@'"),
    ],
)
def test_an_unsubscribe_url_is_a_short_public_link(cli: CliRunner, url: str, says: str) -> None:
    refused(cli, "accounts", "set", "default", "--unsubscribe-url", url, says=says)
    assert account(cli)["unsubscribe_url"] is None
    ok(cli, "accounts", "set", "default", "--unsubscribe-url", "https://shop.fr/désabonnement")


@pytest.mark.parametrize("suffix", ["co.uk", "github.io", "gouv.fr", "com.fr"])
def test_a_public_suffix_cannot_be_allowed_in_links(cli: CliRunner, suffix: str) -> None:
    refused(cli, "domains", "add", suffix, says=f"{suffix} is a public suffix")
    assert json.loads(ok(cli, "domains", "list", "--json")) == []
    assert f"shop.{suffix} allowed" in ok(cli, "domains", "add", f"shop.{suffix}")


def test_typed_reasons_evidence_and_references_hold_no_terminal_escape(cli: CliRunner) -> None:
    escape = "ok\x1b[2J\x1b]0;pwned\x07"
    refused(cli, "optouts", "add", "0612345678", "--reason", escape, says="invalid --reason")
    assert json.loads(ok(cli, "optouts", "list", "--json")) == []
    ok(cli, "optouts", "add", "0612345678", "--reason", "asked by phone\non 3 May")
    refused(cli, "optouts", "remove", "0612345678", "--evidence", escape, says="invalid --evidence")
    refused(cli, "optouts", "review", "--evidence", "\x07", says="invalid --evidence")
    assert "SUPPRESSED" in ok(cli, "optouts", "check", "0612345678")
    refused(cli, "credits", "add", "5", "--reference", escape, says="invalid --reference")
    refused(cli, "credits", "transfer", "5", "--to", "x", "--reference", escape, says="U+001B")
    assert json.loads(ok(cli, "credits", "show", "--json"))["balance_millicredits"] == 0


def test_sms_texts_hold_no_control_character(cli: CliRunner, tmp_path: Path) -> None:
    ok(cli, "accounts", "set", "default", "--validated", "--shortcode", "36034")
    ok(cli, "senders", "add", "SHOP")
    (tmp_path / "c.csv").write_text(CONTACTS, encoding="utf-8")
    ok(cli, "contacts", "import", "c.csv", "--list", "vip", "--consent", "opt-in")
    args = ["campaign", "create", "--list", "vip", "--sender", "SHOP", "--text"]
    refused(cli, *args, "Soldes\x1b[2J -20%", says="control character U+001B")
    refused(cli, *args, "Soldes\x00", says="control character U+0000")
    assert json.loads(ok(cli, "campaign", "list", "--json")) == []
    ok(cli, *args, "Soldes\n-20%\tce week-end")
    confirmation = "STOP pris en compte {brand}\x07"
    refused(
        cli, "accounts", "set", "default", "--confirmation-text", confirmation,
        says="invalid confirmation_text",
    )  # fmt: skip


def test_a_receipt_wait_is_finite(cli: CliRunner) -> None:
    for value in ("inf", "nan", "86401"):
        args = ["campaign", "send", "1", "--wait", "--receipt-timeout", value]
        refused(cli, *args, says="Invalid value for '--receipt-timeout'")


@pytest.mark.parametrize("home", ["relative/dir", " ", "."])
def test_a_relative_home_is_refused_not_created_here(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: str
) -> None:
    monkeypatch.delenv("STOPSMS_DATABASE_URL", raising=False)
    monkeypatch.setenv("STOPSMS_HOME", home)
    monkeypatch.chdir(tmp_path)
    refused(CliRunner(), "accounts", "list", says=f"STOPSMS_HOME={home!r}: give an absolute")
    assert list(tmp_path.iterdir()) == []
