"""Issue 12 item 14: an opt-out is never narrower than the account's scope — SQLite and PostgreSQL.

On an account whose opt-out scope is ``account``, an opt-out asked for sender SHOPA (by hand,
by an inbound STOP, or recorded while the account was sender-scoped) keeps a SHOPB campaign
from the number: at preparation (both SQLite paths and the per-recipient loop) and at the
dispatcher's submit-time re-check. A sender the account does not have is refused by name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import typer
from sqlalchemy import Connection, func, insert, select
from typer.testing import CliRunner

from stopsms.cli.optouts import optouts_app
from stopsms.clock import FakeClock
from stopsms.errors import InvalidInput
from stopsms.providers.base import InboundMessage
from stopsms.services.accounts import accounts
from stopsms.services.accounts.accounts import AccountChanges, get_account
from stopsms.services.campaigns import preparation_sets
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.messages import outbox
from stopsms.services.messages.mo import handle_mo
from stopsms.services.optouts import optouts, suppression
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.builders import add_contacts
from tests.integration.test_preparation import fr

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Paris
PHONE = fr(1)
OTHER = fr(2)


def _shop(conn: Connection, scope: str = "account") -> None:
    accounts.update_account(
        conn, "default", AccountChanges(validated=True, shortcode="36034", optout_scope=scope)
    )
    for sender in ("SHOPA", "SHOPB"):
        accounts.add_sender(conn, "default", sender, now=NOW)
    conn.execute(
        t.accounts.update()
        .where(t.accounts.c.name == "default")
        .values(balance_millicredits=1_000_000)
    )


def _opt_out_on_shopa(conn: Connection, how: str) -> None:
    """Opt PHONE out "of SHOPA" in one of the ways a user or a recipient can."""
    if how == "manual":  # as `optouts add NUMBER --sender SHOPA` asks
        optouts.record_optout(
            conn, "default", PHONE, source="manual", sender="SHOPA", scope="sender"
        )
    elif how == "inbound":
        account = get_account(conn, "default")
        conn.execute(
            # Direct insert, not tests.builders: the message sent from SHOPA the STOP answers.
            insert(t.messages).values(
                account_id=account.id,
                phone_e164=PHONE,
                region="FR",
                sender="SHOPA",
                kind="marketing",
                text="promo",
                status="delivered",
                created_at=NOW,
            )
        )
        handle_mo(conn, InboundMessage(PHONE.removeprefix("+"), "SHOPA", "STOP", NOW), NOW)
    else:  # recorded while the account was sender-scoped, then the scope widened
        accounts.update_account(conn, "default", AccountChanges(optout_scope="sender"))
        optouts.record_optout(conn, "default", PHONE, source="manual", sender="SHOPA")
        accounts.update_account(conn, "default", AccountChanges(optout_scope="account"))


HOW = ["manual", "inbound", "scope_changed"]


@pytest.mark.parametrize("how", HOW)
def test_every_check_suppresses_shopb_under_account_scope(database: Database, how: str) -> None:
    with database.transaction() as conn:
        _shop(conn)
        _opt_out_on_shopa(conn, how)
        assert optouts.is_suppressed(conn, "default", PHONE, sender="SHOPB") is not None
        assert suppression.suppressed_among(conn, "default", [PHONE, OTHER], "SHOPB") == {PHONE}
        assert suppression.load_suppression(conn, "default", "SHOPB").suppressed(
            [PHONE, OTHER]
        ) == {PHONE}
        if how != "scope_changed":  # recorded for the whole account, and said so
            record = optouts.is_suppressed(conn, "default", PHONE, sender="SHOPB")
            assert record is not None
            assert (record.scope, record.sender) == ("account", "")


@pytest.mark.parametrize("registry_per_member", [0.0, 1e9], ids=["exists", "opted-set"])
@pytest.mark.parametrize("how", HOW)
def test_a_shopb_campaign_is_not_prepared_for_a_number_opted_out_on_shopa(
    database: Database, how: str, registry_per_member: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preparation_sets, "REGISTRY_PER_MEMBER", registry_per_member)
    clock = FakeClock(NOW)
    with database.transaction() as conn:
        _shop(conn)
        add_contacts(conn, "clients", [{"phone_e164": PHONE}, {"phone_e164": OTHER}], now=NOW)
        _opt_out_on_shopa(conn, how)
        created = create_campaign(
            conn, "default", list_name="clients", text="Soldes", sender="SHOPB", clock=clock
        )
    summary = prepare_campaign(database, created.campaign.id, clock)
    assert summary.excluded == {"opted_out": 1}
    assert summary.ready == 1
    with database.reader() as conn:
        m = t.messages.c
        ready = conn.execute(
            select(m.phone_e164).where(m.campaign_id == created.campaign.id, m.decision == "ready")
        ).scalars()
        assert list(ready) == [OTHER]


@pytest.mark.parametrize("how", HOW)
def test_the_submit_time_recheck_agrees_with_preparation(database: Database, how: str) -> None:
    """The STOP arrives after preparation: the dispatcher's re-check excludes the SHOPB SMS."""
    clock = FakeClock(NOW)
    with database.transaction() as conn:
        _shop(conn)
        add_contacts(conn, "clients", [{"phone_e164": PHONE}, {"phone_e164": OTHER}], now=NOW)
        created = create_campaign(
            conn, "default", list_name="clients", text="Soldes", sender="SHOPB", clock=clock
        )
    assert prepare_campaign(database, created.campaign.id, clock).ready == 2
    with database.transaction() as conn:
        _opt_out_on_shopa(conn, how)
        claimed = outbox.claim(conn, token="w", now=NOW, limit=10)
        claimed = [c for c in claimed if c.campaign_id == created.campaign.id]
        assert {c.sender for c in claimed} == {"SHOPB"}
        stopped = outbox.opted_out(conn, claimed)
        assert {c.phone for c in claimed if c.id in stopped} == {PHONE}


def test_sender_scope_still_narrows(database: Database) -> None:
    """The sender scope the account chose is honoured: SHOPA's opt-out leaves SHOPB's SMS."""
    with database.transaction() as conn:
        _shop(conn, scope="sender")
        optouts.record_optout(conn, "default", PHONE, source="manual", sender="shopa")
        record = optouts.is_suppressed(conn, "default", PHONE, sender="SHOPA")
        assert record is not None
        assert (record.scope, record.sender) == ("sender", "SHOPA")  # the account's spelling
        assert optouts.is_suppressed(conn, "default", PHONE, sender="SHOPB") is None


@pytest.mark.parametrize("scope", ["account", "sender"])
def test_an_unknown_sender_is_refused_and_nothing_recorded(database: Database, scope: str) -> None:
    with database.transaction() as conn:
        _shop(conn, scope=scope)
        with pytest.raises(InvalidInput, match=r"'SHOPC'.*senders: SHOPA, SHOPB; shortcode 36034"):
            optouts.record_optout(conn, "default", PHONE, source="manual", sender="SHOPC")
        assert conn.execute(select(func.count()).select_from(t.optouts)).scalar_one() == 0


def test_an_inbound_stop_to_a_line_the_account_does_not_have_covers_the_account(
    database: Database,
) -> None:
    """Sender scope, nothing ever sent to the number, STOP to an unknown recipient: an opt-out
    for that recipient would suppress nothing, so it is recorded for the whole account; a
    START the same way lifts it."""
    with database.transaction() as conn:
        _shop(conn, scope="sender")
        stop = handle_mo(conn, InboundMessage("33612340001", "0999", "STOP", NOW), NOW)
        assert stop.optout_created
        assert stop.optout_sender == ""
        assert optouts.is_suppressed(conn, "default", PHONE, sender="SHOPB") is not None
        start = handle_mo(conn, InboundMessage("33612340001", "0999", "START", NOW), NOW)
        assert start.resubscribed
        assert optouts.is_suppressed(conn, "default", PHONE) is None


# -- command line ---------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(optouts_app, name="optouts")
    app.command("noop")(lambda: None)
    return app


def _invoke(cli: CliRunner, *args: str) -> Any:
    return cli.invoke(_app(), ["optouts", *args])


def test_cli_add_with_a_sender_on_account_scope_says_it_covers_the_account(
    cli: CliRunner, database: Database
) -> None:
    with database.transaction() as conn:
        _shop(conn)
    added = _invoke(cli, "add", PHONE, "--sender", "SHOPA")
    assert added.exit_code == 0, added.output
    assert "covers every sender" in added.output
    assert "opted out of the whole account" in added.output
    checked = _invoke(cli, "check", PHONE, "--sender", "SHOPB")
    assert "SUPPRESSED" in checked.output


def test_cli_add_with_an_unknown_sender_is_one_line_and_exit_2(
    cli: CliRunner, database: Database
) -> None:
    with database.transaction() as conn:
        _shop(conn, scope="sender")
    refused = _invoke(cli, "add", PHONE, "--sender", "SHOPC")
    assert refused.exit_code == 2
    assert "SHOPC" in refused.output
    assert "Traceback" not in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert "not suppressed" in _invoke(cli, "check", PHONE).output
