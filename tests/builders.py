"""Test data built through the services, the way a user's commands build it.

A builder calls the same service functions as the CLI (``accounts``, ``credits``, contact
import, ``create_campaign``), so the data a test starts from is data the product can hold:
contacts are normalised and deduplicated by the importer, their consent is recorded in the
ledger, a campaign is validated when it is created. Every builder takes the caller's
connection (composable inside one transaction) and an explicit ``now``.

Tests still insert rows directly where they need a state the services refuse or never
write by themselves — an invalid stored number, a contact without consent, a setting an
old database may hold, a message or campaign in a given status — and say why beside the
insert.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from stopsms.clock import FakeClock
from stopsms.domain.mention import MessageType
from stopsms.services.accounts import accounts, credits
from stopsms.services.accounts.accounts import Account, AccountChanges, AccountRef
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.contacts.contacts import ensure_list
from stopsms.services.contacts.importing import ImportOptions, import_contacts

__all__ = ["add_contacts", "draft_campaign", "ready_account"]

#: The standard contact fields a person's mapping may give, besides ``phone_e164``.
_FIELDS = ("first_name", "last_name", "email", "company")


def ready_account(
    connection: Connection,
    account: AccountRef = "default",
    *,
    now: datetime,
    senders: Iterable[str] = ("MaBoutique",),
    domains: Iterable[str] = (),
    millicredits: int = 1_000_000,
    **settings: Any,
) -> Account:
    """Validate ``account`` (shortcode 36034 unless given), add its senders, domains and
    credits; ``settings`` are further :class:`~stopsms.services.accounts.accounts.AccountChanges`
    fields (``brand=…``)."""
    acc = accounts.update_account(
        connection,
        account,
        AccountChanges.from_fields({"validated": True, "shortcode": "36034", **settings}),
    )
    for sender in senders:
        accounts.add_sender(connection, acc, sender, now=now)
    for domain in domains:
        accounts.add_domain(connection, acc, domain, now=now)
    if millicredits:
        credits.add_credits(connection, acc, millicredits, now=now)
    return accounts.get_account(connection, acc)


def add_contacts(
    connection: Connection,
    list_name: str,
    people: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    account: AccountRef = "default",
    consent: str | None = "opt_in",
) -> int:
    """Import ``people`` into list ``list_name`` of ``account``, as ``stopsms contacts
    import`` does; returns the list's id.

    Each person is a mapping with ``phone_e164`` and any of ``first_name``, ``last_name``,
    ``email``, ``company``, ``custom`` (a mapping of custom fields) and ``consent`` (the
    import's ``--consent``: ``opt_in``, ``customer`` or ``None`` for none recorded; default
    ``consent``). People are imported in their order, one file per run of equal consents.
    The importer refuses what a file could not hold (an invalid number is a rejected row, a
    withdrawn consent comes only from an opt-out): for such states, insert rows directly."""
    rows = [dict(person) for person in people]
    runs: list[tuple[str | None, list[dict[str, Any]]]] = []
    for row in rows:
        wanted = row.get("consent", consent)
        if runs and runs[-1][0] == wanted:
            runs[-1][1].append(row)
        else:
            runs.append((wanted, [row]))
    with tempfile.TemporaryDirectory(prefix="stopsms-builder-") as folder:
        for number, (wanted, run) in enumerate(runs):
            path = Path(folder) / f"contacts-{number}.csv"
            header = _write_csv(path, run)
            options = ImportOptions(
                list_name=list_name,
                consent=wanted,
                consent_source="tests.builders" if wanted else None,
                overrides={name: name for name in header},
                delimiter=";",
                encoding="utf-8",
            )
            summary = import_contacts(connection, account, path, options, now=now)
            assert summary.rejected == 0, summary.rejected_by_reason
    return ensure_list(connection, account, list_name, now=now)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> list[str]:
    """Write ``rows`` as a ``;`` CSV file with a header; returns the header."""
    custom_keys = sorted({key for row in rows for key in (row.get("custom") or {})})
    header = ["phone", *_FIELDS, *custom_keys]
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter=";")
        writer.writerow(header)
        for row in rows:
            custom = row.get("custom") or {}
            writer.writerow(
                [
                    row["phone_e164"],
                    *(row.get(name) or "" for name in _FIELDS),
                    *(custom.get(key, "") for key in custom_keys),
                ]
            )
    return header


def draft_campaign(
    connection: Connection,
    list_name: str,
    text: str,
    *,
    now: datetime,
    sender: str = "MaBoutique",
    account: AccountRef = "default",
    message_type: MessageType = MessageType.MARKETING,
) -> int:
    """A draft campaign of ``account`` to ``list_name``; returns its id."""
    created = create_campaign(
        connection,
        account,
        list_name=list_name,
        text=text,
        sender=sender,
        clock=FakeClock(now),
        message_type=message_type,
    )
    return created.campaign.id


def tuesday_ahead(at: time) -> datetime:
    """The next Tuesday at least two days from now (the real clock), at ``at`` in Paris, as a
    naive local time: a date a page schedules for, within the year's horizon whatever the day
    the suite runs (marketing waits on a Tuesday at 22:30, goes at 10:00)."""
    today = datetime.now(ZoneInfo("Europe/Paris")).date() + timedelta(days=2)
    day = today + timedelta(days=(1 - today.weekday()) % 7)
    return datetime.combine(day, at)
