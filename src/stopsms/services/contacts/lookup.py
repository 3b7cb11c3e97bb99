"""One contact found by its number, whatever format the number is written in."""

from __future__ import annotations

from sqlalchemy import Connection

from stopsms.services.accounts.accounts import AccountRef, resolve_account
from stopsms.services.contacts.contacts import _C, Contact, _contact, _selection
from stopsms.services.optouts.optouts import to_e164

__all__ = ["find_contact"]


def find_contact(connection: Connection, account: AccountRef, phone: str) -> Contact | None:
    """The account's (non-erased) contact of ``phone`` (any format, read as E.164; an
    unreadable number raises with the reason), or None."""
    acc = resolve_account(connection, account)
    query = _selection(connection, acc, None).where(_C.phone_e164 == to_e164(phone))
    row = connection.execute(query).mappings().first()
    return None if row is None else _contact(row)
