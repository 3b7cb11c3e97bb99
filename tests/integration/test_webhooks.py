"""Webhooks on SQLite and PostgreSQL: events with their data, signed leased deliveries.

The deliveries go over real HTTP to a local receiver (:mod:`tests.webhook_receiver`) whose
checks are the ``standardwebhooks`` library's; time moves on a fake clock, so a day of
retries takes milliseconds.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Table, delete, func, insert, select
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from stopsms.cli.main import app as cli_app
from stopsms.clock import FakeClock
from stopsms.domain.campaign import CampaignStatus
from stopsms.engine.database_thread import DatabaseThread
from stopsms.engine.webhooks import WebhookSender
from stopsms.errors import InvalidInput, NotFound
from stopsms.services.accounts import accounts, credits
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.services.campaigns.status import change_status
from stopsms.services.contacts.contacts import ensure_list
from stopsms.services.optouts.optouts import record_optout, resubscribe
from stopsms.services.webhooks import deliveries, endpoints, events
from stopsms.services.webhooks.deliveries import MAX_ATTEMPTS, Outcome, claim_due
from stopsms.services.webhooks.events import record_event
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.builders import draft_campaign, ready_account
from tests.webhook_receiver import Receiver, receiver

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
DEFAULT = 1  # the seeded ``default`` account's id


def _endpoint(
    conn: Connection, url: str, events: str = "*", account_id: int = DEFAULT
) -> endpoints.Endpoint:
    return endpoints.add_endpoint(conn, account_id, url, [events], NOW, allow_private=True)


def _count(conn: Connection, table: Table) -> int:
    return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_an_event_exists_only_if_its_data_committed(database: Database) -> None:
    with database.transaction() as conn:
        wanted = _endpoint(conn, "http://127.0.0.1:9/a", "optout.created,optout.removed")
        _endpoint(conn, "http://127.0.0.1:9/b", "message.sent")  # does not want opt-outs
        off = _endpoint(conn, "http://127.0.0.1:9/c", "optout.created")
        conn.execute(
            t.webhook_endpoints.update()
            .where(t.webhook_endpoints.c.id == off.id)
            .values(enabled=False)
        )
        other = accounts.create_account(conn, "other", now=NOW)
        _endpoint(conn, "http://127.0.0.1:9/d", "optout.created", account_id=other.id)

    def fails_after_the_optout() -> None:
        with database.transaction() as conn:
            record_optout(conn, "default", "+33612345678", source="manual", now=NOW)
            raise RuntimeError("the caller's transaction fails after the opt-out")

    with pytest.raises(RuntimeError):
        fails_after_the_optout()
    with database.reader() as conn:
        assert _count(conn, t.optouts) == _count(conn, t.webhook_events) == 0
    with database.transaction() as conn:
        record_optout(conn, "default", "+33612345678", source="manual", now=NOW)
        again = record_optout(conn, "default", "+33612345678", source="manual", now=NOW)
        assert not again.created  # nothing new: no event
    with database.reader() as conn:
        events = conn.execute(select(t.webhook_events)).mappings().all()
        assert [(e["account_id"], e["type"], e["data"]["phone"]) for e in events] == [
            (DEFAULT, "optout.created", "+33612345678")
        ]
        sent_to = conn.execute(select(t.webhook_deliveries.c.endpoint_id)).scalars().all()
        assert sent_to == [wanted.id]


def test_opt_out_removal_and_the_credit_threshold_crossing_are_events(database: Database) -> None:
    with database.transaction() as conn:
        _endpoint(conn, "http://127.0.0.1:9/a")
        accounts.update_account(conn, "default", AccountChanges(alert_threshold_millicredits=5_000))
        credits.add_credits(conn, "default", 10_000, now=NOW)
        credits.debit(conn, "default", 4_000, now=NOW)  # 6 left: above the threshold
        credits.debit(conn, "default", 2_000, now=NOW)  # 4 left: crossed, one event
        credits.debit(conn, "default", 1_000, now=NOW)  # still under: no second event
        record_optout(conn, "default", "+33612345678", source="manual", now=NOW)
        resubscribe(conn, "default", "+33612345678", evidence="asked by mail", by="me", now=NOW)
    with database.reader() as conn:
        rows = conn.execute(
            select(t.webhook_events.c.type, t.webhook_events.c.data).order_by(t.webhook_events.c.id)
        ).all()
    assert [row.type for row in rows] == ["credits.low", "optout.created", "optout.removed"]
    assert rows[0].data == {
        "balance_millicredits": 4_000,
        "alert_threshold_millicredits": 5_000,
        "balance": "4",
    }
    assert rows[2].data["revoked_by"] == "me"


def test_a_campaign_completing_is_an_event_and_other_moves_are_not(database: Database) -> None:
    with database.transaction() as conn:
        _endpoint(conn, "http://127.0.0.1:9/a", "campaign.completed")
        ready_account(conn, now=NOW)
        ensure_list(conn, "default", "vip", now=NOW)
        campaign_id = draft_campaign(conn, "vip", "Soldes -20%", now=NOW)
        # A sending campaign, as preparation leaves it (a state set directly: the test is
        # about what its completion records, not about preparing it).
        conn.execute(
            t.campaigns.update().where(t.campaigns.c.id == campaign_id).values(status="sending")
        )
        assert change_status(
            conn, campaign_id, CampaignStatus.HELD, NOW, expected=CampaignStatus.SENDING
        )
        assert change_status(
            conn, campaign_id, CampaignStatus.SENDING, NOW, expected=CampaignStatus.HELD
        )
        assert change_status(
            conn, campaign_id, CampaignStatus.COMPLETED, NOW, expected=CampaignStatus.SENDING
        )
    with database.reader() as conn:
        rows = conn.execute(select(t.webhook_events.c.type, t.webhook_events.c.data)).all()
    assert [(row.type, row.data["campaign_id"]) for row in rows] == [
        ("campaign.completed", campaign_id)
    ]


def test_endpoints_refuse_private_targets_unknown_events_and_other_accounts(
    database: Database,
) -> None:
    with database.transaction() as conn:
        with pytest.raises(InvalidInput, match="loopback address: refused"):
            endpoints.add_endpoint(
                conn, DEFAULT, "http://127.0.0.1:8080/", ["*"], NOW, allow_private=False
            )
        with pytest.raises(InvalidInput, match=r"known: message\.sent"):
            _endpoint(conn, "http://127.0.0.1:9/a", "message.sent,message.bounced")
        mine = _endpoint(conn, "http://127.0.0.1:9/a", "optout.created, message.sent")
        assert mine.events == ("message.sent", "optout.created")
        assert mine.secret is not None
        assert mine.secret.startswith("whsec_")
        other = accounts.create_account(conn, "other", now=NOW)
        with pytest.raises(NotFound):
            endpoints.rotate_secret(conn, other.id, mine.id, NOW)
        with pytest.raises(NotFound):
            endpoints.remove_endpoint(conn, other.id, mine.id)
        listed = endpoints.list_endpoints(conn, DEFAULT)
        assert [e.secret for e in listed] == [None]  # never shown again


def test_a_claim_is_a_lease_that_another_worker_cannot_take(database: Database) -> None:
    with database.transaction() as conn:
        _endpoint(conn, "http://127.0.0.1:9/a")
        for n in range(3):
            record_event(conn, DEFAULT, "credits.low", {"n": n}, NOW)
    with database.transaction() as conn:
        first = claim_due(conn, NOW, 2)
    with database.transaction() as conn:
        second = claim_due(conn, NOW, 10)
        assert [d.delivery_id for d in first] == [1, 2]
        assert [d.delivery_id for d in second] == [3]
        assert claim_due(conn, NOW + timedelta(seconds=30), 10) == []
    with database.transaction() as conn:  # the first worker died: its lease expires
        taken_over = claim_due(conn, NOW + timedelta(minutes=2), 10)
        assert [d.delivery_id for d in taken_over] == [1, 2, 3]
        late = Outcome(1, first[0].token, first[0].endpoint_id, NOW, 5, 204)
        deliveries.record_outcomes(conn, [late])  # its claim was lost: recorded, moves nothing
        listed = deliveries.list_deliveries(conn, DEFAULT)
        assert {d.status for d in listed} == {"pending"}
        assert len(deliveries.attempts_of(conn, DEFAULT, 1)) == 1


async def _drain(sender: WebhookSender, clock: FakeClock, *, until: datetime) -> None:
    """Run the sender on the fake clock, jumping to each next due time, until ``until``."""
    try:
        while clock.now() < until:
            if await sender.run_once() == 0:
                due = await sender.thread.run(deliveries.next_due)
                clock.set(until if due is None else min(max(due, clock.now()), until))
    finally:
        await sender.close()


def _deliver(database: Database, clock: FakeClock, until: datetime) -> WebhookSender:
    """Deliver everything due on ``database`` from the clock's time until ``until``."""
    thread = DatabaseThread(database)
    sender = WebhookSender(thread, clock, allow_private=True, timeout=5)
    try:
        asyncio.run(_drain(sender, clock, until=until))
    finally:
        thread.close()
    return sender


@pytest.mark.commits
def test_a_receiver_that_fails_then_recovers_gets_every_event_signed(database: Database) -> None:
    with receiver(lambda n: 503 if n < 12 else 204) as hook:
        with database.transaction() as conn:
            secret = _endpoint(conn, hook.url).secret
            for n in range(10):
                record_event(conn, DEFAULT, "inbound.received", {"n": n}, NOW)
        _deliver(database, FakeClock(NOW), NOW + timedelta(minutes=5))
    assert secret is not None
    ok = [r for r in hook.requests if r.status == 204]
    for request in hook.requests:
        Webhook(secret).verify(request.body, request.headers)  # every request verifies
    received = {r.headers["webhook-id"]: json.loads(r.body)["data"]["n"] for r in ok}
    assert received == {f"evt_{n + 1}": n for n in range(10)}  # every event, dedupable by id
    with database.reader() as conn:
        states = {d.status for d in deliveries.list_deliveries(conn, DEFAULT)}
        assert states == {"delivered"}
        assert _count(conn, t.webhook_attempts) == len(hook.requests)
        endpoint = endpoints.list_endpoints(conn, DEFAULT)[0]
        assert endpoint.consecutive_failures == 0
        assert endpoint.failing_since is None


@pytest.mark.commits
def test_a_close_cancelled_midway_still_closes_every_lane(database: Database) -> None:
    """The worker cancels the sender at shutdown, maybe while it closes its lanes: each lane's
    connection is closed all the same. It used to stop at the first lane, leaving the others'
    keep-alive sockets to the garbage collector (the suite once failed on two of them)."""

    async def scenario(hook: Receiver, sender: WebhookSender) -> None:
        delivered = await sender.run_once()
        assert delivered == 10
        assert hook.connections >= 2  # several lanes, each with its connection
        closing = asyncio.create_task(sender.close())
        await asyncio.sleep(0)  # inside the first lane's close
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        for _ in range(200):
            if hook.connections == 0:
                break
            await asyncio.sleep(0.01)
        assert hook.connections == 0

    with receiver() as hook:
        with database.transaction() as conn:
            _endpoint(conn, hook.url)
            for n in range(10):
                record_event(conn, DEFAULT, "inbound.received", {"n": n}, NOW)
        thread = DatabaseThread(database)
        sender = WebhookSender(thread, FakeClock(NOW), allow_private=True, timeout=5)
        try:
            asyncio.run(scenario(hook, sender))
        finally:
            thread.close()


@pytest.mark.commits
def test_an_endpoint_failing_for_a_day_is_disabled_and_told(database: Database) -> None:
    with receiver(lambda n: 500) as hook:
        with database.transaction() as conn:
            endpoint = _endpoint(conn, hook.url)
            record_event(conn, DEFAULT, "credits.low", {"n": 1}, NOW)
        clock = FakeClock(NOW)
        sender = _deliver(database, clock, NOW + timedelta(hours=25))
    assert len(hook.requests) == MAX_ATTEMPTS  # a day of back-off, then given up
    assert sender.stats.disabled == 1
    with database.reader() as conn:
        (delivery,) = deliveries.list_deliveries(conn, DEFAULT, failed_only=True)
        assert delivery.attempts == MAX_ATTEMPTS
        assert delivery.last_status_code == 500
        tried = deliveries.attempts_of(conn, DEFAULT, delivery.id)
        assert [a.status_code for a in tried] == [500] * MAX_ATTEMPTS
        gaps = [(b.attempted_at - a.attempted_at) for a, b in itertools.pairwise(tried)]
        assert gaps[0] >= timedelta(seconds=5)
        assert gaps[-1] >= timedelta(hours=6)
        shown = endpoints.get_endpoint(conn, DEFAULT, endpoint.id)
        assert not shown.enabled
        assert shown.disabled_reason is not None
        assert "in a row" in shown.disabled_reason
    with database.transaction() as conn:
        deliveries.replay(conn, DEFAULT, delivery.id, clock.now())
        assert claim_due(conn, clock.now(), 10) == []  # disabled: nothing is sent
        endpoints.enable_endpoint(conn, DEFAULT, endpoint.id, clock.now())
        assert [d.delivery_id for d in claim_due(conn, clock.now(), 10)] == [delivery.id]


@pytest.mark.commits
def test_delivery_rechecks_the_target_and_rotation_signs_with_both_secrets(
    database: Database,
) -> None:
    clock = FakeClock(NOW)

    async def attempt(allow_private: bool) -> int:
        sender = WebhookSender(thread, clock, allow_private=allow_private)
        try:
            return await sender.run_once()
        finally:
            await sender.close()

    with receiver() as hook:
        with database.transaction() as conn:
            endpoint = _endpoint(conn, hook.url)
            record_event(conn, DEFAULT, "credits.low", {"n": 1}, NOW)
        thread = DatabaseThread(database)
        try:
            assert asyncio.run(attempt(allow_private=False)) == 1
            assert hook.requests == []  # refused at delivery: loopback
            with database.transaction() as conn:
                (tried,) = deliveries.attempts_of(conn, DEFAULT, 1)
                old = endpoint.secret
                new = endpoints.rotate_secret(conn, DEFAULT, endpoint.id, NOW).secret
                deliveries.replay(conn, DEFAULT, 1, NOW)
            assert asyncio.run(attempt(allow_private=True)) == 1
        finally:
            thread.close()
    assert tried.error is not None
    assert "loopback address: refused" in tried.error
    (request,) = hook.requests
    assert old is not None
    assert new is not None
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)


def test_the_cli_manages_endpoints_and_deliveries(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = cli.invoke(cli_app, ["webhooks", "add", "http://127.0.0.1:8080/", "--events", "*"])
    assert refused.exit_code == 2
    assert "loopback address: refused" in refused.stderr
    monkeypatch.setenv("STOPSMS_WEBHOOKS_ALLOW_PRIVATE", "1")
    added = cli.invoke(
        cli_app,
        ["webhooks", "add", "http://127.0.0.1:8080/", "--events", "optout.created", "--json"],
    )
    assert added.exit_code == 0, added.output
    shown = json.loads(added.stdout)
    assert shown["secret"].startswith("whsec_")
    assert shown["events"] == ["optout.created"]
    listed = cli.invoke(cli_app, ["webhooks", "list"])
    assert "http://127.0.0.1:8080/" in listed.stdout
    assert "whsec_" not in listed.stdout
    stop = cli.invoke(cli_app, ["optouts", "add", "+33612345678"])
    assert stop.exit_code == 0, stop.output
    listing = cli.invoke(cli_app, ["webhooks", "deliveries", "--json"])
    (delivery,) = [json.loads(line) for line in listing.stdout.splitlines()]
    assert delivery["event_type"] == "optout.created"
    assert delivery["status"] == "pending"
    assert cli.invoke(cli_app, ["webhooks", "replay", str(delivery["id"])]).exit_code == 0
    rotated = cli.invoke(cli_app, ["webhooks", "rotate-secret", str(shown["id"])])
    assert "whsec_" in rotated.stdout
    assert "24 hours" in rotated.stdout
    missing = cli.invoke(cli_app, ["webhooks", "remove", "99"])
    assert missing.exit_code == 2
    assert "no webhook endpoint 99" in missing.stderr
    assert cli.invoke(cli_app, ["webhooks", "remove", str(shown["id"])]).exit_code == 0
    assert cli.invoke(cli_app, ["webhooks", "deliveries", "--json"]).stdout == ""


# ------------------------------------------------------------- subscriptions in memory


def _wanted(database: Database) -> dict[int, list[int]]:
    """The accounts' endpoints wanting ``message.sent``, as the dispatch's hot path asks."""
    with database.transaction() as conn:
        found = events.subscriptions_for(conn, (events.MESSAGE_SENT,))
    return {account: list(ids) for account, ids in found.get(events.MESSAGE_SENT, {}).items()}


def test_an_endpoint_added_through_the_app_gets_the_next_batch_s_events(
    database: Database,
) -> None:
    """Nobody wanting message.sent is remembered, and forgotten by an endpoint change made
    through the services of this process: the next batch after the commit sees it."""
    assert _wanted(database) == {}  # remembered from here on
    with database.transaction() as conn:
        hook = _endpoint(conn, "https://hooks.example.com/a", "message.sent")
    assert _wanted(database) == {DEFAULT: [hook.id]}
    with database.transaction() as conn:
        endpoints.update_endpoint(conn, DEFAULT, hook.id, NOW, events=["message.delivered"])
    assert _wanted(database) == {}
    with database.transaction() as conn:
        endpoints.update_endpoint(conn, DEFAULT, hook.id, NOW, events=["*"])
    assert _wanted(database) == {DEFAULT: [hook.id]}


@pytest.mark.commits  # two connections of their own: the writer's and the reader's
def test_a_read_made_before_the_change_committed_is_not_kept(database: Database) -> None:
    """A batch that read the subscriptions while an endpoint's creation was not committed yet
    saw none; that answer is dropped once the creation's connection is back in the pool."""
    assert _wanted(database) == {}
    with database.transaction() as writer:
        hook = _endpoint(writer, "https://hooks.example.com/b", "message.sent")
        with database.reader() as conn:  # another connection: the creation is not visible
            assert events.subscriptions_for(conn, (events.MESSAGE_SENT,)) == {}
    assert _wanted(database) == {DEFAULT: [hook.id]}


def test_an_endpoint_added_by_another_process_is_seen_within_the_max_age(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint written by another process (the API server) is unknown to this process's
    memory until it is :data:`~events.SUBSCRIPTIONS_MAX_AGE_S` old, then read."""
    now = [1000.0]
    monkeypatch.setattr(events, "monotonic", lambda: now[0])
    assert _wanted(database) == {}
    with database.transaction() as conn:  # as another process would: no notice to this one
        endpoint_id = conn.execute(
            insert(t.webhook_endpoints)
            .values(
                account_id=DEFAULT,
                url="https://hooks.example.com/c",
                events="message.sent",
                secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                created_at=NOW,
            )
            .returning(t.webhook_endpoints.c.id)
        ).scalar_one()
    now[0] += events.SUBSCRIPTIONS_MAX_AGE_S / 2
    assert _wanted(database) == {}
    now[0] += events.SUBSCRIPTIONS_MAX_AGE_S / 2 + 0.01
    assert _wanted(database) == {DEFAULT: [endpoint_id]}
    with database.transaction() as conn:  # wanted: read every time, a removal seen at once
        conn.execute(delete(t.webhook_endpoints).where(t.webhook_endpoints.c.id == endpoint_id))
    assert _wanted(database) == {}
