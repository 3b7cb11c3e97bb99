"""``stopsms jobs list|show|download|cancel``: an account's jobs from the command line.

Jobs are submitted and run through :mod:`stopsms.jobs` (as the API and the workers do); the
commands read them, scoped by ``--account``, and refuse another account's job as a missing one.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from stopsms.domain.parts import DEFAULT_MAX_PARTS
from stopsms.jobs.kinds import run_job, submit_import
from stopsms.store.database import open_database
from tests.integration.test_bad_input_cli import ok, refused
from tests.integration.test_jobs import CSV, NOW, Host


def _imported(database_url: str) -> tuple[int, int]:
    """A finished import job and a queued one (ids)."""
    database = open_database(database_url)
    try:
        with database.transaction() as connection:
            done = submit_import(connection, "default", "clients.csv", CSV, {}, NOW).id
            queued = submit_import(connection, "default", "more.csv", CSV, {}, NOW).id
        assert run_job(Host(database, max_parts=DEFAULT_MAX_PARTS), done) == "succeeded"
    finally:
        database.close()
    return done, queued


def test_jobs_are_listed_shown_downloaded_and_cancelled(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    done, queued = _imported(database_url)

    listed = json.loads(ok(cli, "jobs", "list", "--json"))
    assert [(job["id"], job["state"]) for job in listed] == [
        (queued, "queued"),
        (done, "succeeded"),
    ]
    shown = json.loads(ok(cli, "jobs", "show", str(done), "--json"))
    assert (shown["kind"], shown["result"]["imported"], shown["attempts"]) == (
        "contact_import",
        2,
        1,
    )
    assert f"job {done}: contact_import succeeded" in ok(cli, "jobs", "show", str(done))

    report = tmp_path / "rejects.csv"
    ok(cli, "jobs", "download", str(done), "--rejects", "--output", str(report))
    assert "not a number" in report.read_text(encoding="utf-8")
    refused(
        cli, "jobs", "download", str(done), "--output", str(tmp_path / "x.csv"), says="no output"
    )
    assert not (tmp_path / "x.csv").exists()

    assert f"job {queued} cancelled" in ok(cli, "jobs", "cancel", str(queued))
    refused(cli, "jobs", "cancel", str(queued), says="a queued job (this one is cancelled)")


def test_another_accounts_job_is_not_found(cli: CliRunner, database_url: str) -> None:
    done, _ = _imported(database_url)
    ok(cli, "accounts", "create", "other")
    refused(cli, "jobs", "show", str(done), "--account", "other", says=f"no job {done}")
    assert json.loads(ok(cli, "jobs", "list", "--json", "--account", "other")) == []
    refused(cli, "jobs", "list", "--state", "done", says="state")
