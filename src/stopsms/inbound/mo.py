"""Mobile-originated messages: classify, opt out, confirm, attribute, store — in one go.

:func:`handle_mo` runs inside the caller's transaction (the group commit of
:mod:`stopsms.inbound.handler`); the provider acknowledges the MO only after that commits, so
a STOP is never acknowledged and then lost.

Decisions:

- **Which account.** The account of the most recent message that left for that number from a
  sender, or an account shortcode, equal to the MO's recipient (a reply goes back to where
  the message came from); else the account whose shortcode is the recipient (the lowest id
  when several share it); else the default account. "Left" includes ``submitting``: a STOP
  can race the record of the submit it answers.
- **Opt-out** (certain or not — "when in doubt, opt out"; uncertain ones are flagged for
  review): recorded in the account's scope; with ``sender`` scope, the sender is that of the
  last message to the number (else the MO's recipient). Attributed to the campaign of the most
  recent campaign message sent to the number (rule 3). A mandatory confirmation SMS is queued
  (kind ``confirmation``, informative, priority 0, never held, priced one part), only when the
  opt-out is new: a second STOP gets no second confirmation.
- **Opt-in** (START…): the person's own SMS is the evidence of the request (rule 5); the
  account's active opt-outs of the number (the sender's only, in sender scope) are revoked
  with that evidence. No SMS is sent back. Consent is not changed: opting back in lifts the
  suppression, it does not invent consent for marketing.
- **Help and other replies** are stored (and listed by ``stopsms replies list``).
- A sender that is not a valid phone number is stored as received, nothing else is done
  (there is no number to opt out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Connection, insert, or_, select

from stopsms.domain.campaign import MessageStatus
from stopsms.domain.errors import InvalidPhoneNumber
from stopsms.domain.keywords import Classification, Classifier, Intent
from stopsms.domain.phone import describe, normalise
from stopsms.domain.text import measure
from stopsms.providers.base import InboundMessage
from stopsms.services.accounts import Account, get_account, get_account_by_id, price_table
from stopsms.services.errors import NotFound
from stopsms.services.optouts import record_optout, resubscribe
from stopsms.store import tables as t

__all__ = [
    "MoOutcome",
    "classify_for",
    "handle_many",
    "handle_mo",
    "resolve_account",
    "sender_e164",
]

_M = t.messages
#: Statuses of messages that left (or may have): what "sent to that number" means.
_SENT = tuple(
    s.value
    for s in (
        MessageStatus.SUBMITTING,
        MessageStatus.SUBMITTED,
        MessageStatus.DELIVERED,
        MessageStatus.FAILED,
        MessageStatus.UNKNOWN,
    )
)
_INTENT_COLUMN = {
    Intent.OPT_OUT: "optout",
    Intent.OPT_IN: "optin",
    Intent.HELP: "help",
    Intent.OTHER: "other",
}
CONFIRMATION_PRIORITY = 0


@dataclass(frozen=True, slots=True)
class MoOutcome:
    """What handling one MO did (the inbound handler updates its gate from it)."""

    inbound_id: int
    account_id: int
    phone: str | None  # E.164, None when the sender is not a phone number
    intent: Intent
    certain: bool
    optout_id: int | None = None
    optout_created: bool = False
    optout_sender: str = ""  # '' for an account-wide opt-out
    campaign_id: int | None = None
    confirmation_id: int | None = None
    resubscribed: bool = False


def sender_e164(raw: str) -> str | None:
    """The MO sender as E.164: SMPP gives ``+336…`` (international TON) or bare digits."""
    raw = raw.strip()
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if raw.isdigit():
        try:  # international digits without "+": the usual SMPP form (memoised look-up)
            return describe("+" + raw).e164
        except InvalidPhoneNumber:
            return normalise(raw)  # a national number ("06…")
    if raw.startswith("+"):
        try:
            return describe(raw).e164
        except InvalidPhoneNumber:
            return normalise(raw)
    return None


def _cache(conn: Connection) -> dict[object, object]:
    """A cache living as long as the current transaction: a group-committed batch of MOs
    reads each account, its keywords and prices once, and never sees stale ones later."""
    transaction = conn.get_transaction()
    holder = conn.info.get("stopsms.mo_cache")
    if not isinstance(holder, tuple) or holder[0] is not transaction:
        holder = (transaction, {})
        conn.info["stopsms.mo_cache"] = holder
    cache: dict[object, object] = holder[1]
    return cache


def _account_by_id(conn: Connection, account_id: int) -> Account:
    cache = _cache(conn)
    key = ("account", account_id)
    found = cache.get(key)
    if not isinstance(found, Account):
        found = get_account_by_id(conn, account_id)
        cache[key] = found
    return found


def _account_ids(conn: Connection) -> list[int]:
    cache = _cache(conn)
    found = cache.get("account_ids")
    if not isinstance(found, list):
        found = list(conn.execute(select(t.accounts.c.id)).scalars())
        cache["account_ids"] = found
    return found


def _price(conn: Connection, account: Account, region: str) -> int:
    cache = _cache(conn)
    key = ("price", account.id, region)
    found = cache.get(key)
    if not isinstance(found, int):
        found = price_table(conn, account).per_part(region)
        cache[key] = found
    return found


@lru_cache(maxsize=256)
def _classifier(extra: tuple[tuple[str, str], ...]) -> Classifier:
    return Classifier(
        extra_opt_out=[k for k, intent in extra if intent == "optout"],
        extra_opt_in=[k for k, intent in extra if intent == "optin"],
        extra_help=[k for k, intent in extra if intent == "help"],
    )


def classify_for(conn: Connection, account_id: int, text: str) -> Classification:
    """Classify with the account's own keywords added to the built-in ones."""
    cache = _cache(conn)
    key = ("classifier", account_id)
    classifier = cache.get(key)
    if not isinstance(classifier, Classifier):
        k = t.account_keywords
        rows = conn.execute(
            select(k.c.keyword, k.c.intent)
            .where(k.c.account_id == account_id)
            .order_by(k.c.keyword)
        ).all()
        classifier = _classifier(tuple((row.keyword, row.intent) for row in rows))
        cache[key] = classifier
    return classifier.classify(text)


def _recipients(recipient: str) -> tuple[str, ...]:
    bare = recipient.strip()
    return tuple({bare, bare.removeprefix("+")})


def resolve_account(conn: Connection, phone: str | None, recipient: str) -> Account:
    """The account an MO belongs to (see the module doc for the order of the rules)."""
    a = t.accounts
    names = _recipients(recipient)
    if phone is not None:
        account_ids = _account_ids(conn)
        row = conn.execute(
            select(_M.c.account_id)
            .select_from(_M.join(a, a.c.id == _M.c.account_id))
            .where(
                _M.c.account_id.in_(account_ids),  # lets the (account, phone, id) index serve
                _M.c.phone_e164 == phone,
                _M.c.status.in_(_SENT),
                or_(_M.c.sender.in_(names), a.c.shortcode.in_(names)),
            )
            .order_by(_M.c.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            return _account_by_id(conn, row.account_id)
    owner = conn.execute(
        select(a.c.id).where(a.c.shortcode.in_(names)).order_by(a.c.id).limit(1)
    ).scalar_one_or_none()
    if owner is not None:
        return _account_by_id(conn, owner)
    return get_account(conn, t.DEFAULT_ACCOUNT)


def _last_sent(
    conn: Connection, account_id: int, phone: str, *, campaign_only: bool
) -> tuple[str | None, int | None] | None:
    where = [_M.c.account_id == account_id, _M.c.phone_e164 == phone, _M.c.status.in_(_SENT)]
    if campaign_only:
        where.append(_M.c.campaign_id.is_not(None))
    row = conn.execute(
        select(_M.c.sender, _M.c.campaign_id).where(*where).order_by(_M.c.id.desc()).limit(1)
    ).first()
    return None if row is None else (row.sender, row.campaign_id)


def _queue_confirmation(
    conn: Connection, account: Account, phone: str, sender: str, now: datetime
) -> int:
    """Queue the mandatory STOP confirmation: informative, first in line, one part's price."""
    text = account.confirmation
    shape = measure(text)
    region = describe(phone).region
    row = conn.execute(
        insert(_M)
        .values(
            account_id=account.id,
            campaign_id=None,
            phone_e164=phone,
            region=region,
            sender=sender,
            kind="confirmation",
            priority=CONFIRMATION_PRIORITY,
            decision="ready",
            text=text,
            encoding=shape.encoding.value,
            segments=shape.segments,
            price_millicredits=_price(conn, account, region),
            status=MessageStatus.PENDING.value,
            created_at=now,
        )
        .returning(_M.c.id)
    )
    return int(row.scalar_one())


def handle_mo(conn: Connection, message: InboundMessage, now: datetime) -> MoOutcome:
    """Handle one MO inside the caller's transaction (see the module doc)."""
    phone = sender_e164(message.sender)
    account = resolve_account(conn, phone, message.recipient)
    found = classify_for(conn, account.id, message.text)
    outcome = MoOutcome(0, account.id, phone, found.intent, found.certain)
    if phone is not None and found.intent is Intent.OPT_OUT:
        outcome = _opt_out(conn, account, phone, message, found, now)
    elif phone is not None and found.intent is Intent.OPT_IN:
        outcome = _opt_in(conn, account, phone, message, found, now)
    inbound_id = conn.execute(
        insert(t.inbound_messages)
        .values(
            account_id=account.id,
            sender_e164=phone or message.sender[:20],
            recipient=message.recipient[:20],
            text=message.text,
            intent=_INTENT_COLUMN[found.intent],
            certain=found.certain,
            keyword=found.keyword,
            received_at=message.received_at,
            optout_id=outcome.optout_id,
            campaign_id=outcome.campaign_id,
        )
        .returning(t.inbound_messages.c.id)
    ).scalar_one()
    return MoOutcome(
        inbound_id=int(inbound_id),
        account_id=outcome.account_id,
        phone=outcome.phone,
        intent=outcome.intent,
        certain=outcome.certain,
        optout_id=outcome.optout_id,
        optout_created=outcome.optout_created,
        optout_sender=outcome.optout_sender,
        campaign_id=outcome.campaign_id,
        confirmation_id=outcome.confirmation_id,
        resubscribed=outcome.resubscribed,
    )


def _opt_out(
    conn: Connection,
    account: Account,
    phone: str,
    message: InboundMessage,
    found: Classification,
    now: datetime,
) -> MoOutcome:
    last = _last_sent(conn, account.id, phone, campaign_only=False)
    last_campaign = _last_sent(conn, account.id, phone, campaign_only=True)
    campaign_id = last_campaign[1] if last_campaign is not None else None
    reply_to = message.recipient.strip() or account.shortcode
    sender = (last[0] if last is not None else None) or reply_to
    scoped = account.optout_scope == "sender"
    recorded = record_optout(
        conn,
        account,
        phone,
        source="keyword",
        detail=message.text,
        sender=sender if scoped else None,
        scope=account.optout_scope,
        uncertain=not found.certain,
        campaign_id=campaign_id,
        recorded_by="inbound",
        now=now,
    )
    confirmation_id = None
    if recorded.created:
        confirmation_id = _queue_confirmation(conn, account, phone, reply_to, now)
    return MoOutcome(
        inbound_id=0,
        account_id=account.id,
        phone=phone,
        intent=found.intent,
        certain=found.certain,
        optout_id=recorded.optout.id,
        optout_created=recorded.created,
        optout_sender=recorded.optout.sender,
        campaign_id=recorded.optout.campaign_id,
        confirmation_id=confirmation_id,
    )


def _opt_in(
    conn: Connection,
    account: Account,
    phone: str,
    message: InboundMessage,
    found: Classification,
    now: datetime,
) -> MoOutcome:
    evidence = (
        f"SMS {message.text!r} from {phone} to {message.recipient} "
        f"received {message.received_at.isoformat()}"
    )
    sender: str | None = None
    if account.optout_scope == "sender":
        last = _last_sent(conn, account.id, phone, campaign_only=False)
        sender = (last[0] if last is not None else None) or message.recipient.strip()
    try:
        resubscribe(conn, account, phone, evidence=evidence, by="inbound", sender=sender, now=now)
    except NotFound:  # nothing to lift: a START from someone never opted out
        return MoOutcome(0, account.id, phone, found.intent, found.certain)
    return MoOutcome(0, account.id, phone, found.intent, found.certain, resubscribed=True)


def handle_many(
    conn: Connection, messages: Sequence[InboundMessage], now: datetime
) -> list[MoOutcome]:
    """:func:`handle_mo` for each message, in order, in the caller's transaction."""
    return [handle_mo(conn, message, now) for message in messages]
