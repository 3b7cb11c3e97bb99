"""A campaign's kept figures (``campaign_finals``, migration 0015) equal a full recount of its
messages at every step of its life, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
from datetime import timedelta

from sqlalchemy import func, insert, select, update

from stopsms.clock import FakeClock
from stopsms.domain.campaign import MessageStatus
from stopsms.providers.base import DeliveryReceipt, ReceiptStatus, SubmitOutcome, SubmitResult
from stopsms.services.accounts.accounts import get_account
from stopsms.services.campaigns.campaigns import cancel_campaign, pause_campaign
from stopsms.services.campaigns.preparation import prepare_campaign, recheck_credit
from stopsms.services.campaigns.reports import (
    OPEN_STATUSES,
    campaign_figures,
    finals_rows,
    fold_finals,
    recount_figures,
)
from stopsms.services.messages import outbox
from stopsms.services.messages.doubt import Resolve, resolve_unknown
from stopsms.services.messages.receipts import apply_receipts
from stopsms.services.optouts import optouts
from stopsms.store import tables as t
from stopsms.store.database import Database, downgrade, migrate, open_database
from tests.integration.test_preparation import NOW, fr
from tests.integration.test_reports import _campaign

_M = t.messages.c
LATER = NOW + timedelta(hours=1)


def _same(database: Database, campaign_id: int) -> None:
    """The kept figures are the recount's, hour by hour, and every recipient is counted once."""
    with database.reader() as c:
        for hourly in (True, False):
            kept = campaign_figures(c, "default", campaign_id, hourly=hourly)
            full = recount_figures(c, "default", campaign_id, hourly=hourly)
            assert kept == full
    report = kept[0]
    assert report.targeted == 13
    assert report.accounted == report.targeted  # a message on the wire counted once


def test_every_status_is_kept_or_read() -> None:
    """A message is either kept (final) or read at each visit (open), never both, never
    neither."""
    module = importlib.import_module("stopsms.store.migrations.versions.0015_campaign_finals")
    assert module.OPEN == OPEN_STATUSES
    assert not set(module.OPEN) & set(module.FINAL)
    assert sorted(module.OPEN + module.FINAL) == sorted(s.value for s in MessageStatus)


def _receipt(pid: str, status: ReceiptStatus) -> DeliveryReceipt:
    return DeliveryReceipt(
        pid, status, None if status is ReceiptStatus.DELIVERED else "1", "", LATER
    )


def _send(database: Database, campaign_id: int, outcomes: list[SubmitOutcome]) -> list[int]:
    """Claim as many messages as ``outcomes``, mark them on the wire, record ``outcomes``;
    returns their ids (provider ids ``p<id>`` for the accepted)."""
    with database.transaction() as c:
        claimed = outbox.claim(c, token="w", now=NOW, limit=len(outcomes), campaign_id=campaign_id)
        ids = [m.id for m in claimed]
        outbox.begin_submit(c, ids, NOW, token="w")
        results = [
            SubmitResult(m, outcome, f"p{m}" if outcome is SubmitOutcome.ACCEPTED else None)
            for m, outcome in zip(ids, outcomes, strict=False)
        ]
        outbox.record_results(c, results, {m.id: m for m in claimed}, NOW)
    return ids


def test_kept_figures_equal_a_recount_through_a_campaign_life(database: Database) -> None:
    campaign_id = _campaign(database, people=12)
    clock = FakeClock(NOW)
    prepare_campaign(database, campaign_id, clock)
    _same(database, campaign_id)

    # A partial send left two recipients insufficient_credit: a top-up re-decides them by
    # deleting their rows and inserting new ones.
    with database.transaction() as c:
        two = list(
            c.execute(
                select(_M.id)
                .where(_M.campaign_id == campaign_id, _M.decision == "ready")
                .order_by(_M.id.desc())
                .limit(2)
            ).scalars()
        )
        c.execute(
            update(t.messages)
            .where(_M.id.in_(two))
            .values(decision="excluded", reason="insufficient_credit", status="excluded")
        )
    _same(database, campaign_id)
    with database.transaction() as c:
        assert recheck_credit(c, campaign_id, clock, allow_partial=True) is not None
        c.execute(
            update(t.campaigns).where(t.campaigns.c.id == campaign_id).values(status="sending")
        )
    _same(database, campaign_id)

    ok, refused, later, lost = (
        SubmitOutcome.ACCEPTED,
        SubmitOutcome.REJECTED,
        SubmitOutcome.RETRY,
        SubmitOutcome.UNKNOWN,
    )
    sent = _send(database, campaign_id, [ok, ok, ok, refused, later])
    _same(database, campaign_id)
    with database.transaction() as c:
        apply_receipts(
            c,
            [
                _receipt(f"p{sent[0]}", ReceiptStatus.DELIVERED),
                _receipt(f"p{sent[1]}", ReceiptStatus.FAILED),
            ],
            LATER,
        )
    _same(database, campaign_id)

    # At send time: one number opted out since preparation (excluded), one held outside its
    # hours, one left claimed and one on the wire when the process dies.
    with database.transaction() as c:
        optouts.record_optout(
            c, "default", fr(2), source="keyword", campaign_id=campaign_id, now=NOW
        )
        claimed = outbox.claim(c, token="w", now=NOW, limit=4, campaign_id=campaign_id)
        ids = [m.id for m in claimed]
        outbox.exclude(c, ids[:1], "opted_out", token="w")
        outbox.hold(c, [(ids[1], LATER)], token="w")
        outbox.begin_submit(c, ids[3:], NOW, token="w")
    _same(database, campaign_id)
    with database.transaction() as c:
        outbox.reconcile(c, campaign_id=campaign_id, now=LATER)
    _same(database, campaign_id)

    # The messages in doubt: re-queued, lost again, closed.
    with database.transaction() as c:
        resolve_unknown(c, "default", campaign_id, Resolve.REQUEUE)
    _same(database, campaign_id)
    _send(database, campaign_id, [lost, lost, ok])
    _same(database, campaign_id)
    with database.transaction() as c:
        resolve_unknown(c, "default", campaign_id, Resolve.CLOSE)
        outbox.release_due(c, LATER, campaign_id=campaign_id)
    _same(database, campaign_id)

    with database.transaction() as c:
        pause_campaign(c, "default", campaign_id, clock)
    _same(database, campaign_id)
    with database.transaction() as c:
        cancel_campaign(c, "default", campaign_id, clock)
    _same(database, campaign_id)
    with database.reader() as c:
        report = campaign_figures(c, "default", campaign_id)[0]
    assert (report.sent, report.delivered, report.failed, report.rejected) == (4, 1, 1, 1)
    assert report.closed == 2
    assert report.cancelled > 0


def test_deltas_fold_into_their_sums(database: Database) -> None:
    """PostgreSQL appends a row per statement; folding keeps the figures and few rows (SQLite
    keeps one row per key: nothing to fold)."""
    campaign_id = _campaign(database, people=12)
    prepare_campaign(database, campaign_id, FakeClock(NOW))
    with database.transaction() as c:
        c.execute(
            update(t.campaigns).where(t.campaigns.c.id == campaign_id).values(status="sending")
        )
    for _ in range(3):
        ids = _send(database, campaign_id, [SubmitOutcome.ACCEPTED] * 2)
        with database.transaction() as c:
            for m in ids:  # one statement each: one delta row each on PostgreSQL
                apply_receipts(c, [_receipt(f"p{m}", ReceiptStatus.DELIVERED)], LATER)
    with database.reader() as c:
        before = campaign_figures(c, "default", campaign_id, hourly=True)
        rows = finals_rows(c, campaign_id)
    with database.transaction() as c:
        fold_finals(c, campaign_id)
    with database.reader() as c:
        assert campaign_figures(c, "default", campaign_id, hourly=True) == before
        assert recount_figures(c, "default", campaign_id, hourly=True) == before
        folded = finals_rows(c, campaign_id)
    # delivered (one hour) and the two exclusions at preparation: three keys.
    assert folded == 3
    assert rows > folded if database.engine.dialect.name == "postgresql" else rows == folded
    assert before[0].delivered == 6


def test_messages_apart_from_campaigns_are_not_kept(database: Database) -> None:
    with database.transaction() as c:
        account = get_account(c, "default")
        c.execute(
            insert(t.messages).values(
                account_id=account.id,
                phone_e164=fr(1),
                kind="confirmation",
                status="delivered",
                created_at=NOW,
                delivered_at=NOW,
            )
        )
        assert c.execute(select(func.count()).select_from(t.campaign_finals)).scalar_one() == 0


def test_the_migration_counts_the_messages_already_there(empty_database_url: str) -> None:
    """0015 on a database with campaigns: their final messages are counted once (backfill),
    then kept by the triggers from there on."""
    database = open_database(empty_database_url)
    try:
        campaign_id = _campaign(database, people=12)
        prepare_campaign(database, campaign_id, FakeClock(NOW))
        downgrade(database.engine, "0014")
        with database.transaction() as c:
            ids = list(
                c.execute(
                    select(_M.id)
                    .where(_M.campaign_id == campaign_id, _M.status == "pending")
                    .order_by(_M.id)
                ).scalars()
            )
            c.execute(
                update(t.messages)
                .where(_M.id.in_(ids[:6]))
                .values(status="delivered", submitted_at=NOW, delivered_at=LATER)
            )
            c.execute(
                update(t.messages)
                .where(_M.id.in_(ids[6:8]))
                .values(status="failed", submitted_at=NOW, failed_at=LATER)
            )
        migrate(database.engine)
        _same(database, campaign_id)
        with database.reader() as c:
            assert campaign_figures(c, "default", campaign_id)[0].delivered == 6
        with database.transaction() as c:
            c.execute(update(t.messages).where(_M.id.in_(ids[8:])).values(status="cancelled"))
        _same(database, campaign_id)
    finally:
        database.close()
