"""``stopsms smsc``: run the SMSC simulator in the foreground.

Prints one line per bind, unbind and MO, a summary line each second while submits flow, and
reads commands on stdin (terminal or pipe)::

    mo +33612345678 STOP      send an MO (to the shortcode) and say whether it was acknowledged
    stats                     counters
    quit                      stop (also: end of input, Ctrl-C)

Register with ``app.command()(smsc)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from stopsms.smsc import ScenarioError, SmscSimulator, parse_scenario
from stopsms.smsc.scenario import Scenario, receipt_error_code
from stopsms.smsc.server import exit_process

HELP = "commands: mo NUMBER TEXT | stats | quit"


def smsc(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port to listen on (0: any free).")
    ] = 2775,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    scenario: Annotated[Path | None, typer.Option(help="Scenario file (see docs/smpp.md).")] = None,
    deliver_ratio: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of messages delivered.")
    ] = 0.95,
    receipt_delay: Annotated[
        float, typer.Option(min=0.0, help="Seconds from submit to receipt.")
    ] = 0.2,
    failure_code: Annotated[str, typer.Option(help="err: code of failed receipts.")] = "001",
    shortcode: Annotated[str, typer.Option(help="Where MO messages are sent to.")] = "36034",
    system_id: Annotated[
        list[str] | None, typer.Option(help="Accepted system_id (repeat); default: any.")
    ] = None,
) -> None:
    """Run the built-in SMSC simulator (a real SMPP 3.4 server) in the foreground."""
    error_code = receipt_error_code(failure_code)
    if error_code is None:
        typer.echo(
            f"invalid --failure-code {failure_code!r}: the err: code of a receipt is 1 to 3"
            " letters or digits, e.g. 001",
            err=True,
        )
        raise typer.Exit(2)
    rules = Scenario()
    if scenario is not None:
        try:
            rules = parse_scenario(scenario.read_text(encoding="utf-8"))
        except OSError as exc:
            typer.echo(f"cannot read scenario {scenario}: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
        except UnicodeDecodeError as exc:
            typer.echo(
                f"cannot read scenario {scenario}: not UTF-8 text (byte {exc.start + 1})",
                err=True,
            )
            raise typer.Exit(2) from None
        except ScenarioError as exc:
            typer.echo(f"{scenario}: {exc}", err=True)
            raise typer.Exit(2) from None
    sim = SmscSimulator(
        deliver_ratio=deliver_ratio,
        receipt_delay=receipt_delay,
        failure_code=error_code,
        scenario=rules,
        shortcode=shortcode,
        system_ids=frozenset(system_id) if system_id else None,
        on_event=lambda line: typer.echo(line),
    )
    code = 0
    with contextlib.suppress(KeyboardInterrupt):
        code = asyncio.run(_serve(sim, host, port))
    exit_process(code)  # not a normal return: see exit_process (smpp34's native threads)


async def _serve(sim: SmscSimulator, host: str, port: int) -> int:
    try:
        bound = await sim.start(host, port)
    except Exception as exc:  # smpp34 reports a bind failure as SmppError with the OS reason
        typer.echo(f"cannot listen on {host}:{port}: {exc}", err=True)
        return 1
    typer.echo(f"SMSC simulator listening on {host}:{bound} ({HELP})")
    reporter = asyncio.create_task(_report(sim))
    try:
        await _commands(sim)
    finally:
        reporter.cancel()
        await sim.stop()
        typer.echo(_stats_line(sim))
    return 0


def _stats_line(sim: SmscSimulator) -> str:
    return " ".join(f"{k}={v}" for k, v in sim.stats().items())


async def _report(sim: SmscSimulator) -> None:
    last = (0, 0)
    while True:
        await asyncio.sleep(1.0)
        now = (len(sim.submit_times), sim.receipts_acked)
        if now != last:
            typer.echo(
                f"submits {now[0]} (+{now[0] - last[0]}/s), messages {len(sim.messages)}, "
                f"receipts acked {now[1]}"
            )
            last = now


async def _commands(sim: SmscSimulator) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:  # end of input: keep serving until interrupted if stdin is closed
            if sys.stdin.isatty():
                return
            await asyncio.Event().wait()
        words = line.split(None, 2)
        if not words:
            continue
        verb = words[0].lower()
        if verb in ("quit", "exit"):
            return
        if verb == "stats":
            typer.echo(_stats_line(sim))
        elif verb == "mo" and len(words) == 3 and words[1].lstrip("+").isdigit():
            record = await sim.send_mo(words[1], words[2].strip())
            if record.acknowledged:
                typer.echo(f"mo {words[1]} acknowledged after {record.attempts} attempt(s)")
            else:
                status = "no answer" if record.status is None else f"status 0x{record.status:02X}"
                typer.echo(f"mo {words[1]} NOT acknowledged ({status}, {record.attempts} tries)")
        else:
            typer.echo(f"cannot read {line.strip()!r} ({HELP})")
