"""Contacts found: by number (whatever format it is written in), by id, by name; a
contact's lists and messages (what its page in the customer area shows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, or_, select

from stopsms.errors import NotFound
from stopsms.services.accounts.accounts import AccountRef, resolve_account
from stopsms.services.contacts.contacts import _C, Contact, _contact, _selection
from stopsms.services.optouts.optouts import to_e164
from stopsms.store import tables as t

__all__ = [
    "SEARCH_LIMIT",
    "SentMessage",
    "contact_by_id",
    "contact_list_names",
    "contact_messages",
    "find_contact",
    "search_contacts",
]


def find_contact(connection: Connection, account: AccountRef, phone: str) -> Contact | None:
    """The account's (non-erased) contact of ``phone`` (any format, read as E.164; an
    unreadable number raises with the reason), or None."""
    acc = resolve_account(connection, account)
    query = _selection(connection, acc, None).where(_C.phone_e164 == to_e164(phone))
    row = connection.execute(query).mappings().first()
    return None if row is None else _contact(row)


#: The most contacts a search returns (the page shows them all; narrow the words for more).
SEARCH_LIMIT = 50


def search_contacts(
    connection: Connection, account: AccountRef, words: str, *, limit: int = SEARCH_LIMIT
) -> list[Contact]:
    """The account's contacts matching ``words``: the one of that number when ``words`` reads
    as a phone number (any format), else those whose first name, last name or company holds
    every word (case-insensitive), by last and first name.

    The name search scans the account's contacts (no index serves a substring): a search is
    one person's click, not a hot path; the number search is one indexed read.
    """
    acc = resolve_account(connection, account)
    words = " ".join(words.split())[:100]
    if not words:
        return []
    digits = sum(ch.isdigit() for ch in words)
    if digits >= 6 and not any(ch.isalpha() for ch in words):
        found = find_contact(connection, acc, words)
        return [] if found is None else [found]
    query = _selection(connection, acc, None)
    for word in words.lower().split()[:5]:
        query = query.where(
            or_(
                func.lower(func.coalesce(_C.first_name, "")).contains(word, autoescape=True),
                func.lower(func.coalesce(_C.last_name, "")).contains(word, autoescape=True),
                func.lower(func.coalesce(_C.company, "")).contains(word, autoescape=True),
            )
        )
    query = query.order_by(_C.last_name, _C.first_name, _C.id).limit(limit)
    return [_contact(row) for row in connection.execute(query).mappings()]


def contact_by_id(connection: Connection, account: AccountRef, contact_id: int) -> Contact:
    """The account's (non-erased) contact ``contact_id``; another account's, or an erased one,
    is not found, the same as one that never existed."""
    acc = resolve_account(connection, account)
    query = _selection(connection, acc, None).where(_C.id == contact_id)
    row = connection.execute(query).mappings().first()
    if row is None:
        raise NotFound("contact", contact_id)
    return _contact(row)


def contact_list_names(connection: Connection, contact_id: int) -> list[str]:
    """The names of the lists ``contact_id`` is a member of, by name."""
    m = t.list_members.c
    query = (
        select(t.lists.c.name)
        .join(t.list_members, m.list_id == t.lists.c.id)
        .where(m.contact_id == contact_id)
        .order_by(t.lists.c.name)
    )
    return list(connection.scalars(query))


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message to a contact, as its page lists it."""

    id: int
    campaign_id: int | None
    status: str
    reason: str | None
    text: str | None
    created_at: datetime
    delivered_at: datetime | None


def contact_messages(
    connection: Connection, account: AccountRef, phone_e164: str, *, limit: int = 50
) -> list[SentMessage]:
    """The account's ``limit`` newest messages to ``phone_e164`` with their status (one read
    on the messages' ``(account_id, phone_e164, id)`` index)."""
    acc = resolve_account(connection, account)
    m = t.messages.c
    query = (
        select(m.id, m.campaign_id, m.status, m.reason, m.text, m.created_at, m.delivered_at)
        .where(m.account_id == acc.id, m.phone_e164 == phone_e164)
        .order_by(m.id.desc())
        .limit(limit)
    )
    return [SentMessage(*row) for row in connection.execute(query)]
