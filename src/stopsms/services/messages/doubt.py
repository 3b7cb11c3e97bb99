"""Messages in doubt: a campaign's ``unknown`` messages, sent again knowingly or closed.

A message is ``unknown`` when it was on the wire as the process died or the link dropped
(:mod:`stopsms.services.messages.outbox`): the SMSC may have it, or not. The engine never
sends it again on its own — a duplicate marketing SMS is worse than a missing one — and the
report counts it apart, never as sent. A person decides, per campaign:

- **re-queue** (:func:`resolve_unknown` with ``"requeue"``): each goes back to ``pending`` and
  leaves again through the dispatcher, with every check of a first send (sending window,
  opt-out at submit time). Those that reached their recipient the first time are received
  twice: the caller states that risk before asking (:func:`in_doubt` gives the count). A
  number that opted out since is never re-queued: it becomes ``excluded`` (``opted_out``),
  counted in the report's exclusions at send. Credits: an ``unknown`` message was never
  debited, a re-queued one is debited when the provider accepts it, like any other; the
  re-queue is refused, with nothing changed, when the balance cannot pay them all. A
  completed campaign goes back to ``sending`` (:func:`~stopsms.domain.campaign.reopen`) so
  that a running worker or ``campaign send`` sends them; a paused one waits for its resume.
- **close** (``"close"``): each becomes ``closed`` for good — never sent again, not charged,
  counted apart in the report.

Either way only this campaign's ``unknown`` messages move, each by a compare-and-set on its
status, in the caller's transaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

from sqlalchemy import Connection, func, select, update

from stopsms.domain.campaign import CampaignStatus, MessageStatus
from stopsms.domain.errors import InvalidTransition
from stopsms.errors import Fix, InvalidInput, ServiceError
from stopsms.services.accounts.accounts import AccountRef
from stopsms.services.accounts.credits import InsufficientCredit, format_credits
from stopsms.services.campaigns.preparation import campaign_of
from stopsms.services.campaigns.status import current_status, reopen_for_requeue
from stopsms.services.messages.outbox import Claimed, opted_out
from stopsms.store import tables as t

__all__ = ["InDoubt", "Resolution", "Resolve", "in_doubt", "resolve_unknown"]

_M = t.messages
_UNKNOWN = MessageStatus.UNKNOWN.value


class Resolve(enum.Enum):
    """What a person decides for a campaign's ``unknown`` messages."""

    REQUEUE = "requeue"  # send again, knowing some may be received twice
    CLOSE = "close"  # never send again


@dataclass(frozen=True, slots=True)
class InDoubt:
    """A campaign's ``unknown`` messages: how many, what sending them again would cost, and
    how many of their numbers opted out since (those would not be re-queued)."""

    campaign_id: int
    unknown: int
    credits_millicredits: int
    opted_out_since: int


@dataclass(frozen=True, slots=True)
class Resolution:
    """What :func:`resolve_unknown` did: messages re-queued or closed, numbers excluded as
    opted out since, the credits the re-queued ones will cost, the campaign's status after."""

    campaign_id: int
    action: Resolve
    requeued: int
    closed: int
    excluded_opted_out: int
    credits_millicredits: int
    campaign_status: CampaignStatus


#: The columns of a :class:`Claimed`, read from an ``unknown`` message (its text not needed).
_COLUMNS = [
    (func.coalesce(_M.c.phone_e164, "") if field.name == "phone" else _M.c[field.name]).label(
        field.name
    )
    for field in fields(Claimed)
    if field.name != "text"
]


def _unknown(connection: Connection, campaign_id: int, account_id: int) -> list[Claimed]:
    rows = connection.execute(
        select(*_COLUMNS).where(
            _M.c.campaign_id == campaign_id,
            _M.c.account_id == account_id,
            _M.c.status == _UNKNOWN,
        )
    )
    return [Claimed(text="", **row._asdict()) for row in rows]


def in_doubt(connection: Connection, account: AccountRef, campaign_id: int) -> InDoubt:
    """The ``unknown`` messages of campaign ``campaign_id`` (see :class:`InDoubt`)."""
    campaign, acc = campaign_of(connection, campaign_id, account)
    messages = _unknown(connection, campaign.id, acc.id)
    stopped = opted_out(connection, messages)
    cost = sum(m.price_millicredits for m in messages if m.id not in stopped)
    return InDoubt(campaign.id, len(messages), cost, len(stopped))


def _set_unknown(connection: Connection, ids: list[int], **values: object) -> int:
    moved = 0
    for start in range(0, len(ids), 10_000):  # bounded IN lists on either backend
        chunk = ids[start : start + 10_000]
        moved += connection.execute(
            update(_M).where(_M.c.id.in_(chunk), _M.c.status == _UNKNOWN).values(**values)
        ).rowcount
    return moved


def resolve_unknown(
    connection: Connection, account: AccountRef, campaign_id: int, action: Resolve | str
) -> Resolution:
    """Re-queue or close the ``unknown`` messages of campaign ``campaign_id`` (module doc).

    Refused, with nothing changed: an ``action`` other than requeue or close; a re-queue on a
    cancelled campaign, or that the account's balance cannot pay."""
    try:
        chosen = Resolve(action.value if isinstance(action, Resolve) else action)
    except ValueError:
        raise InvalidInput("action", action, "requeue or close") from None
    campaign, acc = campaign_of(connection, campaign_id, account)
    messages = _unknown(connection, campaign.id, acc.id)
    status = current_status(connection, campaign.id)
    if chosen is Resolve.CLOSE:
        closed = _set_unknown(
            connection, [m.id for m in messages], status=MessageStatus.CLOSED.value
        )
        return Resolution(campaign.id, chosen, 0, closed, 0, 0, status)
    if not messages:
        return Resolution(campaign.id, chosen, 0, 0, 0, 0, status)
    stopped = opted_out(connection, messages)
    again = [m for m in messages if m.id not in stopped]
    cost = sum(m.price_millicredits for m in again)
    balance = connection.execute(
        select(t.accounts.c.balance_millicredits).where(t.accounts.c.id == acc.id)
    ).scalar_one()
    if cost > balance:
        error = InsufficientCredit(acc.name, balance, cost)
        raise ServiceError(
            f"cannot re-queue the {len(again):,} unknown message(s) of campaign {campaign.id}:"
            f" {error}",
            fix=Fix(
                "top_up",
                (("amount", format_credits(cost - balance)), ("account", acc.name)),
            ),
        )
    try:
        status = reopen_for_requeue(connection, campaign.id)
    except InvalidTransition:
        raise ServiceError(
            f"campaign {campaign.id} is {status.value}: its {len(messages):,} unknown"
            " message(s) cannot be sent again, only closed",
            fix=Fix("close_unknown", (("campaign", str(campaign.id)),)),
        ) from None
    excluded = _set_unknown(
        connection,
        sorted(stopped),
        status=MessageStatus.EXCLUDED.value,
        reason="opted_out",
        claim_token=None,
    )
    requeued = _set_unknown(
        connection,
        [m.id for m in again],
        status=MessageStatus.PENDING.value,
        error_code="requeued",
        claim_token=None,
        claimed_at=None,
        submitted_at=None,
        provider_message_id=None,
        not_before=None,
    )
    return Resolution(campaign.id, chosen, requeued, 0, excluded, cost, status)
