"""Bulk suppression checks: 1,000,000 numbers against a 2,000,000-entry opt-out registry.

``python -m bench suppression``. On SQLite (a temporary file) and PostgreSQL
(``STOPSMS_BENCH_POSTGRES_URL``, default the local ``test`` server; a scratch database is
created and dropped). Sizes: ``STOPSMS_BENCH_REGISTRY`` and ``STOPSMS_BENCH_CANDIDATES``.

Figures, each beside the naive baseline measured in the same run (one ``SELECT`` per number,
i.e. :func:`stopsms.services.optouts.optouts.is_suppressed` in a loop) on the same 1,000,000
candidates and the same number of rounds (best of 2): no subset. The baseline alone takes
about a minute a round on SQLite and several on PostgreSQL (until 2026-12-05 it ran on the
first 10,000 candidates; the indexed path on the first 100,000):

- ``suppressed_among`` on 1,000,000 candidates (half of them opted out): loads the account's
  active numbers once and intersects — the goal is ≥ 200,000 look-ups/s end to end;
- the same with 1% of the registry erased (kept only as keyed hashes, so every candidate not
  found in clear is hashed);
- indexed look-ups by key in chunks of 900 (the path for small batches).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from bench import Rate, best_rate, report
from stopsms.services.accounts.accounts import get_account
from stopsms.services.optouts import optouts, suppression
from stopsms.store.database import Database, create_engine_for, migrate
from stopsms.store.phone_keys import keyer

REGISTRY = int(os.environ.get("STOPSMS_BENCH_REGISTRY", "2000000"))
CANDIDATES = int(os.environ.get("STOPSMS_BENCH_CANDIDATES", "1000000"))
#: Best of this many rounds, for the baseline and for ours alike.
ROUNDS = 2
GOAL = 200_000
POSTGRES_URL = os.environ.get(
    "STOPSMS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
COLUMNS = "account_id, phone_key, phone_e164, scope, sender, source, recorded_by, recorded_at"


def _number(n: int) -> str:
    return f"+336{n:08d}"


def _fill(database: Database) -> None:
    """Write REGISTRY active opt-outs for the default account: even numbers 0, 2, 4…"""
    start = time.perf_counter()
    with database.transaction() as connection:
        phone_keyer = keyer(connection)
    numbers = [_number(2 * i) for i in range(REGISTRY)]
    keys = phone_keyer.keys(numbers)
    at = datetime.now(UTC)
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if database.backend == "postgresql":
            with cursor.copy(f"COPY optouts ({COLUMNS}) FROM STDIN") as copy:
                for number, key in zip(numbers, keys, strict=True):
                    copy.write_row((1, key, number, "account", "", "import", "bench", at))
            cursor.execute("ANALYZE optouts")
        else:
            stamp = at.replace(tzinfo=None).isoformat(sep=" ")
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(
                f"INSERT INTO optouts ({COLUMNS}) VALUES (1, ?, ?, 'account', '', 'import',"
                " 'bench', ?)",
                [(key, number, stamp) for number, key in zip(numbers, keys, strict=True)],
            )
            cursor.execute("COMMIT")
            cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    print(f"  registry of {REGISTRY:,} written in {time.perf_counter() - start:.1f} s", flush=True)


def _erase_one_percent(database: Database) -> None:
    with database.transaction() as connection:
        connection.execute(
            text("UPDATE optouts SET phone_e164 = NULL WHERE id % 100 = 0 AND account_id = 1")
        )


def _run(label: str, database: Database) -> None:
    print(f"-- {label}", flush=True)
    _fill(database)
    # Half the candidates are opted out (the even ones), half are not.
    candidates = [_number(n) for n in range(CANDIDATES)]

    def opted_out(count: int) -> int:
        """How many of the first ``count`` candidates are in the registry (even, in range)."""
        return (min(count, 2 * REGISTRY) + 1) // 2

    expected = opted_out(CANDIDATES)

    def naive() -> int:
        with database.reader() as connection:
            account = get_account(connection, "default")
            found = sum(
                optouts.is_suppressed(connection, account, n) is not None for n in candidates
            )
        assert found == expected, found
        return CANDIDATES

    def bulk() -> int:
        with database.reader() as connection:
            found = suppression.suppressed_among(connection, "default", candidates)
        assert len(found) == expected, len(found)
        return CANDIDATES

    def indexed() -> int:
        with database.reader() as connection:
            account = get_account(connection, "default")
            found: set[str] = set()
            for start in range(0, CANDIDATES, 10_000):  # under the set threshold
                batch = candidates[start : start + 10_000]
                found |= suppression.suppressed_among(connection, account, batch)
        assert len(found) == expected, len(found)
        return CANDIDATES

    def load_only() -> int:
        with database.reader() as connection:
            return len(suppression.load_suppression(connection, "default"))

    baseline = best_rate(f"{label}: naive SELECT per number", naive, rounds=ROUNDS)
    report(baseline)
    report(
        best_rate(f"{label}: indexed by key, 900/query", indexed, rounds=ROUNDS), baseline=baseline
    )
    report(best_rate(f"{label}: load registry into a set", load_only, rounds=ROUNDS))
    report(
        best_rate(f"{label}: bulk check (suppressed_among)", bulk, rounds=ROUNDS),
        goal=GOAL,
        baseline=baseline,
    )
    _erase_one_percent(database)
    report(
        best_rate(f"{label}: bulk check, 1% of registry erased", bulk, rounds=ROUNDS),
        goal=GOAL,
        baseline=baseline,
    )


def _sqlite() -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine = create_engine_for(f"sqlite:///{Path(directory) / 'bench.db'}")
        migrate(engine)
        try:
            _run("sqlite", Database(engine))
        finally:
            engine.dispose()


def _postgres() -> None:
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    admin: Engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"stopsms_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        print(f"-- postgresql: skipped ({error.__class__.__name__}: {error})")
        admin.dispose()
        return
    engine = create_engine_for(admin_url.set(database=name).render_as_string(hide_password=False))
    try:
        migrate(engine)
        _run("postgresql", Database(engine))
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    print(f"registry {REGISTRY:,} active opt-outs, {CANDIDATES:,} candidates", flush=True)
    _sqlite()
    _postgres()


__all__ = ["Rate", "main"]
