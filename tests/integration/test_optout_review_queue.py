"""Issue 12 item 4: the review queue acts on uncertain records only — SQLite and PostgreSQL.

Reproduced with the command line, as a user met it: a dismissed record confirmed said
"confirmed" and left the number reachable; a plain STOP could be dismissed; ``--confirm 1
--dismiss 1`` silently dropped the dismissal.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from stopsms.cli.optouts import optouts_app
from stopsms.errors import InvalidInput
from stopsms.providers.base import InboundMessage
from stopsms.services.messages.mo import handle_mo
from stopsms.services.optouts import optouts
from stopsms.services.optouts import review as optout_review
from stopsms.store import tables as t
from stopsms.store.database import Database

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ALICE = "+33612345678"  # a plain STOP: certain
BOB = "+33698765432"  # "ok stop la livraison": uncertain
CAROL = "+33611111111"  # "merci, stop": uncertain


@pytest.fixture
def records(database: Database) -> dict[str, int]:
    """Three inbound opt-outs, as the inbound handler records them: ids by name."""
    ids: dict[str, int] = {}
    with database.transaction() as conn:
        for name, phone, text in (
            ("alice", ALICE, "STOP"),
            ("bob", BOB, "ok stop la livraison"),
            ("carol", CAROL, "merci, stop"),
        ):
            outcome = handle_mo(conn, InboundMessage(phone[1:], "36034", text, NOW), NOW)
            assert outcome.optout_id is not None
            ids[name] = outcome.optout_id
    return ids


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(optouts_app, name="optouts")
    app.command("noop")(lambda: None)
    return app


def _invoke(cli: CliRunner, *args: str) -> Any:
    return cli.invoke(_app(), ["optouts", *args])


def _suppressed(cli: CliRunner, phone: str) -> bool:
    answer = _invoke(cli, "check", phone, "--json")
    assert answer.exit_code == 0, answer.output
    return bool(json.loads(answer.stdout)["suppressed"])


def _snapshot(database: Database) -> list[Any]:
    with database.reader() as conn:
        return [tuple(row) for row in conn.execute(select(t.optouts).order_by(t.optouts.c.id))]


def test_the_queue_lists_only_the_uncertain(cli: CliRunner, records: dict[str, int]) -> None:
    queue = json.loads(_invoke(cli, "review", "--json").stdout)
    assert [r["id"] for r in queue] == [records["bob"], records["carol"]]


def test_confirm_after_dismiss_leaves_the_number_suppressed(
    cli: CliRunner, records: dict[str, int], database: Database
) -> None:
    bob = str(records["bob"])
    dismissed = _invoke(cli, "review", "--dismiss", bob, "--evidence", "about a delivery")
    assert dismissed.exit_code == 0, dismissed.output
    assert not _suppressed(cli, BOB)
    confirmed = _invoke(cli, "review", "--confirm", bob)
    assert confirmed.exit_code == 0, confirmed.output
    assert "opted out again" in confirmed.output
    assert _suppressed(cli, BOB)
    with database.reader() as conn:
        history = optouts.history(conn, "default", BOB)
    # The dismissal stays in the history; the new record is the confirmed, reviewed opt-out.
    assert [o.active for o in history] == [False, True]
    assert history[0].revoke_evidence == "review: about a delivery"
    assert history[1].detail == "ok stop la livraison"
    assert history[1].reviewed_at is not None
    queue = json.loads(_invoke(cli, "review", "--json").stdout)
    assert [r["id"] for r in queue] == [records["carol"]]


def test_a_confirmation_leaves_an_active_record_in_force(
    cli: CliRunner, records: dict[str, int]
) -> None:
    confirmed = _invoke(cli, "review", "--confirm", str(records["carol"]))
    assert confirmed.exit_code == 0, confirmed.output
    assert "stays opted out" in confirmed.output
    assert _suppressed(cli, CAROL)


def test_a_certain_stop_cannot_be_dismissed(
    cli: CliRunner, records: dict[str, int], database: Database
) -> None:
    before = _snapshot(database)
    refused = _invoke(cli, "review", "--dismiss", str(records["alice"]), "--evidence", "oops")
    assert refused.exit_code == 2
    assert "certain opt-out" in refused.output
    assert f"stopsms optouts remove {ALICE} --evidence" in refused.output
    assert "Traceback" not in refused.output
    assert _snapshot(database) == before
    assert _suppressed(cli, ALICE)


@pytest.mark.parametrize(
    "args",
    [
        ["--confirm", "{bob}", "--dismiss", "{bob}", "--evidence", "x"],  # both on one record
        ["--confirm", "{bob}", "--confirm", "{bob}"],  # the same id twice
        ["--dismiss", "{bob}", "--dismiss", "{bob}", "--evidence", "x"],
        ["--confirm", "{carol}", "--dismiss", "{alice}", "--evidence", "x"],  # one bad of two
        ["--confirm", "{carol}", "--evidence", "x"],  # evidence for no dismissal
        ["--dismiss", "{bob}"],  # a dismissal without its reasoning
        ["--confirm", "999"],  # not a record of the account
    ],
    ids=[
        "confirm-and-dismiss",
        "confirm-twice",
        "dismiss-twice",
        "one-bad",
        "evidence",
        "bare",
        "unknown",
    ],
)
def test_contradictory_or_bad_options_change_nothing(
    cli: CliRunner, records: dict[str, int], database: Database, args: list[str]
) -> None:
    before = _snapshot(database)
    result = _invoke(cli, "review", *(a.format(**records) for a in args))
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert _snapshot(database) == before


def test_several_records_at_once(cli: CliRunner, records: dict[str, int]) -> None:
    done = _invoke(
        cli,
        "review",
        "--confirm",
        str(records["carol"]),
        "--dismiss",
        str(records["bob"]),
        "--evidence",
        "about a delivery",
    )
    assert done.exit_code == 0, done.output
    assert _suppressed(cli, CAROL)
    assert not _suppressed(cli, BOB)
    assert "nothing to review" in _invoke(cli, "review").output


def test_a_confirmed_record_is_not_dismissed_afterwards(
    records: dict[str, int], database: Database
) -> None:
    with database.transaction() as conn:
        optout_review.confirm_review(conn, "default", records["carol"], by="ops", now=NOW)
    with database.transaction() as conn, pytest.raises(InvalidInput, match="was confirmed by ops"):
        optout_review.dismiss_review(conn, "default", records["carol"], evidence="x", by="ops")


def test_a_record_lifted_at_the_persons_request_is_not_confirmed_over_it(
    records: dict[str, int], database: Database
) -> None:
    with database.transaction() as conn:
        handle_mo(conn, InboundMessage(BOB[1:], "36034", "START", NOW), NOW)
    with database.transaction() as conn, pytest.raises(InvalidInput, match="later request stands"):
        optout_review.confirm_review(conn, "default", records["bob"], by="ops")
