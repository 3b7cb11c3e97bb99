"""The composer's preview round trip: keystroke → updated preview, p99 (goal < 50 ms) on an
account whose list has 1,000,000 contacts.

``stopsms serve`` runs as a user starts it (a subprocess on port 0, SQLite). One typist:
requests are sequential over one keep-alive connection, as htmx sends them (one in flight),
each ``POST /campaigns/new/preview`` with the text one character longer. The baseline, in the
same run, interleaved one for one with the same connection: ``GET /healthz`` (the stack's
floor). The preview must not read the list: its counts by decision are counted once when the
list is chosen (``GET /campaigns/new/audience``, timed once and reported), and each keystroke
only multiplies the kept counts by the text's parts for its cost: the list's size must not
show in the keystroke figure.

    python -m bench composer   (STOPSMS_BENCH_CONTACTS=…, STOPSMS_BENCH_KEYS=… to change)
"""

from __future__ import annotations

import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from stopsms.services.access.users import create_user
from stopsms.services.accounts import accounts, credits
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.store import tables as t
from stopsms.store.database import open_database

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CONTACTS = int(os.environ.get("STOPSMS_BENCH_CONTACTS", "1000000"))
KEYS = int(os.environ.get("STOPSMS_BENCH_KEYS", "400"))
GOAL_P99_MS = 50.0
PASSWORD = "correct horse battery"
TEXT = "Soldes d’hiver : -30 % sur tout le magasin ce week-end, venez nombreux ! " * 3


def _seed(url: str, contacts: int) -> None:
    database = open_database(url)
    with database.transaction() as conn:
        accounts.update_account(
            conn, "default", AccountChanges(validated=True, shortcode="36034", brand="Shop")
        )
        accounts.add_sender(conn, "default", "SHOP", now=NOW)
        credits.add_credits(conn, "default", 10**12, now=NOW)
        account_id = accounts.get_account(conn, "default").id
        create_user(conn, "ana@shop.fr", PASSWORD, account="default", actor="bench", now=NOW)
        list_id = conn.execute(
            t.lists.insert()
            .values(account_id=account_id, name="clients", created_at=NOW)
            .returning(t.lists.c.id)
        ).scalar_one()
        first = 1  # a fresh database: no contact yet
        batch = 50_000
        for start in range(0, contacts, batch):
            rows = [
                {
                    "id": first + n,
                    "account_id": account_id,
                    "phone_e164": f"+3361{n:07d}",
                    "region": "FR",
                    "consent": "opt_in",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n in range(start, min(start + batch, contacts))
            ]
            conn.execute(t.contacts.insert(), rows)
            conn.execute(
                t.list_members.insert(),
                [{"list_id": list_id, "contact_id": row["id"]} for row in rows],
            )
    database.close()


def _serve(url: str, home: str) -> tuple[subprocess.Popen[str], str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOPSMS_")}
    env |= {"STOPSMS_DATABASE_URL": url, "STOPSMS_HOME": home}
    stopsms = str(Path(sys.executable).with_name("stopsms"))
    process = subprocess.Popen(
        [stopsms, "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"running on http://([\d.]+):(\d+)", line)
        if found:
            return process, found.group(1), int(found.group(2))
    raise RuntimeError("stopsms serve did not start")


def _cookies(response: http.client.HTTPResponse, jar: dict[str, str]) -> None:
    for header, value in response.getheaders():
        if header.lower() == "set-cookie":
            name, _, rest = value.partition("=")
            jar[name] = rest.split(";")[0]


def _request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    jar: dict[str, str],
    body: dict[str, str] | None = None,
) -> tuple[int, str]:
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
    data = None
    if body is not None:
        data = urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    text = response.read().decode()
    _cookies(response, jar)
    return response.status, text


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stopsms-bench-composer-") as folder:
        url = f"sqlite:///{Path(folder) / 'stopsms.db'}"
        subprocess.run(
            [str(Path(sys.executable).with_name("stopsms")), "migrate"],
            env={**os.environ, "STOPSMS_DATABASE_URL": url, "STOPSMS_HOME": folder},
            check=True,
            capture_output=True,
        )
        started = time.perf_counter()
        _seed(url, CONTACTS)
        print(f"seeded {CONTACTS:,} contacts in {time.perf_counter() - started:.1f} s")
        process, host, port = _serve(url, folder)
        try:
            conn = http.client.HTTPConnection(host, port, timeout=60)
            jar: dict[str, str] = {}
            _, page = _request(conn, "GET", "/login", jar)
            login = {"csrf": _csrf(page), "email": "ana@shop.fr", "password": PASSWORD}
            status, _ = _request(conn, "POST", "/login", jar, login)
            assert status == 303, status
            _, page = _request(conn, "GET", "/campaigns/new", jar)
            csrf = _csrf(page)
            # The list's counts by decision: once, on choosing the list (never per keystroke).
            begun = time.perf_counter()
            status, html = _request(conn, "GET", "/campaigns/new/audience?list=clients", jar)
            counted = time.perf_counter() - begun
            assert status == 200, (status, html[:300])
            assert 'id="audience-ready"' in html, html[:300]
            previews: list[float] = []
            floor: list[float] = []
            for key in range(KEYS):
                text = TEXT[: 1 + key % len(TEXT)]
                begun = time.perf_counter()
                status, html = _request(
                    conn,
                    "POST",
                    "/campaigns/new/preview",
                    jar,
                    {"csrf": csrf, "text": text, "list": "clients"},
                )
                previews.append(time.perf_counter() - begun)
                assert status == 200, (status, html[:300])
                assert 'id="cost"' in html, html[:300]
                begun = time.perf_counter()
                status, _ = _request(conn, "GET", "/healthz", jar)
                floor.append(time.perf_counter() - begun)
            conn.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    load = os.getloadavg()
    print(
        f"preview round trip, {KEYS} keystrokes, list of {CONTACTS:,}: p50"
        f" {_p(previews, 0.5):.1f} ms, p99 {_p(previews, 0.99):.1f} ms (goal p99 <"
        f" {GOAL_P99_MS:.0f} ms); GET /healthz interleaved: p50 {_p(floor, 0.5):.1f} ms, p99"
        f" {_p(floor, 0.99):.1f} ms; mean preview {statistics.fmean(previews) * 1000:.1f} ms;"
        f" the list's counts by decision (once, on choosing it): {counted * 1000:.0f} ms;"
        f" load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
