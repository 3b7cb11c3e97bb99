"""Campaign preparation on SQLite and PostgreSQL: recipients decided and written per second.

A 1,000,000-row file (``bench_import``'s: 940,000 distinct French mobiles, first names) is
imported with ``--list --consent`` — the tables are what a user's import leaves behind —
then 5% of the list's numbers are opted out, and the list is prepared twice, in the same
run and on the same list: by the per-recipient loop (the baseline: what PostgreSQL ran
before, ``loop=True``) and by the one entry point (``prepare_campaign``: one ``INSERT …
SELECT`` on either backend, texts composed once per distinct field values). Both on SQLite,
then both on PostgreSQL (``STOPSMS_BENCH_POSTGRES_URL``, default the test server).

Hosted unsubscribe links: the same contacts again with British numbers (no STOP shortcode
there: every ready message links to ``{public_url}/u/{token}`` and gets its own token), as a
list of the same size and opt-out share, prepared in the same run beside the French list's
figure — the cost of the tokens (on SQLite one ``INSERT … SELECT`` drawing them; on
PostgreSQL the per-recipient loop, which writes them by ``COPY``). ``STOPSMS_BENCH_HOSTED=0``
leaves it out.

    python -m bench prepare        (STOPSMS_BENCH_CONTACTS=… to change the file's size)
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

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
from stopsms.store.statistics import analyze_written

NOW = datetime(2024, 12, 3, 9, 0, tzinfo=UTC)
CONTACTS = int(os.environ.get("STOPSMS_BENCH_CONTACTS", "1000000"))
GOAL = 150_000.0
HOSTED = os.environ.get("STOPSMS_BENCH_HOSTED", "1") != "0"
PUBLIC_URL = "https://sms.shop.fr"
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
    _opt_out(database, "+33")


def _opt_out(database: Database, prefix: str) -> None:
    """Every 20th contact (by id) whose number starts with ``prefix`` opted out, the registry
    then analyzed as ``optouts import`` leaves it (``analyze_written``): left unanalyzed,
    PostgreSQL planned the preparation's opted-out set as a nested loop over 47,000 records
    (1.33 s against 0.63 s by a hash join, load 5; a user's bulk opt-outs are analyzed)."""
    with database.transaction() as connection:
        account_id = accounts.get_account(connection, "default").id
        c = t.contacts.c
        opted = list(
            connection.execute(
                select(c.phone_e164)
                .where(c.account_id == account_id, c.phone_e164.startswith(prefix))
                .order_by(c.id)
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
        analyze_written(connection, len(opted), "optouts")


def _abroad(database: Database) -> None:
    """The French contacts copied with British numbers (``+33 6…`` → ``+44 76…``) into list
    ``abroad``, consent and first names kept; 5% of them opted out."""
    with database.transaction() as connection:
        account_id = accounts.get_account(connection, "default").id
        list_id = connection.execute(
            t.lists.insert()
            .values(account_id=account_id, name="abroad", created_at=NOW)
            .returning(t.lists.c.id)
        ).scalar_one()
        connection.exec_driver_sql(
            "INSERT INTO contacts (account_id, phone_e164, region, first_name, last_name,"
            " consent, consent_at, created_at, updated_at) SELECT account_id,"
            " '+447' || substr(phone_e164, 4), 'GB', first_name, last_name, consent,"
            " consent_at, created_at, updated_at FROM contacts"
            " WHERE substr(phone_e164, 1, 3) = '+33' ORDER BY id"
        )
        connection.exec_driver_sql(
            "INSERT INTO list_members (list_id, contact_id) SELECT"
            f" {int(list_id)}, id FROM contacts WHERE substr(phone_e164, 1, 3) = '+44'"
        )
        connection.exec_driver_sql(
            "ANALYZE" if connection.dialect.name == "sqlite" else "ANALYZE contacts, list_members"
        )
    _opt_out(database, "+44")


def _campaign(database: Database, list_name: str = "bench") -> int:
    with database.transaction() as connection:
        created = create_campaign(
            connection,
            "default",
            list_name=list_name,
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
    if HOSTED:
        _hosted(database, backend, rate)


def _hosted(database: Database, backend: str, french: Rate) -> None:
    """The same list abroad: every ready message gets its own hosted-page token."""
    _abroad(database)
    campaign_id = _campaign(database, "abroad")
    summary = None

    def prepare() -> int:
        nonlocal summary
        summary = prepare_campaign(database, campaign_id, FakeClock(NOW), public_url=PUBLIC_URL)
        return summary.targeted

    rate = best_rate(f"hosted-page tokens, {backend} ({CONTACTS:,} rows)", prepare, rounds=1)
    report(rate, baseline=french)
    with database.reader() as connection:
        tokens = connection.execute(
            select(func.count(t.messages.c.unsubscribe_token)).where(
                t.messages.c.campaign_id == campaign_id
            )
        ).scalar_one()
    assert summary is not None
    load = "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    print(f"  ready {summary.ready:,}, tokens {tokens:,}, parts {summary.parts:,}; {load}")


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
