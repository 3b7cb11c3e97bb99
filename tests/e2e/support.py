"""Shared set-up of the dispatch end-to-end tests: a database, a list, a campaign, a clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from stopsms.domain.mention import MessageType
from stopsms.store.database import Database, open_database
from tests.builders import add_contacts, draft_campaign, ready_account

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
        ready_account(
            conn, now=now, senders=(SENDER,), millicredits=10_000 * 1000 * 3, brand="MaBoutique"
        )
        add_contacts(conn, "clients", [{"phone_e164": number} for number in numbers], now=now)
        return draft_campaign(
            conn, "clients", text, now=now, sender=SENDER, message_type=MessageType(kind)
        )


def later(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)
