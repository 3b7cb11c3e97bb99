"""A campaign's lifecycle, its recipients' decisions and its messages' states.

Campaign states and the moves between them::

    draft ──► scheduled ──► preparing ──► sending ⇄ held      (outside sending hours)
      │           │             │           │  ⇅      │
      │           │             │           │ paused ◄┘
      │           │             │           ▼
      └───────────┴─────────────┴──► cancelled   completed ◄── sending / held

``draft → preparing`` is a send-now; ``scheduled → draft`` un-schedules; ``preparing → paused``
parks a scheduled campaign the credits cannot pay, and ``paused → preparing`` prepares it when
resumed (only a campaign without messages). A completed or cancelled campaign never moves again
by the lifecycle; the one exception is :func:`reopen`: ``completed → sending`` when a person
re-queues the messages it left in doubt (``campaign resolve-unknown --requeue``), so that they
leave, after which it completes again.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from stopsms.domain.errors import InvalidTransition


class CampaignStatus(enum.Enum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PREPARING = "preparing"
    SENDING = "sending"
    HELD = "held"  # outside the sending hours of every remaining recipient
    PAUSED = "paused"  # by a person, or by itself after too many consecutive errors
    COMPLETED = "completed"
    CANCELLED = "cancelled"


_S = CampaignStatus
TRANSITIONS: Mapping[CampaignStatus, frozenset[CampaignStatus]] = {
    _S.DRAFT: frozenset({_S.SCHEDULED, _S.PREPARING, _S.CANCELLED}),
    _S.SCHEDULED: frozenset({_S.DRAFT, _S.PREPARING, _S.CANCELLED}),
    _S.PREPARING: frozenset({_S.SENDING, _S.PAUSED, _S.CANCELLED}),
    _S.SENDING: frozenset({_S.HELD, _S.PAUSED, _S.COMPLETED, _S.CANCELLED}),
    _S.HELD: frozenset({_S.SENDING, _S.PAUSED, _S.COMPLETED, _S.CANCELLED}),
    # paused → preparing: a scheduled campaign parked unprepared (not enough credit) resumes.
    _S.PAUSED: frozenset({_S.SENDING, _S.HELD, _S.PREPARING, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.CANCELLED: frozenset(),
}

#: States in which the dispatcher may submit the campaign's messages.
ACTIVE = frozenset({_S.SENDING, _S.HELD})
#: States that end a campaign for good (but see :func:`reopen`).
FINAL = frozenset({_S.COMPLETED, _S.CANCELLED})


def can_move(current: CampaignStatus, target: CampaignStatus) -> bool:
    return target in TRANSITIONS[current]


def move(current: CampaignStatus, target: CampaignStatus) -> CampaignStatus:
    """Return ``target`` if the lifecycle allows ``current → target``, else raise."""
    if not can_move(current, target):
        raise InvalidTransition(current.value, target.value)
    return target


def reopen(current: CampaignStatus) -> CampaignStatus:
    """The status a campaign takes when messages it left in doubt are re-queued: a completed
    campaign goes back to ``sending`` (nothing else would send them); an active or paused one
    keeps its status (its sender, or a person's resume, takes them). A cancelled campaign sends
    nothing again, and one not yet sending has nothing in doubt: both raise."""
    if current is _S.COMPLETED:
        return _S.SENDING
    if current in ACTIVE or current is _S.PAUSED:
        return current
    raise InvalidTransition(current.value, _S.SENDING.value)


class Exclusion(enum.Enum):
    """Why preparation (or the last check at submit time) leaves a recipient out."""

    OPTED_OUT = "opted_out"
    NO_CONSENT = "no_consent"
    INVALID_NUMBER = "invalid_number"
    DUPLICATE = "duplicate"
    SENDER_NOT_ALLOWED = "sender_not_allowed"
    URL_NOT_ALLOWED = "url_not_allowed"
    #: its STOP mention would be a link, and the account has no real unsubscribe page
    NO_UNSUBSCRIBE_PAGE = "no_unsubscribe_page"
    #: its personalised message (mention included) takes more parts than the ceiling
    #: (``STOPSMS_MAX_PARTS``; at submit time, the protocol's 255)
    TOO_LONG = "too_long"
    INSUFFICIENT_CREDIT = "insufficient_credit"
    ERASED = "erased"
    #: at submit time only: from 00000, or STOP 00000 through a provider that keeps it
    PLACEHOLDER_SHORTCODE = "placeholder_shortcode"


class MessageStatus(enum.Enum):
    """One outbox message, from preparation to its final receipt.

    pending ─► claimed ─► submitting ─► submitted ─► delivered | failed
       ▲  │        │            │
       │  ▼        │            └─► unknown   (on the wire when the process died or the
       held ◄──────┘                           link dropped: never resent, reconciled)
                                  unknown ─► pending (re-queued knowingly) | closed
    plus: excluded (never leaves), rejected (refused by the provider), cancelled.
    """

    PENDING = "pending"  # ready, waiting for its turn (and its not_before)
    HELD = "held"  # ready, waiting for the recipient's sending window (not_before set)
    CLAIMED = "claimed"  # taken by a dispatcher, not yet on the wire: safe to release
    SUBMITTING = "submitting"  # being written to the provider: outcome decided by the answer
    SUBMITTED = "submitted"  # accepted by the provider, receipt awaited
    DELIVERED = "delivered"
    FAILED = "failed"  # receipt says undeliverable
    REJECTED = "rejected"  # the provider refused it at submit time
    UNKNOWN = "unknown"  # in flight at a crash or disconnect: not resent, counted
    CLOSED = "closed"  # was unknown; a person closed it for good: never resent, not charged
    EXCLUDED = "excluded"
    CANCELLED = "cancelled"


#: Statuses of messages that left: the provider took them (``unknown`` ones may have left,
#: or not: counted apart, never as sent).
LEFT = frozenset({MessageStatus.SUBMITTED, MessageStatus.DELIVERED, MessageStatus.FAILED})
#: Statuses of messages in doubt: on the wire at a crash or disconnect, outcome unknown.
IN_DOUBT = frozenset({MessageStatus.UNKNOWN})
#: Statuses of messages still to send.
WAITING = frozenset({MessageStatus.PENDING, MessageStatus.HELD, MessageStatus.CLAIMED})
