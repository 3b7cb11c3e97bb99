"""Issue 12 item 15: the consent ledger tells the whole story of a number's consent — SQLite and
PostgreSQL.

An opt-out withdraws the marketing consent (a ``withdrawn`` row with its source and evidence);
a re-subscription — ``optouts remove`` with evidence, an inbound START, a dismissed review —
restores the consent the opt-out withdrew, never one the contact did not have.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import Connection, select
from typer.testing import CliRunner

from stopsms.cli.contacts import contacts_app
from stopsms.cli.optouts import optouts_app
from stopsms.providers.base import InboundMessage
from stopsms.services.accounts import accounts
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.services.contacts.consent import consent_history, current_consent, record_consent
from stopsms.services.messages.mo import handle_mo
from stopsms.services.optouts import files as optout_files
from stopsms.services.optouts import optouts
from stopsms.services.optouts import review as optout_review
from stopsms.store import tables as t
from stopsms.store.database import Database

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=3)
ALICE = "+33612345678"
BOB = "+33698765432"


def _mo(phone: str, text: str, at: datetime) -> InboundMessage:
    return InboundMessage(phone[1:], "36034", text, at)


def _kinds(conn: Connection, phone: str) -> list[tuple[str, str]]:
    return [(c.kind, c.source) for c in consent_history(conn, "default", phone)]


def _mirror(conn: Connection, phone: str) -> str | None:
    found = conn.execute(
        select(t.contacts.c.consent).where(t.contacts.c.phone_e164 == phone)
    ).scalar_one()
    return None if found is None else str(found)


def test_stop_then_start_by_sms(database: Database) -> None:
    with database.transaction() as conn:
        accounts.update_account(conn, "default", AccountChanges(shortcode="36034"))
        record_consent(conn, "default", ALICE, "opt_in", source="web form", evidence="#12", now=NOW)
        stop = handle_mo(conn, _mo(ALICE, "STOP", NOW), NOW)
        assert _kinds(conn, ALICE) == [("opt_in", "web form"), ("withdrawn", "opt-out: keyword")]
        withdrawal = consent_history(conn, "default", ALICE)[-1]
        assert withdrawal.recorded_at == NOW
        assert withdrawal.evidence == f"opt-out record {stop.optout_id}: STOP"
        assert _mirror(conn, ALICE) == "withdrawn"
        start = handle_mo(conn, _mo(ALICE, "START", LATER), LATER)
        assert start.resubscribed
        entries = consent_history(conn, "default", ALICE)
        assert [(c.kind, c.source) for c in entries][-1] == ("opt_in", "re-subscription")
        assert entries[-1].recorded_at == LATER
        assert entries[-1].evidence is not None
        assert "SMS 'START' from +33612345678" in entries[-1].evidence
        assert f"opt-out record {stop.optout_id} revoked" in entries[-1].evidence
        assert _mirror(conn, ALICE) == "opt_in"
        current = current_consent(conn, "default", ALICE)
        assert current is not None
        assert current.allows_marketing


@pytest.mark.parametrize("kind", ["opt_in", "customer"])
def test_remove_with_evidence_restores_the_kind_withdrawn(database: Database, kind: str) -> None:
    with database.transaction() as conn:
        record_consent(conn, "default", ALICE, kind, source="shop", now=NOW)
        optouts.record_optout(conn, "default", ALICE, source="web_form", detail="too many", now=NOW)
        optouts.resubscribe(
            conn, "default", ALICE, evidence="email of 2026-11-27", by="ops", now=LATER
        )
        assert _kinds(conn, ALICE) == [
            (kind, "shop"),
            ("withdrawn", "opt-out: web_form"),
            (kind, "re-subscription"),
        ]
        evidence = consent_history(conn, "default", ALICE)[-1].evidence
        assert evidence is not None
        assert evidence.startswith("email of 2026-11-27 (by ops")


def test_nothing_is_invented(database: Database) -> None:
    """No marketing consent before the opt-out: none written by it, none after START."""
    with database.transaction() as conn:
        record_consent(conn, "default", BOB, "withdrawn", source="phone call", now=NOW)
        handle_mo(conn, _mo(BOB, "STOP", NOW), NOW)
        handle_mo(conn, _mo(BOB, "START", LATER), LATER)
        assert _kinds(conn, BOB) == [("withdrawn", "phone call")]
        # Not a contact at all: the registry alone tells it (no contact created).
        handle_mo(conn, _mo(ALICE, "STOP", NOW), NOW)
        assert consent_history(conn, "default", ALICE) == []
        assert (
            conn.execute(select(t.contacts.c.id).where(t.contacts.c.phone_e164 == ALICE)).first()
            is None
        )


def test_a_consent_recorded_since_the_opt_out_stands(database: Database) -> None:
    with database.transaction() as conn:
        record_consent(conn, "default", ALICE, "opt_in", source="form", now=NOW)
        optouts.record_optout(conn, "default", ALICE, source="manual", now=NOW)
        record_consent(conn, "default", ALICE, "customer", source="shop counter", now=NOW)
        optouts.resubscribe(conn, "default", ALICE, evidence="letter", by="ops", now=LATER)
        assert [kind for kind, _ in _kinds(conn, ALICE)] == ["opt_in", "withdrawn", "customer"]


def test_a_sender_scoped_opt_out_leaves_the_accounts_consent(database: Database) -> None:
    with database.transaction() as conn:
        accounts.update_account(conn, "default", AccountChanges(optout_scope="sender"))
        accounts.add_sender(conn, "default", "SHOPA", now=NOW)
        record_consent(conn, "default", ALICE, "opt_in", source="form", now=NOW)
        optouts.record_optout(conn, "default", ALICE, source="manual", sender="SHOPA", now=NOW)
        assert _kinds(conn, ALICE) == [("opt_in", "form")]
        # An account-wide one on top withdraws; lifting only SHOPA's leaves it withdrawn.
        optouts.record_optout(conn, "default", ALICE, source="manual", now=NOW)
        optouts.resubscribe(conn, "default", ALICE, evidence="x", by="ops", sender="SHOPA")
        assert _mirror(conn, ALICE) == "withdrawn"
        optouts.resubscribe(conn, "default", ALICE, evidence="letter", by="ops", now=LATER)
        assert _mirror(conn, ALICE) == "opt_in"


def test_a_blacklist_import_and_a_dismissed_review(database: Database, tmp_path: Path) -> None:
    source = tmp_path / "stop.csv"
    source.write_text(f"numero;motif\n{ALICE};plainte\n", encoding="utf-8")
    with database.transaction() as conn:
        record_consent(conn, "default", ALICE, "opt_in", source="form", now=NOW)
        record_consent(conn, "default", BOB, "customer", source="shop", now=NOW)
        optout_files.import_optouts(conn, "default", source, now=NOW)
        assert _kinds(conn, ALICE)[-1] == ("withdrawn", "opt-out: import")
        assert consent_history(conn, "default", ALICE)[-1].evidence == "opt-out: plainte"
        uncertain = handle_mo(conn, _mo(BOB, "ok stop la livraison", NOW), NOW)
        assert uncertain.optout_id is not None
        assert _kinds(conn, BOB)[-1] == ("withdrawn", "opt-out: keyword")
        optout_review.dismiss_review(
            conn, "default", uncertain.optout_id, evidence="about a delivery", by="ops", now=LATER
        )
        assert _kinds(conn, BOB)[-1] == ("customer", "opt-out dismissed on review")
        # Confirmed after all: the opt-out is back in force, and so is the withdrawal.
        optout_review.confirm_review(conn, "default", uncertain.optout_id, by="ops", now=LATER)
        assert _kinds(conn, BOB)[-1] == ("withdrawn", "opt-out: keyword")


# -- command line ---------------------------------------------------------------------------


def test_cli_contacts_consent_shows_opt_out_and_re_subscription(
    cli: CliRunner, database: Database
) -> None:
    with database.transaction() as conn:
        record_consent(conn, "default", ALICE, "opt_in", source="web form", now=NOW)
    app = typer.Typer()
    app.add_typer(optouts_app, name="optouts")
    app.add_typer(contacts_app, name="contacts")
    assert cli.invoke(app, ["optouts", "add", ALICE, "--reason", "phoned"]).exit_code == 0
    removed = cli.invoke(app, ["optouts", "remove", ALICE, "--evidence", "SMS START 27/11"])
    assert removed.exit_code == 0, removed.output
    shown = cli.invoke(app, ["contacts", "consent", "06 12 34 56 78", "--json"])
    assert shown.exit_code == 0, shown.output
    history = json.loads(shown.stdout)["history"]
    assert [(h["kind"], h["source"]) for h in history] == [
        ("opt_in", "web form"),
        ("withdrawn", "opt-out: manual"),
        ("opt_in", "re-subscription"),
    ]
    assert history[1]["evidence"].endswith(": phoned")
    assert history[2]["evidence"].startswith("SMS START 27/11")
    table = cli.invoke(app, ["contacts", "consent", ALICE])
    assert "re-subscription" in table.output
    assert "now: opt_in (allows marketing)" in table.output
    nobody = cli.invoke(app, ["contacts", "consent", BOB])
    assert "no consent recorded" in nobody.output
