"""Applying receipts finds their messages by provider id, never by scanning the outbox."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, event, select, update

from stopsms.clock import FakeClock
from stopsms.providers.base import DeliveryReceipt, ReceiptStatus
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.messages.receipts import ReceiptsApplied, apply_receipts
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.e2e.support import TUESDAY_10H, fr, seed_campaign


def _applied_with_updates(
    conn: Connection, receipts: list[DeliveryReceipt], now: datetime
) -> tuple[ReceiptsApplied, list[tuple[str, Any]]]:
    """``apply_receipts`` on ``conn``, with the ``UPDATE messages`` statements it ran (and
    their parameters) as the driver got them."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if "UPDATE MESSAGES" in statement.upper():
            captured.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", capture)
    try:
        return apply_receipts(conn, receipts, now), captured
    finally:
        event.remove(conn, "before_cursor_execute", capture)


@pytest.mark.parametrize("count", [1, 300])
def test_the_receipt_update_searches_the_provider_id_index(
    sqlite_database: Database, count: int
) -> None:
    """SQLite plans without statistics, so a misleading index choice can happen (on
    PostgreSQL, stale statistics do the same: the next test). One statement per batch
    (``UPDATE … FROM (VALUES …)``): whatever the batch size, each receipt finds its row
    through the provider id index and the claim index (status, …) is not used."""
    database = sqlite_database
    now = datetime.now(UTC)
    receipts = [
        DeliveryReceipt(f"id{i}", ReceiptStatus.DELIVERED, None, "", now) for i in range(count)
    ]
    with database.transaction() as conn:
        applied, captured = _applied_with_updates(conn, receipts, now)
        assert (applied.delivered, applied.ignored) == (0, count)  # no such messages
        assert len(captured) == 1  # one statement for the batch
        statement, parameters = captured[0]
        first = parameters[0] if isinstance(parameters, list) else parameters
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, first).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_messages_provider_message_id" in details, details
    assert "ix_messages_claim" not in details, details


@pytest.mark.postgres
def test_on_postgresql_each_receipt_looks_its_message_up_by_provider_id(
    postgres_database: Database,
) -> None:
    """PostgreSQL plans from statistics, and a campaign's are stale while it sends: taken
    when no message had a provider id yet, they make the partial provider id index look
    empty. Joined to the receipts' ``VALUES``, the old statement then hash-joined against a
    full scan of that index (every message submitted so far, at each batch). Each receipt
    now looks its message up through the index (a ``LATERAL``, ``LIMIT 1``): never a scan
    of the index, whatever the statistics."""
    database = postgres_database
    now = datetime.now(UTC)
    numbers = [fr(i) for i in range(400)]
    campaign_id = seed_campaign(database, numbers)
    prepare_campaign(database, campaign_id, FakeClock(TUESDAY_10H))
    m = t.messages
    with database.transaction() as conn:
        conn.exec_driver_sql("ANALYZE messages")  # no provider id anywhere yet
        ids = list(conn.execute(select(m.c.id).where(m.c.campaign_id == campaign_id)).scalars())
        conn.execute(
            update(m)
            .where(m.c.id == bindparam("m_id"))
            .values(status="submitted", provider_message_id=bindparam("m_pid"), submitted_at=now),
            [{"m_id": mid, "m_pid": f"p{mid}"} for mid in ids],
        )
    receipts = [
        DeliveryReceipt(f"p{mid}", ReceiptStatus.DELIVERED, None, "", now) for mid in ids[:64]
    ]
    with database.transaction() as conn:
        applied, captured = _applied_with_updates(conn, receipts, now)
        assert applied.delivered == 64
        statement, parameters = captured[0]
        statement_plan = conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
    lookups = [
        (line, following)
        for line, following in itertools.pairwise(statement_plan)
        if "ix_messages_provider_message_id" in line
    ]
    assert lookups, "\n".join(statement_plan)
    for line, following in lookups:  # each use of the index looks one provider id up
        assert "Index Cond: ((provider_message_id)::text = " in following, (line, following)
