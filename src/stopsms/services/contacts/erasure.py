"""Erasure (GDPR art. 17): forget a person, keep honouring their STOP.

``erase_contact(account, phone)`` removes, in one transaction and within the account only:

- the contact's personal data (number, names, email, company, custom fields) — the row stays
  as a tombstone (``erased_at``) so consent entries keep their foreign key, and it leaves its
  lists;
- consent evidence texts (kind, source and time stay: they prove what was done, not who);
- the number and text of its messages and inbound messages (status, parts and price stay for
  reports and the credit ledger); messages still waiting to leave are cancelled
  (reason ``erased``);
- the number and free text (inbound STOP text, form reason) of its opt-out records.

What stays is the keyed hash of the number in the opt-out registry: an erased person who said
STOP is still never messaged, even if a later import brings the number back. An erasure request
is also an objection, so by default (``suppress=True``) the number is opted out (source
``manual``) before being forgotten, if it was not already.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select, update

from stopsms.errors import NotFound
from stopsms.services.accounts.accounts import Account, AccountRef, get_account
from stopsms.services.optouts.optouts import record_optout, to_e164
from stopsms.store import tables as t
from stopsms.store.phone_keys import keyer

__all__ = ["Erasure", "erase_contact"]

#: Outbox states of messages that have not left yet (cancelled on erasure).
_WAITING = ("pending", "held", "claimed")


@dataclass(frozen=True, slots=True)
class Erasure:
    """What :func:`erase_contact` changed."""

    phone_e164: str
    contacts: int
    consents: int
    messages: int
    cancelled: int
    inbound: int
    optouts: int
    suppressed: bool


def erase_contact(
    connection: Connection,
    account: AccountRef,
    phone: str,
    *,
    by: str = "system",
    suppress: bool = True,
    now: datetime | None = None,
) -> Erasure:
    """Erase every personal trace of ``phone`` in ``account`` (see the module doc)."""
    acc = account if isinstance(account, Account) else get_account(connection, account)
    e164 = to_e164(phone)
    at = now or datetime.now(UTC)
    key = keyer(connection).key(e164)
    known = any(
        connection.execute(select(table.c.account_id).where(*where).limit(1)).first()
        for table, where in (
            (t.contacts, (t.contacts.c.account_id == acc.id, t.contacts.c.phone_e164 == e164)),
            (t.optouts, (t.optouts.c.account_id == acc.id, t.optouts.c.phone_key == key)),
            (t.messages, (t.messages.c.account_id == acc.id, t.messages.c.phone_e164 == e164)),
            (
                t.inbound_messages,
                (
                    t.inbound_messages.c.account_id == acc.id,
                    t.inbound_messages.c.sender_e164 == e164,
                ),
            ),
        )
    )
    if not known:
        raise NotFound("contact", e164)
    if suppress:
        record_optout(
            connection,
            acc,
            e164,
            source="manual",
            detail="erasure request",
            recorded_by=by,
            now=at,
        )

    contact = t.contacts.c
    contact_ids = list(
        connection.execute(
            select(contact.id).where(contact.account_id == acc.id, contact.phone_e164 == e164)
        ).scalars()
    )
    consents = 0
    if contact_ids:
        connection.execute(
            delete(t.list_members).where(t.list_members.c.contact_id.in_(contact_ids))
        )
        consents = connection.execute(
            update(t.consents)
            .where(t.consents.c.account_id == acc.id, t.consents.c.contact_id.in_(contact_ids))
            .values(evidence=None)
        ).rowcount
        connection.execute(
            update(t.contacts)
            .where(contact.id.in_(contact_ids))
            .values(
                phone_e164=None,
                first_name=None,
                last_name=None,
                email=None,
                company=None,
                custom=None,
                erased_at=at,
                updated_at=at,
            )
        )

    message = t.messages.c
    mine = (message.account_id == acc.id, message.phone_e164 == e164)
    cancelled = connection.execute(
        update(t.messages)
        .where(*mine, message.status.in_(_WAITING))
        .values(status="cancelled", reason="erased")
    ).rowcount
    messages = connection.execute(
        update(t.messages).where(*mine).values(phone_e164=None, text=None)
    ).rowcount

    inbound = t.inbound_messages.c
    inbound_count = connection.execute(
        update(t.inbound_messages)
        .where(inbound.account_id == acc.id, inbound.sender_e164 == e164)
        .values(sender_e164=None, text=None)
    ).rowcount

    optout = t.optouts.c
    optouts = connection.execute(
        update(t.optouts)
        .where(optout.account_id == acc.id, optout.phone_key == key)
        .values(phone_e164=None)
    ).rowcount
    connection.execute(
        update(t.optouts)
        .where(
            optout.account_id == acc.id,
            optout.phone_key == key,
            optout.source.in_(("keyword", "web_form")),
        )
        .values(detail=None)
    )
    return Erasure(
        phone_e164=e164,
        contacts=len(contact_ids),
        consents=consents,
        messages=messages,
        cancelled=cancelled,
        inbound=inbound_count,
        optouts=optouts,
        suppressed=suppress,
    )
