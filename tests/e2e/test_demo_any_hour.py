"""``stopsms demo`` finishes in seconds at any hour of the week, in any machine time zone
(issue 12, item 8), and prints its steps as they happen, also into a pipe.

Its contacts live in mainland France, Réunion, Mayotte, Guadeloupe, Martinique and Guiana:
at most hours one of them is closed, and a demo on the real clock would wait for it (hours;
on main it looked at Paris only). The sweep runs the demo's own steps in-process on a small
contact file of every territory, at 24 instants spread over a week (every hour of the day,
every weekday), with the machine's zone UTC and Pacific/Auckland; a few cases run the real
command as a subprocess, its stdout a pipe, on the bundled file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from stopsms.cli.demo import choose_clock, run_demo
from stopsms.clock import FakeClock, SystemClock
from stopsms.domain.phone import describe
from stopsms.domain.windows import check_window
from stopsms.store import tables as t
from tests.e2e.support import database

pytestmark = [pytest.mark.slow]

MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
#: 24 instants of a week: hour 7k for k < 24 — every hour of the day, every day of the week.
WEEK = [MONDAY + timedelta(hours=7 * k) for k in range(24)]
ZONES = ["UTC", "Pacific/Auckland"]

#: One or two contacts in each territory of the bundled file (and a Mayotte one).
SMALL = "\n".join(
    [
        "Prénom;Nom;Portable",
        *(f"P{i};Paris;06 12 34 56 {i:02d}" for i in range(10, 16)),
        "Noël;Payet;+262 692 03 73 28",
        "Léa;Hoarau;+262 693 11 22 33",
        "Ali;Mayotte;+262 639 01 23 45",
        "Léa;Robert;+590 690 83 76 58",
        "Jean;Martinique;+596 696 12 34 56",
        "Anne;Cayenne;+594 694 12 34 56",
    ]
)

TERRITORIES: dict[tuple[str, tuple[str, ...]], int] = {
    ("FR", ("Europe/Paris",)): 600,
    ("RE", ("Indian/Reunion",)): 20,
    ("GP", ("America/Guadeloupe",)): 11,
}


@pytest.fixture
def machine_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    zone: str = request.param
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield zone
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_the_clock_follows_every_recipients_window_not_only_paris() -> None:
    run = timedelta(minutes=6)
    # Tuesday 24 Nov, 17:35 in Paris (issue 12): Paris open, Réunion (20:35) closed.
    clock, note = choose_clock(TERRITORIES, datetime(2026, 11, 24, 16, 35, tzinfo=UTC), run)
    assert isinstance(clock, FakeClock)
    assert note is not None
    assert "RE:" in note
    assert "FR:" not in note
    # Tuesday 14:00 in Paris: 17:00 in Réunion, 09:00 in Guadeloupe — all open.
    clock, note = choose_clock(TERRITORIES, datetime(2026, 11, 24, 13, 0, tzinfo=UTC), run)
    assert isinstance(clock, SystemClock)
    assert note is None
    # 19:58 in Paris is open, but closes before the run is over.
    paris: dict[tuple[str, tuple[str, ...]], int] = {("FR", ("Europe/Paris",)): 1}
    clock, note = choose_clock(paris, datetime(2026, 11, 24, 18, 58, tzinfo=UTC), run)
    assert isinstance(clock, FakeClock)
    assert note is not None
    assert "closes Tue 20:00 local before the run can finish" in note
    # A forced start is always simulated, and says so.
    start = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    clock, note = choose_clock(TERRITORIES, SystemClock().now(), run, start=start)
    assert isinstance(clock, FakeClock)
    assert clock.now() == start
    assert note is not None
    assert "--start" in note


@pytest.mark.timeout(60)
@pytest.mark.parametrize("machine_zone", ZONES, indirect=True)
@pytest.mark.parametrize("start", WEEK, ids=[f"{w:%a-%H}h" for w in WEEK])
def test_the_demo_finishes_in_seconds_at_any_hour(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], machine_zone: str, start: datetime
) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(SMALL + "\n", encoding="utf-8")
    # SQLite only: the demo runs on the embedded default (and this sweep has 35 cases).
    db = database(f"sqlite:///{tmp_path / 'stopsms.db'}")
    began = time.monotonic()
    try:
        campaign_id = run_demo(db, rate=1000, repliers=2, start=start, contacts=contacts)
        elapsed = time.monotonic() - began
        with db.reader() as conn:
            status = conn.execute(
                select(t.campaigns.c.status).where(t.campaigns.c.id == campaign_id)
            ).scalar_one()
            sent = conn.execute(
                select(t.messages.c.phone_e164, t.messages.c.submitted_at).where(
                    t.messages.c.campaign_id == campaign_id,
                    t.messages.c.submitted_at.isnot(None),
                )
            ).all()
    finally:
        db.close()
    out = capsys.readouterr().out
    assert elapsed < 20, f"{elapsed:.1f} s"
    assert status == "completed", out
    assert len(sent) == 12
    assert "Simulated clock from" in out
    for step in ("1.", "2.", "3.", "4.", "5. Report"):
        assert f"\n{step}" in out
    # Simulated, but lawful: every message left inside its recipient's own hours.
    for phone, submitted_at in sent:
        number = describe(phone)
        decision = check_window(submitted_at, region=number.region, time_zones=number.time_zones)
        assert decision.allowed, (phone, submitted_at, decision.rule)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("UTC", "2026-11-24T16:35Z"),  # Tuesday 17:35 in Paris: hung for hours on main
        ("Pacific/Auckland", "2026-11-29T09:00+01:00"),  # a Sunday morning in Paris
    ],
)
def test_the_real_command_prints_its_progress_into_a_pipe(
    tmp_path: Path, zone: str, start: str
) -> None:
    env = dict(
        os.environ,
        STOPSMS_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}",
        TZ=zone,
        COLUMNS="120",
    )
    began = time.monotonic()
    first_step_while_running = None
    lines = []
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stopsms.cli",
            "demo",
            "--no-serve",
            "--rate",
            "2000",
            "--start",
            start,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        for line in process.stdout:
            lines.append(line)
            if first_step_while_running is None and line.startswith("1. Account"):
                first_step_while_running = process.poll() is None
        errors = process.stderr.read()
        process.wait(timeout=60)
    out = "".join(lines)
    assert process.returncode == 0, out + errors
    assert time.monotonic() - began < 60
    assert first_step_while_running, "the first step was not printed while the demo ran"
    assert "Simulated clock from" in out
    assert "997 imported" in out
    assert "5. Report" in out
    assert "sent 997" in out
