"""SmppProvider against the real SMPP server of the simulator, over loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence

import pytest
import smpp34

from stopsms.providers import smpp_pdu as wire
from stopsms.providers.base import (
    DataCoding,
    DeliveryReceipt,
    EventHandlers,
    InboundMessage,
    OutboundMessage,
    ProviderError,
    ReceiptStatus,
    SubmitOutcome,
)
from stopsms.providers.smpp import SmppProvider
from stopsms.providers.smpp_url import parse_smpp_url
from stopsms.smsc import SmscSimulator, parse_scenario


class Events:
    """Handlers that record what arrives; ``fail_inbound`` makes the next N MO handlers raise."""

    def __init__(self) -> None:
        self.receipts: list[DeliveryReceipt] = []
        self.inbound: list[InboundMessage] = []
        self.fail_inbound = 0

    async def on_receipt(self, receipt: DeliveryReceipt) -> None:
        self.receipts.append(receipt)

    async def on_inbound(self, message: InboundMessage) -> None:
        if self.fail_inbound:
            self.fail_inbound -= 1
            raise RuntimeError("database is locked")
        self.inbound.append(message)

    @property
    def handlers(self) -> EventHandlers:
        return EventHandlers(self.on_receipt, self.on_inbound)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


Scenario = Callable[[SmscSimulator, SmppProvider, Events], Awaitable[None]]


def run(body: Scenario, query: str = "", **sim_options: object) -> None:
    async def main() -> None:
        sim = SmscSimulator(**sim_options)  # type: ignore[arg-type]
        port = await sim.start()
        provider = SmppProvider(f"smpp://test:pw@127.0.0.1:{port}?{query}")
        events = Events()
        await provider.start(events.handlers)
        try:
            await body(sim, provider, events)
        finally:
            await provider.close()
            await sim.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


def msg(
    ref: int, text: str, to: str = "+33612345678", coding: DataCoding = DataCoding.GSM7
) -> OutboundMessage:
    return OutboundMessage(ref, "36034", to, text, coding)


def test_gsm7_ucs2_and_long_messages_arrive_decoded() -> None:
    long_text = "Black Friday -30% sur tout le magasin! " * 10  # 390 chars: 3 parts
    texts = ["Bonjour {€} à vous! STOP 36034", "Soldes 🎉 été", long_text]

    async def scenario(sim: SmscSimulator, provider: SmppProvider, events: Events) -> None:
        results = await provider.submit_many(
            [
                msg(1, texts[0]),
                msg(2, texts[1], coding=DataCoding.UCS2),
                msg(3, texts[2]),
            ]
        )
        assert [r.outcome for r in results] == [SubmitOutcome.ACCEPTED] * 3
        assert [r.ref for r in results] == [1, 2, 3]
        await until(lambda: len(sim.messages) == 3)
        by_text = {m.text: m for m in sim.messages}
        assert set(by_text) == set(texts)
        assert by_text[texts[0]].data_coding == 0
        assert by_text[texts[1]].data_coding == 8
        assert by_text[long_text].parts == 3
        assert by_text[long_text].message_id == results[2].provider_message_id
        assert by_text[texts[0]].destination == "+33612345678"
        assert len(sim.submit_times) == 5
        # three receipts for the long message's parts; only its first part's is forwarded
        await until(lambda: sim.receipts_acked == 5)
        await until(lambda: len(events.receipts) == 3)
        ids = {r.provider_message_id for r in events.receipts}
        assert ids == {r.provider_message_id for r in results}

    run(scenario)


def test_long_message_by_sar_tlvs() -> None:
    text = "é" * 150  # UCS-2 when forced: 3 parts of 67

    async def scenario(sim: SmscSimulator, provider: SmppProvider, events: Events) -> None:
        (result,) = await provider.submit_many([msg(1, text, coding=DataCoding.UCS2)])
        assert result.outcome is SubmitOutcome.ACCEPTED
        await until(lambda: len(sim.messages) == 1)
        assert sim.messages[0].text == text
        assert sim.messages[0].parts == 3

    run(scenario, "long=sar")


def test_receipts_delivered_and_blocked() -> None:
    async def scenario(sim: SmscSimulator, provider: SmppProvider, events: Events) -> None:
        results = await provider.submit_many([msg(1, "hello"), msg(2, "hello", to="+33699999999")])
        await until(lambda: len(events.receipts) == 2)
        got = {r.provider_message_id: r for r in events.receipts}
        ok = got[results[0].provider_message_id or ""]
        blocked = got[results[1].provider_message_id or ""]
        assert (ok.status, ok.error_code, ok.raw_state) == (
            ReceiptStatus.DELIVERED,
            None,
            "DELIVRD",
        )
        assert (blocked.status, blocked.error_code) == (ReceiptStatus.FAILED, "061")
        assert blocked.error_code in provider.blocked_codes

    run(scenario, receipt_delay=0.05, scenario=parse_scenario("blocked +33699999999"))


def test_submit_errors_map_to_retry_and_rejected() -> None:
    async def scenario(sim: SmscSimulator, provider: SmppProvider, events: Events) -> None:
        results = await provider.submit_many(
            [
                msg(1, "a", to="+33600000058"),
                msg(2, "b", to="+33600000014"),
                msg(3, "c", to="+33600000011"),
                msg(4, "€ not in GSM? no: this is fine"),
                msg(5, "日本", coding=DataCoding.GSM7),
            ]
        )
        outcomes = [(r.outcome, r.error_code) for r in results]
        assert outcomes[:4] == [
            (SubmitOutcome.RETRY, "0x58"),
            (SubmitOutcome.RETRY, "0x14"),
            (SubmitOutcome.REJECTED, "0x0B"),
            (SubmitOutcome.ACCEPTED, None),
        ]
        assert results[4].outcome is SubmitOutcome.REJECTED
        assert "GSM" in (results[4].error_text or "")

    statuses = {"+33600000058": 0x58, "+33600000014": 0x14, "+33600000011": 0x0B}
    run(scenario, submit_status=statuses)


def test_mo_arrives_and_a_failing_handler_gets_it_redelivered() -> None:
    async def scenario(sim: SmscSimulator, provider: SmppProvider, events: Events) -> None:
        record = await sim.send_mo("+33612345678", "STOP")
        assert record.acknowledged
        assert events.inbound[0].sender == "+33612345678"
        assert events.inbound[0].recipient == "36034"
        assert events.inbound[0].text == "STOP"
        events.fail_inbound = 2
        record = await sim.send_mo("+33611111111", "Arrêt 🙏")
        assert record.acknowledged
        assert record.attempts == 3
        assert [m.text for m in events.inbound] == ["STOP", "Arrêt 🙏"]
        long_reply = "Merci mais non merci. " * 10
        assert (await sim.send_mo("+33611111111", long_reply)).acknowledged
        assert events.inbound[-1].text == long_reply

    run(scenario, redeliver_interval=0.02)


def test_mo_never_acknowledged_when_handler_keeps_failing() -> None:
    async def scenario(sim: SmscSimulator, provider: SmppProvider, events: Events) -> None:
        events.fail_inbound = 100
        record = await sim.send_mo("+33612345678", "STOP")
        assert not record.acknowledged
        assert record.status == 0x64
        assert record.attempts == 3

    run(scenario, redeliver_interval=0.01, max_attempts=3)


def test_scenario_reply_after_first_message() -> None:
    async def scenario(sim: SmscSimulator, provider: SmppProvider, events: Events) -> None:
        await provider.submit_many([msg(1, "promo"), msg(2, "promo 2")])
        await until(lambda: len(events.inbound) == 1)
        assert events.inbound[0].text == "STOP"
        assert events.inbound[0].recipient == "36034"
        await asyncio.sleep(0.1)
        assert len(events.inbound) == 1  # only after the first message

    run(scenario, scenario=parse_scenario("after-first +33612345678 STOP"))


def test_window_is_never_exceeded() -> None:
    async def scenario(sim: SmscSimulator, provider: SmppProvider, events: Events) -> None:
        results = await provider.submit_many([msg(i, f"m{i}") for i in range(100)])
        assert all(r.outcome is SubmitOutcome.ACCEPTED for r in results)
        assert sim.max_outstanding == 8

    run(scenario, "window=8", submit_delay=0.02)


def test_throttle_is_roughly_respected() -> None:
    async def scenario(sim: SmscSimulator, provider: SmppProvider, events: Events) -> None:
        task = asyncio.create_task(provider.submit_many([msg(i, "x") for i in range(200)]))
        await asyncio.sleep(0.5)
        sent = len(sim.submit_times)
        task.cancel()
        assert 20 <= sent <= 80  # 100/s for 0.5 s (+ a 50 ms burst), generous bounds

    async def wrapped(sim: SmscSimulator, provider: SmppProvider, events: Events) -> None:
        try:
            await scenario(sim, provider, events)
        finally:
            await asyncio.sleep(0.05)

    run(wrapped, "tps=100")


def test_reconnect_after_drop_in_flight_is_unknown() -> None:
    async def scenario(sim: SmscSimulator, provider: SmppProvider, events: Events) -> None:
        sim.hold_submits = True
        task = asyncio.create_task(provider.submit_many([msg(i, "x") for i in range(5)]))
        await until(lambda: sim.outstanding == 5)
        await sim.drop_connections()
        results = await task
        assert [r.outcome for r in results] == [SubmitOutcome.UNKNOWN] * 5
        sim.hold_submits = False
        results = await provider.submit_many([msg(9, "after")])
        assert results[0].outcome is SubmitOutcome.ACCEPTED
        assert provider.stats.reconnects == 1
        assert sim.binds == 2

    run(scenario)


def test_unreachable_smsc_raises_provider_error() -> None:
    # A port bound but not listening refuses every connection, and stays ours for the test (a
    # stopped simulator's port could still accept for a moment, or be taken by another test).
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]

        async def main() -> None:
            with pytest.raises(ProviderError, match="cannot reach"):
                await SmppProvider(f"smpp://a:pw@127.0.0.1:{port}?timeout=1").start(
                    Events().handlers
                )

        asyncio.run(main())


def test_tx_rx_binds() -> None:
    async def scenario(sim: SmscSimulator, provider: SmppProvider, events: Events) -> None:
        await provider.submit_many([msg(1, "hi")])
        await until(lambda: len(events.receipts) == 1)
        assert sim.binds == 2

    run(scenario, "bind=tx_rx")


@pytest.mark.parametrize(
    ("url", "part"),
    [
        ("http://a:b@h:1", "smpp://"),
        ("smpp://a:b@h:1?window=0", "window"),
        ("smpp://a:b@h:1?tps=fast", "tps"),
        ("smpp://a:b@h:1?bind=both", "bind"),
        ("smpp://a:b@h:1?colour=red", "colour"),
        ("smpp://a:b@h:xx", "port"),
        ("smpp://h:1", "system_id"),
        ("smpp://a:b@h:1?source_ton=300", "source_ton"),
    ],
)
def test_bad_urls_name_the_bad_part(url: str, part: str) -> None:
    with pytest.raises(ProviderError, match=part):
        parse_smpp_url(url)


def test_url_options() -> None:
    cfg = parse_smpp_url(
        "smpp://SYS:pw@10.0.0.1:2776?window=16&tps=500&system_type=X&bind=tx_rx"
        "&source_ton=5&source_npi=0&enquire_link=10&blocked_codes=061,034&long=sar"
    )
    assert (cfg.host, cfg.port, cfg.system_id, cfg.password) == ("10.0.0.1", 2776, "SYS", "pw")
    assert (cfg.window, cfg.tps, cfg.bind, cfg.long) == (16, 500.0, "tx_rx", "sar")
    assert (cfg.source_ton, cfg.source_npi, cfg.enquire_link) == (5, 0, 10.0)
    assert cfg.blocked_codes == {"061", "034"}
    assert SmppProvider(config=cfg).throughput == 500.0


def test_receipts_reach_on_receipts_in_batches_and_a_failed_batch_is_redelivered() -> None:
    """With ``on_receipts``, the receipts of one read go to the handler together (never one
    by one through ``on_receipt``); a batch whose handler raised is refused (0x64) as a whole
    and the SMSC re-delivers it."""
    batches: list[list[DeliveryReceipt]] = []
    single: list[DeliveryReceipt] = []
    failures = [1]

    async def on_receipts(receipts: Sequence[DeliveryReceipt]) -> None:
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("database is locked")
        batches.append(list(receipts))

    async def on_receipt(receipt: DeliveryReceipt) -> None:
        single.append(receipt)

    async def on_inbound(message: InboundMessage) -> None:
        return None

    async def main() -> None:
        sim = SmscSimulator(receipt_delay=0.05, redeliver_interval=0.1)
        port = await sim.start()
        provider = SmppProvider(f"smpp://test:pw@127.0.0.1:{port}")
        await provider.start(EventHandlers(on_receipt, on_inbound, on_receipts))
        try:
            results = await provider.submit_many(
                [msg(i, f"Bonjour {i}", to=f"+336123456{i:02d}") for i in range(20)]
            )
            assert all(r.outcome is SubmitOutcome.ACCEPTED for r in results)
            ids = {r.provider_message_id for r in results}
            await until(lambda: {r.provider_message_id for b in batches for r in b} == ids)
            assert not single
            assert failures == [0]
            assert provider.stats.extra["nacked"] >= 1
        finally:
            await provider.close()
            await sim.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_receipt_tlvs_are_read_first_and_the_text_only_when_needed() -> None:
    def deliver(text: str, tlvs: list[smpp34.Tlv]) -> smpp34.DeliverSm:
        return smpp34.DeliverSm("33612345678", "36034", text.encode(), esm_class=4, tlvs=tlvs)

    delivered = [
        smpp34.Tlv(wire.TLV_RECEIPTED_MESSAGE_ID, b"abc\0"),
        smpp34.Tlv(wire.TLV_MESSAGE_STATE, bytes((2,))),
    ]
    fields = wire.parse_receipt_pdu(deliver("", delivered))  # no text at all
    assert fields == wire.ReceiptFields("abc", "DELIVRD", None)
    failed = [delivered[0], smpp34.Tlv(wire.TLV_MESSAGE_STATE, bytes((5,)))]
    text = (
        "id:abc sub:001 dlvrd:000 submit date:2511240300 done date:2511240300 stat:UNDELIV err:061"
    )
    fields = wire.parse_receipt_pdu(deliver(text, failed))  # a failure: err: from the text
    assert fields == wire.ReceiptFields("abc", "UNDELIV", "061")
    fields = wire.parse_receipt_pdu(deliver(text.replace("UNDELIV", "DELIVRD"), []))  # text only
    assert fields == wire.ReceiptFields("abc", "DELIVRD", "061")
    assert wire.parse_receipt_pdu(deliver("hello", [])) is None
