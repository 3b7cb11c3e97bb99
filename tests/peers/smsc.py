"""``smsc.js`` (the npm ``smpp`` package under node) as a process a test kills and restarts.

:class:`NodeSmsc` starts it on a loopback port the OS chooses, kept across restarts (so the
ESME's URL survives a restart), SIGKILLs it (no unbind, no goodbye: the sockets just die),
restarts it (ids numbered from 1 again) and reads its log: one JSON line per ``submit_sm`` it
accepted and per receipt it sent. The node modules are installed by ``make test`` (``npm ci`` in
``tests/peers``); when they are missing, :func:`ensure_installed` runs it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PEERS = Path(__file__).resolve().parent
SCRIPT = PEERS / "smsc.js"


def ensure_installed() -> None:
    """Install the ``smpp`` package from ``package-lock.json`` when it is missing."""
    if (PEERS / "node_modules" / "smpp" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("the SMPP fault tests need node and npm on PATH")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=PEERS, check=True, timeout=300
    )


@dataclass
class NodeSmsc:
    """One ``smsc.js`` at a time on ``port``; every run appends to the same ``log``."""

    log: Path
    port: int = 0
    receipt_delay_ms: int = 200
    password: str = ""  # when set, binds with another password are refused (ESME_RINVPASWD)
    max_binds: int = 0  # 0: any number of binds
    tps: int = 0  # submit_sm accepted per second, 0: no cap (beyond it: ESME_RTHROTTLED)
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    def start(self) -> None:
        ensure_installed()
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("the SMPP fault tests need node on PATH")
        # The first run binds port 0 (the OS chooses, no race with a parallel test for a
        # probed port); a restart binds the port of the first, so the ESME's URL still holds.
        command = [node, str(SCRIPT), "--port", str(self.port), "--log", str(self.log)]
        command += ["--receipt-delay", str(self.receipt_delay_ms)]
        if self.password:
            command += ["--password", self.password]
        command += ["--max-binds", str(self.max_binds), "--tps", str(self.tps)]
        deadline = time.monotonic() + 10
        while True:  # the port of a killed run may take a moment to be free again
            process = subprocess.Popen(
                command,
                cwd=PEERS,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert process.stdout is not None
            line = process.stdout.readline()
            if line:
                port: int = json.loads(line)["port"]
                assert self.port in (0, port)
                self.port = port
                self.process = process
                self.runs += 1
                return
            error = process.communicate(timeout=5)[1].decode()
            if time.monotonic() > deadline or "EADDRINUSE" not in error:
                raise RuntimeError(f"smsc.js did not start: {error}")
            time.sleep(0.1)

    def send_mo(self, sender: str, recipient: str, text: str) -> None:
        """Have the SMSC deliver an MO on one of its bound sessions (logged ``mo``, then
        ``mo_ack`` with the time the ESME acknowledged it; ``mo_unsent`` when none is bound)."""
        if self.process is None or self.process.stdin is None:
            return
        line = json.dumps({"from": sender, "to": recipient, "text": text}) + "\n"
        try:
            self.process.stdin.write(line.encode())
            self.process.stdin.flush()
        except BrokenPipeError:
            pass

    def kill(self) -> None:
        """SIGKILL: the SMSC vanishes mid-sentence (its log keeps what it accepted)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None

    def entries(self, event: str) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [entry for line in lines if (entry := json.loads(line))["event"] == event]

    def submits(self) -> int:
        """How many submit_sm were accepted so far, all runs together (cheap enough to poll)."""
        if not self.log.exists():
            return 0
        return self.log.read_bytes().count(b'"event":"submit"')
