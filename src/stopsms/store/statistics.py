"""Keeping PostgreSQL's planner informed after a bulk write.

Autovacuum analyzes a table some time after a large write commits (when a tenth of it has
changed, at its next round); until then the planner plans on the old sizes — a fresh table
looks empty — and a query that follows a bulk write at once (a preparation right after its
import, the claims of a send right after its preparation) can take a nested loop over a
million rows: 30 s per ``FETCH`` of 20,000 recipients was measured so (issue 13). So every
bulk write ``ANALYZE``\\ s what it wrote, in its own transaction (the statistics then count
its rows: PostgreSQL counts the rows the current transaction inserted as live).

``ANALYZE`` reads a fixed sample (300 × ``default_statistics_target`` = 30,000 rows),
whatever the size of the table: 0.4–0.7 s for a table of a million rows on the development
machine under load. Below :data:`BULK_ROWS` rows written, autovacuum is left to it. SQLite
is left alone: its planner needs no statistics for the indexed look-ups we write, and
``ANALYZE`` there reads every index whole (a second per million contacts).
"""

from __future__ import annotations

from sqlalchemy import Connection

__all__ = ["BULK_ROWS", "analyze_written"]

#: A write of this many rows or more is followed by ``ANALYZE`` of its tables.
BULK_ROWS = 10_000


def analyze_written(connection: Connection, written: int, *tables: str) -> bool:
    """``ANALYZE`` ``tables`` on PostgreSQL when ``written`` rows or more were just written
    (in ``connection``'s transaction); whether it did."""
    if connection.dialect.name != "postgresql" or written < BULK_ROWS:
        return False
    connection.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
    return True
