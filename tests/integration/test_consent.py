"""The consent ledger — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, insert, select

from stopsms.errors import InvalidInput
from stopsms.services.accounts import accounts
from stopsms.services.contacts import consent
from stopsms.store import tables as t
from stopsms.store.database import Database

NOW = datetime(2024, 11, 29, 9, 0, tzinfo=UTC)
ALICE = "+33612345678"


def test_append_only_and_latest_wins(database: Database) -> None:
    with database.transaction() as conn:
        first = consent.record_consent(
            conn, "default", "06 12 34 56 78", "opt_in", source="web form", evidence="#42", now=NOW
        )
        consent.record_consent(
            conn, "default", ALICE, "withdrawn", source="phone call", now=NOW + timedelta(days=1)
        )
        history = consent.consent_history(conn, "default", ALICE)
        current = consent.current_consent(conn, "default", ALICE)
        contact = conn.execute(select(t.contacts)).mappings().one()
    assert [c.kind for c in history] == ["opt_in", "withdrawn"]
    assert history[0] == first
    assert first.recorded_at == NOW
    assert current is not None
    assert not current.allows_marketing
    assert (contact["consent"], contact["consent_at"]) == ("withdrawn", NOW + timedelta(days=1))
    assert contact["region"] == "FR"


@pytest.mark.parametrize(("kind", "source"), [("maybe", "web"), ("opt_in", " ")])
def test_refuses_bad_entries(database: Database, kind: str, source: str) -> None:
    with database.transaction() as conn, pytest.raises(InvalidInput):
        consent.record_consent(conn, "default", ALICE, kind, source=source)


def test_marketing_kinds() -> None:
    assert consent.allows_marketing("opt_in")
    assert consent.allows_marketing("customer")
    assert not consent.allows_marketing("withdrawn")
    assert not consent.allows_marketing(None)


def _contacts(conn: Connection, account_id: int, count: int) -> list[int]:
    rows = [
        {
            "account_id": account_id,
            "phone_e164": f"+336{n:08d}",
            "region": "FR",
            "created_at": NOW,
            "updated_at": NOW,
        }
        for n in range(count)
    ]
    # Direct insert, not tests.builders: contacts with no consent ledger rows yet, so the
    # ledger counts asserted below are the service's alone.
    conn.execute(insert(t.contacts), rows)
    return list(
        conn.execute(select(t.contacts.c.id).where(t.contacts.c.account_id == account_id)).scalars()
    )


def test_bulk_by_ids_and_by_select(database: Database) -> None:
    with database.transaction() as conn:
        other = accounts.create_account(conn, "other")
        mine = _contacts(conn, 1, 1000)
        theirs = _contacts(conn, other.id, 3)
        count = consent.record_consents(
            conn, "default", [*mine, *theirs, mine[0]], "customer", source="crm", now=NOW
        )
        assert count == 1000  # duplicates once; other account's contacts untouched
        query = select(t.contacts.c.id).where(t.contacts.c.id.in_(mine[:10]))
        assert consent.record_consents(conn, "default", query, "opt_in", source="form") == 10
        kinds = {
            row.id: row.consent
            for row in conn.execute(select(t.contacts.c.id, t.contacts.c.consent))
        }
        ledger = conn.execute(select(t.consents.c.account_id)).scalars().all()
    assert [kinds[i] for i in mine[:11]] == ["opt_in"] * 10 + ["customer"]
    assert all(kinds[i] is None for i in theirs)
    assert len(ledger) == 1010
    assert set(ledger) == {1}
