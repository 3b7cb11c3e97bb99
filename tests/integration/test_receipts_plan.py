"""Applying receipts finds their messages by provider id, never by scanning the outbox."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from stopsms.providers.base import DeliveryReceipt, ReceiptStatus
from stopsms.services.messages.receipts import apply_receipts
from stopsms.store.database import Database


@pytest.mark.parametrize("count", [1, 300])
def test_the_receipt_update_searches_the_provider_id_index(
    sqlite_database: Database, count: int
) -> None:
    """SQLite plans without statistics (PostgreSQL plans from its own), so SQLite is where a
    misleading index choice can happen. One statement per batch (``UPDATE … FROM (VALUES
    …)``): whatever the batch size, each receipt finds its row through the provider id index
    and the claim index (status, …) is not used."""
    database = sqlite_database
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if "UPDATE MESSAGES" in statement.upper():
            captured.append((statement, parameters))

    now = datetime.now(UTC)
    receipts = [
        DeliveryReceipt(f"id{i}", ReceiptStatus.DELIVERED, None, "", now) for i in range(count)
    ]
    with database.transaction() as conn:
        event.listen(conn, "before_cursor_execute", capture)
        try:
            applied = apply_receipts(conn, receipts, now)
        finally:
            event.remove(conn, "before_cursor_execute", capture)
        assert (applied.delivered, applied.ignored) == (0, count)  # no such messages
        assert len(captured) == 1  # one statement for the batch
        statement, parameters = captured[0]
        first = parameters[0] if isinstance(parameters, list) else parameters
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, first).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_messages_provider_message_id" in details, details
    assert "ix_messages_claim" not in details, details
