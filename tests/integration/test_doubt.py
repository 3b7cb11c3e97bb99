"""Messages in doubt (``unknown``): counted apart, re-queued knowingly or closed, both backends."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from stopsms.cli.main import app as stopsms_cli
from stopsms.clock import FakeClock
from stopsms.domain.campaign import CampaignStatus
from stopsms.engine.sending import send_campaign
from stopsms.errors import InvalidInput, ServiceError
from stopsms.providers.urls import provider_from_url
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.campaigns.reports import campaign_report
from stopsms.services.messages.doubt import Resolve, in_doubt, resolve_unknown
from stopsms.services.optouts import optouts
from stopsms.smsc.server import SmscSimulator
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.e2e.support import ShiftedClock
from tests.integration.test_preparation import NOW, fr
from tests.integration.test_reports import _campaign

_M = t.messages.c


def _after_a_crash(database: Database, campaign_status: str = "completed") -> int:
    """A campaign of 5 ready recipients as a crash left it: fr(0) delivered, fr(2) fr(3)
    fr(4) unknown, fr(5) rejected; the campaign ``campaign_status``."""
    campaign_id = _campaign(database)
    prepare_campaign(database, campaign_id, FakeClock(NOW))
    with database.transaction() as c:
        ids = list(
            c.execute(
                select(_M.id)
                .where(_M.campaign_id == campaign_id, _M.decision == "ready")
                .order_by(_M.contact_id)
            ).scalars()
        )
        states = ["delivered", "unknown", "unknown", "unknown", "rejected"]
        for message_id, status in zip(ids, states, strict=True):
            c.execute(
                update(t.messages)
                .where(_M.id == message_id)
                .values(status=status, submitted_at=NOW, error_code="reconciled")
            )
        c.execute(
            update(t.campaigns)
            .where(t.campaigns.c.id == campaign_id)
            .values(status=campaign_status, completed_at=NOW)
        )
    return campaign_id


def _statuses(database: Database, campaign_id: int) -> dict[str, str]:
    with database.reader() as c:
        rows = c.execute(
            select(_M.phone_e164, _M.status).where(
                _M.campaign_id == campaign_id, _M.decision == "ready"
            )
        )
        return {row.phone_e164: row.status for row in rows}


def test_close_keeps_them_apart_for_good(database: Database) -> None:
    campaign_id = _after_a_crash(database)
    with database.transaction() as c:
        done = resolve_unknown(c, "default", campaign_id, Resolve.CLOSE)
    assert (done.closed, done.requeued, done.campaign_status) == (3, 0, CampaignStatus.COMPLETED)
    assert sorted(_statuses(database, campaign_id).values()) == [
        "closed",
        "closed",
        "closed",
        "delivered",
        "rejected",
    ]
    with database.reader() as c:
        report = campaign_report(c, "default", campaign_id)
    assert (report.sent, report.unknown, report.closed, report.rejected) == (1, 0, 3, 1)
    assert report.accounted == report.targeted == 7
    assert report.credits_millicredits == 1_000  # closed ones cost nothing


def test_requeue_reopens_skips_who_opted_out_since_and_costs_on_acceptance(
    database: Database,
) -> None:
    campaign_id = _after_a_crash(database)
    with database.transaction() as c:
        optouts.record_optout(c, "default", fr(3), source="keyword", now=NOW)
    with database.reader() as c:
        found = in_doubt(c, "default", campaign_id)
    assert (found.unknown, found.opted_out_since, found.credits_millicredits) == (3, 1, 2_000)
    with database.transaction() as c:
        balance = c.execute(select(t.accounts.c.balance_millicredits)).scalars().all()
        done = resolve_unknown(c, "default", campaign_id, "requeue")
        assert c.execute(select(t.accounts.c.balance_millicredits)).scalars().all() == balance
    assert (done.requeued, done.excluded_opted_out, done.credits_millicredits) == (2, 1, 2_000)
    assert done.campaign_status is CampaignStatus.SENDING  # a completed campaign re-opens
    statuses = _statuses(database, campaign_id)
    assert (statuses[fr(2)], statuses[fr(3)], statuses[fr(4)]) == ("pending", "excluded", "pending")
    with database.reader() as c:
        report = campaign_report(c, "default", campaign_id)
        campaign = c.execute(
            select(t.campaigns.c.status, t.campaigns.c.completed_at).where(
                t.campaigns.c.id == campaign_id
            )
        ).one()
    assert (report.waiting, report.unknown, report.excluded_at_send) == (2, 0, {"opted_out": 1})
    assert report.accounted == report.targeted
    assert (campaign.status, campaign.completed_at) == ("sending", None)


def test_requeue_refused_when_credits_cannot_pay(database: Database) -> None:
    campaign_id = _after_a_crash(database)
    with database.transaction() as c:
        c.execute(update(t.accounts).values(balance_millicredits=1_500))
    with database.transaction() as c, pytest.raises(ServiceError) as refused:
        resolve_unknown(c, "default", campaign_id, Resolve.REQUEUE)
    assert "has 1.5 credits, 3 needed" in str(refused.value)
    assert refused.value.fix is not None
    assert refused.value.fix.value("amount") == "1.5"
    assert set(_statuses(database, campaign_id).values()) == {"delivered", "unknown", "rejected"}


def test_requeue_refused_on_a_cancelled_campaign(database: Database) -> None:
    cancelled = _after_a_crash(database, "cancelled")
    with database.transaction() as c, pytest.raises(ServiceError, match="only closed"):
        resolve_unknown(c, "default", cancelled, Resolve.REQUEUE)
    with database.transaction() as c, pytest.raises(InvalidInput, match="requeue or close"):
        resolve_unknown(c, "default", cancelled, "resend")
    assert "unknown" in _statuses(database, cancelled).values()


def test_cli_states_the_risk_and_asks(database: Database, cli: CliRunner) -> None:
    campaign_id = _after_a_crash(database, "paused")
    command = ["campaign", "resolve-unknown", str(campaign_id)]
    result = cli.invoke(stopsms_cli, [*command, "--requeue"], input="n\n")
    assert result.exit_code == 1, result.output
    assert "may deliver it twice" in result.output
    assert "nothing re-queued" in result.output
    assert list(_statuses(database, campaign_id).values()).count("unknown") == 3

    result = cli.invoke(stopsms_cli, [*command, "--requeue", "--close"])
    assert result.exit_code == 2
    assert "one of --requeue" in result.output

    result = cli.invoke(stopsms_cli, [*command, "--requeue"], input="y\n")
    assert result.exit_code == 0, result.output
    assert "3 unknown message(s) re-queued" in result.output
    assert f"`stopsms campaign resume {campaign_id}`" in result.output  # still paused

    result = cli.invoke(stopsms_cli, [*command, "--close", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "campaign_id": campaign_id,
        "action": "close",
        "requeued": 0,
        "closed": 0,
        "excluded_opted_out": 0,
        "credits": 0.0,
        "campaign_status": "paused",
    }


@pytest.mark.commits  # the sender: connections of its own
def test_requeued_messages_leave_again_and_the_campaign_completes(database: Database) -> None:
    """The journey: a completed campaign's unknown messages re-queued, then sent by a
    ``campaign send``; their recipients get it (again: the stated risk), nobody else does."""
    campaign_id = _after_a_crash(database)
    with database.transaction() as c:
        resolve_unknown(c, "default", campaign_id, Resolve.REQUEUE)

    async def send() -> list[str]:
        sim = SmscSimulator(seed=11)
        port = await sim.start()
        try:
            provider = provider_from_url(f"smpp://stopsms:pw@127.0.0.1:{port}")
            await send_campaign(database, campaign_id, provider, ShiftedClock(NOW))
        finally:
            await sim.stop()
        return sorted(m.destination for m in sim.messages)

    assert asyncio.run(send()) == [fr(2), fr(3), fr(4)]
    with database.reader() as c:
        report = campaign_report(c, "default", campaign_id)
    assert report.campaign.status is CampaignStatus.COMPLETED
    assert (report.sent, report.unknown, report.rejected) == (4, 0, 1)
    assert report.credits_millicredits == 4_000
    assert report.accounted == report.targeted
