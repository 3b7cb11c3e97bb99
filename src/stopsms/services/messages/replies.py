"""The inbound SMS an account received (``stopsms replies list``), newest first.

Each reply as the inbound handler stored it (:mod:`stopsms.services.messages.mo`): who sent
it (None once the person is erased), to which number, its text, how it was understood (``optout``,
``optin``, ``help`` or ``other``; ``certain`` False for an opt-out read from a looser
keyword match) and the campaign it answered, if attributed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from stopsms.services.accounts.accounts import AccountRef, resolve_account
from stopsms.store import tables as t

__all__ = ["Reply", "latest_replies"]


@dataclass(frozen=True, slots=True)
class Reply:
    id: int
    received_at: datetime
    sender_e164: str | None
    recipient: str | None
    text: str | None
    intent: str  # always set by the inbound handler
    certain: bool
    campaign_id: int | None


def latest_replies(
    connection: Connection, account: AccountRef, limit: int, *, offset: int = 0
) -> list[Reply]:
    """The account's latest ``limit`` inbound SMS, newest first, after skipping ``offset``
    (the inbox's pages)."""
    acc = resolve_account(connection, account)
    i = t.inbound_messages
    rows = connection.execute(
        select(
            i.c.id,
            i.c.received_at,
            i.c.sender_e164,
            i.c.recipient,
            i.c.text,
            i.c.intent,
            i.c.certain,
            i.c.campaign_id,
        )
        .where(i.c.account_id == acc.id)
        .order_by(i.c.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [Reply(**row._mapping) for row in rows]
