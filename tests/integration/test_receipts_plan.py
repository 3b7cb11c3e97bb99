"""Applying a receipt finds its message by provider id, never by scanning the outbox."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from stopsms.inbound.receipts import apply_receipts
from stopsms.providers.base import DeliveryReceipt, ReceiptStatus
from stopsms.store.database import Database


def test_the_receipt_update_searches_the_provider_id_index(sqlite_database: Database) -> None:
    """SQLite plans without statistics (PostgreSQL plans from its own), so SQLite is where a
    misleading index choice can happen."""
    database = sqlite_database
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            captured.append((statement, parameters))

    with database.transaction() as conn:
        event.listen(conn, "before_cursor_execute", capture)
        try:
            now = datetime.now(UTC)
            apply_receipts(
                conn, [DeliveryReceipt("abc", ReceiptStatus.DELIVERED, None, "", now)], now
            )
        finally:
            event.remove(conn, "before_cursor_execute", capture)
        statement, parameters = captured[0]
        first = parameters[0] if isinstance(parameters, list) else parameters
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, first).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_messages_provider_message_id" in details, details
    assert "ix_messages_claim" not in details, details
