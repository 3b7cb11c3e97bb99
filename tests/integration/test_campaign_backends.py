"""SQLite and PostgreSQL decide and report the same campaign from the same file.

Each backend prepares its own way (SQLite: one ``INSERT … SELECT`` or the per-recipient
loop; PostgreSQL: the same ``INSERT … SELECT`` with its parents held, or the loop by
``COPY``) and counts a report its own way (``campaign_finals`` kept by row triggers on
SQLite, by statement triggers folded on PostgreSQL). The same journey — a file imported with
``--list --consent``, opt-outs, a withdrawn consent, a campaign prepared then half cancelled —
is run on both, and every decision written and every figure of the report is compared
(by number: the ids a sequence hands out are not the same on both).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from stopsms.clock import FakeClock
from stopsms.domain.mention import MessageType
from stopsms.services.campaigns import preparation_sets
from stopsms.services.campaigns.campaigns import cancel_campaign, create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.campaigns.reports import campaign_report
from stopsms.services.contacts.importing import ImportOptions, import_contacts
from stopsms.services.optouts import optouts
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.builders import ready_account

from .test_contact_import_columnar import _generated
from .test_preparation import NOW

pytestmark = pytest.mark.postgres

#: Rows every run needs beside the generated ones: opted out, withdrawn, abroad, and a first
#: name of five parts (the campaign allows four).
_EXTRA = (
    "0799999991;Stop;;;;\n"
    "0799999992;Retiré;;;;\n"
    "+32470123456;Belge;;;;\n"
    "+447911123456;Brit;;;;\n"
    f"0799999993;{'L' * 700};;;;\n"
)


def _journey(database: Database, tmp_path: Path, *, balance: int, loop: bool) -> dict[str, Any]:
    """Import, opt out, withdraw, prepare, cancel what waits past the first half; what was
    decided (by number) and the report's figures after preparation and after the cancel."""
    tmp_path.mkdir()
    path = tmp_path / "contacts.csv"
    path.write_text(_generated(400, seed=11) + _EXTRA, encoding="utf-8")
    clock = FakeClock(NOW)
    with database.transaction() as conn:
        ready_account(conn, now=NOW, domains=("example.fr",), millicredits=balance)
        import_contacts(
            conn,
            "default",
            path,
            ImportOptions(list_name="vip", consent="opt-in", consent_source="web"),
            now=NOW,
        )
        optouts.record_optout(conn, "default", "+33799999991", source="manual", now=NOW)
        conn.execute(
            update(t.contacts)
            .where(t.contacts.c.phone_e164 == "+33799999992")
            .values(consent="withdrawn")
        )
        campaign = create_campaign(
            conn,
            "default",
            list_name="vip",
            text="Bonjour {prenom}, -20% sur example.fr/promo",
            sender="MaBoutique",
            clock=clock,
            message_type=MessageType.MARKETING,
        ).campaign
    summary = prepare_campaign(
        database, campaign.id, clock, allow_partial=True, loop=loop, max_parts=4
    )
    m = t.messages.c
    with database.reader() as conn:
        decided = [
            tuple(row)
            for row in conn.execute(
                select(
                    m.phone_e164,
                    m.region,
                    m.decision,
                    m.reason,
                    m.text,
                    m.encoding,
                    m.segments,
                    m.price_millicredits,
                    m.status,
                ).where(m.campaign_id == campaign.id)
            )
        ]
        prepared = _figures(campaign_report(conn, "default", campaign.id))
    with database.transaction() as conn:
        cancel_campaign(conn, "default", campaign.id, clock)
        cancelled = _figures(campaign_report(conn, "default", campaign.id))
    return {
        "summary": (summary.targeted, summary.ready, summary.excluded, summary.parts),
        "credits": summary.credits_millicredits,
        "decided": sorted(decided, key=lambda row: (str(row[0]), str(row[3]))),
        "prepared": prepared,
        "cancelled": cancelled,
    }


def _figures(report: Any) -> dict[str, Any]:
    """Every field of a report but the campaign itself (its ids and times are the backend's)."""
    figures = dataclasses.asdict(report)
    figures.pop("campaign")
    return figures


@pytest.mark.parametrize("loop", [False, True], ids=["set-based", "loop"])
@pytest.mark.parametrize("balance", [1_000_000, 20_000], ids=["paid", "short"])
def test_both_backends_decide_and_report_the_same(
    sqlite_database: Database,
    postgres_database: Database,
    tmp_path: Path,
    balance: int,
    loop: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_based: list[str] = []
    insert_decided = preparation_sets._insert_decided

    def spy(raw: Any, *args: Any, **kwargs: Any) -> None:
        set_based.append(type(raw.raw).__module__.split(".")[0])  # the driver's package
        insert_decided(raw, *args, **kwargs)

    monkeypatch.setattr(preparation_sets, "_insert_decided", spy)
    on_sqlite = _journey(sqlite_database, tmp_path / "sqlite", balance=balance, loop=loop)
    on_postgres = _journey(postgres_database, tmp_path / "postgresql", balance=balance, loop=loop)
    targeted, ready, excluded, _ = on_postgres["summary"]
    assert ready > 0
    assert targeted > ready
    assert {"opted_out", "no_consent", "too_long"} <= set(excluded)
    assert ("insufficient_credit" in excluded) is (balance < 1_000_000)
    assert on_postgres["prepared"]["waiting"] == ready
    assert on_postgres["cancelled"]["cancelled"] == ready
    assert on_postgres["cancelled"]["waiting"] == 0
    # Both paths ran where they should: set-based when credits pay everyone, else the loop.
    expected = [] if loop or balance < 1_000_000 else ["sqlite3", "psycopg"]
    assert set_based == expected
    assert on_postgres == on_sqlite
