"""Campaign preparation on SQLite and PostgreSQL: recipients decided and written per second.

A 1,000,000-row file (``bench_import``'s: 940,000 distinct French mobiles, first names) is
imported with ``--list --consent`` — the tables are what a user's import leaves behind —
then 5% of the list's numbers are opted out, and the list is prepared twice, in the same
run and on the same list: by the per-recipient loop (the baseline: what PostgreSQL ran
before, ``loop=True``) and by the one entry point (``prepare_campaign``: one ``INSERT …
SELECT`` on either backend, texts composed once per distinct field values). Both on SQLite,
then both on PostgreSQL (``STOPSMS_BENCH_POSTGRES_URL``, default the test server).

    python -m bench prepare        (STOPSMS_BENCH_CONTACTS=… to change the file's size)
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bench import Rate, best_rate, report
from stopsms.clock import FakeClock
from stopsms.services.accounts import accounts, credits
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.contacts.importing import ImportOptions, import_contacts
from stopsms.store import tables as t
from stopsms.store.database import Database, open_database
from stopsms.store.phone_keys import keyer

NOW = datetime(2024, 12, 3, 9, 0, tzinfo=UTC)
CONTACTS = int(os.environ.get("STOPSMS_BENCH_CONTACTS", "1000000"))
GOAL = 150_000.0
TEXT = "Bonjour {prenom}, -20% sur toute la boutique ce week-end avec le code NOEL24"


def _populate(database: Database, source: Path) -> None:
    """The file imported with ``--list bench --consent opt-in``; 5% of its numbers opted out."""
    with database.transaction() as connection:
        accounts.update_account(
            connection, "default", AccountChanges(validated=True, shortcode="36034")
        )
        accounts.add_sender(connection, "default", "MaBoutique", now=NOW)
        credits.add_credits(connection, "default", 10**12, now=NOW)
    options = ImportOptions(list_name="bench", consent="opt-in")
    with database.transaction() as connection:
        import_contacts(connection, "default", source, options, now=NOW)
    with database.transaction() as connection:
        account_id = accounts.get_account(connection, "default").id
        c = t.contacts.c
        opted = list(
            connection.execute(
                select(c.phone_e164).where(c.account_id == account_id).order_by(c.id)
            ).scalars()
        )[::20]
        keys = keyer(connection).keys(opted)
        connection.execute(
            t.optouts.insert(),
            [
                {
                    "account_id": account_id,
                    "phone_key": key,
                    "phone_e164": number,
                    "scope": "account",
                    "sender": "",
                    "source": "import",
                    "recorded_by": "bench",
                    "recorded_at": NOW,
                }
                for key, number in zip(keys, opted, strict=True)
            ],
        )


def _campaign(database: Database) -> int:
    with database.transaction() as connection:
        created = create_campaign(
            connection,
            "default",
            list_name="bench",
            text=TEXT,
            sender="MaBoutique",
            clock=FakeClock(NOW),
        )
        return created.campaign.id


def _prepared(database: Database, backend: str, *, loop: bool) -> Rate:
    campaign_id = _campaign(database)
    summary = None

    def prepare() -> int:
        nonlocal summary
        summary = prepare_campaign(database, campaign_id, FakeClock(NOW), loop=loop)
        return summary.targeted

    how = "per-recipient loop" if loop else "prepare_campaign"
    rate = best_rate(f"{how}, {backend} ({CONTACTS:,} rows)", prepare, rounds=1)
    assert summary is not None
    load = "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    print(
        f"  ready {summary.ready:,}, excluded {summary.excluded}, parts {summary.parts:,}; {load}",
        flush=True,
    )
    return rate


def _both(database: Database, backend: str, source: Path) -> None:
    started = time.perf_counter()
    _populate(database, source)
    print(f"  {backend}: imported and opted out in {time.perf_counter() - started:.1f} s")
    baseline = _prepared(database, backend, loop=True)
    rate = _prepared(database, backend, loop=False)
    report(baseline)
    report(rate, goal=GOAL, baseline=baseline)


def main() -> None:
    from bench.bench_import import _drop_postgres, _postgres_database, _subprocess

    with tempfile.TemporaryDirectory(prefix="stopsms-bench-") as directory:
        source = Path(directory) / "contacts.csv"
        _subprocess("generate", "-", str(source), str(CONTACTS))
        database = open_database(f"sqlite:///{Path(directory) / 'bench.db'}")
        try:
            _both(database, "SQLite", source)
        finally:
            database.close()
        created = _postgres_database()
        if created is None:
            return
        database = open_database(created[0])
        try:
            _both(database, "PostgreSQL", source)
        finally:
            database.close()
            _drop_postgres(created[1])


if __name__ == "__main__":
    main()
