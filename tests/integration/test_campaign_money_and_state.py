"""Issue 12, items 5, 7 and 11 at the service level, on SQLite and PostgreSQL.

Each test fails on the main branch before issue 12: preparation sent a shortfall partly and
left its recipients ``insufficient_credit`` for good (a top-up changed nothing, the campaign
ended "completed"); the worker sent a scheduled campaign partly; a 66-part text was accepted
without a word; the preview's "held until" was the earliest instant of every zone.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from stopsms.clock import FakeClock
from stopsms.config import InvalidSetting, load_settings
from stopsms.domain.campaign import CampaignStatus
from stopsms.domain.mention import MessageType
from stopsms.domain.parts import DEFAULT_MAX_PARTS, TooManyParts
from stopsms.engine.database_thread import DatabaseThread
from stopsms.engine.sending import _prepare_due
from stopsms.errors import Fix
from stopsms.services.accounts import credits
from stopsms.services.accounts.accounts import AccountChanges, get_account, update_account
from stopsms.services.campaigns.campaigns import create_campaign, get_campaign, schedule_campaign
from stopsms.services.campaigns.holds import describe_holds, held_groups
from stopsms.services.campaigns.lengths import check_length
from stopsms.services.campaigns.preparation import prepare_campaign, resume_sending
from stopsms.services.campaigns.reports import campaign_report, preview_campaign
from stopsms.services.campaigns.shortfall import CreditShortfall
from stopsms.services.messages import outbox
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.builders import add_contacts
from tests.integration.test_preparation import NOW, fr, setup_account

SENDER = "MaBoutique"


def _campaign(database: Database, people: int, balance: int, **extra: object) -> int:
    """A marketing campaign to ``people`` French opt-ins, with ``balance`` credits."""
    with database.transaction() as c:
        setup_account(c, credits_millicredits=balance * 1000)
        add_contacts(c, "l", [{"phone_e164": fr(i)} for i in range(people)], now=NOW)
        created = create_campaign(
            c,
            "default",
            list_name="l",
            text=str(extra.get("text", "Soldes -20% ce week-end")),
            sender=SENDER,
            clock=FakeClock(NOW),
            message_type=MessageType(str(extra.get("kind", "marketing"))),
        )
    return created.campaign.id


def _counts(database: Database, campaign_id: int) -> dict[tuple[str, str | None], int]:
    m = t.messages.c
    with database.reader() as c:
        rows = c.execute(
            select(m.status, m.reason, func.count())
            .where(m.campaign_id == campaign_id)
            .group_by(m.status, m.reason)
        ).all()
    return {(status, reason): int(n) for status, reason, n in rows}


def _status(database: Database, campaign_id: int) -> CampaignStatus:
    with database.reader() as c:
        return get_campaign(c, "default", campaign_id).status


# -- item 5 ------------------------------------------------------------------------------------


def test_a_shortfall_is_refused_with_cost_balance_and_top_up(database: Database) -> None:
    campaign_id = _campaign(database, 14, 5)
    with pytest.raises(CreditShortfall) as refused:
        prepare_campaign(database, campaign_id, FakeClock(NOW))
    message = str(refused.value)
    assert "costs 14 credits for 14 messages" in message
    assert "5 credits available" in message
    assert "9 credits short" in message
    assert "Top up the account by 9 credits" in message
    assert refused.value.fix == Fix("add_credits", (("amount", "9"), ("account", "default")))
    assert "(allow_partial)" in message
    assert refused.value.short_millicredits == 9_000
    assert _status(database, campaign_id) is CampaignStatus.DRAFT
    assert _counts(database, campaign_id) == {}  # nothing written


def test_partial_send_waits_paused_and_a_top_up_reaches_the_rest(database: Database) -> None:
    clock = FakeClock(NOW)
    campaign_id = _campaign(database, 14, 5)
    summary = prepare_campaign(database, campaign_id, clock, allow_partial=True)
    assert (summary.ready, summary.excluded) == (5, {"insufficient_credit": 9})
    with database.transaction() as c:  # the 5 paid ones leave
        m = t.messages.c
        c.execute(
            update(t.messages)
            .where(m.campaign_id == campaign_id, m.status == "pending")
            .values(status="delivered")
        )
        c.execute(update(t.accounts).values(balance_millicredits=0))
        outbox.settle_campaign(c, campaign_id, NOW)
    # main: "completed", the 9 left out for good
    assert _status(database, campaign_id) is CampaignStatus.PAUSED
    with pytest.raises(CreditShortfall), database.transaction() as c:
        resume_sending(c, "default", campaign_id, clock)
    assert _status(database, campaign_id) is CampaignStatus.PAUSED
    assert _counts(database, campaign_id)[("excluded", "insufficient_credit")] == 9
    with database.transaction() as c:
        credits.add_credits(c, "default", 9_000, now=NOW)
    with database.transaction() as c:
        campaign, rechecked = resume_sending(c, "default", campaign_id, clock)
    assert campaign.status is CampaignStatus.SENDING
    assert rechecked is not None
    assert (rechecked.ready, rechecked.excluded) == (9, {})
    assert _counts(database, campaign_id) == {("delivered", None): 5, ("pending", None): 9}


def test_resume_pays_the_waiting_messages_of_the_campaign_itself_first(
    database: Database,
) -> None:
    clock = FakeClock(NOW)
    campaign_id = _campaign(database, 10, 4)
    prepare_campaign(database, campaign_id, clock, allow_partial=True)
    with database.transaction() as c:
        m = t.messages.c
        c.execute(  # one of the 4 paid messages left; 3 still wait, paid by the balance
            update(t.messages)
            .where(m.campaign_id == campaign_id, m.status == "pending", m.phone_e164 == fr(0))
            .values(status="delivered")
        )
        c.execute(update(t.accounts).values(balance_millicredits=3_000 + 2_000))
        c.execute(update(t.campaigns).values(status="paused"))
    with database.transaction() as c:
        _, rechecked = resume_sending(c, "default", campaign_id, clock, allow_partial=True)
    assert rechecked is not None
    # 5 credits, 3 promised to its own waiting messages: 2 more, in list order
    assert (rechecked.ready, rechecked.excluded) == (2, {"insufficient_credit": 4})
    ready = _counts(database, campaign_id)[("pending", None)]
    assert ready == 5


@pytest.mark.commits  # the worker: connections of its own
@pytest.mark.parametrize("short", [True, False])
def test_the_worker_parks_a_scheduled_campaign_it_cannot_pay(
    database: Database, short: bool
) -> None:
    clock = FakeClock(NOW)
    campaign_id = _campaign(database, 14, 5 if short else 14)
    with database.transaction() as c:
        schedule_campaign(c, "default", campaign_id, NOW + timedelta(minutes=5), clock)
    later = FakeClock(NOW + timedelta(minutes=6))
    events: list[str] = []

    async def run() -> list[int]:
        thread = DatabaseThread(database)
        try:
            return await _prepare_due(thread, later, events.append)
        finally:
            thread.close()

    prepared = asyncio.run(run())
    if not short:
        assert prepared == [campaign_id]
        assert _counts(database, campaign_id) == {("pending", None): 14}
        return
    assert prepared == []
    # main: prepared and sent to the first 5
    assert _status(database, campaign_id) is CampaignStatus.PAUSED
    assert _counts(database, campaign_id) == {}
    with database.reader() as c:
        reason = get_campaign(c, "default", campaign_id).settings["paused_reason"]
    assert "9 credits short" in reason
    assert events
    assert "not started, paused" in events[0]
    assert asyncio.run(run()) == []  # not retried every 5 s
    with database.transaction() as c:
        credits.add_credits(c, "default", 9_000, now=NOW)
    with database.transaction() as c:
        campaign, summary = resume_sending(c, "default", campaign_id, later)
    assert campaign.status is CampaignStatus.SENDING
    assert summary is not None
    assert summary.ready == 14


# -- item 7 ------------------------------------------------------------------------------------


def test_parts_warn_above_four_and_refuse_above_the_ceiling(database: Database) -> None:
    campaign_id = _campaign(database, 1, 100, text="x" * 10_000)
    with database.reader() as c:
        campaign = get_campaign(c, "default", campaign_id)
        account = get_account(c, "default")
    with pytest.raises(TooManyParts) as refused:
        check_length(campaign, account, DEFAULT_MAX_PARTS)
    assert refused.value.parts == 66
    assert "66 SMS parts" in str(refused.value)
    assert "at most 10" in str(refused.value)
    assert check_length(campaign, account, 255) is not None  # warned, within the protocol
    five = replace(campaign, body="y" * 700)  # with the mention: 5 parts
    warning = check_length(five, account, DEFAULT_MAX_PARTS)
    assert warning is not None
    assert "5 SMS parts" in warning
    assert check_length(replace(campaign, body="z" * 500), account, DEFAULT_MAX_PARTS) is None


@pytest.mark.parametrize(
    ("value", "parts"), [(None, 10), ("", 10), ("1", 1), ("66", 66), ("255", 255)]
)
def test_max_parts_setting(value: str | None, parts: int) -> None:
    env = {} if value is None else {"STOPSMS_MAX_PARTS": value}
    assert load_settings(env).max_parts == parts


@pytest.mark.parametrize("value", ["0", "256", "-3", "ten", "1.5", "٣"])
def test_max_parts_setting_refuses_what_it_cannot_use(value: str) -> None:
    with pytest.raises(InvalidSetting, match="STOPSMS_MAX_PARTS"):
        load_settings({"STOPSMS_MAX_PARTS": value})


# -- item 11 -----------------------------------------------------------------------------------

#: Monday 23 November 2026, 22:00 in Paris (Tuesday 01:00 in Réunion): closed everywhere.
MONDAY_NIGHT = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


def test_held_until_is_per_instant_named_and_agrees_between_preview_and_report(
    database: Database,
) -> None:
    clock = FakeClock(MONDAY_NIGHT)
    with database.transaction() as c:
        setup_account(c, credits_millicredits=100_000)
        people = [{"phone_e164": fr(i)} for i in range(11)]
        people.append({"phone_e164": "+262692123456", "region": "RE"})
        add_contacts(c, "l", people, now=NOW)
        created = create_campaign(
            c, "default", list_name="l", text="Soldes", sender=SENDER, clock=clock
        )
    campaign_id = created.campaign.id
    with database.transaction() as c:
        preview = preview_campaign(c, "default", campaign_id, clock)
    paris_8 = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # 08:00 Paris
    reunion_8 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 08:00 Réunion = 05:00 Paris
    assert preview.held_groups == ((reunion_8, 1), (paris_8, 11))
    expected = "1 held until Tue 24 Nov 05:00 Europe/Paris, 11 until Tue 24 Nov 08:00 Europe/Paris"
    assert describe_holds(preview.held_groups) == expected
    # once prepared and held by the dispatcher (its not_before per recipient's window)
    prepare_campaign(database, campaign_id, clock)
    with database.transaction() as c:
        m = t.messages.c
        c.execute(
            update(t.messages)
            .where(m.campaign_id == campaign_id, m.region == "FR")
            .values(status="held", not_before=paris_8)
        )
        c.execute(
            update(t.messages)
            .where(m.campaign_id == campaign_id, m.region == "RE")
            .values(status="held", not_before=reunion_8)
        )
        report = campaign_report(c, "default", campaign_id)
        assert held_groups(c, campaign_id) == report.held_groups
    assert describe_holds(report.held_groups) == expected


def test_the_cli_writes_instants_in_the_account_s_zone_by_name(
    database: Database, cli: CliRunner
) -> None:
    """A Martinique account's schedule, held-until and list are written in its zone, named
    (``AST`` or ``CET`` would be ambiguous): create, list, preview and report agree."""
    from stopsms.cli.main import app

    _campaign(database, 3, 100)
    with database.transaction() as c:
        update_account(c, "default", AccountChanges(time_zone="America/Martinique"))
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    create = ["campaign", "create", "--list", "l", "--sender", SENDER, "--text", "Soldes"]
    created = cli.invoke(app, [*create, "--at", at.isoformat()])
    assert created.exit_code == 0, created.output
    local = at.astimezone(ZoneInfo("America/Martinique"))
    assert f"scheduled for {local:%a %Y-%m-%d %H:%M:%S} America/Martinique" in created.output
    listed = cli.invoke(app, ["campaign", "list"])
    assert f"{local:%H:%M:%S}" in listed.output
    assert "Europe/Paris" not in listed.output + created.output
    campaign_id = created.output.strip().splitlines()[-1]
    for command in ("preview", "report"):
        shown = cli.invoke(app, ["campaign", command, campaign_id])
        assert shown.exit_code == 0, shown.output
        assert "Europe/Paris" not in shown.output
    preview = " ".join(cli.invoke(app, ["campaign", "preview", campaign_id]).output.split())
    assert "America/Martinique" in preview


def test_cli_create_refuses_66_parts_and_warns_at_5(
    database: Database, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stopsms.cli.main import app

    _campaign(database, 3, 100)
    runner = cli
    base = ["campaign", "create", "--list", "l", "--sender", SENDER]
    refused = runner.invoke(app, [*base, "--text", "x" * 10_000])
    assert refused.exit_code == 2
    assert "66 SMS parts" in refused.output  # main: accepted without a word
    with database.reader() as c:
        count = c.execute(select(func.count()).select_from(t.campaigns)).scalar_one()
    assert count == 1  # the refused one was not created
    warned = runner.invoke(app, [*base, "--text", "y" * 700])
    assert warned.exit_code == 0
    assert "5 SMS parts" in warned.output
    monkeypatch.setenv("STOPSMS_MAX_PARTS", "4")
    assert runner.invoke(app, [*base, "--text", "y" * 700]).exit_code == 2
    warned_id = warned.output.strip().splitlines()[-1]
    preview = runner.invoke(app, ["campaign", "preview", warned_id])
    assert preview.exit_code == 0
    assert "refused at send" in preview.output


def test_cli_preview_says_send_will_refuse_a_shortfall(database: Database, cli: CliRunner) -> None:
    from stopsms.cli.main import app

    campaign_id = _campaign(database, 14, 5)
    preview = cli.invoke(app, ["campaign", "preview", str(campaign_id)])
    assert preview.exit_code == 0
    text = " ".join(preview.output.split())
    assert "send will refuse" in text
    assert "stopsms credits add 9 --account default" in text


@pytest.mark.commits  # the worker: connections of its own
@pytest.mark.parametrize("substitution", [False, True])
def test_the_worker_parks_a_scheduled_campaign_whose_stop_mention_would_not_work(
    database: Database, substitution: bool
) -> None:
    # Merged issue 12 items 2 and 5: the placeholder shortcode found by the worker parks the
    # campaign with its reason (it was logged every 5 s and left scheduled), unless the
    # provider replaces STOP 00000 for the alphanumeric sender.
    clock = FakeClock(NOW)
    campaign_id = _campaign(database, 3, 10)
    with database.transaction() as c:
        schedule_campaign(c, "default", campaign_id, NOW + timedelta(minutes=5), clock)
        c.execute(
            update(t.accounts).where(t.accounts.c.name == "default").values(shortcode="00000")
        )
    later = FakeClock(NOW + timedelta(minutes=6))
    events: list[str] = []

    async def run() -> list[int]:
        thread = DatabaseThread(database)
        try:
            return await _prepare_due(thread, later, events.append, substitution=substitution)
        finally:
            thread.close()

    prepared = asyncio.run(run())
    if substitution:
        assert prepared == [campaign_id]
        assert _counts(database, campaign_id) == {("pending", None): 3}
        return
    assert prepared == []
    assert _status(database, campaign_id) is CampaignStatus.PAUSED
    assert _counts(database, campaign_id) == {}
    with database.reader() as c:
        reason = get_campaign(c, "default", campaign_id).settings["paused_reason"]
    assert "00000" in reason
    assert "not started, paused" in events[0]
