"""One message now, outside any campaign: checked, composed, priced and queued in the outbox.

This is the use case behind ``POST /v1/messages``. The message is refused at once, with a
stable ``code``, when it could never leave: the number opted out (``recipient_opted_out``), a
sender not on the account's list (``sender_not_allowed``), a link to an unverified domain
(``url_not_allowed``), too little credit (``insufficient_credit``), a marketing message outside
the legal hours when the caller asked for no hold (``outside_sending_hours``), a STOP mention
that would not work (``mention_refused``), a text longer than the parts allowed
(``too_long``). Otherwise it is inserted ``pending`` (or ``held`` until the window opens, its
``scheduled_for``) and the engine sends it; nothing is sent inside the request.

The same checks as preview and campaigns, through the same services: compose and sender rules
(:func:`stopsms.services.compliance.preview`), the mention rules of campaigns
(:func:`~stopsms.services.campaigns.stop_mention.check_sending`), the opt-out registry
(:func:`~stopsms.services.optouts.suppression.suppressed_among`), the sending windows
(:func:`stopsms.services.compliance.window`). The dispatcher checks windows and opt-outs again
when it claims the message, so an opt-out recorded after acceptance still stops it.

Credit: accepted while the balance minus what the account's direct messages already queued
will cost covers this message (each is debited when actually sent, rule 12), so a burst of
requests cannot overdraw the balance. The account's row is locked first (``FOR UPDATE`` on
PostgreSQL; SQLite has one writer at a time), so concurrent requests of one account take turns
between the check and the insert; the queued cost is one sum over the partial index
``ix_messages_direct_waiting`` (messages outside campaigns only, so a campaign's millions of
waiting rows cost it nothing). Campaigns are covered at their preparation, which subtracts every
waiting message, direct ones included; a direct message accepted while a campaign sends may
still take credit that campaign counted on (its messages then leave as debts, as a STOP
confirmation may).

What a message reads of its account besides the account row — its compose settings (senders,
verified domains), its price table and its credit (the balance, its row locked, and the queued
cost, which then grows by each message queued) — is an :class:`AccountContext`: read per
message by default, or once per account for a batch of messages in one transaction
(:func:`account_context`; :mod:`stopsms.app.intake` group-commits the API's messages so).
:func:`queue_messages` checks such a batch with one opt-out read for all its recipients and
writes it with one multi-row insert, whose ``RETURNING`` gives the rows back.

An ``idempotency_key`` finds the message a previous request with that key created (unique per
account): the answer is that message, and nothing is queued twice; the same key with another
recipient, text or type is refused (``idempotency_key_reused``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from stopsms.domain.errors import InvalidSender, StopsmsError
from stopsms.domain.mention import MessageType
from stopsms.domain.phone import parse_phone
from stopsms.domain.unsubscribe import hosted_link
from stopsms.errors import InvalidInput, NotFound, ServiceError
from stopsms.services import compliance
from stopsms.services.accounts.accounts import Account, PriceTable, price_table
from stopsms.services.accounts.credits import format_credits
from stopsms.services.campaigns.campaigns import UnverifiedLink
from stopsms.services.campaigns.decisions import WAITING_STATUSES
from stopsms.services.campaigns.stop_mention import MentionRefused, check_sending
from stopsms.services.campaigns.tokens import new_token
from stopsms.services.optouts.suppression import suppressed_among
from stopsms.store import tables as t

__all__ = [
    "AccountContext",
    "Credit",
    "DirectMessage",
    "DirectRequest",
    "MessagePage",
    "Refused",
    "account_context",
    "get_message",
    "list_messages",
    "queue_message",
    "queue_messages",
]

_M = t.messages
#: Direct informative messages (order confirmations, codes) leave before campaign traffic.
_PRIORITY = {MessageType.INFORMATIVE: 10, MessageType.MARKETING: 50}


class Refused(ServiceError):
    """The message cannot be queued; ``code`` is stable (``recipient_opted_out``…) and
    ``field`` names the request field at fault, when one is."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True, slots=True)
class DirectRequest:
    to: str
    text: str
    message_type: MessageType = MessageType.MARKETING
    sender: str | None = None
    hold: bool = True
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """A message of the outbox as the API shows it (``replayed``: found by its idempotency
    key, not queued by this request)."""

    id: int
    to: str | None
    region: str | None
    sender: str | None
    type: str
    text: str | None
    encoding: str | None
    parts: int
    cost: str
    status: str
    scheduled_for: datetime | None
    created_at: datetime
    submitted_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    error_code: str | None
    campaign_id: int | None
    replayed: bool = False


@dataclass(slots=True)
class Credit:
    """The account's balance and the cost of its direct messages waiting to be sent, read
    under the lock on its row (see the module); each message queued after the read in the
    same transaction adds its cost to ``queued``."""

    balance: int
    queued: int


@dataclass(frozen=True, slots=True)
class AccountContext:
    """What queueing reads of an account besides its row: compose settings, prices, credit."""

    settings: compliance.AccountSettings
    prices: PriceTable
    credit: Credit


def account_context(
    connection: Connection, account: Account, public_url: str | None = None
) -> AccountContext:
    """Read ``account``'s :class:`AccountContext` (five indexed reads, the account's row
    locked) in ``connection``'s transaction: valid for messages queued in that same
    transaction, which then share one read of the credit (its sum over the messages waiting
    grows with them: read per message, it was 28 % of the API's writer with 6,000 queued)."""
    return AccountContext(
        compliance.account_settings(connection, account, public_url=public_url),
        price_table(connection, account),
        _credit(connection, account.id),
    )


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: list[DirectMessage]
    next_cursor: int | None


def _columns() -> list[Any]:
    return [
        _M.c.id,
        _M.c.phone_e164,
        _M.c.region,
        _M.c.sender,
        _M.c.kind,
        _M.c.text,
        _M.c.encoding,
        _M.c.segments,
        _M.c.price_millicredits,
        _M.c.status,
        _M.c.not_before,
        _M.c.created_at,
        _M.c.submitted_at,
        _M.c.delivered_at,
        _M.c.failed_at,
        _M.c.error_code,
        _M.c.campaign_id,
        _M.c.idempotency_key,
    ]


#: The outbox insert, built once (values given at execution: building ``.values(...)`` per
#: message cost more than the insert itself).
_INSERT = insert(_M).returning(*_columns())


def _message(r: Any, *, replayed: bool = False) -> DirectMessage:
    return DirectMessage(
        id=r.id,
        to=r.phone_e164,
        region=r.region,
        sender=r.sender,
        type=r.kind,
        text=r.text,
        encoding=r.encoding,
        parts=r.segments,
        cost=format_credits(r.price_millicredits),
        status=r.status,
        scheduled_for=r.not_before if r.status == "held" else None,
        created_at=r.created_at,
        submitted_at=r.submitted_at,
        delivered_at=r.delivered_at,
        failed_at=r.failed_at,
        error_code=r.error_code,
        campaign_id=r.campaign_id,
        replayed=replayed,
    )


_BY_KEY = select(*_columns()).where(
    _M.c.account_id == bindparam("account_id"), _M.c.idempotency_key == bindparam("key")
)


def _by_key(connection: Connection, account: Account, key: str) -> Any:
    return connection.execute(_BY_KEY, {"account_id": account.id, "key": key}).one_or_none()


def _replay(row: Any, request: DirectRequest, e164: str) -> DirectMessage:
    same = row.phone_e164 == e164 and row.kind == request.message_type.value
    if not same:
        raise Refused(
            "idempotency_key_reused",
            f"idempotency key {request.idempotency_key!r} was used for another message",
            field="Idempotency-Key",
        )
    return _message(row, replayed=True)


def _preview(settings: compliance.AccountSettings, request: DirectRequest) -> compliance.Preview:
    asked = compliance.with_account(
        compliance.PreviewRequest(
            text=request.text,
            to=request.to,
            sender=request.sender,
            message_type=request.message_type,
        ),
        settings,
    )
    try:
        return compliance.preview(asked)
    except InvalidSender as error:
        raise Refused("sender_not_allowed", str(error), field="sender") from None


def _credit(connection: Connection, account_id: int) -> Credit:
    """The account's balance, read under a lock on its row, and the cost of its direct
    messages waiting to be sent (see the module)."""
    balance: int = connection.execute(_BALANCE, {"account_id": account_id}).scalar_one()
    queued: int = connection.execute(_QUEUED, {"account_id": account_id}).scalar_one()
    return Credit(balance, int(queued))


_BALANCE = (
    select(t.accounts.c.balance_millicredits)
    .where(t.accounts.c.id == bindparam("account_id"))
    .with_for_update()
)
_QUEUED = select(func.coalesce(func.sum(_M.c.price_millicredits), 0)).where(
    _M.c.account_id == bindparam("account_id"),
    _M.c.campaign_id.is_(None),
    _M.c.status.in_(WAITING_STATUSES),
)


def queue_message(
    connection: Connection,
    account: Account,
    request: DirectRequest,
    *,
    now: datetime,
    max_parts: int,
    substitution: bool = False,
    public_url: str | None = None,
    context: AccountContext | None = None,
) -> DirectMessage:
    """Check ``request`` for ``account`` and queue it (see the module); :class:`Refused` or
    another :class:`ServiceError` when it cannot leave, and then nothing is written.

    ``public_url``: the installation's (``Settings.public_url``). A marketing message whose
    mention is the hosted unsubscribe page's link gets its own token in place of the
    placeholder its length was counted with (as preparation gives one per campaign message).
    ``context``: the account's, read in this transaction (:func:`account_context`); read here
    when not given."""
    (outcome,) = queue_messages(
        connection,
        account,
        [(request, now)],
        max_parts=max_parts,
        substitution=substitution,
        public_url=public_url,
        context=context,
    )
    if isinstance(outcome, StopsmsError):
        raise outcome
    return outcome


def queue_messages(
    connection: Connection,
    account: Account,
    asked: Sequence[tuple[DirectRequest, datetime]],
    *,
    max_parts: int,
    substitution: bool = False,
    public_url: str | None = None,
    context: AccountContext | None = None,
) -> list[DirectMessage | StopsmsError]:
    """:func:`queue_message` for each request of ``asked`` (with the time it was made), in
    order, in ``connection``'s transaction: each answer is its message or the error that
    refused it (a refused one wrote nothing). The same rules one after the other, read and
    written in bulk: one opt-out read for every recipient (nothing here records opt-outs, so
    it reads what each message's own read would), one multi-row insert for the messages
    without an idempotency key (those with one are inserted at their turn, so a key used
    twice finds the first)."""
    if context is None:
        context = account_context(connection, account, public_url)
    previews: list[compliance.Preview | StopsmsError] = []
    for request, _ in asked:
        try:
            previews.append(_checked_preview(context.settings, request))
        except StopsmsError as refused:
            previews.append(refused)
    suppressed = _suppressed(connection, account, previews)
    outcomes: list[DirectMessage | StopsmsError | dict[str, Any]] = []
    for (request, now), preview in zip(asked, previews, strict=True):
        if isinstance(preview, StopsmsError):
            outcomes.append(preview)
            continue
        try:
            outcomes.append(
                _queue_one(
                    connection,
                    account,
                    request,
                    preview,
                    now=now,
                    max_parts=max_parts,
                    substitution=substitution,
                    public_url=public_url,
                    context=context,
                    suppressed=suppressed,
                )
            )
        except StopsmsError as refused:
            outcomes.append(refused)
    deferred = [values for values in outcomes if isinstance(values, dict)]
    if not deferred:
        return [o for o in outcomes if not isinstance(o, dict)]
    rows = _inserted(connection, deferred)
    return [_message(rows[_content(o)].pop()) if isinstance(o, dict) else o for o in outcomes]


def _content(values: Mapping[Any, Any]) -> tuple[Any, ...]:
    return values["phone_e164"], values["kind"], values["text"]


def _inserted(connection: Connection, rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], Any]:
    """Insert ``rows`` in one statement; the rows written by their content (number, type,
    text), each content's last-given row last.

    ``RETURNING`` promises no order, and SQLAlchemy's ordered form falls back to a statement
    per row on SQLite, so each row is found back by its content, rows of one content in the
    order of their ids: given in that order on both backends (SQLite numbers a ``VALUES``
    list in order, PostgreSQL draws its sequence so), and interchangeable otherwise."""
    written: dict[tuple[Any, ...], Any] = {}
    for row in sorted(connection.execute(_INSERT, rows).all(), key=lambda r: r.id, reverse=True):
        written.setdefault(_content(row._mapping), []).append(row)
    return written


def _suppressed(
    connection: Connection,
    account: Account,
    previews: Sequence[compliance.Preview | StopsmsError],
) -> set[tuple[str, str | None]]:
    """The (number, sender) pairs of ``previews`` the opt-out registry forbids: one read per
    sender (:func:`~stopsms.services.optouts.suppression.suppressed_among`)."""
    by_sender: dict[str | None, set[str]] = {}
    for preview in previews:
        if isinstance(preview, compliance.Preview) and preview.recipient is not None:
            by_sender.setdefault(preview.sender or None, set()).add(preview.recipient.e164)
    return {
        (number, sender)
        for sender, numbers in by_sender.items()
        for number in suppressed_among(connection, account, numbers, sender)
    }


def _checked_preview(
    settings: compliance.AccountSettings, request: DirectRequest
) -> compliance.Preview:
    if not request.text.strip():
        raise Refused("invalid_field", "the text is empty", field="text")
    return _preview(settings, request)


def _queue_one(
    connection: Connection,
    account: Account,
    request: DirectRequest,
    preview: compliance.Preview,
    *,
    now: datetime,
    max_parts: int,
    substitution: bool,
    public_url: str | None,
    context: AccountContext,
    suppressed: set[tuple[str, str | None]],
) -> DirectMessage | dict[str, Any]:
    """One message's rules after its preview: the message (replayed, or inserted at once
    with its idempotency key), or the values to insert with the batch."""
    recipient = preview.recipient
    assert recipient is not None  # request.to is required
    if request.idempotency_key is not None:
        found = _by_key(connection, account, request.idempotency_key)
        if found is not None:
            return _replay(found, request, recipient.e164)
    composed = preview.composed
    sender = preview.sender or ""
    if preview.unverified_domains:
        error = UnverifiedLink(list(preview.unverified_domains))
        raise Refused("url_not_allowed", str(error), field="text")
    try:
        check_sending(account, sender, request.message_type, substitution=substitution)
    except MentionRefused as error:
        raise Refused("mention_refused", str(error)) from None
    if preview.refusal is not None:
        raise Refused("mention_refused", f"the message {preview.refusal}", field="text")
    if len(preview.parts) > max_parts:
        raise Refused(
            "too_long",
            f"the text takes {len(preview.parts)} SMS parts with its mention, at most {max_parts}",
            field="text",
        )
    if (recipient.e164, sender or None) in suppressed:
        raise Refused(
            "recipient_opted_out",
            f"{recipient.e164} opted out of this account's messages",
            field="to",
        )
    price = context.prices.per_part(recipient.region) * len(preview.parts)
    credit = context.credit
    balance, queued = credit.balance, credit.queued
    if balance - queued < price:
        held = f", {format_credits(queued)} of it for messages queued" if queued else ""
        raise Refused(
            "insufficient_credit",
            f"this message costs {format_credits(price)} credits; the balance is"
            f" {format_credits(balance)}{held}",
        )
    answer = compliance.window(
        compliance.WindowRequest(
            to=recipient.e164,
            at=now,
            message_type=request.message_type,
            policy=account.window_policy,
        ),
        now,
    )
    status, not_before = "pending", None
    if not answer.decision.allowed:
        if not request.hold or answer.decision.next_allowed is None:
            raise Refused(
                "outside_sending_hours",
                f"{answer.decision.rule}; next allowed {answer.decision.next_allowed}",
                field="hold",
            )
        status, not_before = "held", answer.decision.next_allowed
    text, token = composed.text, None
    if public_url and account.hosted_page(public_url) and hosted_link(public_url) in text:
        token = new_token()
        text = text.replace(hosted_link(public_url), hosted_link(public_url, token))
    values = {
        "account_id": account.id,
        "phone_e164": recipient.e164,
        "region": recipient.region,
        "sender": sender or None,
        "kind": request.message_type.value,
        "priority": _PRIORITY[request.message_type],
        "text": text,
        "unsubscribe_token": token,
        "encoding": composed.encoding.value,
        "segments": len(preview.parts),
        "price_millicredits": price,
        "status": status,
        "not_before": not_before,
        "created_at": now,
        "idempotency_key": request.idempotency_key,
    }
    if request.idempotency_key is None:  # no unique key to collide on: inserted with the batch
        credit.queued += price
        return values
    try:
        with connection.begin_nested():
            row = connection.execute(_INSERT, values).one()
    except IntegrityError:  # the same key, queued by a concurrent request
        found = _by_key(connection, account, request.idempotency_key)
        if found is None:
            raise
        return _replay(found, request, recipient.e164)
    credit.queued += price
    return _message(row)


def get_message(connection: Connection, account: Account, message_id: int) -> DirectMessage:
    """The account's message ``message_id`` (another account's is :class:`NotFound`)."""
    row = connection.execute(
        select(*_columns()).where(_M.c.id == message_id, _M.c.account_id == account.id)
    ).one_or_none()
    if row is None:
        raise NotFound("message", message_id)
    return _message(row)


def list_messages(
    connection: Connection,
    account: Account,
    *,
    status: str | None = None,
    to: str | None = None,
    limit: int = 50,
    cursor: int | None = None,
) -> MessagePage:
    """The account's messages, newest first, ``limit`` a page; ``cursor`` is the
    ``next_cursor`` of the previous page (the last id shown)."""
    if not 1 <= limit <= 500:
        raise InvalidInput("limit", limit, "between 1 and 500")
    query = select(*_columns()).where(_M.c.account_id == account.id)
    if status is not None:
        query = query.where(_M.c.status == status)
    if to is not None:
        query = query.where(_M.c.phone_e164 == parse_phone(to, compliance.DEFAULT_REGION).e164)
    if cursor is not None:
        query = query.where(_M.c.id < cursor)
    rows = connection.execute(query.order_by(_M.c.id.desc()).limit(limit + 1)).all()
    page = [_message(row) for row in rows[:limit]]
    return MessagePage(page, page[-1].id if len(rows) > limit else None)
