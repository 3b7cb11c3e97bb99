"""Accounts, senders, domains, prices, keywords and credits — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import typer
from typer.testing import CliRunner

from stopsms.cli.accounts import accounts_app, credits_app, domains_app, senders_app
from stopsms.clock import FakeClock
from stopsms.domain.errors import InvalidSender, UnknownPolicy
from stopsms.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    UnknownAccount,
)
from stopsms.services.accounts import accounts, credits
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.services.accounts.credits import InsufficientCredit
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.optouts import optouts, suppression
from stopsms.services.optouts import review as optout_review
from stopsms.store.database import Database
from tests.builders import add_contacts, ready_account

NOW = datetime(2024, 11, 29, 9, 0, tzinfo=UTC)


def test_default_account_out_of_the_box(database: Database) -> None:
    with database.reader() as conn:
        account = accounts.get_account(conn, "default")
    assert account.type == "marketing"
    assert account.mention_enabled
    assert account.optout_scope == "account"
    assert account.mention == "STOP 00000"
    assert account.confirmation == "Vous ne recevrez plus de SMS de default. SMS non surtaxé."
    assert account.created_at.tzinfo is UTC


def test_create_show_and_set(database: Database) -> None:
    with database.transaction() as conn:
        created = accounts.create_account(
            conn, "boutique", shortcode="36034", brand="Ma Boutique", now=NOW
        )
        assert created.mention == "STOP 36034"
        assert created.created_at == NOW
        with pytest.raises(AlreadyExists):
            accounts.create_account(conn, "boutique")
        updated = accounts.update_account(
            conn,
            "boutique",
            AccountChanges(
                mention_format="STOP au {shortcode}",
                window_policy="fr-mon-sat-8-20",
                optout_scope="sender",
                alert_threshold_millicredits=5_000,
            ),
        )
    assert updated.mention == "STOP au 36034"
    assert updated.window_policy == "fr-mon-sat-8-20"
    assert updated.optout_scope == "sender"
    with database.reader() as conn:
        assert [a.name for a in accounts.list_accounts(conn)] == ["boutique", "default"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("type", "spam"),
        ("optout_scope", "world"),
        ("shortcode", "12"),
        ("mention_format", "STOP {number}"),
        ("unsubscribe_url", "not a url"),
        ("colour", "red"),
    ],
)
def test_set_refuses_bad_values(database: Database, field: str, value: str) -> None:
    with database.transaction() as conn, pytest.raises(InvalidInput, match=value):
        accounts.update_account(conn, "default", AccountChanges.from_fields({field: value}))


def test_unknown_window_policy_named(database: Database) -> None:
    with database.transaction() as conn, pytest.raises(UnknownPolicy, match="nope"):
        accounts.update_account(conn, "default", AccountChanges(window_policy="nope"))


def test_marketing_account_keeps_its_mention(database: Database) -> None:
    with database.transaction() as conn:
        with pytest.raises(InvalidInput, match="notification"):
            accounts.update_account(conn, "default", AccountChanges(mention_enabled=False))
        notif = accounts.create_account(conn, "otp", type="notification")
        assert not accounts.update_account(
            conn, notif, AccountChanges(mention_enabled=False)
        ).mention_enabled


def test_unknown_account(database: Database) -> None:
    with database.reader() as conn, pytest.raises(UnknownAccount, match="ghost"):
        accounts.get_account(conn, "ghost")


def test_senders_rule_9(database: Database) -> None:
    with database.transaction() as conn:
        accounts.create_account(conn, "shop", shortcode="36034")
        accounts.add_sender(conn, "shop", "MaBoutique")
        with pytest.raises(InvalidSender, match="generic"):
            accounts.add_sender(conn, "shop", "SMS Info")
        with pytest.raises(InvalidSender, match="AMELI"):
            accounts.add_sender(conn, "shop", "AmeliInfo")
        accounts.add_sender(conn, "shop", "Ameli", authorised_protected=True)
        with pytest.raises(AlreadyExists):
            accounts.add_sender(conn, "shop", "MaBoutique")
        listed = accounts.list_senders(conn, "shop")
        assert [(s.sender, s.authorised_protected) for s in listed] == [
            ("Ameli", True),
            ("MaBoutique", False),
        ]
        # Not validated: whatever it asks, it leaves with its shortcode.
        assert accounts.resolve_sender(conn, "shop", "MaBoutique") == "36034"
        accounts.update_account(conn, "shop", AccountChanges(validated=True))
        assert accounts.resolve_sender(conn, "shop", "MaBoutique") == "MaBoutique"
        assert accounts.resolve_sender(conn, "shop", None) == "36034"
        with pytest.raises(InvalidSender, match="Unknown1"):
            accounts.resolve_sender(conn, "shop", "Unknown1")
        accounts.remove_sender(conn, "shop", "Ameli")
        with pytest.raises(NotFound):
            accounts.remove_sender(conn, "shop", "Ameli")


def test_domains(database: Database) -> None:
    with database.transaction() as conn:
        with pytest.raises(InvalidInput, match="host name alone"):
            accounts.add_domain(conn, "default", "https://Shop.Example.FR/promo")
        assert accounts.add_domain(conn, "default", " Shop.Example.FR. ") == "shop.example.fr"
        assert accounts.add_domain(conn, "default", "bücher.de") == "xn--bcher-kva.de"
        with pytest.raises(AlreadyExists):
            accounts.add_domain(conn, "default", "shop.example.fr")
        with pytest.raises(InvalidInput, match="localhost"):
            accounts.add_domain(conn, "default", "localhost")
        assert accounts.list_domains(conn, "default") == ["shop.example.fr", "xn--bcher-kva.de"]
        accounts.remove_domain(conn, "default", "SHOP.example.fr")
        assert accounts.list_domains(conn, "default") == ["xn--bcher-kva.de"]


def test_prices_with_fallbacks(database: Database) -> None:
    with database.transaction() as conn:
        assert accounts.price_table(conn, "default").per_part("FR") == 1000
        accounts.set_price(conn, "default", "fr", 45)
        accounts.set_price(conn, "default", "FR", 50)
        accounts.set_price(conn, "default", "*", 120)
        table = accounts.price_table(conn, "default")
        with pytest.raises(InvalidInput):
            accounts.set_price(conn, "default", "France", 10)
    assert table.per_part("FR") == 50
    assert table.per_part("BE") == 120
    assert table.per_part(None) == 120


def test_keywords(database: Database) -> None:
    with database.transaction() as conn:
        assert accounts.add_keyword(conn, "default", "basta", "optout") == "BASTA"
        with pytest.raises(InvalidInput):
            accounts.add_keyword(conn, "default", "two words", "optout")
        with pytest.raises(InvalidInput):
            accounts.add_keyword(conn, "default", "OUI", "maybe")
        assert accounts.keywords(conn, "default") == {"BASTA": "optout"}
        accounts.remove_keyword(conn, "default", "basta")
        assert accounts.keywords(conn, "default") == {}


def test_credits_ledger_and_balance(database: Database) -> None:
    with database.transaction() as conn:
        accounts.update_account(conn, "default", AccountChanges(alert_threshold_millicredits=2_000))
        credits.add_credits(conn, "default", credits.parse_credits("10.5"), reference="PO-1")
        entry = credits.debit(conn, "default", 3_250, reference="campaign 1")
        assert entry.balance_after_millicredits == 7_250
        with pytest.raises(InsufficientCredit, match=r"has 7\.25 credits"):
            credits.debit(conn, "default", 8_000)
        forced = credits.debit(conn, "default", 8_000, reason="confirmation", allow_negative=True)
        assert forced.balance_after_millicredits == -750
        balance = credits.balance(conn, "default")
        history = credits.ledger(conn, "default")
    assert balance.balance_millicredits == -750
    assert balance.below_threshold
    assert [e.delta_millicredits for e in history] == [-8_000, -3_250, 10_500]
    assert sum(e.delta_millicredits for e in history) == balance.balance_millicredits


def test_failed_debit_changes_nothing(database: Database) -> None:
    with database.transaction() as conn:
        credits.add_credits(conn, "default", 1_000)
    with pytest.raises(InsufficientCredit), database.transaction() as conn:
        credits.debit(conn, "default", 1_001)
    with database.reader() as conn:
        assert credits.balance(conn, "default").balance_millicredits == 1_000
        assert len(credits.ledger(conn, "default")) == 1


def test_transfer(database: Database) -> None:
    with database.transaction() as conn:
        accounts.create_account(conn, "child")
        credits.add_credits(conn, "default", 5_000)
        out, into = credits.transfer(conn, "default", "child", 2_000)
        assert (out.balance_after_millicredits, into.balance_after_millicredits) == (3_000, 2_000)
        with pytest.raises(InsufficientCredit):
            credits.transfer(conn, "child", "default", 2_001)
        with pytest.raises(InvalidInput):
            credits.transfer(conn, "child", "child", 1)
        assert credits.balance(conn, "child").balance_millicredits == 2_000
        assert credits.balance(conn, "default").balance_millicredits == 3_000


@pytest.mark.parametrize(
    ("text", "millicredits"), [("1", 1000), ("0.001", 1), ("12,5", 12500), ("1_000", 1_000_000)]
)
def test_parse_credits(text: str, millicredits: int) -> None:
    assert credits.parse_credits(text) == millicredits
    assert credits.parse_credits(credits.format_credits(millicredits).replace(",", "")) == (
        millicredits
    )


@pytest.mark.parametrize("text", ["-1", "1.0001", "abc", "1e3", ""])
def test_parse_credits_refuses(text: str) -> None:
    with pytest.raises(InvalidInput):
        credits.parse_credits(text)


def test_accounts_are_isolated(database: Database) -> None:
    """Nothing account A does is visible from, or changes, account B."""
    with database.transaction() as conn:
        a = accounts.create_account(conn, "a")
        b = accounts.create_account(conn, "b")
        accounts.add_sender(conn, a, "ShopA")
        accounts.add_domain(conn, a, "a.example")
        accounts.set_price(conn, a, "FR", 10)
        accounts.add_keyword(conn, a, "BASTA", "optout")
        credits.add_credits(conn, a, 1_000)
        optouts.record_optout(conn, a, "+33612345678", source="manual")
        assert accounts.list_senders(conn, b) == []
        assert accounts.list_domains(conn, b) == []
        assert accounts.price_table(conn, b).per_part("FR") == 1000
        assert accounts.keywords(conn, b) == {}
        assert credits.balance(conn, b).balance_millicredits == 0
        assert credits.ledger(conn, b) == []
        assert optouts.is_suppressed(conn, b, "+33612345678") is None
        assert optout_review.list_optouts(conn, b) == []
        assert suppression.suppressed_among(conn, b, ["+33612345678"]) == set()
        assert len(suppression.load_suppression(conn, b)) == 0
        with pytest.raises(NotFound):
            accounts.remove_sender(conn, b, "ShopA")


# -- command line ---------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    for name, sub in (
        ("accounts", accounts_app),
        ("senders", senders_app),
        ("domains", domains_app),
        ("credits", credits_app),
    ):
        app.add_typer(sub, name=name)
    return app


def test_cli_accounts_round_trip(cli: CliRunner) -> None:
    app = _app()
    steps = [
        ["accounts", "create", "shop", "--shortcode", "36034", "--brand", "Ma Boutique"],
        [
            "accounts",
            "set",
            "shop",
            "--validated",
            "--price",
            "FR=0.045",
            "--keyword",
            "BASTA=optout",
        ],
        ["senders", "add", "MaBoutique", "--account", "shop"],
        ["domains", "add", "shop.example.fr", "-a", "shop"],
        ["credits", "add", "100", "-a", "shop", "--reference", "PO-7"],
        ["credits", "transfer", "25.5", "--to", "default", "-a", "shop"],
    ]
    for step in steps:
        result = cli.invoke(app, step)
        assert result.exit_code == 0, (step, result.output)
    shown = json.loads(cli.invoke(app, ["accounts", "show", "shop", "--json"]).stdout)
    assert shown["validated"]
    assert shown["mention"] == "STOP 36034"
    assert shown["prices_millicredits"] == {"FR": 45, "*": 1000}
    assert shown["keywords"] == {"BASTA": "optout"}
    assert [s["sender"] for s in shown["senders"]] == ["MaBoutique"]
    assert shown["domains"] == ["shop.example.fr"]
    balance = json.loads(cli.invoke(app, ["credits", "show", "-a", "shop", "--json"]).stdout)
    assert balance["balance_millicredits"] == 74_500
    assert [e["reason"] for e in balance["ledger"]] == ["transfer_out", "top_up"]
    default = json.loads(cli.invoke(app, ["credits", "show", "--json"]).stdout)
    assert default["balance_millicredits"] == 25_500
    human = cli.invoke(app, ["accounts", "show", "shop"])
    assert "STOP 36034" in human.output


def test_cli_sets_the_time_zone_and_refuses_a_bad_one(cli: CliRunner) -> None:
    app = _app()
    for step in (
        ["accounts", "create", "antilles"],
        ["accounts", "set", "antilles", "--time-zone", "America/Martinique"],
    ):
        result = cli.invoke(app, step)
        assert result.exit_code == 0, (step, result.output)
    shown = json.loads(cli.invoke(app, ["accounts", "show", "antilles", "--json"]).stdout)
    assert shown["time_zone"] == "America/Martinique"
    assert "America/Martinique" in cli.invoke(app, ["accounts", "show", "antilles"]).output
    refused = cli.invoke(app, ["accounts", "set", "antilles", "--time-zone", "Fort-de-France"])
    assert refused.exit_code == 2
    assert "time_zone" in refused.output
    assert "Fort-de-France" in refused.output


def test_an_offset_less_schedule_is_the_account_s_wall_clock_time(database: Database) -> None:
    """What ``campaigns create --at`` and the API's ``at`` reach: without an offset, the
    account's wall-clock time, as in the composer — the same 09:00 is 08:00 UTC for a Paris
    account, 13:00 for a Martinique one."""
    clock = FakeClock(NOW)
    at = "2024-12-03T09:00"
    with database.transaction() as conn:
        accounts.create_account(conn, "antilles", time_zone="America/Martinique", now=NOW)
        ready = {}
        for name in ("default", "antilles"):
            ready_account(conn, name, now=NOW)
            add_contacts(conn, "clients", [{"phone_e164": "+33612345678"}], now=NOW, account=name)
            ready[name] = create_campaign(
                conn, name, list_name="clients", text="Soldes", sender=None, clock=clock, at=at
            ).campaign.scheduled_at
    assert ready["default"] == datetime(2024, 12, 3, 8, 0, tzinfo=UTC)
    assert ready["antilles"] == datetime(2024, 12, 3, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["accounts", "create", "default"], "default"),
        (["accounts", "set", "default", "--type", "spam"], "spam"),
        (["accounts", "show", "ghost"], "ghost"),
        (["senders", "add", "SMS Info"], "SMS Info"),
        (["domains", "add", "not a domain"], "not a domain"),
        (["credits", "add", "1.23456"], "1.23456"),
        (["credits", "transfer", "5", "--to", "default"], "default"),
        (["accounts", "set", "default", "--price", "FR"], "FR"),
    ],
)
def test_cli_errors_are_one_clear_line(cli: CliRunner, args: list[str], named: str) -> None:
    result = cli.invoke(_app(), args)
    assert result.exit_code == 2
    assert named in result.output
    assert "Traceback" not in result.output
