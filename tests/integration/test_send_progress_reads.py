"""What ``campaign send`` reads while it sends: the progress bar's counts at most a share of
the database thread, ``--wait``'s check by index probes, no counts for a settled campaign.
On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from sqlalchemy import Connection, event, insert

from stopsms.domain.campaign import CampaignStatus
from stopsms.engine import sending
from stopsms.engine.database_thread import DatabaseThread
from stopsms.services.accounts.accounts import get_account
from stopsms.services.messages import outbox
from stopsms.store import tables as t
from stopsms.store.database import Database

from .test_outbox import NOW, _campaign


def _message(conn: Connection, status: str, **values: Any) -> int:
    account = get_account(conn, "default")
    row = {
        "account_id": account.id,
        "phone_e164": "+33610000001",
        "kind": "informative",
        "text": "hello",
        "created_at": NOW,
        "status": status,
        **values,
    }
    # Direct insert: a message in the given state (the engine's input).
    return int(conn.execute(insert(t.messages).values(row).returning(t.messages.c.id)).scalar_one())


@pytest.mark.parametrize(
    ("status", "outstanding"),
    [
        ("pending", True),
        ("held", True),
        ("claimed", True),
        ("submitted", True),  # awaiting its receipt
        ("submitting", False),  # as before: neither waiting nor sent
        ("delivered", False),
        ("failed", False),
        ("rejected", False),
        ("unknown", False),
        ("excluded", False),
    ],
)
def test_wait_checks_what_the_progress_counts_said(
    database: Database, status: str, outstanding: bool
) -> None:
    """``_outstanding`` answers what ``awaiting_receipt > 0 or waiting > 0`` answered from
    the counts, for each status."""
    with database.transaction() as conn:
        campaign = _campaign(conn)
        _message(conn, "delivered", campaign_id=campaign)
        _message(conn, status, campaign_id=campaign)
        progress = sending.campaign_send_progress(conn, campaign)
        assert (progress.awaiting_receipt > 0 or progress.waiting > 0) is outstanding
        assert sending._outstanding(conn, campaign) is outstanding


@pytest.mark.parametrize(("status", "outstanding"), [("pending", True), ("claimed", True)])
def test_wait_also_waits_for_the_stop_confirmations(
    database: Database, status: str, outstanding: bool
) -> None:
    with database.transaction() as conn:
        campaign = _campaign(conn)
        _message(conn, "delivered", campaign_id=campaign)
        assert not sending._outstanding(conn, campaign)
        _message(conn, "submitted", kind="confirmation", priority=0)  # left: not waited for
        assert not sending._outstanding(conn, campaign)
        _message(conn, status, kind="confirmation", priority=0)
        assert sending._outstanding(conn, campaign) is outstanding


def test_a_settled_campaign_is_not_counted_again(database: Database) -> None:
    """An idle dispatcher settles its campaign every second, also while ``--wait`` waits for
    the receipts of a completed one: nothing of its messages is read then."""
    with database.transaction() as conn:
        campaign = _campaign(conn, "completed")
        _message(conn, "delivered", campaign_id=campaign)
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(str(args[2]))

    with database.transaction() as conn:
        event.listen(conn, "before_cursor_execute", seen)
        progress = outbox.settle_campaign(conn, campaign, NOW)
        event.remove(conn, "before_cursor_execute", seen)
    assert progress.status is CampaignStatus.COMPLETED
    assert statements  # the campaign's status was read
    assert not any("messages" in s for s in statements), statements


@pytest.mark.commits  # the database thread: connections of its own
def test_progress_reads_take_a_bounded_share_of_the_database_thread(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow progress read (every message of a large campaign) is asked again only after
    1 / PROGRESS_SHARE times its duration, not every ``interval``: at a fixed 0.25 s the
    reads of a 500,000-recipient send took 97 s of its 222 s on PostgreSQL."""
    with database.transaction() as conn:
        campaign = _campaign(conn)
    read = sending.campaign_send_progress
    reads: list[float] = []

    def slow(conn: Connection, campaign_id: int) -> sending.SendProgress:
        time.sleep(0.02)  # a read of a large campaign
        reads.append(time.perf_counter())
        return read(conn, campaign_id)

    monkeypatch.setattr(sending, "campaign_send_progress", slow)

    async def run() -> None:
        thread = DatabaseThread(database)
        try:
            reporter = asyncio.create_task(
                sending._report_progress(thread, campaign, lambda _: None, 0.01)
            )
            await asyncio.sleep(1.0)
            reporter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reporter
        finally:
            thread.close()

    asyncio.run(run())
    # 0.02 s a read: the next one 0.4 s later at least (about 33 in 1 s at a fixed 0.01 s).
    assert 1 <= len(reads) <= 3, len(reads)
    gaps = [b - a for a, b in itertools.pairwise(reads)]
    assert all(gap >= 0.02 / sending.PROGRESS_SHARE - 0.05 for gap in gaps), gaps
