"""Issue 12 item 7, per recipient: a merge field cannot push one message over the part ceiling.

The campaign's length check reads the text with its fields empty; a 2,000-character first name
made that recipient's message 14 parts and it was prepared, charged and sent (on main: ready,
or ``insufficient_credit`` pulling every later recipient down with it). Now the decision pass
excludes it as ``too_long`` on both preparation paths and in the preview, and it costs nothing.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from stopsms.clock import FakeClock
from stopsms.engine.database_thread import DatabaseThread
from stopsms.engine.sending import _prepare_due, _start_campaign
from stopsms.services.campaigns import preparation_sets
from stopsms.services.campaigns.campaigns import create_campaign, schedule_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.campaigns.reports import campaign_report, export_rows, preview_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.builders import add_contacts
from tests.integration.test_preparation import NOW, fr, setup_account

#: "Bonjour " + 2,000 characters + " STOP 36034": 2,019 GSM-7 septets, 14 parts.
LONG_NAME = "L" * 2_000
LONG_PARTS = 14


def _campaign(database: Database, balance_credits: int) -> int:
    """Marie, the long name, Hugo (list order), all French opt-ins; ``balance_credits``."""
    with database.transaction() as c:
        setup_account(c, credits_millicredits=balance_credits * 1000)
        add_contacts(
            c,
            "l",
            [
                {"phone_e164": fr(1), "first_name": "Marie"},
                {"phone_e164": fr(2), "first_name": LONG_NAME},
                {"phone_e164": fr(3), "first_name": "Hugo"},
            ],
            now=NOW,
        )
        created = create_campaign(
            c,
            "default",
            list_name="l",
            text="Bonjour {prenom}",
            sender="MaBoutique",
            clock=FakeClock(NOW),
        )
    return created.campaign.id


def _decisions(database: Database, campaign_id: int) -> dict[str, tuple[Any, ...]]:
    m = t.messages.c
    with database.reader() as c:
        rows = c.execute(
            select(m.phone_e164, m.decision, m.reason, m.status, m.segments, m.price_millicredits)
            .where(m.campaign_id == campaign_id)
            .order_by(m.contact_id)
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


@pytest.mark.parametrize("set_based", [True, False], ids=["set-based", "loop"])
def test_a_recipient_over_the_ceiling_is_excluded_too_long_and_never_charged(
    database: Database, set_based: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails on main: the long name was decided like any other (here, with 3 credits:
    ``insufficient_credit``, and Hugo after it too)."""
    written: list[int] = []
    insert_decided = preparation_sets._insert_decided

    def spy(*a: Any, **k: Any) -> Any:
        written.append(1)
        return insert_decided(*a, **k)

    monkeypatch.setattr(
        preparation_sets,
        "_insert_decided",
        spy,
    )
    # 3 credits: Marie and Hugo (1 each) are paid; the long one (14) would not fit.
    campaign_id = _campaign(database, 3)
    clock = FakeClock(NOW)
    with database.reader() as c:
        preview = preview_campaign(c, "default", campaign_id, clock)
    assert preview.summary.excluded == {"too_long": 1}
    assert (preview.summary.ready, preview.summary.targeted) == (2, 3)
    assert preview.summary.credits_millicredits == 2_000
    assert preview.summary.unpaid_millicredits == 0  # not a credit matter: a top-up won't do

    # No shortfall refused:
    summary = prepare_campaign(database, campaign_id, clock, loop=not set_based)
    # The set-based path still applies: a too_long text is not "the dearest" to pay.
    assert bool(written) is set_based
    assert summary.excluded == {"too_long": 1}
    assert (summary.ready, summary.parts, summary.credits_millicredits) == (2, 2, 2_000)
    assert _decisions(database, campaign_id) == {
        fr(1): ("ready", None, "pending", 1, 1_000),
        fr(2): ("excluded", "too_long", "excluded", 0, 0),
        fr(3): ("ready", None, "pending", 1, 1_000),
    }
    with database.reader() as c:
        stored = preview_campaign(c, "default", campaign_id, clock)
        report = campaign_report(c, "default", campaign_id)
        exported = list(export_rows(c, "default", campaign_id))
    assert stored.summary.excluded == {"too_long": 1}
    assert report.excluded == {"too_long": 1}
    assert report.excluded_at_send == {}
    assert (report.targeted, report.ready) == (3, 2)
    assert [(row[0], row[1], row[2], row[6]) for row in exported] == [
        (fr(1), "ready", "", 1),
        (fr(2), "excluded", "too_long", 0),
        (fr(3), "ready", "", 1),
    ]


@pytest.mark.parametrize(("max_parts", "long_is_ready"), [(LONG_PARTS, True), (13, False)])
def test_the_ceiling_is_the_callers(
    database: Database, max_parts: int, long_is_ready: bool
) -> None:
    """The ceiling comes from the caller (``Settings.max_parts``), exactly: 14 parts pass a
    ceiling of 14 and not one of 13, in the preview and in preparation alike."""
    campaign_id = _campaign(database, 100)
    clock = FakeClock(NOW)
    expected = {} if long_is_ready else {"too_long": 1}
    with database.reader() as c:
        preview = preview_campaign(c, "default", campaign_id, clock, max_parts=max_parts)
    assert preview.summary.excluded == expected
    summary = prepare_campaign(database, campaign_id, clock, max_parts=max_parts)
    assert summary.excluded == expected
    assert summary.parts == (2 + LONG_PARTS if long_is_ready else 2)


@pytest.mark.commits  # send_campaign and the worker: connections of its own
@pytest.mark.parametrize("caller", ["send", "worker"])
def test_send_and_worker_pass_their_ceiling_to_the_decisions(
    database: Database, caller: str
) -> None:
    """``campaign send`` (``_start_campaign``) and the worker (``_prepare_due``) decide with
    the ``max_parts`` they were given (from settings), not a default."""
    campaign_id = _campaign(database, 100)
    clock = FakeClock(NOW)
    if caller == "send":
        with database.transaction() as c:
            _start_campaign(c, campaign_id, clock, "default", max_parts=13)
    else:
        with database.transaction() as c:
            schedule_campaign(c, "default", campaign_id, NOW + timedelta(minutes=5), clock)

        async def run() -> list[int]:
            thread = DatabaseThread(database)
            try:
                later = FakeClock(NOW + timedelta(minutes=6))
                return await _prepare_due(thread, later, max_parts=13)
            finally:
                thread.close()

        assert asyncio.run(run()) == [campaign_id]
    assert _decisions(database, campaign_id)[fr(2)][:2] == ("excluded", "too_long")
    # and with a higher ceiling the same recipient is ready
    other = _campaign_again(database)
    with database.transaction() as c:
        _start_campaign(c, other, clock, "default", max_parts=LONG_PARTS)
    assert _decisions(database, other)[fr(2)][:2] == ("ready", None)


def _campaign_again(database: Database) -> int:
    with database.transaction() as c:
        return create_campaign(
            c,
            "default",
            list_name="l",
            text="Bonjour {prenom}",
            sender="MaBoutique",
            clock=FakeClock(NOW),
        ).campaign.id


def test_cli_preview_uses_stopsms_max_parts(
    database: Database, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stopsms.cli.main import app

    campaign_id = _campaign(database, 100)
    runner = cli
    shown = runner.invoke(app, ["campaign", "preview", str(campaign_id), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["excluded"] == {"too_long": 1}
    monkeypatch.setenv("STOPSMS_MAX_PARTS", str(LONG_PARTS))
    shown = runner.invoke(app, ["campaign", "preview", str(campaign_id), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["excluded"] == {}
    monkeypatch.setenv("STOPSMS_MAX_PARTS", "13")
    text = runner.invoke(app, ["campaign", "preview", str(campaign_id)])
    assert text.exit_code == 0, text.output
    assert "too_long" in text.output
