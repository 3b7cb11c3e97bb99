"""The hosted unsubscribe page's use cases: a message's token, an account's general form.

A click on ``{public_url}/u/{token}`` finds exactly one message (:func:`find_token`); the
opt-out it records (:func:`unsubscribe_by_token`) has source ``web_form``, the person's
reason as its detail, the message's sender and is attributed to the message's campaign. The
general page (``/u/a/{account}``, :func:`unsubscribe_number`) takes a number and a reason and
records an account-wide opt-out whether or not the number is a contact: an opt-out of a
number the account never had is kept (it suppresses a later import), and answering the same
way with the same work for every number is what lets the page reveal nothing about who is
known. Both are idempotent: an active record that already covers the number is kept
(:func:`~stopsms.services.optouts.optouts.record_optout`).

A token that has not a token's shape, is unknown, or whose message's number was erased since
finds nothing (``None``): the page answers all three the same way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from stopsms.domain.unsubscribe import is_token
from stopsms.errors import InvalidInput
from stopsms.services.optouts.optouts import record_optout, to_e164
from stopsms.store import tables as t

__all__ = [
    "REASON_TEXT_LIMIT",
    "Reason",
    "TokenTarget",
    "account_brand",
    "find_token",
    "reason_detail",
    "unsubscribe_by_token",
    "unsubscribe_number",
]

#: The longest free-text reason kept (characters).
REASON_TEXT_LIMIT = 500
#: Who records the page's opt-outs (``recorded_by``).
RECORDED_BY = "web:unsubscribe-page"


class Reason(enum.Enum):
    """Why a person unsubscribes (the page's optional choice)."""

    TOO_MANY = "too_many"
    NOT_INTERESTED = "not_interested"
    NEVER_SUBSCRIBED = "never_subscribed"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class TokenTarget:
    """The message a token names: its account, campaign, number and sender."""

    message_id: int
    account: str
    brand: str
    campaign_id: int | None
    phone_e164: str
    sender: str | None


def reason_detail(reason: str | None, text: str | None) -> str:
    """The opt-out's ``detail``: ``web page``, then the chosen reason and the person's words.

    ``reason``: a :class:`Reason` value or empty; ``text``: at most
    :data:`REASON_TEXT_LIMIT` characters, control characters refused (InvalidInput names the
    field)."""
    parts = ["web page"]
    if reason:
        try:
            parts.append(f"reason: {Reason(reason).value}")
        except ValueError:
            choices = ", ".join(r.value for r in Reason)
            raise InvalidInput("reason", reason, f"one of {choices}") from None
    words = (text or "").strip()
    if words:
        if len(words) > REASON_TEXT_LIMIT:
            raise InvalidInput(
                "reason text", words[:40] + "…", f"at most {REASON_TEXT_LIMIT} characters"
            )
        if any(ord(c) < 32 and c not in "\n\r\t" for c in words):
            raise InvalidInput("reason text", words[:40], "holds a control character")
        parts.append(" ".join(words.split()))
    return "; ".join(parts)


def find_token(connection: Connection, token: str) -> TokenTarget | None:
    """The message ``token`` names (None: not a token, unknown, or its number erased)."""
    if not is_token(token):
        return None
    m, a = t.messages.c, t.accounts.c
    row = connection.execute(
        select(m.id, a.name, a.brand, m.campaign_id, m.phone_e164, m.sender)
        .select_from(t.messages.join(t.accounts, a.id == m.account_id))
        .where(m.unsubscribe_token == token)
    ).first()
    if row is None or row.phone_e164 is None:
        return None
    return TokenTarget(row.id, row.name, row.brand or row.name, *row[3:])


def unsubscribe_by_token(
    connection: Connection,
    token: str,
    *,
    reason: str | None = None,
    text: str | None = None,
    now: datetime | None = None,
) -> TokenTarget | None:
    """Opt out the number of the message ``token`` names, attributed to its campaign (None,
    nothing written: the token finds nothing). Idempotent."""
    detail = reason_detail(reason, text)  # refused before anything is read or written
    target = find_token(connection, token)
    if target is None:
        return None
    record_optout(
        connection,
        target.account,
        target.phone_e164,
        source="web_form",
        detail=detail,
        sender=target.sender,
        check_sender=False,  # the sender the message left with, allowed or not since
        campaign_id=target.campaign_id,
        recorded_by=RECORDED_BY,
        now=now,
    )
    return target


def account_brand(connection: Connection, account: str) -> str | None:
    """The brand ``account`` shows on its general page (its name when it has none); None when
    no account has that name (the general page of another name is a 404)."""
    a = t.accounts.c
    found = connection.execute(select(a.brand, a.name).where(a.name == account)).first()
    return None if found is None else (found.brand or found.name)


def unsubscribe_number(
    connection: Connection,
    account: str,
    phone: str,
    *,
    reason: str | None = None,
    text: str | None = None,
    now: datetime | None = None,
) -> str:
    """Opt ``phone`` (written any way) out of ``account``, known or not; its E.164 form.

    Raises :class:`~stopsms.domain.errors.InvalidPhoneNumber` for a number that is not one
    and :class:`InvalidInput` for a bad reason, before anything is written."""
    detail = reason_detail(reason, text)
    e164 = to_e164(phone)
    record_optout(
        connection,
        account,
        e164,
        source="web_form",
        detail=detail,
        recorded_by=RECORDED_BY,
        now=now,
    )
    return e164
