"""The provider contract: what the dispatcher and the inbound handler see of any SMS route.

A provider submits prepared messages and reports back two kinds of events: delivery
receipts for messages it accepted, and mobile-originated (MO) messages such as STOP
replies. Everything else (SMPP PDUs, HTTP calls, windows, reconnects) stays inside the
implementation.

Two rules every implementation keeps:

* An MO message or a receipt is acknowledged to the peer only after the handler's
  coroutine returned, i.e. after the event was committed. If the handler raises, the
  event is not acknowledged (or is negatively acknowledged) so the peer re-delivers it.
* ``submit`` returns only when the peer answered (accepted or refused) or the attempt
  failed; a message whose outcome is unknown (connection lost while in flight) is
  reported as such, never silently retried.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from stopsms.domain.errors import StopsmsError


class ProviderError(StopsmsError):
    """A provider could not be configured, reached or bound."""


class BindRefused(ProviderError):
    """The provider was reached and refused the bind (a wrong password, no bind left, …):
    rebinding as it is will not help until something changes on one side."""


class DataCoding(enum.Enum):
    """The alphabet a message is sent in; the text is always given as a Python string."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One SMS to submit. ``ref`` is our outbox id, echoed back in the result."""

    ref: int
    source: str
    destination: str
    text: str
    coding: DataCoding
    request_receipt: bool = True


#: ``error_code`` of an ``UNKNOWN`` outcome whose connection dropped while it was in flight (a
#: fault of the route, not of the message: the provider reconnects and sending goes on).
CONNECTION_LOST = "connection_lost"


class SubmitOutcome(enum.Enum):
    ACCEPTED = "accepted"  # the peer took it and gave a message id
    REJECTED = "rejected"  # the peer refused it for good (bad number, blocked, ...)
    RETRY = "retry"  # the peer refused it for now (throttled, busy): safe to submit again
    UNKNOWN = "unknown"  # sent, but no answer came (connection lost): must not be resent


@dataclass(frozen=True, slots=True)
class SubmitResult:
    ref: int
    outcome: SubmitOutcome
    provider_message_id: str | None = None
    error_code: str | None = None
    error_text: str | None = None


class ReceiptStatus(enum.Enum):
    DELIVERED = "delivered"
    FAILED = "failed"  # undeliverable, rejected, expired, deleted, unknown final state
    ACCEPTED = "accepted"  # an intermediate state (ENROUTE/ACCEPTD): not final


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    provider_message_id: str
    status: ReceiptStatus
    error_code: str | None
    raw_state: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A mobile-originated message: ``sender`` is the phone (as the peer gave it)."""

    sender: str
    recipient: str
    text: str
    received_at: datetime


ReceiptCallback = Callable[[DeliveryReceipt], Awaitable[None]]
ReceiptsCallback = Callable[[Sequence[DeliveryReceipt]], Awaitable[None]]
InboundCallback = Callable[[InboundMessage], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EventHandlers:
    """What a provider calls for events; each coroutine returns once the event is committed.

    ``on_receipts`` (optional): the receipts a provider read at once (e.g. from one network
    read), handled as one event — committed together, acknowledged together once it
    returned, all refused if it raised. Without it, ``on_receipt`` is called per receipt.
    """

    on_receipt: ReceiptCallback
    on_inbound: InboundCallback
    on_receipts: ReceiptsCallback | None = None


@dataclass(frozen=True, slots=True)
class ProviderStats:
    submitted: int = 0
    accepted: int = 0
    rejected: int = 0
    reconnects: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Provider(Protocol):
    """A route to handsets. Implementations: :mod:`stopsms.providers.smpp`."""

    name: str
    throughput: float  # configured messages per second, used to plan finish times

    async def start(self, handlers: EventHandlers) -> None:
        """Connect (bind) and start delivering events to ``handlers``."""

    async def submit_many(self, messages: Sequence[OutboundMessage]) -> list[SubmitResult]:
        """Submit messages, pipelined within the provider's window and rate; one result each,
        in the same order. Waits until every message has an outcome."""

    async def close(self) -> None:
        """Unbind and disconnect; pending events already received are handled first."""
