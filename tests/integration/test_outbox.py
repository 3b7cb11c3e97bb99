"""Outbox transitions and reconciliation, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from stopsms.domain.campaign import CampaignStatus
from stopsms.engine.dispatcher import _before_wire, _Chunk
from stopsms.providers.base import SubmitOutcome, SubmitResult
from stopsms.services.accounts import accounts, credits
from stopsms.services.accounts.accounts import AccountChanges, get_account
from stopsms.services.messages import outbox
from stopsms.services.optouts import optouts
from stopsms.store import tables as t
from stopsms.store.database import Database

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _campaign(conn: Connection, status: str = "sending") -> int:
    account = get_account(conn, "default")
    return int(
        conn.execute(
            # Direct insert, not tests.builders: a campaign in the given status (outbox input).
            insert(t.campaigns)
            .values(account_id=account.id, name="c", body="x", status=status, created_at=NOW)
            .returning(t.campaigns.c.id)
        ).scalar_one()
    )


def _message(conn: Connection, phone: str, **values: Any) -> int:
    account = get_account(conn, "default")
    row = {
        "account_id": account.id,
        "phone_e164": phone,
        "region": "FR",
        "sender": "MaBoutique",
        "kind": "marketing",
        "priority": 100,
        "text": "hello",
        "encoding": "GSM-7",
        "segments": 1,
        "price_millicredits": 1000,
        "created_at": NOW,
        **values,
    }
    # Direct insert, not tests.builders: a queued message in the given state (the outbox's input).
    return int(conn.execute(insert(t.messages).values(row).returning(t.messages.c.id)).scalar_one())


def _status(conn: Connection, message_id: int) -> str:
    return str(
        conn.execute(select(t.messages.c.status).where(t.messages.c.id == message_id)).scalar_one()
    )


def test_claim_takes_priority_first_and_skips_what_is_not_due(database: Database) -> None:
    with database.transaction() as conn:
        sending, paused = _campaign(conn), _campaign(conn, "paused")
        marketing = _message(conn, "+33610000001", campaign_id=sending)
        confirmation = _message(conn, "+33610000002", kind="confirmation", priority=0)
        _message(conn, "+33610000003", campaign_id=paused)
        _message(conn, "+33610000004", campaign_id=sending, not_before=NOW + timedelta(hours=1))
        _message(conn, "+33610000005", campaign_id=sending, status="held")
        claimed = outbox.claim(conn, token="a", now=NOW, limit=10)
        assert [m.id for m in claimed] == [confirmation, marketing]
        assert _status(conn, marketing) == "claimed"
        assert outbox.claim(conn, token="b", now=NOW, limit=10) == []


def test_claim_for_one_campaign_also_takes_confirmations(database: Database) -> None:
    with database.transaction() as conn:
        first, second = _campaign(conn), _campaign(conn)
        mine = _message(conn, "+33610000001", campaign_id=first)
        _message(conn, "+33610000002", campaign_id=second)
        confirmation = _message(conn, "+33610000003", kind="confirmation", priority=0)
        claimed = outbox.claim(conn, token="a", now=NOW, limit=10, campaign_id=first)
        assert [m.id for m in claimed] == [confirmation, mine]


def test_reconcile_releases_claimed_and_counts_submitting_as_unknown(database: Database) -> None:
    with database.transaction() as conn:
        campaign = _campaign(conn)
        ids = [_message(conn, f"+3361000000{i}", campaign_id=campaign) for i in range(4)]
        outbox.claim(conn, token="a", now=NOW, limit=4)
        outbox.begin_submit(conn, ids[:3], NOW)
        found = outbox.reconcile(conn)
        assert found == outbox.Reconciliation(released=1, unknown=3)
        assert [_status(conn, i) for i in ids] == ["unknown"] * 3 + ["pending"]
        assert outbox.reconcile(conn) == outbox.Reconciliation(0, 0)


def test_results_recorded_and_credits_debited_in_the_same_transaction(database: Database) -> None:
    with database.transaction() as conn:
        credits.add_credits(conn, "default", 10_000, now=NOW)
        campaign = _campaign(conn)
        ids = [
            _message(conn, f"+3361000000{i}", campaign_id=campaign, price_millicredits=2000)
            for i in range(4)
        ]
        claimed = {m.id: m for m in outbox.claim(conn, token="a", now=NOW, limit=4)}
        outbox.begin_submit(conn, ids, NOW)
        results = [
            SubmitResult(ids[0], SubmitOutcome.ACCEPTED, provider_message_id="p0"),
            SubmitResult(ids[1], SubmitOutcome.REJECTED, error_code="0x0B"),
            SubmitResult(ids[2], SubmitOutcome.RETRY),
            SubmitResult(ids[3], SubmitOutcome.UNKNOWN),
        ]
        recorded = outbox.record_results(conn, results, claimed, NOW)
        assert recorded == outbox.Recorded(1, 1, 1, 1, 2000)
        m = t.messages
        rows = {row.id: row for row in conn.execute(select(m).where(m.c.id.in_(ids))).all()}
        assert rows[ids[0]].status == "submitted"
        assert rows[ids[0]].provider_message_id == "p0"
        assert rows[ids[1]].status == "rejected"
        assert rows[ids[1]].error_code == "0x0B"
        assert rows[ids[2]].status == "pending"
        assert rows[ids[2]].not_before == NOW + timedelta(seconds=outbox.retry_delay(1))
        assert rows[ids[3]].status == "unknown"
        assert get_account(conn, "default").balance_millicredits == 8000
        ledger = conn.execute(
            select(t.credit_ledger.c.delta_millicredits, t.credit_ledger.c.reference).where(
                t.credit_ledger.c.reason == "send"
            )
        ).all()
        of_first = claimed[ids[0]].campaign_id
        scope = f"campaign:{of_first};" if of_first is not None else ""
        assert [(row[0], row[1]) for row in ledger] == [
            (-2000, f"{scope}messages:1;ids:{ids[0]}-{ids[0]}")
        ]


def test_results_change_only_messages_still_submitting(database: Database) -> None:
    """A result for a message another process moved meanwhile (reconciled ``unknown``)
    changes nothing of it; the others clear their claim and count the attempt."""
    with database.transaction() as conn:
        credits.add_credits(conn, "default", 10_000, now=NOW)
        ids = [_message(conn, f"+3361000001{i}") for i in range(4)]
        claimed = {m.id: m for m in outbox.claim(conn, token="a", now=NOW, limit=4)}
        outbox.begin_submit(conn, ids, NOW)
        m = t.messages
        conn.execute(m.update().where(m.c.id.in_(ids[2:])).values(status="unknown"))
        outbox.record_results(
            conn,
            [
                SubmitResult(ids[0], SubmitOutcome.ACCEPTED, provider_message_id="p0"),
                SubmitResult(ids[1], SubmitOutcome.RETRY),
                SubmitResult(ids[2], SubmitOutcome.ACCEPTED, provider_message_id="p2"),
                SubmitResult(ids[3], SubmitOutcome.REJECTED, error_code="0x0B"),
            ],
            claimed,
            NOW,
        )
        rows = {row.id: row for row in conn.execute(select(m).where(m.c.id.in_(ids))).all()}
    assert [rows[i].status for i in ids] == ["submitted", "pending", "unknown", "unknown"]
    assert [rows[i].attempts for i in ids] == [1, 1, 0, 0]
    assert [rows[i].claim_token for i in ids] == [None, None, "a", "a"]
    assert [rows[i].provider_message_id for i in ids] == ["p0", None, None, None]
    assert rows[ids[1]].submitted_at is None
    assert rows[ids[1]].claimed_at is None
    assert rows[ids[3]].error_code is None


def test_one_ledger_row_per_campaign_and_reason_in_a_batch(database: Database) -> None:
    with database.transaction() as conn:
        credits.add_credits(conn, "default", 100_000, now=NOW)
        first, second = _campaign(conn), _campaign(conn)
        ids = [_message(conn, f"+336100000{i:02d}", campaign_id=first) for i in range(5)]
        ids += [
            _message(conn, f"+336200000{i:02d}", campaign_id=second, price_millicredits=1500)
            for i in range(3)
        ]
        ids.append(_message(conn, "+33630000000", kind="confirmation", priority=0))
        claimed = {m.id: m for m in outbox.claim(conn, token="a", now=NOW, limit=20)}
        outbox.begin_submit(conn, ids, NOW)
        results = [
            SubmitResult(i, SubmitOutcome.ACCEPTED, provider_message_id=f"p{i}") for i in ids
        ]
        recorded = outbox.record_results(conn, results, claimed, NOW)
        assert recorded.debited_millicredits == 5 * 1000 + 3 * 1500 + 1000
        c = t.credit_ledger.c
        rows = conn.execute(
            select(c.delta_millicredits, c.balance_after_millicredits, c.reason, c.reference)
            .where(c.reason != "top_up")
            .order_by(c.id)
        ).all()
        assert [(r.delta_millicredits, r.reason, r.reference) for r in rows] == [
            (-1000, "confirmation", f"messages:1;ids:{ids[8]}-{ids[8]}"),
            (-5000, "send", f"campaign:{first};messages:5;ids:{ids[0]}-{ids[4]}"),
            (-4500, "send", f"campaign:{second};messages:3;ids:{ids[5]}-{ids[7]}"),
        ]
        # The running balance chains from the top-up down to the account's balance.
        assert [r.balance_after_millicredits for r in rows] == [99_000, 94_000, 89_500]
        assert get_account(conn, "default").balance_millicredits == 89_500


def test_hold_release_and_campaign_settling(database: Database) -> None:
    opens = NOW + timedelta(days=2)
    with database.transaction() as conn:
        campaign = _campaign(conn)
        message = _message(conn, "+33610000001", campaign_id=campaign)
        outbox.claim(conn, token="a", now=NOW, limit=1)
        assert outbox.hold(conn, [(message, opens)]) == 1
        progress = outbox.settle_campaign(conn, campaign, NOW)
        assert progress.status is CampaignStatus.HELD
        assert progress.next_release == opens
        assert outbox.next_due(conn, NOW) == opens
        assert outbox.release_due(conn, NOW) == 0
        assert outbox.release_due(conn, opens) == 1
        assert outbox.settle_campaign(conn, campaign, opens).status is CampaignStatus.SENDING
        claimed = {m.id: m for m in outbox.claim(conn, token="b", now=opens, limit=1)}
        outbox.begin_submit(conn, claimed, opens)
        outbox.record_results(
            conn, [SubmitResult(message, SubmitOutcome.ACCEPTED, "p")], claimed, opens
        )
        assert outbox.settle_campaign(conn, campaign, opens).status is CampaignStatus.COMPLETED


def test_paused_campaign_is_released_and_never_overwritten(database: Database) -> None:
    with database.transaction() as conn:
        campaign = _campaign(conn)
        message = _message(conn, "+33610000001", campaign_id=campaign)
        outbox.claim(conn, token="a", now=NOW, limit=1)
        assert outbox.move_campaign(conn, campaign, CampaignStatus.PAUSED, NOW)
        assert outbox.release(conn, [message]) == 1
        assert outbox.claim(conn, token="b", now=NOW, limit=1) == []
        # a settle does not resume a campaign a person paused
        assert outbox.settle_campaign(conn, campaign, NOW).status is CampaignStatus.PAUSED


def test_registry_recheck_honours_account_and_sender_scope(database: Database) -> None:
    with database.transaction() as conn:
        accounts.update_account(conn, "default", AccountChanges(optout_scope="sender"))
        accounts.add_sender(conn, "default", "AutreMarque", now=NOW)
        accounts.add_sender(conn, "default", "MaBoutique", now=NOW)
        campaign = _campaign(conn)
        a = _message(conn, "+33610000001", campaign_id=campaign)
        b = _message(conn, "+33610000002", campaign_id=campaign)
        c = _message(conn, "+33610000003", campaign_id=campaign)
        optouts.record_optout(conn, "default", "+33610000001", source="manual", now=NOW)
        optouts.record_optout(
            conn,
            "default",
            "+33610000002",
            source="manual",
            scope="sender",
            sender="AutreMarque",
            now=NOW,
        )
        optouts.record_optout(
            conn,
            "default",
            "+33610000003",
            source="manual",
            scope="sender",
            sender="MaBoutique",
            now=NOW,
        )
        claimed = outbox.claim(conn, token="a", now=NOW, limit=3)
        assert outbox.opted_out(conn, claimed) == {a, c}
        assert b not in outbox.opted_out(conn, claimed)


def test_concurrent_claims_are_disjoint(database: Database) -> None:
    with database.transaction() as conn:
        campaign = _campaign(conn)
        for i in range(20):
            _message(conn, f"+336100000{i:02d}", campaign_id=campaign)
    if database.backend == "postgresql":
        # Two open transactions: SKIP LOCKED gives the second one other rows.
        with database.transaction() as first, database.transaction() as second:
            a = outbox.claim(first, token="a", now=NOW, limit=10)
            b = outbox.claim(second, token="b", now=NOW, limit=10)
    else:  # SQLite: BEGIN IMMEDIATE serialises the two claims
        with database.transaction() as first:
            a = outbox.claim(first, token="a", now=NOW, limit=10)
        with database.transaction() as second:
            b = outbox.claim(second, token="b", now=NOW, limit=10)
    assert len(a) == len(b) == 10
    assert not {m.id for m in a} & {m.id for m in b}


def test_the_pre_wire_transaction_marks_only_active_claimed_messages(database: Database) -> None:
    """The dispatcher's last transaction before the wire marks ``submitting`` the messages
    still claimed under its token whose campaign is active (or that have none); a campaign
    paused meanwhile gets its messages back, a cancelled one has them cancelled, and a claim
    taken over by another worker is left to it."""
    with database.transaction() as conn:
        credits.add_credits(conn, "default", 100_000, now=NOW)
        sending, paused, cancelled = _campaign(conn), _campaign(conn), _campaign(conn)
        ids = {
            "active": _message(conn, "+33610000001", campaign_id=sending),
            "no campaign": _message(conn, "+33610000002", kind="informative"),
            "paused": _message(conn, "+33610000003", campaign_id=paused),
            "cancelled": _message(conn, "+33610000004", campaign_id=cancelled),
            "taken over": _message(conn, "+33610000005", campaign_id=sending),
        }
        claimed = outbox.claim(conn, token="a", now=NOW, limit=10)
        assert len(claimed) == 5
        c, m = t.campaigns.c, t.messages.c
        for campaign_id, status in ((paused, "paused"), (cancelled, "cancelled")):
            conn.execute(update(t.campaigns).where(c.id == campaign_id).values(status=status))
        conn.execute(update(t.messages).where(m.id == ids["taken over"]).values(claim_token="b"))
        chunk = _Chunk(messages=claimed, sendable=list(claimed))
        to_send, excluded, released = _before_wire(conn, chunk, NOW, "a")
        assert sorted(msg.id for msg in to_send) == sorted([ids["active"], ids["no campaign"]])
        assert (excluded, released) == (0, 1)
        assert {name: _status(conn, i) for name, i in ids.items()} == {
            "active": "submitting",
            "no campaign": "submitting",
            "paused": "pending",
            "cancelled": "cancelled",
            "taken over": "claimed",
        }
