"""Shared set-up of the dispatch end-to-end tests: a database, a list, a campaign, a clock."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from stopsms.clock import FakeClock
from stopsms.domain.mention import MessageType
from stopsms.services.accounts import accounts, credits
from stopsms.services.accounts.accounts import AccountChanges, get_account
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database, open_database

#: Tuesday 24 November 2026, 10:00 in Paris: inside the sending window.
TUESDAY_10H = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SENDER = "MaBoutique"


def fr(n: int) -> str:
    """A valid French mobile number."""
    return f"+3361{n:07d}"


class ShiftedClock:
    """Real time, shifted to start at ``start``: real sleeps, a chosen calendar day."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def database(url: str) -> Database:
    """Open the test's database (``database_url``, tests/e2e/conftest.py) as a command does."""
    return open_database(url)


def seed_campaign(
    db: Database,
    numbers: list[str],
    *,
    now: datetime = TUESDAY_10H,
    text: str = "Black Friday: -20% sur tout le magasin",
    kind: str = "marketing",
) -> int:
    """A validated account with a sender and credits, a list of ``numbers`` (consent given)
    and a draft campaign to it; returns the campaign id."""
    with db.transaction() as conn:
        accounts.update_account(
            conn, "default", AccountChanges(validated=True, shortcode="36034", brand="MaBoutique")
        )
        accounts.add_sender(conn, "default", SENDER, now=now)
        credits.add_credits(conn, "default", 10_000 * 1000 * 3, now=now)
        account = get_account(conn, "default")
        # Direct inserts, not tests.builders.add_contacts: cheaper for the engine's tests.
        # (They were once blamed for test_dispatch_link_faults sending every message; the
        # cause was that test's fake provider reading its call counter late, fixed in 0bbaeaa.)
        list_id = conn.execute(
            insert(t.lists)
            .values(account_id=account.id, name="clients", created_at=now)
            .returning(t.lists.c.id)
        ).scalar_one()
        contact_rows = [
            {
                "account_id": account.id,
                "phone_e164": number,
                "region": "FR",
                "consent": "opt_in",
                "created_at": now,
                "updated_at": now,
            }
            for number in numbers
        ]
        ids = conn.execute(insert(t.contacts).returning(t.contacts.c.id), contact_rows)
        conn.execute(
            insert(t.list_members),
            [{"list_id": list_id, "contact_id": cid} for cid in ids.scalars().all()],
        )
        created = create_campaign(
            conn,
            "default",
            list_name="clients",
            text=text,
            sender=SENDER,
            clock=FakeClock(now),
            message_type=MessageType(kind),
        )
        return created.campaign.id


def stop_processes(processes: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    """SIGTERM each process still running, wait for it (``timeout``), SIGKILL it if stuck."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def later(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)
