"""The SMSC simulator: scenario files, timed MO, the CLI command; a real ESME binds to it."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from stopsms.providers.base import (
    DataCoding,
    DeliveryReceipt,
    EventHandlers,
    InboundMessage,
    OutboundMessage,
)
from stopsms.providers.smpp import SmppProvider
from stopsms.smsc import ScenarioError, SmscSimulator, parse_scenario


def test_scenario_file_is_parsed() -> None:
    scenario = parse_scenario(
        """
        # demo
        blocked +33699999999
        fail 33611111111 34
        after-first +33612345678 STOP merci
        at 2.5 +33612345678 START
        deliver-ratio 0.9
        receipt-delay 0.1
        """
    )
    assert scenario.failures == {"33699999999": "061", "33611111111": "034"}
    assert [(r.sender, r.text) for r in scenario.after_first("33612345678")] == [
        ("+33612345678", "STOP merci")
    ]
    assert [(r.at, r.text) for r in scenario.timed()] == [(2.5, "START")]
    assert (scenario.deliver_ratio, scenario.receipt_delay) == (0.9, 0.1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("blocked", "line 1: cannot read"),
        ("\nfail +336 abcd", "line 2: error code"),
        ("at soon +33612345678 STOP", "time 'soon'"),
        ("blocked nobody", "not a phone number"),
        ("deliver-ratio 2", "deliver-ratio 2"),
    ],
)
def test_bad_scenario_lines_are_named(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(text)


def test_timed_mo_and_stranger_unbound() -> None:
    async def main() -> None:
        sim = SmscSimulator(
            scenario=parse_scenario("at 0.1 +33612345678 START"),
            system_ids=frozenset({"good"}),
        )
        port = await sim.start()
        inbound: list[InboundMessage] = []

        async def on_inbound(message: InboundMessage) -> None:
            inbound.append(message)

        async def on_receipt(receipt: DeliveryReceipt) -> None:
            return None

        stranger = SmppProvider(f"smpp://bad:pw@127.0.0.1:{port}?timeout=0.3&reconnect_max=0.1")
        await stranger.start(EventHandlers(on_receipt, on_inbound))
        provider = SmppProvider(f"smpp://good:pw@127.0.0.1:{port}")
        await provider.start(EventHandlers(on_receipt, on_inbound))
        try:
            for _ in range(200):
                if inbound:
                    break
                await asyncio.sleep(0.01)
            assert [(m.sender, m.text) for m in inbound] == [("+33612345678", "START")], sim.mo
            assert sim.binds == 1
            (result,) = await provider.submit_many(
                [OutboundMessage(1, "36034", "+33612345678", "hi", DataCoding.GSM7)]
            )
            assert sim.messages[0].system_id == "good"
            assert result.provider_message_id == sim.messages[0].message_id
        finally:
            await stranger.close()
            await provider.close()
            await sim.stop()

    asyncio.run(main())


def test_cli_reads_commands_and_reports_bad_input() -> None:
    code = "import typer; from stopsms.cli.smsc import smsc; typer.run(smsc)"
    done = subprocess.run(
        [sys.executable, "-c", code, "--port", "0"],
        input="bogus\nstats\nquit\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "listening on 127.0.0.1:" in done.stdout
    assert "cannot read 'bogus'" in done.stdout
    assert "binds=0" in done.stdout
    assert "Traceback" not in done.stderr
