"""``stopsms demo`` as ``make run`` runs it: the demo, then the customer area served with the
demo account until Ctrl-C; a port in use is one sentence before anything runs.

``--no-serve`` (the demo alone) is what tests/e2e/test_demo.py runs.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from stopsms.cli.demo import DEMO_EMAIL

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

STOPSMS = str(Path(sys.executable).with_name("stopsms"))
ADDRESS = re.compile(
    r"open (http://127\.0\.0\.1:\d+)/login and sign in as (\S+) with the password (\S+)"
)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOPSMS_")}
    return env | {
        "STOPSMS_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "STOPSMS_HOME": str(tmp_path),
        "COLUMNS": "200",
    }


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_the_demo_then_serves_the_area_with_a_login_until_ctrl_c(tmp_path: Path) -> None:
    with subprocess.Popen(
        [STOPSMS, "demo", "--rate", "1000", "--port", "0"],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        seen: list[str] = []
        found = None
        try:
            for line in process.stdout:
                seen.append(line)
                found = ADDRESS.search(line)
                if found:
                    break
            assert found, "".join(seen)
            base, email, password = found.groups()
            assert email == DEMO_EMAIL
            assert "5. Report" in "".join(seen)  # the whole demo ran first
            with httpx.Client(base_url=base, timeout=30) as http:
                login = http.get("/login")
                assert login.status_code == 200
                wrong = http.post(
                    "/login",
                    data={"csrf": _csrf(login.text), "email": email, "password": password + "x"},
                )
                assert wrong.status_code == 401
                signed = http.post(
                    "/login",
                    data={"csrf": _csrf(wrong.text), "email": email, "password": password},
                )
                assert signed.status_code == 303, signed.text
                board = http.get("/")
                assert board.status_code == 200
                assert "Black Friday (demo)" in board.text  # the demo's campaign, its account
                assert ">demo<" in board.text
        finally:
            process.send_signal(signal.SIGINT)
        rest = process.stdout.read()
        code = process.wait(timeout=30)
    output = "".join(seen) + rest
    assert code == 0, output
    assert "Traceback" not in output
    assert "stopped" in rest


def test_a_second_run_makes_a_new_password(tmp_path: Path) -> None:
    """The password of the first run no longer opens the area after the second."""
    passwords = []
    for _ in range(2):
        with subprocess.Popen(
            [STOPSMS, "demo", "--rate", "2000", "--replies", "0", "--port", "0"],
            cwd=tmp_path,
            env=_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as process:
            assert process.stdout is not None
            found = None
            try:
                for line in process.stdout:
                    found = ADDRESS.search(line)
                    if found:
                        break
                assert found
                passwords.append(found.group(3))
                base = found.group(1)
                if len(passwords) == 2:
                    with httpx.Client(base_url=base, timeout=30) as http:
                        login = http.get("/login")
                        old = http.post(
                            "/login",
                            data={
                                "csrf": _csrf(login.text),
                                "email": DEMO_EMAIL,
                                "password": passwords[0],
                            },
                        )
                        assert old.status_code == 401
            finally:
                process.send_signal(signal.SIGINT)
            process.stdout.read()
            assert process.wait(timeout=30) == 0
    assert passwords[0] != passwords[1]


def test_a_port_in_use_is_one_sentence_with_the_way_out_before_the_demo(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        began = time.monotonic()
        done = subprocess.run(
            [STOPSMS, "demo", "--port", str(port)],
            cwd=tmp_path,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode != 0
    assert f"port {port} on 127.0.0.1 is taken" in done.stderr
    assert "--port 8001" in done.stderr
    assert "--no-serve" in done.stderr
    assert "Traceback" not in done.stderr
    assert "1. Account" not in done.stdout  # refused before the demo ran
    assert not (tmp_path / "demo.db").exists()
    assert time.monotonic() - began < 30
