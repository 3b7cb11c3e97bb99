"""The dashboard, the campaign list and a campaign's report page (goal < 100 ms each) on an
account with 100 campaigns and 10,000,000 messages, on SQLite then PostgreSQL
(``STOPSMS_BENCH_POSTGRES_URL``; skipped when unreachable).

``stopsms serve`` runs as a user starts it (a subprocess on port 0); one signed-in browser
asks each page ``ROUNDS`` times over one keep-alive connection, interleaved with the baseline
``GET /healthz`` (the stack's floor) on the same connection. The rows are generated set-based
(``INSERT … SELECT`` over a recursive counter, one statement per campaign): 99 campaigns
completed, one a day over the last 99 days, each with its messages delivered (95 %) or
failed, 0.5 % of its recipients STOP (attributed opt-outs); the newest campaign still sending
(half of its messages pending) — it is counted live on every visit.

Settled campaigns are counted once and kept (``campaign_tallies``, :mod:`stopsms.app.campaigns`):
the first visit of each page pays that and is reported apart ("first visit"); the figures
after it are the steady state a person sees.

    python -m bench pages   (STOPSMS_BENCH_MESSAGES=…, STOPSMS_BENCH_CAMPAIGNS=…,
                             STOPSMS_BENCH_ROUNDS=… to change)
"""

from __future__ import annotations

import http.client
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.bench_composer import PASSWORD, _csrf, _p, _request, _serve
from stopsms.services.access.users import create_user
from stopsms.services.accounts import accounts
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.store.database import open_database

CAMPAIGNS = int(os.environ.get("STOPSMS_BENCH_CAMPAIGNS", "100"))
MESSAGES = int(os.environ.get("STOPSMS_BENCH_MESSAGES", "10000000"))
ROUNDS = int(os.environ.get("STOPSMS_BENCH_ROUNDS", "30"))
GOAL_MS = 100.0


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")


def _seed(url: str, path: Path) -> int:
    """The account, its user, its campaigns and their messages; returns the newest settled
    campaign's id (the report page measured)."""
    database = open_database(url)
    now = datetime.now(UTC)
    with database.transaction() as conn:
        accounts.update_account(
            conn, "default", AccountChanges(validated=True, shortcode="36034", brand="Shop")
        )
        accounts.add_sender(conn, "default", "SHOP", now=now)
        create_user(conn, "ana@shop.fr", PASSWORD, account="default", actor="bench", now=now)
        account_id = accounts.get_account(conn, "default").id
    database.close()
    per = MESSAGES // CAMPAIGNS
    if url.startswith("sqlite"):
        return _seed_sqlite(path, account_id, now, per)
    return _seed_postgres(url, account_id, now, per)


def _seed_postgres(url: str, account_id: int, now: datetime, per: int) -> int:
    """The same rows as :func:`_seed_sqlite`, with ``generate_series``; then ``VACUUM
    ANALYZE`` (what autovacuum does after such a load: statistics and the visibility map that
    index-only scans need)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    settled = 0
    with engine.connect() as conn:
        for k in range(CAMPAIGNS):
            day = now - timedelta(days=CAMPAIGNS - 1 - k, hours=2)
            sending = k == CAMPAIGNS - 1
            campaign_id = int(
                conn.execute(
                    text(
                        "INSERT INTO campaigns (account_id, name, sender, type, body, status,"
                        " created_at, started_at, completed_at) VALUES (:a, :n, 'SHOP',"
                        " 'marketing', 'Soldes', :s, :d, :d, :c) RETURNING id"
                    ),
                    {
                        "a": account_id,
                        "n": f"campaign {k}",
                        "s": "sending" if sending else "completed",
                        "d": day,
                        "c": None if sending else day + timedelta(hours=1),
                    },
                ).scalar_one()
            )
            if not sending:
                settled = campaign_id
            half = per if sending else 2 * per + 1
            conn.execute(
                text(
                    """
                INSERT INTO messages (account_id, campaign_id, phone_e164, region, sender, kind,
                    decision, text, encoding, segments, price_millicredits, status,
                    submitted_at, delivered_at, failed_at, created_at)
                SELECT :a, :c, '+3361' || lpad(i::text, 7, '0'), 'FR', 'SHOP', 'marketing',
                    'ready', 'Soldes STOP 36034', 'GSM-7', 1, 50,
                    CASE WHEN i * 2 >= :half THEN 'pending'
                         WHEN i % 20 = 7 THEN 'failed' ELSE 'delivered' END,
                    CASE WHEN i * 2 < :half THEN :d + (i / 40) * interval '1 second' END,
                    CASE WHEN i * 2 < :half AND i % 20 <> 7
                         THEN :d + (i / 40 + 5) * interval '1 second' END,
                    CASE WHEN i * 2 < :half AND i % 20 = 7
                         THEN :d + (i / 40 + 5) * interval '1 second' END,
                    :d
                FROM generate_series(0, :last) AS i
                """
                ),
                {"a": account_id, "c": campaign_id, "half": half, "d": day, "last": per - 1},
            )
            conn.execute(
                text(
                    """
                INSERT INTO optouts (account_id, phone_key, phone_e164, source, detail,
                    campaign_id, recorded_by, recorded_at)
                SELECT :a, 'bench-' || :c || '-' || i, '+3361' || lpad(i::text, 7, '0'),
                    'keyword', 'STOP', :c, 'bench', :d + (i / 40 + 60) * interval '1 second'
                FROM generate_series(0, :last, 200) AS i
                """
                ),
                {
                    "a": account_id,
                    "c": campaign_id,
                    "d": day,
                    "last": per // 2 - 1 if sending else per - 1,
                },
            )
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return settled


def _seed_sqlite(path: Path, account_id: int, now: datetime, per: int) -> int:
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA synchronous=OFF")
    settled = 0
    try:
        for k in range(CAMPAIGNS):
            day = now - timedelta(days=CAMPAIGNS - 1 - k, hours=2)
            sending = k == CAMPAIGNS - 1
            status = "sending" if sending else "completed"
            cursor = raw.execute(
                "INSERT INTO campaigns (account_id, name, sender, type, body, status,"
                " created_at, started_at, completed_at) VALUES (?, ?, 'SHOP', 'marketing',"
                " 'Soldes', ?, ?, ?, ?)",
                (
                    account_id,
                    f"campaign {k}",
                    status,
                    _stamp(day),
                    _stamp(day),
                    None if sending else _stamp(day + timedelta(hours=1)),
                ),
            )
            campaign_id = cursor.lastrowid
            assert campaign_id is not None
            if not sending:
                settled = campaign_id
            start = _stamp(day)
            # i/40 s apart (40 messages a second); 1 in 20 failed; the sending one: its second
            # half still pending.
            raw.execute(
                """
                INSERT INTO messages (account_id, campaign_id, phone_e164, region, sender, kind,
                    decision, text, encoding, segments, price_millicredits, status,
                    submitted_at, delivered_at, failed_at, created_at)
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                SELECT ?, ?, '+3361' || printf('%07d', i), 'FR', 'SHOP', 'marketing', 'ready',
                    'Soldes STOP 36034', 'GSM-7', 1, 50,
                    CASE WHEN ? AND i * 2 >= ? THEN 'pending'
                         WHEN i % 20 = 7 THEN 'failed' ELSE 'delivered' END,
                    CASE WHEN ? AND i * 2 >= ? THEN NULL
                         ELSE strftime('%Y-%m-%d %H:%M:%S', ?, '+' || (i / 40) || ' seconds')
                              || '.000000' END,
                    CASE WHEN (? AND i * 2 >= ?) OR i % 20 = 7 THEN NULL
                         ELSE strftime('%Y-%m-%d %H:%M:%S', ?, '+' || (i / 40 + 5) || ' seconds')
                              || '.000000' END,
                    CASE WHEN NOT (? AND i * 2 >= ?) AND i % 20 = 7
                         THEN strftime('%Y-%m-%d %H:%M:%S', ?, '+' || (i / 40 + 5) || ' seconds')
                              || '.000000' END,
                    ? || '.000000'
                FROM n
                """,
                (
                    per - 1,
                    account_id,
                    campaign_id,
                    sending,
                    per,
                    sending,
                    per,
                    start,
                    sending,
                    per,
                    start,
                    sending,
                    per,
                    start,
                    start,
                ),
            )
            raw.execute(
                """
                INSERT INTO optouts (account_id, phone_key, phone_e164, source, detail,
                    campaign_id, recorded_by, recorded_at)
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 200 FROM n WHERE i < ?)
                SELECT ?, 'bench-' || ? || '-' || i, '+3361' || printf('%07d', i), 'keyword',
                    'STOP', ?, 'bench',
                    strftime('%Y-%m-%d %H:%M:%S', ?, '+' || (i / 40 + 60) || ' seconds')
                        || '.000000'
                FROM n
                """,
                (per // 2 - 1 if sending else per - 1, account_id, campaign_id, campaign_id, start),
            )
            raw.commit()
        raw.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return settled


def main() -> None:
    from bench.bench_import import _drop_postgres, _postgres_database

    with tempfile.TemporaryDirectory(prefix="stopsms-bench-pages-") as folder:
        path = Path(folder) / "stopsms.db"
        _measure("SQLite", f"sqlite:///{path}", path, folder)
    created = _postgres_database()
    if created is None:
        return
    try:
        with tempfile.TemporaryDirectory(prefix="stopsms-bench-pages-") as folder:
            _measure("PostgreSQL", created[0], None, folder)
    finally:
        _drop_postgres(created[1])


def _measure(backend: str, url: str, path: Path | None, folder: str) -> None:
    subprocess.run(
        [str(Path(sys.executable).with_name("stopsms")), "migrate"],
        env={**os.environ, "STOPSMS_DATABASE_URL": url, "STOPSMS_HOME": folder},
        check=True,
        capture_output=True,
    )
    started = time.perf_counter()
    settled = _seed(url, path or Path(folder) / "unused.db")
    print(
        f"seeded {CAMPAIGNS} campaigns, {MESSAGES:,} messages in"
        f" {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    process, host, port = _serve(url, folder)
    pages = {
        "dashboard /": "/",
        "campaign list /campaigns": "/campaigns",
        f"report /campaigns/{settled}": f"/campaigns/{settled}",
        f"running /campaigns/{settled + 1}": f"/campaigns/{settled + 1}",
    }
    first: dict[str, float] = {}
    times: dict[str, list[float]] = {name: [] for name in pages}
    floor: list[float] = []
    try:
        conn = http.client.HTTPConnection(host, port, timeout=600)
        jar: dict[str, str] = {}
        _, page = _request(conn, "GET", "/login", jar)
        login = {"csrf": _csrf(page), "email": "ana@shop.fr", "password": PASSWORD}
        status, _ = _request(conn, "POST", "/login", jar, login)
        assert status == 303, status
        for name, address in pages.items():
            begun = time.perf_counter()
            status, html = _request(conn, "GET", address, jar)
            first[name] = time.perf_counter() - begun
            assert status == 200, (status, html[:300])
        for _ in range(ROUNDS):
            for name, address in pages.items():
                begun = time.perf_counter()
                status, _ = _request(conn, "GET", address, jar)
                times[name].append(time.perf_counter() - begun)
                assert status == 200
                begun = time.perf_counter()
                _request(conn, "GET", "/healthz", jar)
                floor.append(time.perf_counter() - begun)
        conn.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    load = os.getloadavg()
    print(
        f"{backend}: {CAMPAIGNS} campaigns, {MESSAGES:,} messages, {ROUNDS} rounds"
        f" (goal < {GOAL_MS:.0f} ms)"
    )
    for name in pages:
        print(
            f"  {name}: first visit {first[name] * 1000:.0f} ms; then p50"
            f" {_p(times[name], 0.5):.1f} ms, p99 {_p(times[name], 0.99):.1f} ms"
        )
    print(
        f"  GET /healthz interleaved: p50 {_p(floor, 0.5):.1f} ms, p99 {_p(floor, 0.99):.1f} ms;"
        f" load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
