"""One SMPP 3.4 session on asyncio: framing, sequence numbers, the submit window, requests.

:class:`SmppSession` is the TCP connection and its bind: it reads PDUs, answers what needs no
decision (``enquire_link``, ``unbind``, unknown commands), matches ``submit_sm_resp`` to the
parts of a :class:`SubmitBatch`, and hands every ``deliver_sm`` of one read to its
:class:`DeliverSink` (the provider, :mod:`stopsms.providers.smpp`) at once. PDU bodies are
``smpp34``'s (through :mod:`stopsms.providers.smpp_pdu`).

A session is used once: from the moment it ends — its peer unbinds, we close or abort it, or
the connection drops — it takes no submit (:meth:`SmppSession.submit` raises
:class:`SessionClosed`, a retryable error: nothing was written) and every caller waiting for
room in its window is woken with that error, so the chunk moves to the next bind instead of
waiting on a dead window forever (issue 11: a sender froze after an SMSC restart, a chunk
parked on the semaphore of a session already closed). Every wait has a deadline: room in
the window (:meth:`SmppSession.reserve`, ``timeout``) and each ``submit_sm_resp`` (the
response timer: a submit unanswered ``response_timeout`` seconds after it was written drops
the connection, its parts reported lost — never resent).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from stopsms.providers import smpp_pdu as wire
from stopsms.providers.base import OutboundMessage

__all__ = ["LOST", "UNSENT", "DeliverSink", "SessionClosed", "SmppSession", "SubmitBatch"]

log = logging.getLogger(__name__)

MAX_PDU = 64 * 1024
REMEMBERED_PART_IDS = 200_000

# A part's outcome: (message_id, status); status -1 = connection lost, -2 = never sent.
LOST = -1
UNSENT = -2


class SessionClosed(ConnectionError):
    """The session ended before the submit was written: nothing was sent, safe to retry."""


class SubmitBatch:
    """The parts of one ``submit_many`` call and their answers."""

    __slots__ = (
        "accepted_ids",
        "answers",
        "done",
        "messages",
        "other_parts",
        "registry",
        "remaining",
        "returned",
        "throttled",
    )

    def __init__(
        self,
        messages: Sequence[OutboundMessage],
        loop: asyncio.AbstractEventLoop,
        registry: dict[str, SubmitBatch],
        other_parts: dict[str, int],
        throttled: Callable[[], None] | None = None,
    ) -> None:
        self.messages = messages
        self.throttled = throttled  # told of each ESME_RTHROTTLED answer, as it arrives
        self.registry = registry
        self.other_parts = other_parts
        self.answers: list[list[tuple[str | None, int] | None]] = []
        self.remaining = 0
        self.done: asyncio.Future[None] = loop.create_future()
        self.returned: asyncio.Future[None] = loop.create_future()
        self.accepted_ids: list[str] = []

    def answer(self, index: int, part: int, message_id: str | None, status: int) -> None:
        self.answers[index][part] = (message_id, status)
        if status == wire.ESME_RTHROTTLED and self.throttled is not None:
            self.throttled()
        if status == wire.ESME_ROK and part == 0 and message_id:
            # The newest submission of an id speaks for it (an SMSC that restarted numbers
            # from 1 again): a later part of an older message with this id no longer does.
            self.other_parts.pop(message_id, None)
            self.accepted_ids.append(message_id)
            if not self.returned.done():  # its receipt waits until the caller has the id
                self.registry[message_id] = self
        elif status == wire.ESME_ROK and message_id:
            # a later part of a long message: its receipt is dropped (the first part speaks)
            if len(self.other_parts) >= REMEMBERED_PART_IDS:
                self.other_parts.pop(next(iter(self.other_parts)))
            self.other_parts[message_id] = index
        self.remaining -= 1
        if self.remaining == 0 and not self.done.done():
            self.done.set_result(None)


class SmppSession(asyncio.Protocol):
    """One SMPP session (TCP connection + bind). Reads PDUs; its sink (the provider) decides."""

    def __init__(self, sink: DeliverSink, window: int, response_timeout: float = 10.0) -> None:
        self.sink = sink
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.sequence = itertools.count(1)
        # seq -> (batch, message index, part, loop time written); oldest first
        self.pending: dict[int, tuple[SubmitBatch, int, int, float]] = {}
        self.requests: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self.free = window  # room in the window: reserved by reserve(), given back by answers
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self.response_timeout = response_timeout
        self.timer: asyncio.TimerHandle | None = None
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.ended = False  # unbound, closing or lost: never takes a submit again
        self.last_heard = self.loop.time()
        self.bound = False
        # PDUs written during one event-loop step leave in one send() (see write)
        self.out: list[bytes] = []
        self.delivers: list[tuple[int, bytes]] = []  # deliver_sm (seq, frame) of one read

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.end()
        if self.timer is not None:
            self.timer.cancel()
        pending, self.pending = self.pending, {}
        for batch, index, part, _ in pending.values():
            batch.answer(index, part, None, LOST)  # in flight: outcome unknown, never resent
        for fut in self.requests.values():
            if not fut.done():
                fut.set_exception(ConnectionError("SMPP connection lost"))
        self.requests.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.last_heard = self.loop.time()
        buf = self.buffer
        buf += data
        start, size = 0, len(buf)
        while size - start >= 16:
            length, command, status, seq = wire.HEADER.unpack_from(buf, start)
            if length < 16 or length > MAX_PDU:
                log.error("SMPP: bad PDU length %d, dropping the connection", length)
                self.abort()
                return
            if size - start < length:
                break
            frame = bytes(buf[start : start + length])
            start += length
            self.dispatch(command, status, seq, frame)
        del buf[:start]
        if self.delivers:  # every deliver_sm of this read, handed over at once
            delivers, self.delivers = self.delivers, []
            self.sink.on_delivers(self, delivers)

    # -- PDUs
    def dispatch(self, command: int, status: int, seq: int, frame: bytes) -> None:
        if command == wire.SUBMIT_SM | wire.RESP or (
            command == wire.GENERIC_NACK and seq in self.pending
        ):
            entry = self.pending.pop(seq, None)
            if entry is not None:
                message_id = wire.read_c_string(frame, 16) if status == wire.ESME_ROK else None
                entry[0].answer(entry[1], entry[2], message_id, status or 0)
                self.give()
        elif command == wire.DELIVER_SM:
            self.delivers.append((seq, frame))
        elif command == wire.ENQUIRE_LINK:
            self.write(wire.header_only(wire.ENQUIRE_LINK | wire.RESP, seq))
        elif command == wire.UNBIND:
            self.write(wire.header_only(wire.UNBIND | wire.RESP, seq))
            self.close()
        elif command & wire.RESP:
            fut = self.requests.pop(seq, None)
            if fut is not None and not fut.done():
                fut.set_result((status, frame))
        else:
            self.write(wire.header_only(wire.GENERIC_NACK, seq, status=0x03))  # ESME_RINVCMDID

    def write(self, data: bytes) -> None:
        """Queue a PDU; everything queued in this event-loop step goes out in one write.

        One system call per burst instead of per PDU: a syscall releases the GIL, and with
        the database thread busy, getting it back can take a switch interval (5 ms) each.
        """
        out = self.out
        out.append(data)
        if len(out) == 1:
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        out, self.out = self.out, []
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    async def request(self, command: int, body: bytes, timeout: float) -> tuple[int, bytes]:
        seq = next(self.sequence)
        fut: asyncio.Future[tuple[int, bytes]] = self.loop.create_future()
        self.requests[seq] = fut
        self.write(wire.with_header(command, seq, body))
        try:
            async with asyncio.timeout(timeout):  # not wait_for: it can eat a cancel on 3.11
                return await fut
        finally:
            self.requests.pop(seq, None)

    # -- the submit window
    async def reserve(self, timeout: float) -> None:
        """Wait for room in the window, first come first served; at most ``timeout`` seconds
        (``TimeoutError``). ``SessionClosed`` at once if the session has ended, or as soon as
        it ends while waiting. The room is used by :meth:`submit`."""
        if not self.usable:
            raise SessionClosed("SMPP session closed")
        if self.free > 0 and not self.waiting:
            self.free -= 1
            return
        turn: asyncio.Future[None] = self.loop.create_future()
        self.waiting.append(turn)
        try:
            async with asyncio.timeout(timeout):
                await turn
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self.give()  # handed the room but leaving (timeout, cancel): pass it on
            elif not turn.done():
                self.waiting.remove(turn)
            raise

    def give(self) -> None:
        """One more room in the window: to the first waiter, else kept."""
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1

    def submit(self, entry: tuple[SubmitBatch, int, int], pdu: bytes) -> None:
        """Write one encoded ``submit_sm`` (its sequence number replaced by the session's) in
        a room :meth:`reserve` gave; ``SessionClosed`` (the room given back, nothing
        written) if the session ended."""
        if not self.usable:
            self.give()
            raise SessionClosed("SMPP session closed")
        seq = next(self.sequence)
        now = self.loop.time()
        self.pending[seq] = (*entry, now)
        frame = bytearray(pdu)
        wire.SEQUENCE.pack_into(frame, 12, seq)
        self.write(bytes(frame))
        if self.timer is None:
            self.timer = self.loop.call_at(now + self.response_timeout, self.check_responses)

    def check_responses(self) -> None:
        """The response timer: the oldest unanswered submit_sm older than the deadline means
        the peer stopped answering; drop the connection (its submits are reported lost)."""
        self.timer = None
        if not self.pending:
            return
        oldest = next(iter(self.pending.values()))[3]
        due = oldest + self.response_timeout
        if self.loop.time() >= due:
            log.warning(
                "SMPP: no submit_sm_resp in %.1f s, dropping the connection", self.response_timeout
            )
            self.abort()
        else:
            self.timer = self.loop.call_at(due, self.check_responses)

    def end(self) -> None:
        """From now on the session takes no submit; whoever waits for its window is told."""
        self.bound = False
        if self.ended:
            return
        self.ended = True
        waiting, self.waiting = self.waiting, collections.deque()
        for turn in waiting:
            if not turn.done():
                turn.set_exception(SessionClosed("SMPP session closed"))
        self.sink.on_session_end(self)

    @property
    def usable(self) -> bool:
        return (
            self.bound
            and not self.ended
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def close(self) -> None:
        self.end()
        self.flush()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.end()
        if self.transport is not None:
            self.transport.abort()


class DeliverSink(Protocol):
    """Who decides what a session's ``deliver_sm`` mean (receipts, MO) and when to answer."""

    def on_delivers(self, session: SmppSession, delivers: list[tuple[int, bytes]]) -> None:
        """``delivers``: (sequence number, whole PDU) of every deliver_sm of one read."""

    def on_session_end(self, session: SmppSession) -> None:
        """``session`` ended (it takes no submit any more): stop handing it out."""
