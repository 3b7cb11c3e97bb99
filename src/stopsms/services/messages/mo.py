"""Mobile-originated messages: classify, opt out, confirm, attribute, store — in one go.

:func:`handle_mo` runs inside the caller's transaction (the group commit of
:mod:`stopsms.engine.inbound`); the provider acknowledges the MO only after that commits, so
a STOP is never acknowledged and then lost.

Decisions:

- **Which account.** The account of the most recent message that left for that number from a
  sender, or an account shortcode, equal to the MO's recipient (a reply goes back to where
  the message came from); else the account whose shortcode is the recipient (the lowest id
  when several share it); else the default account. "Left" includes ``submitting``: a STOP
  can race the record of the submit it answers.
- **Opt-out** (certain or not — "when in doubt, opt out"; uncertain ones are flagged for
  review): recorded in the account's scope; with ``sender`` scope, the sender is that of the
  last message to the number, else the MO's recipient when it is one of the account's senders
  or its shortcode, else — a line the account does not have — the whole account (an opt-out
  for an unknown sender would suppress nothing). Attributed to the campaign of the most
  recent campaign message sent to the number (rule 3). A mandatory confirmation SMS is queued
  (kind ``confirmation``, informative, priority 0, never held, priced one part), only when the
  opt-out is new: a second STOP gets no second confirmation.
- **Opt-in** (START…): the person's own SMS is the evidence of the request (rule 5); the
  account's active opt-outs of the number (in sender scope: the same line's, as chosen for a
  STOP) are revoked with that evidence. No SMS is sent back. The consent ledger gets the
  re-subscription (:mod:`stopsms.services.optouts.consent`): the marketing consent the opt-out
  withdrew is restored, none is invented.
- **Help and other replies** are stored (and listed by ``stopsms replies list``).
- A sender that is not a valid phone number is stored as received, nothing else is done
  (there is no number to opt out).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select

from stopsms.domain.campaign import MessageStatus
from stopsms.domain.keywords import Classification, Classifier, Intent
from stopsms.domain.phone import describe, normalise
from stopsms.domain.text import measure
from stopsms.errors import NotFound
from stopsms.providers.base import InboundMessage
from stopsms.services.accounts.accounts import Account, get_account, get_account_by_id, price_table
from stopsms.services.optouts.optouts import (
    OptOutRequest,
    Recorded,
    record_optout_batch,
    resubscribe,
    to_e164,
)
from stopsms.services.webhooks.events import INBOUND_RECEIVED, record_events
from stopsms.store import tables as t

__all__ = [
    "MoOutcome",
    "classify_for",
    "handle_many",
    "handle_mo",
    "resolve_account",
    "sender_e164",
    "warm_up",
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
#: Numbers per ``IN (…)`` of the history look-up.
_CHUNK = 900


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
    """The MO sender as E.164: SMPP gives ``+336…`` (international TON) or bare digits.

    The domain's fast normaliser (microseconds; the same answers as ``phonenumbers``): it
    runs on the event loop for every MO.
    """
    raw = raw.strip()
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if raw.isdigit():  # international digits without "+": the usual SMPP form
        international = "+" + raw
        if normalise(international) == international:  # valid and already canonical
            return international
        return normalise(raw)  # a national number ("06…")
    if raw.startswith("+"):
        return normalise(raw)
    return None


def warm_up(conn: Connection | None = None) -> None:
    """Build the process-wide caches now, so the first STOP after a start is not late: the
    number validator behind the registry's normalisation (seconds to build) and, given a
    connection, SQLAlchemy's compiled statements of the whole path (a STOP from a number
    that cannot exist in real traffic, handled then rolled back: nothing stays)."""
    sender_e164("33612345678")
    to_e164("+33612345678")
    if conn is None:
        return
    savepoint = conn.begin_nested()
    try:
        now = datetime.now(UTC)
        handle_many(conn, [InboundMessage("33699999999", "0", "STOP", now)], now)
    finally:
        savepoint.rollback()


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


def _shortcodes(conn: Connection) -> dict[int, str | None]:
    """Every account's id and shortcode (read once per transaction)."""
    cache = _cache(conn)
    found = cache.get("shortcodes")
    if not isinstance(found, dict):
        a = t.accounts
        found = {row.id: row.shortcode for row in conn.execute(select(a.c.id, a.c.shortcode))}
        cache["shortcodes"] = found
    return found


def _default_account(conn: Connection) -> Account:
    cache = _cache(conn)
    found = cache.get("default")
    if not isinstance(found, Account):
        found = get_account(conn, t.DEFAULT_ACCOUNT)
        cache["default"] = found
        cache[("account", found.id)] = found
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
def _confirmation_shape(text: str) -> tuple[str, int]:
    shape = measure(text)
    return shape.encoding.value, shape.segments


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


def _senders(conn: Connection, account: Account) -> frozenset[str]:
    """The account's sender IDs and shortcode, case-folded (read once per transaction)."""
    cache = _cache(conn)
    key = ("senders", account.id)
    found = cache.get(key)
    if not isinstance(found, frozenset):
        names = conn.execute(
            select(t.senders.c.sender).where(t.senders.c.account_id == account.id)
        ).scalars()
        found = frozenset({*(name.casefold() for name in names), account.shortcode.casefold()})
        cache[key] = found
    return found


def _line(conn: Connection, history: _History, mo: _Mo) -> str:
    """The sender an MO's opt-out or opt-in is about in sender scope ('' for the whole
    account): that of the last message to the number, else the MO's recipient when it is one
    of the account's lines, else the whole account."""
    assert mo.phone is not None
    last = history.last(mo.account.id, mo.phone, campaign_only=False)
    if last is not None and last.sender:
        return last.sender
    recipient = mo.message.recipient.strip()
    if recipient and recipient.casefold() in _senders(conn, mo.account):
        return recipient
    return ""


def _recipients(recipient: str) -> tuple[str, ...]:
    bare = recipient.strip()
    return tuple({bare, bare.removeprefix("+")})


@dataclass(frozen=True, slots=True)
class _Sent:
    """The last message sent to a number per (account, sender, campaign): one history row."""

    account_id: int
    sender: str | None
    campaign_id: int | None
    last_id: int


class _History:
    """What left for a set of numbers, read in one grouped query (the ``(account_id,
    phone_e164, id)`` index serves it): enough to resolve the account, the sender of the
    last message and the latest campaign of every number of a batch."""

    def __init__(self, conn: Connection, phones: Collection[str]) -> None:
        self._rows: dict[str, list[_Sent]] = {}
        if not phones:
            return
        account_ids = sorted(_shortcodes(conn))
        unique = sorted(phones)
        for start in range(0, len(unique), _CHUNK):
            rows = conn.execute(
                select(
                    _M.c.phone_e164,
                    _M.c.account_id,
                    _M.c.sender,
                    _M.c.campaign_id,
                    func.max(_M.c.id).label("last_id"),
                )
                .where(
                    _M.c.account_id.in_(account_ids),  # lets the (account, phone, id) index serve
                    _M.c.phone_e164.in_(unique[start : start + _CHUNK]),
                    _M.c.status.in_(_SENT),
                )
                .group_by(_M.c.phone_e164, _M.c.account_id, _M.c.sender, _M.c.campaign_id)
            )
            for row in rows:
                self._rows.setdefault(row.phone_e164, []).append(
                    _Sent(row.account_id, row.sender, row.campaign_id, int(row.last_id))
                )

    def replied_account(
        self, phone: str, names: tuple[str, ...], shortcodes: Mapping[int, str | None]
    ) -> int | None:
        """The account of the last message to ``phone`` from a sender or shortcode in ``names``."""
        best: _Sent | None = None
        for sent in self._rows.get(phone, ()):
            if (sent.sender in names or shortcodes.get(sent.account_id) in names) and (
                best is None or sent.last_id > best.last_id
            ):
                best = sent
        return None if best is None else best.account_id

    def last(self, account_id: int, phone: str, *, campaign_only: bool) -> _Sent | None:
        """The last message the account sent to ``phone`` (of a campaign, if asked)."""
        best: _Sent | None = None
        for sent in self._rows.get(phone, ()):
            if sent.account_id != account_id or (campaign_only and sent.campaign_id is None):
                continue
            if best is None or sent.last_id > best.last_id:
                best = sent
        return best


def _resolve(conn: Connection, history: _History, phone: str | None, recipient: str) -> Account:
    names = _recipients(recipient)
    shortcodes = _shortcodes(conn)
    if phone is not None:
        account_id = history.replied_account(phone, names, shortcodes)
        if account_id is not None:
            return _account_by_id(conn, account_id)
    owners = [account_id for account_id, code in shortcodes.items() if code in names]
    if owners:
        return _account_by_id(conn, min(owners))
    return _default_account(conn)


def resolve_account(conn: Connection, phone: str | None, recipient: str) -> Account:
    """The account an MO belongs to (see the module doc for the order of the rules)."""
    history = _History(conn, [phone] if phone is not None else [])
    return _resolve(conn, history, phone, recipient)


@dataclass(slots=True)
class _Mo:
    """One MO of a batch while it is handled."""

    message: InboundMessage
    phone: str | None
    account: Account
    found: Classification
    optout: Recorded | None = None
    confirmation_id: int | None = None
    resubscribed: bool = False

    def outcome(self, inbound_id: int) -> MoOutcome:
        optout = self.optout
        return MoOutcome(
            inbound_id=inbound_id,
            account_id=self.account.id,
            phone=self.phone,
            intent=self.found.intent,
            certain=self.found.certain,
            optout_id=None if optout is None else optout.optout.id,
            optout_created=optout is not None and optout.created,
            optout_sender="" if optout is None else optout.optout.sender,
            campaign_id=None if optout is None else optout.optout.campaign_id,
            confirmation_id=self.confirmation_id,
            resubscribed=self.resubscribed,
        )


def _insert_ids(conn: Connection, table: Table, rows: list[dict[str, Any]], key: str) -> list[int]:
    """Insert ``rows`` in one executemany (sent as multi-row ``INSERT … RETURNING``); the new
    ids, in the order of ``rows``.

    Rows are matched to returned ids by ``key`` (a row's number); rows sharing a key get
    their ids in ascending order, i.e. insertion order. (``sort_by_parameter_order`` would
    make SQLAlchemy send SQLite one statement per row.)
    """
    returned = conn.execute(insert(table).returning(table.c.id, table.c[key]), rows).all()
    by_key: dict[object, list[int]] = {}
    for row in returned:
        by_key.setdefault(row[1], []).append(int(row[0]))
    for found in by_key.values():
        found.sort(reverse=True)
    return [by_key[row[key]].pop() for row in rows]


def handle_mo(conn: Connection, message: InboundMessage, now: datetime) -> MoOutcome:
    """Handle one MO inside the caller's transaction (see the module doc)."""
    return handle_many(conn, [message], now)[0]


def handle_many(
    conn: Connection, messages: Sequence[InboundMessage], now: datetime
) -> list[MoOutcome]:
    """Handle a batch of MOs in the caller's transaction, set-based.

    The outcome is that of handling each MO in order, one at a time; the statements are per
    batch: one history look-up (account, sender, campaign of every number), one bulk opt-out
    (:func:`~stopsms.services.optouts.optouts.record_optout_batch`), one insert of the
    confirmations, one of the inbound rows. A number that wrote several times in the batch is
    handled in rounds (its second MO sees what its first did: one confirmation per STOP
    episode, a START after a STOP revokes it).
    """
    if not messages:
        return []
    phones = [sender_e164(message.sender) for message in messages]
    history = _History(conn, {phone for phone in phones if phone is not None})
    mos: list[_Mo] = []
    for message, phone in zip(messages, phones, strict=True):
        account = _resolve(conn, history, phone, message.recipient)
        found = classify_for(conn, account.id, message.text)
        mos.append(_Mo(message, phone, account, found))
    rounds: list[list[_Mo]] = []
    seen: dict[str, int] = {}
    for mo in mos:
        if mo.phone is None or mo.found.intent not in (Intent.OPT_OUT, Intent.OPT_IN):
            continue
        occurrence = seen.get(mo.phone, 0)
        seen[mo.phone] = occurrence + 1
        if occurrence == len(rounds):
            rounds.append([])
        rounds[occurrence].append(mo)
    for batch in rounds:
        _opt_out(conn, history, [mo for mo in batch if mo.found.intent is Intent.OPT_OUT], now)
        for mo in batch:
            if mo.found.intent is Intent.OPT_IN:
                _opt_in(conn, history, mo, now)
    ids = _insert_ids(
        conn,
        t.inbound_messages,
        [
            {
                "account_id": mo.account.id,
                "sender_e164": mo.phone or mo.message.sender[:20],
                "recipient": mo.message.recipient[:20],
                "text": mo.message.text,
                "intent": _INTENT_COLUMN[mo.found.intent],
                "certain": mo.found.certain,
                "keyword": mo.found.keyword,
                "received_at": mo.message.received_at,
                "optout_id": None if mo.optout is None else mo.optout.optout.id,
                "campaign_id": None if mo.optout is None else mo.optout.optout.campaign_id,
            }
            for mo in mos
        ],
        "sender_e164",
    )
    record_events(
        conn,
        INBOUND_RECEIVED,
        [
            (
                mo.account.id,
                {
                    "inbound_id": inbound_id,
                    "from": mo.phone or mo.message.sender[:20],
                    "to": mo.message.recipient[:20],
                    "text": mo.message.text,
                    "intent": _INTENT_COLUMN[mo.found.intent],
                    "certain": mo.found.certain,
                    "optout_id": None if mo.optout is None else mo.optout.optout.id,
                    "received_at": mo.message.received_at.isoformat(),
                },
            )
            for mo, inbound_id in zip(mos, ids, strict=True)
        ],
        now,
    )
    return [mo.outcome(inbound_id) for mo, inbound_id in zip(mos, ids, strict=True)]


def _opt_out(conn: Connection, history: _History, mos: list[_Mo], now: datetime) -> None:
    """Record the opt-outs of one round (distinct numbers), then queue the confirmations."""
    if not mos:
        return
    requests: list[OptOutRequest] = []
    reply_tos: list[str] = []
    for mo in mos:
        assert mo.phone is not None
        last_campaign = history.last(mo.account.id, mo.phone, campaign_only=True)
        reply_to = mo.message.recipient.strip() or mo.account.shortcode
        sender = _line(conn, history, mo) if mo.account.optout_scope == "sender" else ""
        requests.append(
            OptOutRequest(
                mo.account,
                mo.phone,
                source="keyword",
                detail=mo.message.text,
                sender=sender or None,
                scope="sender" if sender else "account",
                uncertain=not mo.found.certain,
                campaign_id=last_campaign.campaign_id if last_campaign is not None else None,
                recorded_by="inbound",
            )
        )
        reply_tos.append(reply_to)
    recorded = record_optout_batch(conn, requests, now=now)
    confirm: list[tuple[_Mo, str]] = []
    for mo, done, reply_to in zip(mos, recorded, reply_tos, strict=True):
        mo.optout = done
        if done.created:
            confirm.append((mo, reply_to))
    if not confirm:
        return
    rows = []
    for mo, reply_to in confirm:
        assert mo.phone is not None
        region = describe(mo.phone).region
        encoding, segments = _confirmation_shape(mo.account.confirmation)
        rows.append(
            {
                "account_id": mo.account.id,
                "campaign_id": None,
                "phone_e164": mo.phone,
                "region": region,
                "sender": reply_to,
                "kind": "confirmation",
                "priority": CONFIRMATION_PRIORITY,
                "decision": "ready",
                "text": mo.account.confirmation,
                "encoding": encoding,
                "segments": segments,
                "price_millicredits": _price(conn, mo.account, region),
                "status": MessageStatus.PENDING.value,
                "created_at": now,
            }
        )
    ids = _insert_ids(conn, _M, rows, "phone_e164")
    for (mo, _), confirmation_id in zip(confirm, ids, strict=True):
        mo.confirmation_id = confirmation_id


def _opt_in(conn: Connection, history: _History, mo: _Mo, now: datetime) -> None:
    """START: revoke the number's active opt-outs with the SMS as evidence (rule 5)."""
    assert mo.phone is not None
    message = mo.message
    evidence = (
        f"SMS {message.text!r} from {mo.phone} to {message.recipient} "
        f"received {message.received_at.isoformat()}"
    )
    sender: str | None = None  # every record of the number
    if mo.account.optout_scope == "sender":
        sender = _line(conn, history, mo)  # '' for the account-wide one only
    try:
        resubscribe(
            conn, mo.account, mo.phone, evidence=evidence, by="inbound", sender=sender, now=now
        )
    except NotFound:  # nothing to lift: a START from someone never opted out
        return
    mo.resubscribed = True
