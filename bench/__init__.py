"""Benchmarks: `make bench` (all) or `python -m bench NAME …` (some).

Each ``bench/bench_<name>.py`` exposes ``main() -> None`` that prints its figures, each goal
figure beside a baseline measured in the same process, so ratios are comparable across
machines. Nothing here runs in the test suite.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """How many items a callable processed per second (best of several rounds)."""

    label: str
    items: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")


def best_rate(label: str, work: Callable[[], int], rounds: int = 3) -> Rate:
    """Run ``work`` (which returns how many items it processed) ``rounds`` times; keep the best."""
    best: Rate | None = None
    for _ in range(rounds):
        start = time.perf_counter()
        items = work()
        elapsed = time.perf_counter() - start
        rate = Rate(label, items, elapsed)
        if best is None or rate.per_second > best.per_second:
            best = rate
    assert best is not None
    return best


def report(rate: Rate, *, goal: float | None = None, baseline: Rate | None = None) -> None:
    """Print one figure line: rate, the goal it is held to, and the ratio to the baseline."""
    line = (
        f"{rate.label:<48} {rate.per_second:>14,.0f} /s  ({rate.items:,} in {rate.seconds:.3f} s)"
    )
    if baseline is not None:
        line += f"  x{rate.per_second / baseline.per_second:.1f} vs {baseline.label}"
    if goal is not None:
        verdict = "meets" if rate.per_second >= goal else "MISSES"
        line += f"  [{verdict} goal {goal:,.0f}/s]"
    print(line, flush=True)


def machine_speed() -> float:
    """Seconds this machine takes for ``sum(range(10**8))`` now (best of two).

    Printed beside wall-clock goals: on a shared virtual machine the same code runs at
    different speeds from one minute to the next (1.4 s on a quiet day here, 2.2 s seen).
    """
    import time

    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        sum(range(10**8))
        best = min(best, time.perf_counter() - start)
    return best


def scratch_database(admin_url: str, prefix: str) -> tuple[str, str] | None:
    """A new PostgreSQL database on ``admin_url``'s server for one run: ``(its URL, its
    name)``, or ``None`` (said in one line) when no server answers: the SQLite side still runs.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as error:
        print(f"  PostgreSQL not measured: {type(error).__name__}: {error}")
        return None
    return url.set(database=name).render_as_string(hide_password=False), name


def drop_database(admin_url: str, name: str) -> None:
    """Drop the database :func:`scratch_database` made (its sessions ended first)."""
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
