"""A minimal, fast SMPP 3.4 SMSC for benchmarks only — NOT product code, not a simulator.

``stopsms smsc`` (:mod:`stopsms.smsc`, on ``smpp34.Server``) caps near 2.2k messages/s with
receipts: the library hands out one event per ``next()`` call, resolved from its own thread.
This sink exists to measure OUR side (provider, dispatcher, database, receipts) against a
peer that is not the bottleneck. It is an asyncio protocol with a struct-based PDU reader:

- ``bind_transceiver`` / ``bind_transmitter`` / ``bind_receiver``: accepted (any password);
  ``enquire_link`` and ``unbind`` answered; any other request gets ``generic_nack``;
- each ``submit_sm``: a ``submit_sm_resp`` (message id: hex counter) and, if it asked for one
  (``registered_delivery``), a delivery receipt ``deliver_sm`` (esm_class 0x04, the appendix B
  text ``id:… sub:001 dlvrd:001 submit date:… done date:… stat:DELIVRD err:000 text:`` plus
  the ``receipted_message_id`` and ``message_state`` TLVs), addresses swapped;
- up to ``window`` (512) ``deliver_sm`` unanswered at once, the rest queued; each
  ``deliver_sm_resp`` read frees a slot; everything produced while handling one
  ``data_received`` leaves in one ``transport.write``.

No validation, no re-delivery, no MO, no failures: every message is delivered. For the
many-worker benchmark it can also play the provider's limits: ``max_binds`` (a bind beyond
is refused, ``ESME_RBINDFAIL``) and ``tps`` (``submit_sm`` beyond that many in one calendar
second answered ``ESME_RTHROTTLED``); the counts then carry the most binds held at once, the
throttled submits and the busiest second.

In a child process: ``child, port = sink_process()``; ``sink_stop(child)`` returns its counts
(``{"submits": …, "receipts_acked": …}``). ``python -m bench.smpp_sink [PORT]`` runs it alone.
"""

from __future__ import annotations

import asyncio
import json
import struct
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence
RESP = 0x80000000
GENERIC_NACK = 0x80000000
BINDS = frozenset({0x00000001, 0x00000002, 0x00000009})
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = DELIVER_SM | RESP
UNBIND = 0x00000006
ENQUIRE_LINK = 0x00000015
ESM_RECEIPT = 0x04
STATE_DELIVERED = 2
WINDOW = 512


class _Session(asyncio.Protocol):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.sequence = 0
        self.in_flight = 0  # deliver_sm unanswered
        self.queued: deque[bytes] = deque()  # deliver_sm bodies beyond the window
        self.bound = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.bound:
            self.sink.binds -= 1

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        out: list[bytes] = []
        start, size = 0, len(buf)
        unpack = HEADER.unpack_from
        sink = self.sink
        while size - start >= 16:
            length, command, _status, seq = unpack(buf, start)
            if length < 16:
                assert self.transport is not None
                self.transport.abort()
                return
            if size - start < length:
                break
            if command == SUBMIT_SM:
                if sink.over_cap():
                    out.append(HEADER.pack(16, SUBMIT_SM | RESP, 0x58, seq))  # THROTTLED
                else:
                    self._submit(bytes(buf[start + 16 : start + length]), seq, out)
            elif command == DELIVER_SM_RESP:
                sink.receipts_acked += 1
                self.in_flight -= 1
            elif command == ENQUIRE_LINK:
                out.append(HEADER.pack(16, ENQUIRE_LINK | RESP, 0, seq))
            elif command in BINDS:
                if sink.max_binds and sink.binds >= sink.max_binds:
                    out.append(HEADER.pack(16, command | RESP, 0x0D, seq))  # ESME_RBINDFAIL
                else:
                    self.bound = True
                    sink.binds += 1
                    sink.most_binds = max(sink.most_binds, sink.binds)
                    out.append(HEADER.pack(16 + 5, command | RESP, 0, seq) + b"sink\0")
            elif command == UNBIND:
                out.append(HEADER.pack(16, UNBIND | RESP, 0, seq))
                self._flush(out)
                assert self.transport is not None
                self.transport.close()
                return
            elif not command & RESP:
                out.append(HEADER.pack(16, GENERIC_NACK, 0x03, seq))  # ESME_RINVCMDID
            start += length
        del buf[:start]
        self._flush(out)

    def _submit(self, body: bytes, seq: int, out: list[bytes]) -> None:
        sink = self.sink
        sink.submits += 1
        message_id = f"{sink.submits:x}".encode()
        out.append(HEADER.pack(17 + len(message_id), SUBMIT_SM | RESP, 0, seq) + message_id + b"\0")
        # service_type, source ton/npi/addr, dest ton/npi/addr, esm, pid, priority,
        # schedule, validity, registered_delivery: only the addresses and the last are read
        i = body.index(0) + 1
        src_ton, src_npi = body[i], body[i + 1]
        j = body.index(0, i + 2)
        source = body[i + 2 : j]
        dst_ton, dst_npi = body[j + 1], body[j + 2]
        k = body.index(0, j + 3)
        destination = body[j + 3 : k]
        k += 4  # esm_class, protocol_id, priority_flag
        k = body.index(0, k) + 1  # schedule_delivery_time
        k = body.index(0, k) + 1  # validity_period
        if not body[k] & 0x03:  # registered_delivery: no receipt asked
            return
        date = sink.date()
        text = (
            b"id:" + message_id + b" sub:001 dlvrd:001 submit date:" + date
            + b" done date:" + date + b" stat:DELIVRD err:000 text:"
        )  # fmt: skip
        receipt = b"".join(
            (
                b"\0",  # service_type
                bytes((dst_ton, dst_npi)),
                destination,
                bytes((0, src_ton, src_npi)),
                source,
                bytes((0, ESM_RECEIPT, 0, 0, 0, 0, 0, 0, 0, 0, len(text))),
                # esm, pid, priority, schedule "", validity "", reg, replace, dcs, default id
                text,
                struct.pack(">HH", 0x001E, len(message_id) + 1),
                message_id,
                b"\0",
                struct.pack(">HHB", 0x0427, 1, STATE_DELIVERED),
            )
        )
        self.queued.append(receipt)

    def _flush(self, out: list[bytes]) -> None:
        queued = self.queued
        while queued and self.in_flight < self.sink.window:
            body = queued.popleft()
            self.sequence += 1
            self.in_flight += 1
            out.append(HEADER.pack(16 + len(body), DELIVER_SM, 0, self.sequence) + body)
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))


class Sink:
    """The server: ``port = await sink.start()``; ``sink.close()``."""

    def __init__(self, window: int = WINDOW, max_binds: int = 0, tps: int = 0) -> None:
        self.window = window
        self.max_binds = max_binds
        self.tps = tps
        self.binds = 0
        self.most_binds = 0
        self.throttled = 0
        self.busiest = 0  # submit_sm accepted in the busiest calendar second
        self._in_second = 0
        self._cap_second = -1
        self.submits = 0
        self.receipts_acked = 0
        self._server: asyncio.Server | None = None
        self._second = -1
        self._date = b""

    def over_cap(self) -> bool:
        """Count one ``submit_sm`` against this second's cap; ``True`` if it is beyond."""
        if not self.tps:
            return False
        now = int(time.time())
        if now != self._cap_second:
            self._cap_second, self._in_second = now, 0
        if self._in_second >= self.tps:
            self.throttled += 1
            return True
        self._in_second += 1
        self.busiest = max(self.busiest, self._in_second)
        return False

    def date(self) -> bytes:
        """``YYMMDDhhmm``, formatted once a second."""
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._date = time.strftime("%y%m%d%H%M", time.gmtime(now)).encode()
        return self._date

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Session(self), host, port)
        return int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


async def _serve(port: int, max_binds: int = 0, tps: int = 0) -> None:
    sink = Sink(max_binds=max_binds, tps=tps)
    print(await sink.start(port=port), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    sink.close()
    counts = {"submits": sink.submits, "receipts_acked": sink.receipts_acked}
    if max_binds or tps:
        counts.update(most_binds=sink.most_binds, throttled=sink.throttled, busiest=sink.busiest)
    print(json.dumps(counts), flush=True)


def sink_process(max_binds: int = 0, tps: int = 0) -> tuple[subprocess.Popen[bytes], int]:
    """Start the sink in a child process (like ``bench.bench_smpp.simulator_process``):
    (process, port). Stop it with :func:`sink_stop`."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.smpp_sink", "0", str(max_binds), str(tps)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert child.stdout is not None
    return child, int(child.stdout.readline())


def sink_stop(child: subprocess.Popen[bytes]) -> dict[str, int]:
    """Close the sink's stdin, wait for it; its counts."""
    out, _ = child.communicate(b"")
    counts: dict[str, int] = json.loads(out.splitlines()[-1])
    return counts


if __name__ == "__main__":
    asyncio.run(_serve(*(int(arg) for arg in sys.argv[1:4])))
