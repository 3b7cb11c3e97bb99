"""Issue 12, bad input left over from its first round: each refusal is one clear line naming the
value, exit 2, no traceback, and nothing written. Run through the whole ``stopsms`` app."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stopsms.cli.main import app
from tests.integration.test_bad_input_cli import CONTACTS, ok, refused


@pytest.fixture
def cli(cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """The shared runner (tests/integration/conftest.py), working in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return cli


def one_line(output: str) -> str:
    return " ".join(output.split())


def balance(cli: CliRunner, account: str = "default") -> int:
    shown = json.loads(ok(cli, "credits", "show", "--json", "--account", account))
    return int(shown["balance_millicredits"])


@pytest.fixture
def shop(cli: CliRunner, tmp_path: Path) -> CliRunner:
    """A validated account with sender SHOP and two consenting contacts in list 'vip'."""
    ok(cli, "accounts", "set", "default", "--validated", "--shortcode", "36034")
    ok(cli, "senders", "add", "SHOP")
    (tmp_path / "c.csv").write_text(CONTACTS, encoding="utf-8")
    ok(cli, "contacts", "import", "c.csv", "--list", "vip", "--consent", "opt-in")
    return cli


# -- 1. credit amounts: one reading only ---------------------------------------------------------


@pytest.mark.parametrize("amount", ["1,000", "1.000", "2.500", "12,345", "1,000,000", "1.000,5"])
def test_an_amount_with_a_thousands_separator_is_refused_not_misread(
    cli: CliRunner, amount: str
) -> None:
    ok(cli, "accounts", "create", "other")
    ok(cli, "credits", "add", "50")
    before = balance(cli)
    says = f"invalid credits '{amount}'"
    output = refused(cli, "credits", "add", amount, says=says)
    assert "ambiguous" in output or "group thousands by a space" in output
    refused(cli, "credits", "transfer", amount, "--to", "other", says=says)
    refused(cli, "accounts", "set", "default", "--alert-threshold", amount, says=says)
    refused(cli, "accounts", "set", "default", "--price", f"FR={amount}", says=says)
    assert balance(cli) == before
    assert balance(cli, "other") == 0
    shown = json.loads(ok(cli, "accounts", "show", "--json"))
    assert shown["alert_threshold_millicredits"] == 0
    assert "FR" not in shown["prices_millicredits"]


def test_the_refusal_says_how_to_write_each_reading(cli: CliRunner) -> None:
    refused(cli, "credits", "add", "1,000", says="write 1000 or 1.0")
    refused(cli, "credits", "add", "2.500", says="write 2500 or 2.5")


@pytest.mark.parametrize(
    ("amount", "millicredits"),
    [
        ("1000", 1_000_000),
        ("1000.5", 1_000_500),
        ("1000,5", 1_000_500),
        ("1 000", 1_000_000),
        ("1\u00a0000", 1_000_000),
        ("1_000", 1_000_000),
        ("12,5", 12_500),
        ("0,045", 45),
        ("1.234", 1_234),
        ("1 000,500", 1_000_500),
    ],
)
def test_an_unambiguous_amount_is_read_as_written(
    cli: CliRunner, amount: str, millicredits: int
) -> None:
    ok(cli, "credits", "add", amount)
    assert balance(cli) == millicredits


def test_every_amount_stopsms_prints_reads_back_the_same(cli: CliRunner) -> None:
    """A balance copied from the output is the balance: ``1 234.567`` tops up 1234.567."""
    ok(cli, "accounts", "create", "other")
    said = ok(cli, "credits", "add", "1234.567")
    printed = re.search(r"balance (.+)$", said.strip())
    assert printed is not None
    assert printed.group(1) == "1 234.567"
    ok(cli, "credits", "transfer", printed.group(1), "--to", "other")
    assert (balance(cli), balance(cli, "other")) == (0, 1_234_567)
    ok(cli, "accounts", "set", "default", "--price", "FR=0.045", "--alert-threshold", "2 500")
    shown = json.loads(ok(cli, "accounts", "show", "--json"))
    assert shown["alert_threshold_millicredits"] == 2_500_000
    assert shown["prices_millicredits"]["FR"] == 45


# -- 2. ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--confirm", "--dismiss"])
@pytest.mark.parametrize("value", ["9" * 20, "0", "-1"])
def test_an_out_of_range_review_id_is_refused_by_name(
    cli: CliRunner, option: str, value: str
) -> None:
    ok(cli, "optouts", "add", "0612345670")
    args = ["optouts", "review", option, value, "--evidence", "a reply to a question"]
    refused(cli, *args, says=f"Invalid value for '{option}'")
    assert ok(cli, "optouts", "check", "0612345670").count("SUPPRESSED") == 1


# -- 3. preview refuses what an account refuses ---------------------------------------------------


@pytest.mark.parametrize(
    ("mention_format", "shortcode"),
    [
        ("{0}", None),
        ("{shortcode}", None),
        ("Reply NO", None),
        ("Pour arreter", None),
        ("STOP {shortcode} {x}", None),
        ("STOP SMS", "36173"),
    ],
)
def test_preview_refuses_a_mention_format_with_the_accounts_sentence(
    cli: CliRunner, mention_format: str, shortcode: str | None
) -> None:
    ok(cli, "accounts", "set", "default", "--shortcode", "36034")
    extra = ["--shortcode", shortcode] if shortcode else []
    account = refused(
        cli,
        "accounts",
        "set",
        "default",
        "--mention-format",
        mention_format,
        *extra,
        says="invalid mention_format",
    )
    preview = refused(
        CliRunner(),
        "preview",
        "Soldes",
        "--mention-format",
        mention_format,
        *extra,
        says="invalid mention_format",
    )
    assert one_line(preview) == one_line(account)
    with_account = refused(
        cli, "preview", "Soldes", "--account", "default", "--mention-format", mention_format,
        *extra, says="invalid mention_format",
    )  # fmt: skip
    assert one_line(with_account) == one_line(account)


def test_preview_batch_lines_get_the_same_check() -> None:
    lines = (
        '{"text": "x", "mention_format": "{0}"}\n'
        '{"text": "x", "mention_format": "STOP au {shortcode}"}\n'
    )
    result = CliRunner().invoke(app, ["preview", "--batch"], input=lines)
    assert result.exit_code == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert "invalid mention_format '{0}'" in first["error"]
    assert second["text"].endswith("x STOP au 36034")


def test_preview_still_takes_a_working_format_and_shortcode() -> None:
    result = CliRunner().invoke(
        app, ["preview", "Soldes", "--json", "--mention-format", "STOP au {shortcode}",
              "--shortcode", "36173", "--to", "0612345678"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["text"] == "Soldes STOP au 36173"


# -- 4. a sender the account does not have --------------------------------------------------------


def test_optouts_remove_and_check_refuse_an_unknown_sender_like_add(shop: CliRunner) -> None:
    ok(shop, "accounts", "set", "default", "--optout-scope", "sender")
    ok(shop, "optouts", "add", "0612345678", "--sender", "SHOP")
    says = "account 'default' has no such sender (senders: SHOP; shortcode 36034)"
    refused(shop, "optouts", "add", "0612345678", "--sender", "SHOPX", says=says)
    refused(
        shop, "optouts", "remove", "0612345678", "--sender", "SHOPX", "--evidence", "asked",
        says=says,
    )  # fmt: skip
    refused(shop, "optouts", "check", "0612345678", "--sender", "SHOPX", says=says)
    assert "SUPPRESSED" in ok(shop, "optouts", "check", "0612345678", "--sender", "shop")
    said = ok(shop, "optouts", "remove", "0612345678", "--sender", "shop", "--evidence", "asked")
    assert "re-subscribed" in said
    assert "not suppressed" in ok(shop, "optouts", "check", "0612345678", "--sender", "SHOP")


def test_a_record_of_a_removed_sender_can_still_be_checked_and_lifted(shop: CliRunner) -> None:
    ok(shop, "accounts", "set", "default", "--optout-scope", "sender")
    ok(shop, "senders", "add", "OLDSHOP")
    ok(shop, "optouts", "add", "0612345678", "--sender", "OLDSHOP")
    ok(shop, "senders", "remove", "OLDSHOP")
    assert "SUPPRESSED" in ok(shop, "optouts", "check", "0612345678", "--sender", "OLDSHOP")
    ok(shop, "optouts", "remove", "0612345678", "--sender", "OLDSHOP", "--evidence", "asked")
    assert "not suppressed" in ok(shop, "optouts", "check", "0612345678")


# -- 5. no "rule N" in what users read ------------------------------------------------------------


def test_messages_say_the_rule_in_words(shop: CliRunner) -> None:
    shown = json.loads(ok(shop, "preview", "Soldes", "--to", "0612345678", "--json"))
    assert "French operators route a STOP reply to the shortcode" in shown["mention_reason"]
    unverified = refused(
        shop, "campaign", "create", "--list", "vip", "--text", "Go https://evil.com/x",
        "--sender", "SHOP", says="a message may link only to the account's own domains",
    )  # fmt: skip
    ok(shop, "accounts", "set", "default", "--no-validated")
    note = ok(shop, "campaign", "create", "--list", "vip", "--text", "Hi", "--sender", "SHOP")
    assert "an unvalidated account's messages leave from its shortcode" in one_line(note)
    for output in (json.dumps(shown), unverified, note):
        assert re.search(r"\brules? \d", output) is None, output


# -- 6. names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "invalid campaign name '': empty"),
        ("   ", "invalid campaign name ' ': empty"),
        ("\t\n", "invalid campaign name"),
        ("Soldes\x1b[2J", "invisible character U+001B"),
        ("Soldes\u202eetê", "invisible character U+202E"),
        ("x" * 201, "201 characters, at most 200"),
    ],
)
def test_a_campaign_name_must_be_a_visible_line(shop: CliRunner, name: str, says: str) -> None:
    args = ["campaign", "create", "--list", "vip", "--text", "Hi", "--sender", "SHOP"]
    refused(shop, *args, "--name", name, says=says)
    assert json.loads(ok(shop, "campaign", "list", "--json")) == []


def test_a_campaign_name_is_kept_on_one_line(shop: CliRunner) -> None:
    args = ["campaign", "create", "--list", "vip", "--text", "Hi", "--sender", "SHOP", "--json"]
    created = json.loads(ok(shop, *args, "--name", "  Soldes\n d'été  "))
    assert created["name"] == "Soldes d'été"


@pytest.mark.parametrize("name", ["\x1b[31mvip", "vip\x00", "a\u200bb"])
def test_a_list_name_with_an_invisible_character_is_refused(
    cli: CliRunner, tmp_path: Path, name: str
) -> None:
    (tmp_path / "c.csv").write_text(CONTACTS, encoding="utf-8")
    refused(cli, "contacts", "import", "c.csv", "--list", name, says="invalid list name")
    assert json.loads(ok(cli, "contacts", "list", "--json"))["total"] == 0


def test_a_brand_is_a_visible_line(cli: CliRunner) -> None:
    for brand in ("   ", "Shop\x07"):
        refused(cli, "accounts", "set", "default", "--brand", brand, says="invalid brand")
    assert json.loads(ok(cli, "accounts", "show", "--json"))["brand"] == "default"
    ok(cli, "accounts", "set", "default", "--brand", " La  Boutique ")
    assert json.loads(ok(cli, "accounts", "show", "--json"))["brand"] == "La Boutique"
