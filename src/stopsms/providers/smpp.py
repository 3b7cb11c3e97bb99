"""SMPP 3.4 provider: an asyncio ESME on the ``smpp34`` codec.

Configured by an ``smpp://`` URL (:mod:`stopsms.providers.smpp_url`). One transceiver bind
(or a transmitter plus a receiver), a window of outstanding ``submit_sm``, a throttle in
``submit_sm`` per second, ``enquire_link`` when the line is quiet, reconnect with back-off,
GSM-7 / UCS-2 ``data_coding``, long messages by UDH (or SAR TLVs), delivery receipts and MO.

Why this shape (measured on this machine, loopback, 20,000 submit_sm at window 64 against the
same ``smpp34.Server`` in another process; figures in ``docs/smpp.md``): the server side caps
every client at ~6.5-7.5k submit/s, so the difference is what each client costs in CPU — the
budget the dispatcher and SQLite share with it. Our asyncio protocol on the ``smpp34`` codec:
1.3 s CPU; smpplib with a hand-rolled window: 1.7 s (and it still needs a thread bridge to
asyncio); the ``smpp34.Client``: 2.9 s, and it *acknowledges every deliver_sm before Python
sees it*, which breaks the contract that an MO is acknowledged only once committed. So the
session is ours (a few hundred lines) and the PDU bodies are ``smpp34``'s.

Long messages: all parts of one message map to ONE :class:`SubmitResult` — accepted when every
part was accepted, carrying the first part's message id. Receipts of the other parts are
acknowledged and dropped while their ids are remembered (bounded, in memory), so the message's
state follows its first part; after a restart they are forwarded, and the store ignores ids it
does not know. A message some of whose parts were accepted and others refused is REJECTED with
"k of n parts accepted": resubmitting it would send the accepted parts twice.

Reconnects cannot freeze a sender (issue 11): a session that ended is never handed out (the
provider forgets it the moment it ends, before the supervisor rebinds); a part whose session
ends before it was written moves to the next bind; waiting for a bind, for room in the window
and for each ``submit_sm_resp`` all have a deadline (``timeout``). A part with no bind within
``timeout`` is not sent (``RETRY``), and so are the rest of its call's parts, without a wait
each; a part written on a session that then died is ``UNKNOWN`` (``connection_lost``), never
resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime

import smpp34

from stopsms.domain.errors import StopsmsError
from stopsms.domain.text import split_parts
from stopsms.providers import smpp_pdu as wire
from stopsms.providers.base import (
    CONNECTION_LOST,
    BindRefused,
    DataCoding,
    DeliveryReceipt,
    EventHandlers,
    InboundMessage,
    OutboundMessage,
    ProviderError,
    ProviderStats,
    ReceiptStatus,
    SubmitOutcome,
    SubmitResult,
)
from stopsms.providers.pacing import SubmitPacer
from stopsms.providers.smpp_session import LOST, UNSENT, SessionClosed, SmppSession, SubmitBatch
from stopsms.providers.smpp_url import SmppConfig, parse_smpp_url

__all__ = ["REFUSALS_TO_GIVE_UP", "SmppProvider", "parse_smpp_url"]

log = logging.getLogger(__name__)

_RECEIPT_STATES = {"DELIVRD": ReceiptStatus.DELIVERED, "ENROUTE": ReceiptStatus.ACCEPTED}
_RECEIPT_STATES["ACCEPTD"] = ReceiptStatus.ACCEPTED


#: Binds refused in a row, after the link dropped, before :attr:`SmppProvider.bind_refused`
#: says so (the dispatcher then pauses what it sends; the provider keeps trying).
REFUSALS_TO_GIVE_UP = 5

#: The part of a cap shared across binds that the binds use (the rest absorbs arrival jitter).
SHARED_CAP_MARGIN = 0.95


class SmppProvider:
    """A :class:`~stopsms.providers.base.Provider` speaking SMPP 3.4 to one SMSC.

    ``SmppProvider("smpp://id:pw@host:2775?window=64&tps=500")`` or
    ``SmppProvider(config=SmppConfig(...))``. ``throughput`` is ``tps`` (submit_sm per second;
    0 = unlimited, reported as ``inf``); ``blocked_codes`` are the receipt error codes that mean
    "destination blocked" (default ``061``); ``shortcode_substitution`` says the SMSC replaces
    ``STOP 00000`` by its own shortcode (URL option ``shortcode_substitution=1``).
    """

    name = "smpp"

    def __init__(self, url: str | None = None, *, config: SmppConfig | None = None) -> None:
        if config is None:
            if url is None:
                raise ProviderError("SmppProvider needs an smpp:// URL or a SmppConfig")
            config = parse_smpp_url(url)
        self.config = config
        share = config.tps
        if config.binds and config.tps > 0:
            # The account's cap shared by bind slot: all the workers together never exceed it.
            # 5 % is kept back: the SMSC counts on its own clock, and the binds' submits,
            # paced on theirs, arrive with jitter (the chaos test's SMSC once logged 201 in a
            # second against a cap of 200 shared by two binds paced at exactly 100 each).
            share = config.tps * len(self.roles_of(config)) / config.binds * SHARED_CAP_MARGIN
        self.throughput: float = share if share > 0 else float("inf")
        self.blocked_codes = config.blocked_codes
        self.shortcode_substitution = config.shortcode_substitution
        self._handlers: EventHandlers | None = None
        self._refused: dict[str, str] = {}  # role -> why its rebinds are refused (see bind_refused)
        self._links: dict[str, SmppSession] = {}
        self._ready: dict[str, asyncio.Event] = {}
        self._supervisors: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()  # deliver_sm handlers
        self._enquirers: set[asyncio.Task[None]] = set()
        self._closing = False
        self._reference = itertools.count(1)
        # The cap, counted at the write (see _write); its waiters queue first come first served.
        self._pacer = SubmitPacer(self.throughput)
        self._pacing = asyncio.Lock()
        self._in_batch: dict[str, SubmitBatch] = {}
        self._active: set[SubmitBatch] = set()  # submit_many calls not returned yet
        self._other_parts: dict[str, int] = {}
        self._mo_parts: dict[tuple[str, int, int], dict[int, str]] = {}
        self._counts = {"submitted": 0, "accepted": 0, "rejected": 0, "reconnects": 0}
        self._counts.update(unknown=0, retry=0, receipts=0, inbound=0, nacked=0, throttled=0)

    # ------------------------------------------------------------ lifecycle
    @staticmethod
    def roles_of(config: SmppConfig) -> tuple[str, ...]:
        return ("trx",) if config.bind == "transceiver" else ("tx", "rx")

    @property
    def roles(self) -> tuple[str, ...]:
        return self.roles_of(self.config)

    @property
    def window(self) -> int:
        """``submit_sm`` outstanding at most: the dispatcher keeps no more in doubt."""
        return self.config.window

    @property
    def bind_slots(self) -> tuple[str, int, int] | None:
        """(account key, binds allowed, sessions this provider opens) when the URL limits
        the binds (``binds``): the workers lease slots so that together they never hold more
        (:mod:`stopsms.engine.membership`)."""
        cfg = self.config
        if not cfg.binds:
            return None
        return f"{cfg.system_id}@{cfg.host}:{cfg.port}", cfg.binds, len(self.roles)

    async def start(self, handlers: EventHandlers) -> None:
        """Connect and bind (raising ProviderError if that fails), then keep the bind up.

        All or nothing: a start that fails on a later bind (``tx_rx``: the receiver refused
        after the transmitter bound, as under an account's bind limit) or is cancelled unbinds
        and closes what it had bound before raising, so no session, socket or enquirer is
        left behind and the SMSC's bind slot is free again.
        """
        self._handlers = handlers
        self._closing = False
        try:
            for role in self.roles:
                self._ready[role] = asyncio.Event()
                link = await self._connect(role)
                self._set_link(role, link)
                self._supervisors.append(asyncio.create_task(self._supervise(role, link)))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Finish handling received events, unbind, disconnect."""
        self._closing = True
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        # Stop the supervisors first: one caught mid-reconnect would otherwise bind a new link
        # after the loop below and leave its socket open.
        stopping = [*self._supervisors, *self._enquirers]
        for task in stopping:
            task.cancel()
        for task in stopping:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for link in list(self._links.values()):
            if link.usable:
                with contextlib.suppress(ConnectionError, TimeoutError):
                    await link.request(wire.UNBIND, b"", timeout=1.0)
            link.close()
        self._supervisors.clear()
        self._links.clear()

    @property
    def bound(self) -> bool:
        """Whether every link this provider needs is bound now (``False`` while reconnecting)."""
        return bool(self._ready) and all(
            (link := self._links.get(role)) is not None and link.usable for role in self.roles
        )

    @property
    def stats(self) -> ProviderStats:
        c = self._counts
        extra = {k: v for k, v in c.items() if k not in ("submitted", "accepted", "rejected")}
        extra.pop("reconnects")
        return ProviderStats(c["submitted"], c["accepted"], c["rejected"], c["reconnects"], extra)

    async def _connect(self, role: str) -> SmppSession:
        cfg = self.config
        loop = asyncio.get_running_loop()
        command = {
            "trx": wire.BIND_TRANSCEIVER,
            "tx": wire.BIND_TRANSMITTER,
            "rx": wire.BIND_RECEIVER,
        }
        try:
            async with asyncio.timeout(cfg.timeout):
                _, link = await loop.create_connection(
                    lambda: SmppSession(self, cfg.window, cfg.timeout),
                    cfg.host,
                    cfg.port,
                    ssl=ssl.create_default_context() if cfg.tls else None,
                )
        except (OSError, TimeoutError) as exc:
            raise ProviderError(f"cannot reach SMSC {cfg.redacted()}: {exc or 'timeout'}") from exc
        try:
            body = wire.bind_pdu(command[role], 0, cfg.system_id, cfg.password, cfg.system_type)
            status, _ = await link.request(command[role], body[16:], cfg.timeout)
        except (OSError, TimeoutError) as exc:
            link.abort()
            raise ProviderError(
                f"SMSC {cfg.redacted()} did not answer the bind: {exc or 'timeout'}"
            ) from exc
        except BaseException:
            link.abort()  # cancelled mid-bind (closing): never leave the socket open
            raise
        if status != wire.ESME_ROK:
            link.close()
            refusal = wire.bind_refusal(status)
            raise BindRefused(f"SMSC {cfg.redacted()} refused the bind: {refusal}")
        link.bound = True
        task = loop.create_task(self._enquire(link))
        self._enquirers.add(task)
        task.add_done_callback(self._enquirers.discard)
        log.info("SMPP %s bound to %s", role, cfg.redacted())
        return link

    def _set_link(self, role: str, link: SmppSession) -> None:
        self._links[role] = link
        if link.usable:  # it may have ended already: then the supervisor rebinds
            self._ready[role].set()

    def on_session_end(self, session: SmppSession) -> None:
        """A session ended: if it is a current link, nobody gets it any more (its role waits
        for the supervisor's next bind)."""
        for role, link in self._links.items():
            if link is session:
                self._ready[role].clear()

    @property
    def bind_refused(self) -> str | None:
        """Why the SMSC keeps refusing to bind again, in one sentence, once it refused
        :data:`REFUSALS_TO_GIVE_UP` times in a row after the link dropped (``None`` otherwise,
        and again as soon as a bind succeeds). The provider keeps trying meanwhile, with its
        capped back-off; the dispatcher pauses what it was sending, with this sentence."""
        return next(iter(self._refused.values()), None)

    async def _supervise(self, role: str, link: SmppSession) -> None:
        """Wait for the link to drop, then rebind with exponential back-off (capped at
        ``reconnect_max``), forever; one log line per attempt. After
        :data:`REFUSALS_TO_GIVE_UP` refusals in a row, :attr:`bind_refused` says why."""
        while not self._closing:
            await asyncio.shield(link.closed)
            self._ready[role].clear()
            if self._closing:
                return
            self._counts["reconnects"] += 1
            delay = 0.1
            refusals = 0
            while not self._closing:
                try:
                    link = await self._connect(role)
                    break
                except BindRefused as exc:
                    refusals += 1
                    if refusals == REFUSALS_TO_GIVE_UP:
                        self._refused[role] = f"{exc} ({refusals} times in a row)"
                    log.warning(
                        "SMPP %s: %s; refusal %s, retrying in %.1f s", role, exc, refusals, delay
                    )
                except ProviderError as exc:
                    log.warning("SMPP %s: %s; retrying in %.1f s", role, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.reconnect_max)
            else:
                return
            self._refused.pop(role, None)
            self._set_link(role, link)

    async def _enquire(self, link: SmppSession) -> None:
        """Probe a quiet line; a peer that does not answer in time gets dropped."""
        every = self.config.enquire_link
        while link.usable:
            await asyncio.sleep(max(0.01, link.last_heard + every - link.loop.time()))
            if not link.usable:
                return
            if link.loop.time() - link.last_heard < every:
                continue
            try:
                await link.request(wire.ENQUIRE_LINK, b"", timeout=min(every, 10.0))
            except TimeoutError:
                log.warning("SMPP: no enquire_link_resp, dropping the connection")
                link.abort()
            except ConnectionError:
                return

    async def _link_for_submit(self, deadline: float) -> SmppSession | None:
        """The live session that submits, waiting for a bind until ``deadline`` (loop
        time); ``None`` if there is none by then. Never a session that has ended."""
        role = "trx" if "trx" in self._ready else "tx"
        ready = self._ready[role]
        while True:
            link = self._links.get(role)
            if link is not None and link.usable:
                return link
            ready.clear()  # the link in hand is dead: wait for the supervisor's next one
            try:
                async with asyncio.timeout_at(deadline):
                    await ready.wait()
            except TimeoutError:
                return None

    # ------------------------------------------------------------ submit
    def _pdus(self, msg: OutboundMessage) -> list[tuple[bytes, int, list[smpp34.Tlv]]]:
        """(short_message, esm_class, tlvs) of each part; ValueError if the text can't go."""
        if msg.coding is DataCoding.GSM7:
            texts, dcs = split_parts(msg.text), wire.DCS_GSM7
        else:
            texts, dcs = wire.split_ucs2(msg.text), wire.DCS_UCS2
        payloads = [wire.encode_text(t, dcs) for t in texts]
        if len(payloads) == 1:
            return [(payloads[0], 0, [])]
        if len(payloads) > 255:
            raise ValueError(f"message of {len(payloads)} parts is over the 255 limit")
        ref = next(self._reference)
        total = len(payloads)
        if self.config.long == "sar":
            return [(p, 0, wire.sar_tlvs(ref, total, n)) for n, p in enumerate(payloads, 1)]
        return [
            (wire.concat_udh(ref, total, n) + p, wire.ESM_UDHI, [])
            for n, p in enumerate(payloads, 1)
        ]

    def _addresses(self, source: str) -> tuple[str, int, int]:
        cfg = self.config
        if any(c.isalpha() for c in source):
            ton, npi = 5, 0
        elif source.startswith("+"):
            ton, npi = 1, 1
        else:
            ton, npi = (3, 0) if len(source) <= 8 else (1, 1)
        ton = cfg.source_ton if cfg.source_ton is not None else ton
        npi = cfg.source_npi if cfg.source_npi is not None else npi
        return source.removeprefix("+"), ton, npi

    def _throttled(self) -> None:
        """The SMSC answered ``ESME_RTHROTTLED``: slow down (the message comes back
        ``retry``, queued again with back-off, never failed)."""
        self._pacer.throttled(asyncio.get_running_loop().time())
        self._counts["throttled"] += 1

    async def submit_many(self, messages: Sequence[OutboundMessage]) -> list[SubmitResult]:
        """Submit messages within the window and the rate; one result each, in order."""
        loop = asyncio.get_running_loop()
        batch = SubmitBatch(messages, loop, self._in_batch, self._other_parts, self._throttled)
        self._active.add(batch)
        failures: dict[int, str] = {}
        try:
            await self._send(batch, failures)
            if batch.remaining:
                await batch.done
            return [self._result(batch, i, msg, failures) for i, msg in enumerate(messages)]
        finally:  # also when cancelled: receipts waiting for this batch must not wait forever
            for message_id in batch.accepted_ids:
                self._in_batch.pop(message_id, None)
            if not batch.returned.done():
                batch.returned.set_result(None)
            self._active.discard(batch)

    async def _send(self, batch: SubmitBatch, failures: dict[int, str]) -> None:
        loop = asyncio.get_running_loop()
        unbound = False  # no bind within the deadline: the rest of the call is not sent
        for index, msg in enumerate(batch.messages):
            try:
                parts = self._pdus(msg)
            except ValueError as exc:
                failures[index] = str(exc)
                batch.answers.append([])
                continue
            batch.answers.append([None] * len(parts))
            batch.remaining += len(parts)
            source, ton, npi = self._addresses(msg.source)
            destination = msg.destination.removeprefix("+")
            dcs = wire.DCS_GSM7 if msg.coding is DataCoding.GSM7 else wire.DCS_UCS2
            receipt = 1 if msg.request_receipt else 0
            for number, (short_message, esm_class, tlvs) in enumerate(parts):
                if unbound:
                    batch.answer(index, number, None, UNSENT)
                    continue
                pdu = smpp34.SubmitSm(
                    source,
                    destination,
                    short_message,
                    source_addr_ton=ton,
                    source_addr_npi=npi,
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    esm_class=esm_class,
                    registered_delivery=receipt,
                    data_coding=dcs,
                    tlvs=tlvs,
                ).encode()
                if await self._submit_part(loop, (batch, index, number), pdu):
                    self._counts["submitted"] += 1
                else:  # no bind or no room within the timeout: not sent, safe to retry
                    batch.answer(index, number, None, UNSENT)
                    unbound = True

    async def _submit_part(
        self,
        loop: asyncio.AbstractEventLoop,
        entry: tuple[SubmitBatch, int, int],
        pdu: bytes,
    ) -> bool:
        """Write one part on the live session, moving to the next bind if the session in
        hand ends first; ``False`` if none had room within ``timeout`` (nothing written)."""
        deadline = loop.time() + self.config.timeout
        while True:
            link = await self._link_for_submit(deadline)
            if link is None:
                return False
            try:
                await link.reserve(max(0.0, deadline - loop.time()))
                await self._write(loop, link, entry, pdu)
            except SessionClosed:
                continue  # ended while we waited: the part goes to the next bind
            except TimeoutError:
                return False
            return True

    async def _write(
        self,
        loop: asyncio.AbstractEventLoop,
        link: SmppSession,
        entry: tuple[SubmitBatch, int, int],
        pdu: bytes,
    ) -> None:
        """Write one part in the room :meth:`SmppSession.reserve` gave, once the throughput
        cap lets it go (:mod:`~stopsms.providers.pacing`): the turn is taken here, after the
        room and the bind were obtained, in the same step as the write, so that parts which
        waited through a stalled window or a rebind never leave in one burst. The room is
        given back if the part is not written (cancelled, or the session ended meanwhile:
        ``SessionClosed``)."""
        pacer = self._pacer
        if not self._pacing.locked() and pacer.delay(loop.time()) == 0.0:
            link.submit(entry, pdu)  # the common case: nobody waits, no await
            pacer.take(loop.time())
            return
        handed = False  # once submit() has the room, it gives it back itself
        try:
            async with self._pacing:  # first come, first served
                while (wait := pacer.delay(loop.time())) > 0.0:
                    await asyncio.sleep(wait)
                handed = True
                link.submit(entry, pdu)
                pacer.take(loop.time())
        except BaseException:
            if not handed:
                link.give()
            raise

    def _result(
        self, batch: SubmitBatch, index: int, msg: OutboundMessage, failures: dict[int, str]
    ) -> SubmitResult:
        if index in failures:
            self._counts["rejected"] += 1
            return SubmitResult(msg.ref, SubmitOutcome.REJECTED, error_text=failures[index])
        answers = [a for a in batch.answers[index] if a is not None]
        accepted = [mid or "" for mid, status in answers if status == wire.ESME_ROK]
        if len(accepted) == len(answers):
            self._counts["accepted"] += 1
            return SubmitResult(msg.ref, SubmitOutcome.ACCEPTED, provider_message_id=accepted[0])
        if any(status == LOST for _, status in answers):
            self._counts["unknown"] += 1
            return SubmitResult(
                msg.ref,
                SubmitOutcome.UNKNOWN,
                error_code=CONNECTION_LOST,
                error_text="connection lost while in flight",
            )
        refused = [status for _, status in answers if status != wire.ESME_ROK]
        code = f"0x{refused[0]:02X}" if refused[0] >= 0 else None
        if not accepted and all(s in wire.RETRYABLE_STATUSES or s == UNSENT for s in refused):
            self._counts["retry"] += 1
            text = "not bound" if refused[0] == UNSENT else "throttled or queue full"
            return SubmitResult(msg.ref, SubmitOutcome.RETRY, error_code=code, error_text=text)
        self._counts["rejected"] += 1
        partly = f"{len(accepted)} of {len(answers)} parts accepted" if accepted else None
        return SubmitResult(msg.ref, SubmitOutcome.REJECTED, error_code=code, error_text=partly)

    # ------------------------------------------------------------ receive
    def on_delivers(self, link: SmppSession, delivers: list[tuple[int, bytes]]) -> None:
        """The deliver_sm of one read: each MO gets its own task (acknowledged once its
        handler returned, never behind receipts); the receipts go to the handler together, in
        one task, and are acknowledged together once it returned."""
        loop = asyncio.get_running_loop()
        now = datetime.now(UTC)
        receipts: list[tuple[int, DeliveryReceipt]] = []
        for seq, frame in delivers:
            try:
                pdu = wire.decode_deliver_sm(frame)
                receipt = pdu.esm_class & 0x3C in (wire.ESM_RECEIPT, 0x20)
                if not receipt:
                    self._spawn(loop, self._handle_inbound(link, seq, pdu))
                    continue
                parsed = self._receipt_of(pdu, now)
            except Exception:
                log.exception("SMPP: bad deliver_sm; asking the SMSC to re-deliver")
                self._answer(link, seq, wire.ESME_RX_T_APPN)
                continue
            if parsed is None:  # nothing to record: acknowledged at once
                self._answer(link, seq, wire.ESME_ROK)
            else:
                receipts.append((seq, parsed))
        if receipts:
            self._spawn(loop, self._handle_receipts(link, receipts))

    def _spawn(self, loop: asyncio.AbstractEventLoop, work: Coroutine[None, None, None]) -> None:
        task = loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _answer(self, link: SmppSession, seq: int, status: int) -> None:
        if status != wire.ESME_ROK:
            self._counts["nacked"] += 1
        link.write(wire.with_header(wire.DELIVER_SM | wire.RESP, seq, b"\0", status))

    async def _handle_inbound(self, link: SmppSession, seq: int, pdu: smpp34.DeliverSm) -> None:
        """Run the handler, THEN answer: ROK once it returned, 0x64 if it raised (re-delivery)."""
        status = wire.ESME_ROK
        try:
            await self._inbound(pdu)
        except StopsmsError as refused:  # a sentence (the database failing): no traceback
            log.error("SMPP: deliver_sm not recorded (%s); asking the SMSC to re-deliver", refused)
            status = wire.ESME_RX_T_APPN
        except Exception:
            log.exception("SMPP: deliver_sm handler failed; asking the SMSC to re-deliver")
            status = wire.ESME_RX_T_APPN
        self._answer(link, seq, status)

    def _receipt_of(self, pdu: smpp34.DeliverSm, now: datetime) -> DeliveryReceipt | None:
        """The receipt a deliver_sm carries; None if there is nothing to hand over."""
        fields = wire.parse_receipt_pdu(pdu)
        if fields is None:
            text = wire.decode_text(pdu.short_message, pdu.data_coding)
            log.warning("SMPP: receipt without a message id: %r", text)
            return None
        if self._other_parts.pop(fields.message_id, None) is not None:
            return None  # a later part of a long message: its first part speaks for it
        return DeliveryReceipt(
            provider_message_id=fields.message_id,
            status=_RECEIPT_STATES.get(fields.state, ReceiptStatus.FAILED),
            error_code=fields.error_code,
            raw_state=fields.state,
            received_at=now,
        )

    async def _handle_receipts(
        self, link: SmppSession, received: list[tuple[int, DeliveryReceipt]]
    ) -> None:
        """Hand the receipts over once the submits they answer are recorded, THEN answer each
        deliver_sm: ROK once the handler returned, 0x64 if it raised (re-delivery)."""
        statuses = [wire.ESME_ROK] * len(received)
        try:
            receipts = [receipt for _, receipt in received]
            await self._submits_recorded(receipts)
            handlers = self._handlers
            assert handlers is not None
            self._counts["receipts"] += len(receipts)
            if handlers.on_receipts is not None:
                await handlers.on_receipts(receipts)
            else:
                outcomes = await asyncio.gather(
                    *(handlers.on_receipt(receipt) for receipt in receipts),
                    return_exceptions=True,
                )
                for index, outcome in enumerate(outcomes):
                    if isinstance(outcome, BaseException):
                        log.error("SMPP: receipt handler failed: %r; re-delivery", outcome)
                        statuses[index] = wire.ESME_RX_T_APPN
        except StopsmsError as refused:  # a sentence (the database failing): no traceback
            log.error("SMPP: receipts not recorded (%s); asking the SMSC to re-deliver", refused)
            statuses = [wire.ESME_RX_T_APPN] * len(received)
        except Exception:
            log.exception("SMPP: receipt handler failed; asking the SMSC to re-deliver")
            statuses = [wire.ESME_RX_T_APPN] * len(received)
        for (seq, _), status in zip(received, statuses, strict=True):
            self._answer(link, seq, status)

    async def _submits_recorded(self, receipts: Sequence[DeliveryReceipt]) -> None:
        """Return once the caller of ``submit_many`` has the message ids of ``receipts``.

        A receipt whose id belongs to a ``submit_many`` call not returned yet waits for it.
        An id we have not seen answered at all: its submit_sm_resp may still be on its way
        (an SMSC may send the receipt first), so wait for every call in flight to return —
        the caller then recorded the id before the receipt is handled."""
        waits: set[asyncio.Future[None]] = set()
        unknown = False
        for receipt in receipts:
            batch = self._in_batch.get(receipt.provider_message_id)
            if batch is not None:
                waits.add(batch.returned)
            else:
                unknown = True
        if unknown:
            waits.update(batch.returned for batch in self._active)
        if waits:
            await asyncio.gather(*waits)
            await asyncio.sleep(0)

    async def _inbound(self, pdu: smpp34.DeliverSm) -> None:
        data = pdu.short_message
        if not data:
            data = next((t.value for t in pdu.tlvs if t.tag == wire.TLV_MESSAGE_PAYLOAD), b"")
        concat, payload = wire.split_udh(data) if pdu.esm_class & wire.ESM_UDHI else (None, data)
        concat = concat or wire.sar_concat(pdu.tlvs)
        text = wire.decode_text(payload, pdu.data_coding)
        sender = pdu.source_addr
        if pdu.source_addr_ton == 1 and sender and not sender.startswith("+"):
            sender = "+" + sender
        key = None
        if concat is not None and concat.total > 1:
            # Earlier parts are acknowledged on arrival (nothing to commit yet); the handler
            # runs once, on the part that completes the message.
            key = (sender, concat.reference, concat.total)
            parts = self._mo_parts.setdefault(key, {})
            parts[concat.number] = text
            if len(parts) < concat.total:
                return
            text = "".join(parts[n] for n in sorted(parts))
        assert self._handlers is not None
        await self._handlers.on_inbound(
            InboundMessage(sender, pdu.destination_addr, text, datetime.now(UTC))
        )
        if key is not None:
            self._mo_parts.pop(key, None)
        self._counts["inbound"] += 1
