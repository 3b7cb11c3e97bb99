"""``stopsms demo`` (what ``make run`` runs) works on a fresh directory and tells the truth."""

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, func, select

from stopsms.store import tables as t


def run_demo(workdir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STOPSMS_DATABASE_URL=f"sqlite:///{workdir / 'demo.db'}", COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "stopsms.cli", "demo", "--no-serve", "--rate", "1000"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_demo_runs_a_campaign_end_to_end_and_honours_every_stop(tmp_path: Path) -> None:
    first = run_demo(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "997 imported" in first.stdout
    assert "3 rejected" in first.stdout
    # What was merged: the bundled file's number on lines 12 and 1002 keeps its last row.
    assert "merged: 1 number(s) had several rows" in first.stdout
    assert "lines superseded: 12 by 1002" in first.stdout
    assert (tmp_path / "demo-contacts.rejects.csv").exists()
    assert "The customer area" not in first.stdout  # --no-serve: the demo alone, then exit

    engine = create_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    with engine.connect() as conn:
        campaign = conn.execute(select(t.campaigns)).one()
        assert campaign.status == "completed"
        keyword_stops = conn.execute(
            select(func.count()).select_from(t.optouts).where(t.optouts.c.source == "keyword")
        ).scalar_one()
        attributed = conn.execute(
            select(func.count())
            .select_from(t.optouts)
            .where(t.optouts.c.campaign_id == campaign.id, t.optouts.c.source == "keyword")
        ).scalar_one()
        confirmations = conn.execute(
            select(func.count()).select_from(t.messages).where(t.messages.c.kind == "confirmation")
        ).scalar_one()
    # 14 recipients answer: 12 opt-outs (two of them uncertain), 2 plain replies.
    assert keyword_stops == attributed == 12
    assert confirmations == 12
    assert "12 (1.2" in first.stdout  # the report line: STOPs 12 (1.2x% of sent)

    # A second run: everyone who said STOP (or is blocked) is excluded from the new campaign.
    second = run_demo(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "excluded: opted_out" in second.stdout
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(t.campaigns.c.id))).scalar_one()
        excluded = conn.execute(
            select(func.count())
            .select_from(t.messages)
            .where(t.messages.c.campaign_id == latest, t.messages.c.reason == "opted_out")
        ).scalar_one()
    assert excluded == 13  # 12 STOPs + the number the aggregator reported blocked (061)
    engine.dispose()
