"""Campaign preparation: recipients decided and written to the outbox per second (issue 4).

A 1,000,000-contact list (French mobiles, first names, 90% with consent) in a fresh SQLite
file, with an opt-out registry holding 5% of the list's numbers, is prepared once
(``prepare_campaign``: on SQLite one ``INSERT … SELECT``, texts composed once per distinct
field values). The baseline, measured in the same run on a 5,000-contact list of the same
database, is the naive way: per contact, one query for the contact, one for its opt-out (by
keyed hash), ``compose()`` and one INSERT.

    python -m bench prepare        (STOPSMS_BENCH_CONTACTS=… to change the list size)
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, select

from bench import best_rate, report
from stopsms.clock import FakeClock
from stopsms.domain.compose import compose
from stopsms.services.accounts import accounts, credits
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database, open_database
from stopsms.store.phone_keys import keyer

NOW = datetime(2024, 12, 3, 9, 0, tzinfo=UTC)
CONTACTS = int(os.environ.get("STOPSMS_BENCH_CONTACTS", "1000000"))
BASELINE_CONTACTS = 5_000
GOAL = 200_000.0
TEXT = "Bonjour {prenom}, -20% sur toute la boutique ce week-end avec le code NOEL24"
NAMES = ("Marie", "Jean", "Zoë", "Amélie", "Lucas", "Léa", "Hugo", "Chloé", "Louis", "Emma")


def _stored(connection: Connection, value: datetime) -> object:
    processor = t.contacts.c.created_at.type.bind_processor(connection.dialect)
    return processor(value) if processor is not None else value


def _populate(database: Database, name: str, first: int, count: int) -> None:
    """A list of ``count`` contacts numbered from ``first``; 5% of them opted out."""
    with database.transaction() as connection:
        account_id = accounts.get_account(connection, "default").id
        list_id = connection.execute(
            t.lists.insert()
            .values(account_id=account_id, name=name, created_at=NOW)
            .returning(t.lists.c.id)
        ).scalar_one()
        at = _stored(connection, NOW)
        numbers = [f"+336{n:08d}" for n in range(first, first + count)]
        raw = connection.connection.cursor()
        raw.executemany(
            "INSERT INTO contacts (id, account_id, phone_e164, region, first_name, consent,"
            " created_at, updated_at) VALUES (?, ?, ?, 'FR', ?, ?, ?, ?)",
            [
                (
                    first + i + 1,
                    account_id,
                    number,
                    NAMES[i % len(NAMES)],
                    None if i % 10 == 9 else "opt_in",
                    at,
                    at,
                )
                for i, number in enumerate(numbers)
            ],
        )
        raw.executemany(
            "INSERT INTO list_members (list_id, contact_id) VALUES (?, ?)",
            [(list_id, first + i + 1) for i in range(count)],
        )
        opted = numbers[::20]
        keys = keyer(connection).keys(opted)
        raw.executemany(
            "INSERT INTO optouts (account_id, phone_key, phone_e164, scope, sender, source,"
            " recorded_by, recorded_at) VALUES (?, ?, ?, 'account', '', 'import', 'bench', ?)",
            [(account_id, key, number, at) for key, number in zip(keys, opted, strict=True)],
        )
        raw.close()


def _campaign(database: Database, list_name: str) -> int:
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


def _naive(database: Database, campaign_id: int, list_id: int) -> int:
    """Per contact: SELECT the contact, SELECT its opt-out by key, compose(), INSERT."""
    done = 0
    with database.transaction() as connection:
        key = keyer(connection).key
        members = (
            connection.execute(
                select(t.list_members.c.contact_id)
                .where(t.list_members.c.list_id == list_id)
                .order_by(t.list_members.c.contact_id)
            )
            .scalars()
            .all()
        )
        for contact_id in members:
            contact = connection.execute(
                select(t.contacts).where(t.contacts.c.id == contact_id)
            ).one()
            opted = connection.execute(
                select(t.optouts.c.id).where(
                    t.optouts.c.account_id == contact.account_id,
                    t.optouts.c.phone_key == key(contact.phone_e164),
                    t.optouts.c.revoked_at.is_(None),
                )
            ).first()
            values: dict[str, object] = {
                "account_id": contact.account_id,
                "campaign_id": campaign_id,
                "contact_id": contact_id,
                "phone_e164": contact.phone_e164,
                "region": contact.region,
                "sender": "MaBoutique",
                "kind": "marketing",
                "created_at": NOW,
            }
            if opted is not None or contact.consent not in ("opt_in", "customer"):
                values.update(decision="excluded", status="excluded", segments=0)
            else:
                message = compose(TEXT.replace("{prenom}", contact.first_name or ""))
                values.update(
                    text=message.text, encoding=message.encoding.value, segments=message.segments
                )
            connection.execute(t.messages.insert().values(values))
            done += 1
    return done


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stopsms-bench-") as directory:
        database = open_database(f"sqlite:///{Path(directory) / 'bench.db'}")
        with database.transaction() as connection:
            accounts.update_account(connection, "default", accounts.AccountChanges(validated=True, shortcode="36034"))
            accounts.add_sender(connection, "default", "MaBoutique", now=NOW)
            credits.add_credits(connection, "default", 10**12, now=NOW)
        _populate(database, "big", 0, CONTACTS)
        _populate(database, "small", CONTACTS, BASELINE_CONTACTS)
        small = _campaign(database, "small")
        with database.reader() as connection:
            small_list = connection.execute(
                select(t.lists.c.id).where(t.lists.c.name == "small")
            ).scalar_one()
        baseline = best_rate(
            f"naive per-contact queries ({BASELINE_CONTACTS:,})",
            lambda: _naive(database, small, small_list),
            rounds=1,
        )
        big = _campaign(database, "big")
        clock = FakeClock(NOW)
        summary = None

        def prepare() -> int:
            nonlocal summary
            summary = prepare_campaign(database, big, clock)
            return summary.targeted

        rate = best_rate(f"prepare_campaign, SQLite ({CONTACTS:,})", prepare, rounds=1)
        report(baseline)
        report(rate, goal=GOAL, baseline=baseline)
        assert summary is not None
        print(
            f"  ready {summary.ready:,}, excluded {summary.excluded}, "
            f"parts {summary.parts:,}, encodings {summary.encodings}",
            flush=True,
        )
        database.close()


if __name__ == "__main__":
    main()
