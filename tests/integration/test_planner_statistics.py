"""Every bulk write on PostgreSQL leaves the planner informed: ``ANALYZE`` of what it wrote.

PostgreSQL's ``pg_class.reltuples`` is what the planner believes a table holds; ``ANALYZE``
of a small table reads it whole, so right after a bulk write it equals the row count.
The threshold (:data:`stopsms.store.statistics.BULK_ROWS`) is lowered to 1: the suite stays
small, the path is the one a million rows take.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from stopsms.clock import FakeClock
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.contacts.importing import ImportOptions, import_contacts
from stopsms.services.optouts import files as optout_files
from stopsms.store import statistics
from stopsms.store.database import Database
from tests.builders import draft_campaign, ready_account

pytestmark = pytest.mark.postgres

NOW = datetime(2024, 12, 3, 9, 0, tzinfo=UTC)


def _believed(connection: Connection, table: str) -> float:
    query = text("SELECT reltuples FROM pg_class WHERE relname = :t AND relkind = 'r'")
    return float(connection.execute(query, {"t": table}).scalar_one())


def _count(connection: Connection, table: str) -> int:
    return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


# Different sizes: ANALYZE's update of pg_class outlives the test's rollback.
@pytest.mark.parametrize(("row_path", "size"), [(False, 37), (True, 41)], ids=["columnar", "rows"])
def test_import_preparation_and_blacklist_analyze_what_they_wrote(
    postgres_database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    row_path: bool,
    size: int,
) -> None:
    monkeypatch.setattr(statistics, "BULK_ROWS", 1)
    contacts = tmp_path / "clients.csv"
    contacts.write_text(
        "Mobile;Prénom\n" + "".join(f"06123456{i:02d};P{i}\n" for i in range(size)),
        encoding="utf-8",
    )
    blacklist = tmp_path / "stop.csv"
    blacklist.write_text("".join(f"06123456{i:02d}\n" for i in range(0, size, 4)), encoding="utf-8")
    with postgres_database.transaction() as conn:
        ready_account(conn, now=NOW)
        options = ImportOptions(list_name="vip", consent="opt-in")
        import_contacts(conn, "default", contacts, options, now=NOW, row_path=row_path)
        for table in ("contacts", "consents", "list_members"):
            assert _believed(conn, table) == _count(conn, table) == size, table
        optout_files.import_optouts(conn, "default", blacklist, now=NOW)
        assert _believed(conn, "optouts") == _count(conn, "optouts") == len(range(0, size, 4))
        campaign = draft_campaign(conn, "vip", "Bonjour {prenom}", now=NOW)
        prepare_campaign(conn, campaign, FakeClock(NOW))
        assert _believed(conn, "messages") == _count(conn, "messages") == size
