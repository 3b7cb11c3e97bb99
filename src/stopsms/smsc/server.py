"""The SMSC simulator: a real SMPP 3.4 server (``smpp34.Server``) playing an aggregator.

It accepts binds, answers every ``submit_sm`` with a message id, records what it decoded, sends
delivery receipts after a delay (delivered, or failed by ratio or per-number rule), and sends
MO messages — on demand (:meth:`SmscSimulator.send_mo`) or as a scenario says (STOP after the
first message, START at 2.5 s…). A ``deliver_sm`` the ESME does not acknowledge (a non-zero
status, or no answer) is re-delivered every ``redeliver_interval`` up to ``max_attempts``
times, as a real SMSC does — which is what lets tests prove "acknowledged only once committed".

What the library does not let it do, and what it does instead:
* ``smpp34.Server`` accepts every bind and never shows the password: ``system_ids`` (when
  given) is checked after the bind, and a stranger is unbound at once.
* It cannot cut a TCP connection: :meth:`drop_connections` sends an ``unbind`` instead, which
  ends the session just the same for the ESME (anything it had in flight stays unanswered).
* It cannot listen on port 0 and report the port: :meth:`start` picks a free port first.

In-process API for tests, the demo and benchmarks::

    sim = SmscSimulator(receipt_delay=0.05, scenario=parse_scenario("blocked +33699999999"))
    port = await sim.start()            # 127.0.0.1, a free port
    ...  # sim.messages, sim.mo, sim.max_outstanding, await sim.send_mo("+336…", "STOP")
    await sim.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import random
import secrets
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

import smpp34

from stopsms.domain.text import gsm7_encode, split_parts
from stopsms.providers import smpp_pdu as wire
from stopsms.smsc.scenario import Scenario, digits

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SubmittedMessage:
    """One message as the simulator decoded it (long messages joined from their parts)."""

    message_id: str  # the first part's id, the one its receipt names
    source: str
    destination: str  # "+digits" when sent as international (TON 1)
    text: str
    data_coding: int
    parts: int
    system_id: str
    received_at: float  # time.monotonic()


@dataclass(slots=True)
class MoRecord:
    """An MO the simulator sent, and whether (and how) the ESME acknowledged it."""

    sender: str
    recipient: str
    text: str
    sent_at: float
    acknowledged: bool = False
    status: int | None = None  # the last deliver_sm_resp status; None: no answer
    attempts: int = 0


@dataclass(slots=True)
class _Delivery:
    """One deliver_sm to send (a receipt or an MO part) and its retry state."""

    system_id: str
    args: dict[str, object]
    due: float
    attempts: int = 0
    done: asyncio.Future[bool] | None = None
    last_status: int | None = None
    sent_at: float = 0.0


@dataclass(slots=True)
class _Parts:
    texts: dict[int, str] = field(default_factory=dict)
    ids: dict[int, str] = field(default_factory=dict)


def free_port(host: str) -> int:
    """A TCP port nobody listens on right now (smpp34.Server cannot report one it chose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class SmscSimulator:
    """An SMSC for tests and demos; see the module docstring."""

    def __init__(
        self,
        *,
        deliver_ratio: float = 1.0,
        receipt_delay: float = 0.0,
        failure_code: str = "001",
        scenario: Scenario | None = None,
        shortcode: str = "36034",
        system_id: str = "STOPSMS-SIM",
        system_ids: frozenset[str] | None = None,
        submit_delay: float = 0.0,
        submit_status: dict[str, int] | None = None,
        redeliver_interval: float = 0.2,
        max_attempts: int = 10,
        deliver_window: int = 512,
        seed: int | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.scenario = scenario or Scenario()
        self.deliver_ratio = self.scenario.deliver_ratio
        if self.deliver_ratio is None:
            self.deliver_ratio = deliver_ratio
        self.receipt_delay = self.scenario.receipt_delay
        if self.receipt_delay is None:
            self.receipt_delay = receipt_delay
        self.failure_code = failure_code
        self.shortcode = shortcode
        self.system_id = system_id
        self.system_ids = system_ids
        self.submit_delay = submit_delay
        self.submit_status = {digits(k): v for k, v in (submit_status or {}).items()}
        self.redeliver_interval = redeliver_interval
        self.max_attempts = max_attempts
        self.hold_submits = False  # park submit_sm unanswered (to test in-flight loss)
        self._deliver_window = deliver_window
        self._random = random.Random(seed)
        self._on_event = on_event
        # records
        self.messages: list[SubmittedMessage] = []
        self.mo: list[MoRecord] = []
        self.submit_times: list[float] = []
        self.outstanding = 0
        self.max_outstanding = 0
        self.binds = 0
        self.receipts_sent = 0
        self.receipts_acked = 0
        self.receipts_given_up = 0
        # state
        self._prefix = secrets.token_hex(3)
        self._ids = itertools.count(1)
        self._server: smpp34.Server | None = None
        self._sessions: dict[str, smpp34.Esme] = {}
        self._held: list[smpp34.SubmitSmEvent] = []
        self._dropped: list[smpp34.SubmitSmEvent] = []
        self._long: dict[tuple[str, str, int, int], _Parts] = {}
        self._seen: set[str] = set()
        # receipts: a heap by due time, sent by one pump, up to ``deliver_window`` in flight
        # (each deliver_sm is a library future with a done-callback: no task, no await each)
        self._receipts: list[tuple[float, int, _Delivery]] = []
        self._receipt_seq = itertools.count()
        self._in_flight: dict[asyncio.Future[Any], _Delivery] = {}
        self._receipt_wake = asyncio.Event()
        self._receivers: dict[str, smpp34.Esme | None] = {}
        self._stamp = (0, "")
        self._tasks: set[asyncio.Task[object]] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._pump: asyncio.Task[None] | None = None
        self._stopping = False
        self.port = 0

    # ------------------------------------------------------------ lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen (on a free port when ``port`` is 0) and return the port."""
        for attempt in range(5):
            chosen = port or free_port(host)
            server = smpp34.Server(host, chosen, system_id=self.system_id, inbound_capacity=8192)
            try:
                await server.start()
            except smpp34.SmppError:
                if port or attempt == 4:
                    raise
                continue
            break
        self._server, self.port = server, chosen
        self._pump = asyncio.create_task(self._run())
        self._workers = [asyncio.create_task(self._deliver_pump())]
        return chosen

    async def stop(self) -> None:
        """Unbind every session and stop listening."""
        tasks = [*self._tasks, *self._workers, *([self._pump] if self._pump else [])]
        self._stopping = True
        for task in tasks:
            task.cancel()
        for future in list(self._in_flight):
            future.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        await self.drop_connections()
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def drop_connections(self) -> int:
        """End every session (by unbind); parked submits stay unanswered. Returns how many."""
        sessions = list(self._sessions.values())
        self._sessions.clear()
        self._receivers.clear()
        # keep the parked events referenced: dropping one makes smpp34 answer ESME_RSYSERR,
        # and the point of a drop is that the ESME gets no answer at all
        self._dropped.extend(self._held)
        self._held = []
        for esme in sessions:
            await self._unbind(esme)
        return len(sessions)

    def release_held(self) -> None:
        """Answer the submits parked while ``hold_submits`` was on."""
        held, self._held = self._held, []
        for event in held:
            self._answer(event)

    def stats(self) -> dict[str, int]:
        return {
            "binds": self.binds,
            "sessions": len(self._sessions),
            "submit_sm": len(self.submit_times),
            "messages": len(self.messages),
            "max_outstanding": self.max_outstanding,
            "receipts_sent": self.receipts_sent,
            "receipts_acked": self.receipts_acked,
            "mo_sent": len(self.mo),
            "mo_acked": sum(1 for m in self.mo if m.acknowledged),
        }

    def _emit(self, line: str) -> None:
        if self._on_event is not None:
            self._on_event(line)

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ events
    async def _run(self) -> None:
        assert self._server is not None
        while True:
            try:
                event = await self._server.next()
            except smpp34.SmppError:
                return
            if isinstance(event, smpp34.SubmitSmEvent):
                self.outstanding += 1
                self.max_outstanding = max(self.max_outstanding, self.outstanding)
                self.submit_times.append(time.monotonic())
                if self.hold_submits:
                    self._held.append(event)
                elif self.submit_delay:
                    asyncio.get_running_loop().call_later(self.submit_delay, self._answer, event)
                else:
                    self._answer(event)
            elif isinstance(event, smpp34.Esme):
                self._bound(event)
            elif (
                isinstance(event, smpp34.Unbound)
                and self._sessions.pop(event.session_id, None) is not None
            ):
                self._receivers.clear()
                self._emit(f"unbind {event.session_id[:8]}")

    def _bound(self, esme: smpp34.Esme) -> None:
        if self.system_ids is not None and esme.system_id not in self.system_ids:
            self._emit(f"bind refused: unknown system_id {esme.system_id!r}")
            self._spawn(self._unbind(esme))
            return
        self._sessions[esme.session_id] = esme
        self._receivers.clear()
        self.binds += 1
        if self.binds == 1:
            for reply in self.scenario.timed():
                self._spawn(self._timed_mo(reply.at or 0.0, reply.sender, reply.text))
        kind = "transceiver/receiver" if esme.can_receive else "transmitter"
        self._emit(f"bind {esme.system_id!r} ({kind}) session {esme.session_id[:8]}")

    def _answer(self, event: smpp34.SubmitSmEvent) -> None:
        self.outstanding -= 1
        destination = event.destination_addr
        if event.dest_addr_ton == 1 and not destination.startswith("+"):
            destination = "+" + destination
        if self.submit_status:
            status = self.submit_status.get(digits(destination))
            if status:
                with contextlib.suppress(RuntimeError):
                    event.reject(status)
                return
        message_id = f"{self._prefix}{next(self._ids):08x}"
        try:  # noqa: SIM105 - contextlib.suppress costs a context manager per message
            event.accept(message_id)
        except RuntimeError:
            pass
        data = event.short_message
        concat = None
        payload = data
        if event.esm_class & wire.ESM_UDHI:
            concat, payload = wire.split_udh(data)
        tlvs = event.tlvs
        if concat is None and tlvs:
            concat = wire.sar_concat(tlvs)
        text = wire.decode_text(payload, event.data_coding)
        system_id = self._system_id(event.session_id)
        if event.registered_delivery & 1:
            self._schedule_receipt(system_id, message_id, event.source_addr, destination, text)
        if concat is not None and concat.total > 1:
            key = (event.source_addr, destination, concat.reference, concat.total)
            parts = self._long.setdefault(key, _Parts())
            parts.texts[concat.number] = text
            parts.ids[concat.number] = message_id
            if len(parts.texts) < concat.total:
                return
            del self._long[key]
            text = "".join(parts.texts[n] for n in sorted(parts.texts))
            message_id = parts.ids[min(parts.ids)]
        total = concat.total if concat is not None else 1
        self.messages.append(
            SubmittedMessage(
                message_id,
                event.source_addr,
                destination,
                text,
                event.data_coding,
                total,
                system_id,
                time.monotonic(),
            )
        )
        if not self.scenario.replies:
            return
        key_digits = digits(destination)
        if key_digits not in self._seen:
            self._seen.add(key_digits)
            for reply in self.scenario.after_first(destination):
                delay = (self.receipt_delay or 0.0) + 0.01
                self._spawn(self._timed_mo(delay, reply.sender, reply.text, event.source_addr))

    @staticmethod
    async def _unbind(esme: smpp34.Esme) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await esme.unbind()

    def _system_id(self, session_id: str) -> str:
        esme = self._sessions.get(session_id)
        return esme.system_id if esme is not None else ""

    # ------------------------------------------------------------ receipts
    def _schedule_receipt(
        self, system_id: str, message_id: str, source: str, destination: str, text: str
    ) -> None:
        code = None
        if self.scenario.failures:
            code = self.scenario.failures.get(digits(destination))
        ratio = self.deliver_ratio if self.deliver_ratio is not None else 0.0
        if code is None and ratio < 1.0 and self._random.random() >= ratio:
            code = self.failure_code
        state = "DELIVRD" if code is None else "UNDELIV"
        now = time.time()
        second, stamp = self._stamp
        if int(now) != second:  # the receipt's date fields change once a minute at most
            stamp = datetime.fromtimestamp(now, UTC).strftime("%y%m%d%H%M")
            self._stamp = (int(now), stamp)
        body = wire.receipt_text(message_id, state, code or "000", stamp, stamp, text)
        args: dict[str, object] = {
            "destination_addr": source,
            "short_message": body.encode("ascii", "replace"),
            "source_addr": destination.removeprefix("+"),
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "esm_class": wire.ESM_RECEIPT,
            "tlvs": [
                smpp34.Tlv(wire.TLV_RECEIPTED_MESSAGE_ID, message_id.encode() + b"\0"),
                smpp34.Tlv(wire.TLV_MESSAGE_STATE, bytes((wire.STATE_CODES[state],))),
            ],
        }
        due = time.monotonic() + (self.receipt_delay or 0.0)
        heapq.heappush(
            self._receipts, (due, next(self._receipt_seq), _Delivery(system_id, args, due))
        )
        self.receipts_sent += 1
        self._receipt_wake.set()

    async def _deliver_pump(self) -> None:
        """Send due receipts, up to ``deliver_window`` deliver_sm in flight at once.

        Each deliver_sm is started without awaiting it (the library returns a future; its
        done-callback settles the receipt), so a burst of receipts costs one pass here, not
        one task and one await each. An answer that does not come within 5 s counts as none.
        """
        heap, in_flight, wake = self._receipts, self._in_flight, self._receipt_wake
        window = max(1, self._deliver_window)
        last_sweep = time.monotonic()
        while not self._stopping:
            now = time.monotonic()
            if now - last_sweep >= 1.0:
                last_sweep = now
                for stale, item in list(in_flight.items()):
                    if now - item.sent_at > 5.0:
                        stale.cancel()
            while heap and len(in_flight) < window and heap[0][0] <= now:
                item = heapq.heappop(heap)[2]
                item.attempts += 1
                esme = self._session_for(item.system_id)
                if esme is None:
                    self._receipt_failed(item, None)
                    continue
                try:
                    # the library returns a future (ensure_future passes it through untouched)
                    future = asyncio.ensure_future(
                        esme.deliver_sm(**item.args)  # type: ignore[arg-type]
                    )
                except (smpp34.SmppError, RuntimeError) as exc:
                    log.debug("deliver_sm failed: %s", exc)
                    self._receipt_failed(item, None)
                    continue
                item.sent_at = now
                in_flight[future] = item
                future.add_done_callback(self._receipt_answered)
            wake.clear()
            if heap and len(in_flight) < window:
                timeout: float | None = max(0.0, heap[0][0] - time.monotonic())
            elif in_flight:
                timeout = 1.0
            else:
                timeout = None
            if timeout == 0.0:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await wake.wait()

    def _receipt_answered(self, future: asyncio.Future[Any]) -> None:
        item = self._in_flight.pop(future, None)
        if item is None:
            return
        self._receipt_wake.set()  # a slot is free
        status: int | None = None
        if not future.cancelled():
            exc = future.exception()
            if exc is None:
                resp = future.result()
                status = resp.command_status
                if resp.is_success:
                    item.last_status = status
                    self.receipts_acked += 1
                    return
            else:
                log.debug("deliver_sm failed: %s", exc)
        self._receipt_failed(item, status)

    def _receipt_failed(self, item: _Delivery, status: int | None) -> None:
        item.last_status = status
        if item.attempts >= self.max_attempts:
            self.receipts_given_up += 1
            return
        item.due = time.monotonic() + self.redeliver_interval
        heapq.heappush(self._receipts, (item.due, next(self._receipt_seq), item))
        self._receipt_wake.set()

    def _session_for(self, system_id: str) -> smpp34.Esme | None:
        cache = self._receivers
        if system_id in cache:
            return cache[system_id]
        receivers = [e for e in self._sessions.values() if e.can_receive]
        same = [e for e in receivers if e.system_id == system_id]
        chosen = same or receivers
        esme = chosen[0] if chosen else None
        cache[system_id] = esme
        return esme

    async def _deliver_once(self, item: _Delivery) -> bool:
        """One deliver_sm attempt; True when the ESME answered ESME_ROK."""
        item.attempts += 1
        esme = self._session_for(item.system_id)
        if esme is None:
            return False
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            async with asyncio.timeout(5.0):
                resp = await esme.deliver_sm(**item.args)  # type: ignore[arg-type]
        except (smpp34.SmppError, TimeoutError, RuntimeError) as exc:
            log.debug("deliver_sm failed: %s", exc)
            item.last_status = None
            return False
        item.last_status = resp.command_status
        return resp.is_success

    # ------------------------------------------------------------ MO
    async def _timed_mo(self, delay: float, sender: str, text: str, to: str | None = None) -> None:
        await asyncio.sleep(delay)
        record = await self.send_mo(sender, text, to=to)
        verdict = "acknowledged" if record.acknowledged else f"NOT acknowledged ({record.status})"
        self._emit(f"mo {sender} {text!r} {verdict} after {record.attempts} attempt(s)")

    async def send_mo(self, sender: str, text: str, to: str | None = None) -> MoRecord:
        """Send an MO from handset ``sender`` to ``to`` (default: the shortcode); re-deliver
        until the ESME acknowledges it or ``max_attempts`` ran out. Returns the record."""
        recipient = to or self.shortcode
        record = MoRecord(sender, recipient, text, time.monotonic())
        self.mo.append(record)
        try:
            gsm7_encode(text)
            dcs, texts = wire.DCS_GSM7, split_parts(text)
        except ValueError:
            dcs, texts = wire.DCS_UCS2, wire.split_ucs2(text)
        reference = self._random.randrange(256)
        for number, part in enumerate(texts, 1):
            payload = wire.encode_text(part, dcs)
            esm_class = 0
            if len(texts) > 1:
                payload = wire.concat_udh(reference, len(texts), number) + payload
                esm_class = wire.ESM_UDHI
            args: dict[str, object] = {
                "destination_addr": recipient,
                "short_message": payload,
                "source_addr": digits(sender),
                "source_addr_ton": 1,
                "source_addr_npi": 1,
                "esm_class": esm_class,
                "data_coding": dcs,
            }
            item = _Delivery("", args, 0.0)
            while not await self._deliver_once(item):
                if item.attempts >= self.max_attempts:
                    record.attempts, record.status = item.attempts, item.last_status
                    return record
                await asyncio.sleep(self.redeliver_interval)
            record.attempts = max(record.attempts, item.attempts)
            record.status = item.last_status
        record.acknowledged = True
        return record


def exit_process(code: int) -> NoReturn:
    """Leave the process now, after flushing stdout and stderr, skipping finalization.

    ``smpp34``'s server runs native (tokio) threads that may still call into Python while the
    interpreter finalizes, which then aborts ("PyGILState_Release: thread state … must be
    current when releasing"; seen once in about ten demo runs on a clean clone). A command that
    hosted the simulator calls this once it has written and closed everything, so skipping
    finalization loses nothing and its exit code stays the one it chose.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
