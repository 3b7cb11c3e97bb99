"""Campaign creation checks and lifecycle commands, services and CLI, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from stopsms.cli.campaigns import campaign_app
from stopsms.clock import FakeClock
from stopsms.domain.campaign import CampaignStatus
from stopsms.domain.errors import InvalidTransition
from stopsms.domain.template import UnknownField
from stopsms.errors import InvalidInput, NotFound
from stopsms.services.accounts import accounts
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.services.campaigns.campaigns import (
    UnverifiedLink,
    cancel_campaign,
    create_campaign,
    get_campaign,
    list_campaigns,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
    unschedule_campaign,
)
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.builders import add_contacts
from tests.integration.test_preparation import NOW, fr, setup_account


@pytest.fixture
def ready_db(database: Database) -> Database:
    with database.transaction() as c:
        setup_account(c)
        add_contacts(
            c, "clients", [{"phone_e164": fr(i), "first_name": "Ana"} for i in range(3)], now=NOW
        )
        add_contacts(
            c,
            "vip",
            [{"phone_e164": fr(10), "first_name": "Vi", "custom": {"code": "X1"}}],
            now=NOW,
        )
    return database


def _create(database: Database, **kwargs: object) -> int:
    values: dict[str, object] = {
        "list_name": "clients",
        "text": "Bonjour {prenom}",
        "sender": "MaBoutique",
    }
    values.update(kwargs)
    with database.transaction() as c:
        created = create_campaign(c, "default", clock=FakeClock(NOW), **values)  # type: ignore[arg-type]
        return created.campaign.id


def test_create_draft_and_scheduled(ready_db: Database) -> None:
    draft = _create(ready_db, name="Noël")
    scheduled = _create(ready_db, at="2024-12-05T09:30:00")
    with ready_db.reader() as c:
        d = get_campaign(c, "default", draft)
        s = get_campaign(c, "default", scheduled)
    assert (d.status, d.name, d.sender, d.list_name) == (
        CampaignStatus.DRAFT,
        "Noël",
        "MaBoutique",
        "clients",
    )
    assert s.status is CampaignStatus.SCHEDULED
    # No offset: Paris time (UTC+1 in December).
    assert s.scheduled_at == datetime(2024, 12, 5, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"list_name": "nope"}, NotFound, "list"),
        ({"sender": "Inconnu"}, InvalidInput, "not on the account's list"),
        ({"text": "Voir https://evil.com/x"}, UnverifiedLink, "evil.com"),
        ({"text": "Bonjour {prenon}"}, UnknownField, "prenon"),
        ({"list_name": "vip", "text": "Code {code} {autre}"}, UnknownField, "autre"),
        ({"at": "2024-12-01T10:00:00+01:00"}, InvalidInput, "past"),
        ({"at": "demain"}, InvalidInput, "ISO-8601"),
        ({"at": "2062-12-05T10:00:00+01:00"}, InvalidInput, "366 days ahead"),
        ({"at": "9999-12-31T23:59:00-01:00"}, InvalidInput, "366 days ahead"),
        ({"text": "   "}, InvalidInput, "empty"),
    ],
)
def test_create_refuses_with_a_clear_error(
    ready_db: Database, kwargs: dict[str, object], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        _create(ready_db, **kwargs)


def test_verified_links_and_custom_fields_are_accepted(ready_db: Database) -> None:
    campaign_id = _create(ready_db, list_name="vip", text="Code {code} sur shop.example.fr")
    with ready_db.reader() as c:
        assert get_campaign(c, "default", campaign_id).body.startswith("Code {code}")


def test_unvalidated_account_sends_from_its_shortcode(ready_db: Database) -> None:
    with ready_db.transaction() as c:
        accounts.update_account(c, "default", AccountChanges(validated=False))
        created = create_campaign(
            c, "default", list_name="clients", text="Hi", sender="Whatever", clock=FakeClock(NOW)
        )
    assert created.campaign.sender == "36034"
    assert "replaced by its default shortcode 36034" in created.notes[0]


def test_lifecycle(ready_db: Database) -> None:
    clock = FakeClock(NOW)
    campaign_id = _create(ready_db)
    with ready_db.transaction() as c:
        scheduled = schedule_campaign(c, "default", campaign_id, NOW + timedelta(days=1), clock)
        assert scheduled.status is CampaignStatus.SCHEDULED
        assert unschedule_campaign(c, "default", campaign_id, clock).scheduled_at is None
        with pytest.raises(InvalidTransition):
            pause_campaign(c, "default", campaign_id, clock)  # draft cannot pause
    prepare_campaign(ready_db, campaign_id, clock)
    with ready_db.transaction() as c:
        assert pause_campaign(c, "default", campaign_id, clock).status is CampaignStatus.PAUSED
        assert resume_campaign(c, "default", campaign_id, clock).status is CampaignStatus.SENDING
        c.execute(
            update(t.messages)
            .where(t.messages.c.campaign_id == campaign_id, t.messages.c.contact_id == 1)
            .values(status="delivered")
        )
        cancelled, count = cancel_campaign(c, "default", campaign_id, clock)
        assert cancelled.status is CampaignStatus.CANCELLED
        assert cancelled.completed_at == NOW
        assert count == 2
        statuses = c.execute(
            select(t.messages.c.status)
            .where(t.messages.c.campaign_id == campaign_id)
            .order_by(t.messages.c.contact_id)
        ).scalars()
        assert list(statuses) == ["delivered", "cancelled", "cancelled"]
        with pytest.raises(InvalidTransition):
            resume_campaign(c, "default", campaign_id, clock)


def test_accounts_are_isolated(ready_db: Database) -> None:
    campaign_id = _create(ready_db)
    with ready_db.transaction() as c:
        accounts.create_account(c, "other")
        with pytest.raises(NotFound):
            get_campaign(c, "other", campaign_id)
        with pytest.raises(NotFound):
            cancel_campaign(c, "other", campaign_id, FakeClock(NOW))
        assert list_campaigns(c, "other") == []


def test_list_counts(ready_db: Database) -> None:
    first = _create(ready_db)
    second = _create(ready_db)
    prepare_campaign(ready_db, first, FakeClock(NOW))
    with ready_db.reader() as c:
        listing = list_campaigns(c, "default")
        drafts = list_campaigns(c, "default", status=CampaignStatus.DRAFT)
    assert [i.campaign.id for i in listing] == [second, first]
    assert (listing[1].recipients, listing[1].ready, listing[1].sent) == (3, 3, 0)
    assert [i.campaign.id for i in drafts] == [second]


# -- CLI --------------------------------------------------------------------------------------


@pytest.fixture
def cli(cli: CliRunner, ready_db: Database) -> CliRunner:
    """The shared runner (tests/integration/conftest.py), on ``ready_db``."""
    return cli


def test_cli_create_prints_the_id(cli: CliRunner) -> None:
    result = cli.invoke(
        campaign_app,
        ["create", "--list", "clients", "--text", "Salut $prenom", "--sender", "MaBoutique"],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "1"
    result = cli.invoke(
        campaign_app,
        ["create", "--list", "clients", "--text", "Hi", "--sender", "MaBoutique", "--json"],
    )
    assert json.loads(result.stdout)["id"] == 2


def test_cli_errors_are_one_line(cli: CliRunner) -> None:
    result = cli.invoke(
        campaign_app,
        ["create", "--list", "clients", "--text", "x.evil.com", "--sender", "MaBoutique"],
    )
    assert result.exit_code == 2
    assert "unverified domain(s) x.evil.com" in result.output
    assert "Traceback" not in result.output
    result = cli.invoke(campaign_app, ["pause", "99"])
    assert result.exit_code == 2
    assert "no campaign 99" in result.output
    result = cli.invoke(campaign_app, ["report", "1", "--account", "ghost"])
    assert result.exit_code == 2
    assert "no account 'ghost'" in result.output


def test_cli_lifecycle_and_list(cli: CliRunner, ready_db: Database) -> None:
    campaign_id = _create(ready_db)
    result = cli.invoke(campaign_app, ["pause", str(campaign_id)])
    assert result.exit_code == 2
    assert "cannot go from 'draft' to 'paused'" in result.output
    result = cli.invoke(campaign_app, ["cancel", str(campaign_id)])
    assert result.exit_code == 0, result.output
    assert f"campaign {campaign_id} cancelled" in result.output
    result = cli.invoke(campaign_app, ["list", "--json"])
    assert [c["status"] for c in json.loads(result.stdout)] == ["cancelled"]
    result = cli.invoke(campaign_app, ["list"])
    assert "cancel" in result.output  # a narrow terminal wraps the table
