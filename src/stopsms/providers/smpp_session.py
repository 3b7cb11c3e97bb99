"""One SMPP 3.4 session on asyncio: framing, sequence numbers, the submit window, requests.

:class:`SmppSession` is the TCP connection and its bind: it reads PDUs, answers what needs no
decision (``enquire_link``, ``unbind``, unknown commands), matches ``submit_sm_resp`` to the
parts of a :class:`SubmitBatch`, and hands every ``deliver_sm`` of one read to its
:class:`DeliverSink` (the provider, :mod:`stopsms.providers.smpp`) at once. PDU bodies are
``smpp34``'s (through :mod:`stopsms.providers.smpp_pdu`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from typing import Protocol

from stopsms.providers import smpp_pdu as wire
from stopsms.providers.base import OutboundMessage

__all__ = ["LOST", "UNSENT", "DeliverSink", "SmppSession", "SubmitBatch"]

log = logging.getLogger(__name__)

MAX_PDU = 64 * 1024
REMEMBERED_PART_IDS = 200_000

# A part's outcome: (message_id, status); status -1 = connection lost, -2 = never sent.
LOST = -1
UNSENT = -2


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
    )

    def __init__(
        self,
        messages: Sequence[OutboundMessage],
        loop: asyncio.AbstractEventLoop,
        registry: dict[str, SubmitBatch],
        other_parts: dict[str, int],
    ) -> None:
        self.messages = messages
        self.registry = registry
        self.other_parts = other_parts
        self.answers: list[list[tuple[str | None, int] | None]] = []
        self.remaining = 0
        self.done: asyncio.Future[None] = loop.create_future()
        self.returned: asyncio.Future[None] = loop.create_future()
        self.accepted_ids: list[str] = []

    def answer(self, index: int, part: int, message_id: str | None, status: int) -> None:
        self.answers[index][part] = (message_id, status)
        if status == wire.ESME_ROK and part == 0 and message_id:
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

    def __init__(self, sink: DeliverSink, window: int) -> None:
        self.sink = sink
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.sequence = itertools.count(1)
        self.pending: dict[int, tuple[SubmitBatch, int, int]] = {}
        self.requests: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self.slots = asyncio.Semaphore(window)
        self.closed: asyncio.Future[None] = self.loop.create_future()
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
        self.bound = False
        pending, self.pending = self.pending, {}
        for batch, index, part in pending.values():
            batch.answer(index, part, None, LOST)  # in flight: outcome unknown, never resent
            self.slots.release()
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
                self.slots.release()
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

    @property
    def usable(self) -> bool:
        return self.bound and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        self.flush()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class DeliverSink(Protocol):
    """Who decides what a session's ``deliver_sm`` mean (receipts, MO) and when to answer."""

    def on_delivers(self, session: SmppSession, delivers: list[tuple[int, bytes]]) -> None:
        """``delivers``: (sequence number, whole PDU) of every deliver_sm of one read."""
