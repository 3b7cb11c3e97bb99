"""``stopsms serve`` as a user starts it: a key made with the CLI, a message POSTed over real
HTTP, delivered by the built-in SMSC simulator (``stopsms smsc``), the server stopped cleanly.

Both are subprocesses on ports the OS chose (``--port 0``), read from what they print. On
PostgreSQL ``serve`` runs the engine only with ``--with-worker``; on SQLite always.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.builders import ready_account
from tests.e2e.support import TUESDAY_10H, database

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

STOPSMS = str(Path(sys.executable).with_name("stopsms"))


def _wait_for(stream: IO[str], pattern: str, seen: list[str], timeout: float = 30) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


@contextmanager
def _process(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """Run ``stopsms args``; at the end, end its input (the simulator's ``quit``) and
    interrupt it as Ctrl-C does."""
    with subprocess.Popen(
        [STOPSMS, *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                assert process.stdin is not None
                with contextlib.suppress(OSError):
                    process.stdin.write("quit\n")
                    process.stdin.close()
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([STOPSMS, *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def test_a_message_sent_through_the_api_is_delivered(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOPSMS_")}
    env |= {"STOPSMS_DATABASE_URL": database_url, "STOPSMS_HOME": os.environ["STOPSMS_HOME"]}
    db = database(database_url)  # as `accounts set --validated`, `senders add`, `credits add`
    with db.transaction() as connection:
        ready_account(connection, "default", now=TUESDAY_10H)
    db.close()
    key = json.loads(_cli(env, "apikeys", "create", "--name", "site", "--json"))["key"]
    seen: list[str] = []
    # Every message delivered: the simulator fails 5 % by default, and this test reads "delivered".
    with _process(["smsc", "--port", "0", "--deliver-ratio", "1"], env) as smsc:
        assert smsc.stdout is not None
        smsc_port = _wait_for(smsc.stdout, r"listening on [\d.]+:(\d+)", seen).group(1)
        env["STOPSMS_PROVIDER_URL"] = f"smpp://stopsms:pw@127.0.0.1:{smsc_port}"
        serve = ["serve", "--port", "0"]
        if database_url.startswith("postgresql"):
            serve.append("--with-worker")
        with _process(serve, env) as server:
            assert server.stdout is not None
            base = _wait_for(server.stdout, r"running on (http://[\d.]+:\d+)", seen).group(1)
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
                for _ in range(100):
                    if http.get("/readyz").json()["checks"].get("provider") == "bound":
                        break
                    time.sleep(0.1)
                sent = http.post(
                    "/v1/messages",
                    json={
                        "to": "06 12 34 56 78",
                        "text": "Votre code : 4821",
                        "type": "informative",
                    },
                )
                assert sent.status_code == 202, sent.text
                message_id = sent.json()["id"]
                status = sent.json()["status"]
                for _ in range(200):
                    status = http.get(f"/v1/messages/{message_id}").json()["status"]
                    if status == "delivered":
                        break
                    time.sleep(0.05)
                assert status == "delivered", "".join(seen)
                metrics = http.get("/metrics").text
                assert 'stopsms_messages{status="delivered"} 1.0' in metrics
            started = time.monotonic()
            server.send_signal(signal.SIGINT)
            assert server.wait(timeout=30) == 0
            assert time.monotonic() - started < 10, "".join(seen)
