"""Inbound MO and receipts, on SQLite and PostgreSQL: STOP, uncertain, START with evidence,
attribution, sender scope, one confirmation, acknowledgement only after commit."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select

from stopsms.clock import FakeClock
from stopsms.engine.database_thread import DatabaseThread
from stopsms.engine.gate import SuppressionGate
from stopsms.engine.inbound import InboundHandler
from stopsms.providers.base import DeliveryReceipt, InboundMessage, ReceiptStatus
from stopsms.services.accounts import accounts
from stopsms.services.accounts.accounts import AccountChanges, get_account
from stopsms.services.messages.mo import handle_many, handle_mo, sender_e164
from stopsms.services.messages.receipts import apply_receipts
from stopsms.services.optouts.optouts import OptOutRequest, record_optout, record_optout_batch
from stopsms.store import tables as t
from stopsms.store.database import Database

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PHONE = "+33612345678"


def _sent(conn: Connection, campaign: int | None, sender: str = "MaBoutique", **v: Any) -> int:
    # Direct insert, not tests.builders: a message as the engine records it once sent
    # (no service writes one by itself).
    account = get_account(conn, "default")
    row = {
        "account_id": account.id,
        "campaign_id": campaign,
        "phone_e164": PHONE,
        "region": "FR",
        "sender": sender,
        "kind": "marketing",
        "text": "promo",
        "status": "delivered",
        "created_at": NOW,
        **v,
    }
    return int(conn.execute(insert(t.messages).values(row).returning(t.messages.c.id)).scalar_one())


def _campaign(conn: Connection) -> int:
    account = get_account(conn, "default")
    return int(
        conn.execute(
            # Direct insert, not tests.builders: a completed campaign, as sending leaves it.
            insert(t.campaigns)
            .values(account_id=account.id, name="c", body="x", status="completed", created_at=NOW)
            .returning(t.campaigns.c.id)
        ).scalar_one()
    )


def _mo(text: str, sender: str = "33612345678", to: str = "36034") -> InboundMessage:
    return InboundMessage(sender, to, text, NOW)


def _setup(conn: Connection, scope: str = "account") -> None:
    accounts.update_account(
        conn, "default", AccountChanges(shortcode="36034", brand="MaBoutique", optout_scope=scope)
    )


def _confirmations(conn: Connection) -> list[Any]:
    m = t.messages
    return list(
        conn.execute(
            select(
                m.c.phone_e164, m.c.priority, m.c.text, m.c.price_millicredits, m.c.sender
            ).where(m.c.kind == "confirmation")
        ).all()
    )


def test_sender_numbers_are_read_as_e164() -> None:
    assert sender_e164("33612345678") == PHONE
    assert sender_e164("+33612345678") == PHONE
    assert sender_e164("0033612345678") == PHONE
    assert sender_e164("0612345678") == PHONE
    assert sender_e164("ORANGE") is None


def test_stop_opts_out_confirms_once_and_is_attributed_to_the_latest_campaign(
    database: Database,
) -> None:
    with database.transaction() as conn:
        _setup(conn)
        older, latest = _campaign(conn), _campaign(conn)
        _sent(conn, older)
        _sent(conn, latest)
        _sent(conn, None, kind="informative")  # not a campaign: not the one attributed
        outcome = handle_mo(conn, _mo("Stop"), NOW)
        again = handle_mo(conn, _mo("STOP 36034"), NOW)
        assert outcome.optout_created
        assert outcome.campaign_id == latest
        assert outcome.confirmation_id is not None
        assert not again.optout_created
        assert again.confirmation_id is None
        (confirmation,) = _confirmations(conn)
        assert confirmation.phone_e164 == PHONE
        assert confirmation.priority == 0
        assert confirmation.text == "Vous ne recevrez plus de SMS de MaBoutique. SMS non surtaxé."
        assert confirmation.price_millicredits == t.DEFAULT_PRICE_MILLICREDITS
        o = t.optouts
        row = conn.execute(select(o)).one()
        assert (row.source, row.scope, row.uncertain, row.campaign_id) == (
            "keyword",
            "account",
            False,
            latest,
        )
        inbound = conn.execute(select(t.inbound_messages.c.intent, t.inbound_messages.c.optout_id))
        assert [tuple(r) for r in inbound] == [("optout", row.id), ("optout", row.id)]


def test_uncertain_stop_is_honoured_and_flagged(database: Database) -> None:
    with database.transaction() as conn:
        _setup(conn)
        outcome = handle_mo(conn, _mo("merci mais stop svp"), NOW)
        assert outcome.optout_created
        assert not outcome.certain
        assert conn.execute(select(t.optouts.c.uncertain)).scalar_one() is True
        assert len(_confirmations(conn)) == 1


def test_start_resubscribes_with_the_sms_as_evidence(database: Database) -> None:
    with database.transaction() as conn:
        _setup(conn)
        handle_mo(conn, _mo("STOP"), NOW)
        outcome = handle_mo(conn, _mo("START"), NOW)
        assert outcome.resubscribed
        row = conn.execute(select(t.optouts.c.revoked_at, t.optouts.c.revoke_evidence)).one()
        assert row.revoked_at is not None
        assert "'START'" in row.revoke_evidence
        assert PHONE in row.revoke_evidence
        nothing = handle_mo(conn, _mo("START", sender="33612345679"), NOW)
        assert not nothing.resubscribed


def test_sender_scope_uses_the_sender_of_the_last_message(database: Database) -> None:
    with database.transaction() as conn:
        _setup(conn, scope="sender")
        _sent(conn, _campaign(conn), sender="MaBoutique")
        outcome = handle_mo(conn, _mo("STOP", to="MaBoutique"), NOW)
        assert outcome.optout_sender == "MaBoutique"
        row = conn.execute(select(t.optouts.c.scope, t.optouts.c.sender)).one()
        assert tuple(row) == ("sender", "MaBoutique")


def test_mo_belongs_to_the_account_that_last_wrote_from_that_sender(database: Database) -> None:
    with database.transaction() as conn:
        _setup(conn)
        other = accounts.create_account(conn, "autre", now=NOW)
        account = get_account(conn, "default")
        conn.execute(
            # Direct insert, not tests.builders: the other account's last message from AUTRE.
            insert(t.messages).values(
                account_id=other.id,
                phone_e164=PHONE,
                sender="AUTRE",
                kind="marketing",
                status="delivered",
                created_at=NOW,
            )
        )
        assert handle_mo(conn, _mo("STOP", to="AUTRE"), NOW).account_id == other.id
        # no message from that sender: the account owning the shortcode
        assert handle_mo(conn, _mo("bonjour", to="36034"), NOW).account_id == account.id
        # nothing matches: the default account
        assert handle_mo(conn, _mo("bonjour", to="99999"), NOW).account_id == account.id


def test_receipts_update_by_provider_id_and_blocked_code_opts_out(database: Database) -> None:
    with database.transaction() as conn:
        ok = _sent(conn, None, status="submitted", provider_message_id="p1")
        blocked = _sent(conn, None, status="submitted", provider_message_id="p2")
        receipts = [
            DeliveryReceipt("p1", ReceiptStatus.DELIVERED, None, "DELIVRD", NOW),
            DeliveryReceipt("p2", ReceiptStatus.FAILED, "061", "UNDELIV", NOW),
            DeliveryReceipt("p3", ReceiptStatus.DELIVERED, None, "DELIVRD", NOW),
        ]
        applied = apply_receipts(conn, receipts, NOW)
        assert (applied.delivered, applied.failed, applied.ignored) == (1, 1, 1)
        m = t.messages
        rows = conn.execute(select(m.c.id, m.c.status).where(m.c.id.in_([ok, blocked]))).all()
        statuses = {row.id: row.status for row in rows}
        assert statuses == {ok: "delivered", blocked: "failed"}
        row = conn.execute(select(t.optouts.c.source, t.optouts.c.phone_e164)).one()
        assert tuple(row) == ("provider_blocked", PHONE)
        # the set-based statement binds the times itself: stored as SQLAlchemy stores them
        times = conn.execute(
            select(m.c.delivered_at, m.c.failed_at, m.c.error_code, m.c.created_at)
            .where(m.c.id.in_([ok, blocked]))
            .order_by(m.c.id)
        ).all()
        assert [tuple(r) for r in times] == [(NOW, None, None, NOW), (None, NOW, "061", NOW)]
        raw = conn.exec_driver_sql(
            f"SELECT delivered_at, created_at FROM messages WHERE id = {ok}"
        ).one()
        assert raw[0] == raw[1]
        # a repeated receipt never rewrites a final state
        again = apply_receipts(conn, receipts, NOW)
        assert (again.delivered, again.failed, again.ignored) == (0, 0, 3)


@pytest.mark.commits  # DatabaseThread: connections of its own
def test_handler_returns_only_after_commit_and_after_in_flight_chunks(database: Database) -> None:
    with database.transaction() as conn:
        _setup(conn)

    async def scenario() -> None:
        thread = DatabaseThread(database)
        gate = SuppressionGate()
        handler = InboundHandler(thread, FakeClock(NOW), gate)
        ticket = gate.enter([PHONE])  # a chunk to that number is on the wire
        task = asyncio.create_task(handler.on_inbound(_mo("STOP")))
        await asyncio.sleep(0.2)
        assert not task.done()  # committed, but a submit to the number is still unanswered
        with database.reader() as conn:  # ...and it is committed already
            assert conn.execute(select(func.count()).select_from(t.optouts)).scalar_one() == 1
        account_id = get_account_conn_id(database)
        assert gate.is_blocked(account_id, PHONE, "MaBoutique")
        gate.leave(ticket)
        await asyncio.wait_for(task, 5)
        await handler.close()
        thread.close()

    asyncio.run(scenario())


@pytest.mark.commits  # DatabaseThread: connections of its own
def test_an_mo_commits_before_normal_jobs_queued_before_it(database: Database) -> None:
    """The MO's job goes in the database thread's urgent lane: it waits for the job running
    now, not for the dispatcher's (or receipts') jobs queued before it."""
    with database.transaction() as conn:
        _setup(conn)

    async def scenario() -> None:
        thread = DatabaseThread(database)
        handler = InboundHandler(thread, FakeClock(NOW), SuppressionGate())
        release = threading.Event()
        running = thread.submit(lambda _: release.wait(5))  # a long job on the thread now
        await asyncio.sleep(0.05)
        queued = thread.submit(  # a normal job queued before the MO: sees its opt-out
            lambda conn: conn.execute(select(func.count()).select_from(t.optouts)).scalar_one()
        )
        task = asyncio.create_task(handler.on_inbound(_mo("STOP")))
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.wait_for(task, 5)
        assert await running
        assert await queued == 1
        await handler.close()
        thread.close()

    asyncio.run(scenario())


def get_account_conn_id(database: Database) -> int:
    with database.reader() as conn:
        return get_account(conn, "default").id


# -- set-based batches: the same outcome as one MO at a time ---------------------------------


def _optouts(conn: Connection) -> list[Any]:
    o = t.optouts
    return list(
        conn.execute(
            select(o.c.id, o.c.phone_e164, o.c.sender, o.c.uncertain, o.c.revoked_at).order_by(
                o.c.id
            )
        ).all()
    )


def test_two_stops_from_one_number_in_one_batch_confirm_once(database: Database) -> None:
    with database.transaction() as conn:
        _setup(conn)
        latest = _campaign(conn)
        _sent(conn, latest)
        first, second = handle_many(conn, [_mo("STOP"), _mo("stop")], NOW)
        assert first.optout_created
        assert first.confirmation_id is not None
        assert not second.optout_created
        assert second.confirmation_id is None
        assert first.optout_id == second.optout_id
        assert first.campaign_id == second.campaign_id == latest
        assert len(_confirmations(conn)) == 1
        assert len(_optouts(conn)) == 1
        ids = conn.execute(select(t.inbound_messages.c.id).order_by(t.inbound_messages.c.id))
        assert [row.id for row in ids] == sorted({first.inbound_id, second.inbound_id})


def test_uncertain_then_certain_in_one_batch_is_one_certain_opt_out(database: Database) -> None:
    with database.transaction() as conn:
        _setup(conn)
        unsure, sure = handle_many(conn, [_mo("merci mais stop svp"), _mo("STOP")], NOW)
        assert unsure.optout_created
        assert not unsure.certain
        assert not sure.optout_created
        (row,) = _optouts(conn)
        assert row.uncertain is False
        assert len(_confirmations(conn)) == 1


def test_stop_then_start_in_one_batch_and_start_then_stop(database: Database) -> None:
    with database.transaction() as conn:
        _setup(conn)
        other = "33612345679"
        outcomes = handle_many(
            conn, [_mo("STOP"), _mo("START", sender=other), _mo("START"), _mo("STOP", other)], NOW
        )
        stop, start_first, start, stop_after = outcomes
        assert stop.optout_created
        assert start.resubscribed  # the STOP before it in the batch is lifted
        assert not start_first.resubscribed  # nothing to lift yet
        assert stop_after.optout_created
        rows = {row.phone_e164: row for row in _optouts(conn)}
        assert rows[PHONE].revoked_at is not None
        assert rows["+33612345679"].revoked_at is None
        assert len(_confirmations(conn)) == 2


def test_a_batch_resolves_accounts_scopes_and_campaigns_per_number(database: Database) -> None:
    with database.transaction() as conn:
        _setup(conn, scope="sender")
        other = accounts.create_account(conn, "autre", now=NOW)
        accounts.update_account(conn, "autre", AccountChanges(shortcode="38383"))
        campaign = _campaign(conn)
        _sent(conn, campaign, sender="MaBoutique")
        _sent(conn, None, sender="MaBoutique", phone_e164="+33612345679", kind="informative")
        conn.execute(
            # Direct insert, not tests.builders: the other account's last message from AUTRE.
            insert(t.messages).values(
                account_id=other.id,
                phone_e164="+33612345670",
                sender="AUTRE",
                kind="marketing",
                status="delivered",
                created_at=NOW,
            )
        )
        batch = [
            _mo("STOP", to="MaBoutique"),  # default account, sender scope, attributed
            _mo("STOP", sender="33612345679", to="MaBoutique"),  # no campaign to attribute
            _mo("STOP", sender="33612345670", to="AUTRE"),  # the other account
            _mo("bonjour", sender="33612345671", to="38383"),  # the shortcode's owner
            _mo("STOP", sender="ORANGE", to="36034"),  # not a number: stored only
        ]
        mine, informative, theirs, hello, orange = handle_many(conn, batch, NOW)
        default = get_account(conn, "default")
        assert (mine.account_id, mine.optout_sender, mine.campaign_id) == (
            default.id,
            "MaBoutique",
            campaign,
        )
        assert (informative.optout_sender, informative.campaign_id) == ("MaBoutique", None)
        assert (theirs.account_id, theirs.optout_sender) == (other.id, "")
        assert hello.account_id == other.id
        assert hello.optout_id is None
        assert orange.phone is None
        assert orange.optout_id is None
        assert len(_confirmations(conn)) == 3
        assert conn.execute(select(func.count()).select_from(t.inbound_messages)).scalar_one() == 5


def test_record_optout_batch_matches_one_call_at_a_time(database: Database) -> None:
    with database.transaction() as conn:
        _setup(conn, scope="sender")
        account = get_account(conn, "default")
        record_optout(conn, account, "+33612345670", source="manual", uncertain=True)
        requests = [
            OptOutRequest(account, "+33612345670", source="keyword"),  # confirms it
            OptOutRequest(account, "0612345671", source="keyword", uncertain=True),
            OptOutRequest(account, "+33612345671", source="keyword"),
            OptOutRequest(account, "+33612345672", source="keyword", sender="X", scope="sender"),
            OptOutRequest(account, "+33612345672", source="keyword"),  # account-wide, new
            OptOutRequest(account, "+33612345672", source="keyword", sender="X", scope="sender"),
        ]
        done = record_optout_batch(conn, requests, now=NOW)
        assert [r.created for r in done] == [False, True, False, True, True, False]
        assert done[0].optout.uncertain is False
        assert done[1].optout.id == done[2].optout.id
        assert done[2].optout.uncertain is False
        assert done[3].optout.sender == "X"
        assert done[4].optout.sender == ""
        assert done[5].optout.id == done[4].optout.id  # the account-wide one covers it
        rows = _optouts(conn)
        assert [(row.phone_e164, row.sender, row.uncertain) for row in rows] == [
            ("+33612345670", "", False),
            ("+33612345671", "", False),
            ("+33612345672", "X", False),
            ("+33612345672", "", False),
        ]


@pytest.mark.commits  # DatabaseThread: connections of its own
def test_handler_batches_concurrent_mos_and_blocks_each_number(database: Database) -> None:
    with database.transaction() as conn:
        _setup(conn)
    numbers = [f"3361234{i:04d}" for i in range(60)]

    async def scenario() -> None:
        thread = DatabaseThread(database)
        gate = SuppressionGate()
        handler = InboundHandler(thread, FakeClock(NOW), gate)
        mos = [_mo("STOP", sender=n) for n in numbers] + [_mo("STOP", sender=numbers[0])]
        await asyncio.wait_for(asyncio.gather(*(handler.handlers.on_inbound(m) for m in mos)), 30)
        await handler.close()
        thread.close()
        account_id = get_account_conn_id(database)
        assert all(gate.is_blocked(account_id, "+" + n, "MaBoutique") for n in numbers)
        assert handler.stats.inbound == 61
        assert handler.stats.optouts == handler.stats.confirmations == 60

    asyncio.run(scenario())
    with database.reader() as conn:
        assert len(_confirmations(conn)) == 60
        assert len(_optouts(conn)) == 60
