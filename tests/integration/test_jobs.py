"""Background jobs on SQLite and PostgreSQL: enqueued with their transaction, all or nothing.

Each job runs through :func:`stopsms.jobs.kinds.run_job`, the function both queues call (the
SQLite runner, procrastinate's task); the procrastinate worker itself runs in the end-to-end
test (tests/e2e/test_jobs_kill.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from stopsms.clock import FakeClock
from stopsms.domain.parts import DEFAULT_MAX_PARTS
from stopsms.errors import InvalidInput, NotFound
from stopsms.jobs import resource
from stopsms.jobs.kinds import check_schedules, run_job, submit_import
from stopsms.jobs.resource import MAX_ATTEMPTS, ProgressMeter
from stopsms.jobs.runner import Runner, start_in_process
from stopsms.services.accounts.accounts import create_account
from stopsms.services.campaigns.campaigns import schedule_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.builders import add_contacts, draft_campaign, ready_account

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Paris
CSV = b"phone;first_name\n06 12 34 56 01;Ana\n06 12 34 56 02;Bo\nnot a number;Cy\n"


@dataclass
class Host:
    """The process a job runs in, as :class:`stopsms.app.App` gives it."""

    database: Database
    shortcode_substitution: bool = False
    max_parts: int = DEFAULT_MAX_PARTS


def _contacts(database: Database) -> int:
    with database.reader() as connection:
        return int(connection.execute(select(func.count()).select_from(t.contacts)).scalar_one())


def _import(database: Database, content: bytes = CSV, account: str = "default") -> int:
    with database.transaction() as connection:
        job = submit_import(connection, account, "clients.csv", content, {"list_name": "vip"}, NOW)
    return job.id


def _job(database: Database, job_id: int, account: str = "default") -> resource.Job:
    with database.reader() as connection:
        return resource.get_job(connection, account, job_id)


def test_a_rolled_back_transaction_enqueues_nothing(database: Database) -> None:
    def request_failing_after_enqueueing() -> None:
        with database.transaction() as connection:
            submit_import(connection, "default", "clients.csv", CSV, {}, NOW)
            raise RuntimeError("the request failed after enqueueing")

    with pytest.raises(RuntimeError):
        request_failing_after_enqueueing()
    with database.reader() as connection:
        assert connection.execute(select(func.count()).select_from(t.jobs)).scalar_one() == 0
        assert connection.execute(select(func.count()).select_from(t.job_files)).scalar_one() == 0
        if database.backend == "postgresql":
            queued = connection.exec_driver_sql("SELECT count(*) FROM procrastinate_jobs")
            assert queued.scalar_one() == 0


@pytest.mark.postgres
def test_on_postgresql_the_job_is_deferred_to_procrastinate(postgres_database: Database) -> None:
    job_id = _import(postgres_database)
    job = _job(postgres_database, job_id)
    with postgres_database.reader() as connection:
        row = connection.exec_driver_sql(
            "SELECT task_name, queue_name, args, status FROM procrastinate_jobs WHERE id = %(id)s",
            {"id": job.queue_job_id},
        ).one()
    assert tuple(row) == ("stopsms.run_job", "stopsms", {"job_id": job_id}, "todo")


@pytest.mark.commits
def test_an_import_job_imports_whole_and_keeps_its_reject_report(database: Database) -> None:
    job_id = _import(database)
    assert _job(database, job_id).state == "queued"

    assert run_job(Host(database), job_id) == "succeeded"

    job = _job(database, job_id)
    assert job.state == "succeeded"
    assert job.attempts == 1
    assert job.result is not None
    assert (job.result["imported"], job.result["rejected"]) == (2, 1)
    assert (job.progress_done, job.progress_total) == (3, 3)
    assert job.error is None
    assert job.finished_at is not None
    assert _contacts(database) == 2
    with database.reader() as connection:
        rejects = resource.job_file(connection, "default", job_id, "rejects")
        with pytest.raises(NotFound):  # the upload is not kept once the job has ended
            resource.job_file(connection, "default", job_id, "input")
    assert b"not a number" in rejects.content
    assert run_job(Host(database), job_id) is None  # ended: nothing runs twice


@pytest.mark.commits
def test_a_job_that_raises_fails_with_a_sentence_and_changes_nothing(database: Database) -> None:
    job_id = _import(database, b"name;city\nAna;Lyon\n")

    assert run_job(Host(database), job_id) == "failed"

    job = _job(database, job_id)
    assert job.state == "failed"
    assert job.error is not None
    assert "phone" in job.error
    assert "\n" not in job.error
    assert job.result is None
    assert _contacts(database) == 0
    with database.reader() as connection:
        files = connection.execute(select(func.count()).select_from(t.job_files)).scalar_one()
    assert files == 0


def test_another_account_cannot_see_the_job(database: Database) -> None:
    with database.transaction() as connection:
        create_account(connection, "other", now=NOW)
    job_id = _import(database)
    with database.reader() as connection:
        with pytest.raises(NotFound, match=f"no job {job_id}"):
            resource.get_job(connection, "other", job_id)
        with pytest.raises(NotFound):
            resource.job_file(connection, "other", job_id, "input")
        assert resource.list_jobs(connection, "other") == []
        assert [job.id for job in resource.list_jobs(connection, "default")] == [job_id]
    with database.transaction() as connection, pytest.raises(NotFound):
        resource.cancel_job(connection, "other", job_id, NOW)


def test_bad_values_are_refused_by_name(database: Database) -> None:
    with database.transaction() as connection:
        with pytest.raises(InvalidInput, match="state"):
            resource.list_jobs(connection, "default", state="done")
        with pytest.raises(InvalidInput, match="option"):
            submit_import(connection, "default", "a.csv", CSV, {"rejects_path": "/etc/x"}, NOW)


@pytest.mark.commits
def test_progress_is_visible_and_written_at_most_once_a_second(database: Database) -> None:
    job_id = _import(database)
    with database.transaction() as connection:
        resource.claim(connection, job_id, NOW)
    meter = ProgressMeter(job_id, database.engine, interval=60.0)
    meter(10, 100)
    meter(20, 100)
    assert (_job(database, job_id).progress_done, _job(database, job_id).progress_total) == (
        20,
        100,
    )
    with database.reader() as connection:
        stored = connection.execute(
            select(t.jobs.c.progress_done).where(t.jobs.c.id == job_id)
        ).scalar_one()
    # PostgreSQL: the first value written, the second within the interval not; SQLite: the
    # work's transaction holds the write lock, progress stays in this process's memory.
    assert stored == (10 if database.backend == "postgresql" else 0)


@pytest.mark.commits
def test_a_job_a_crash_left_running_runs_again_then_fails_after_its_attempts(
    database: Database,
) -> None:
    job_id = _import(database)
    with database.transaction() as connection:  # a runner took it, then the process died
        resource.claim(connection, job_id, NOW)
    runner = Runner(Host(database), schedules=None)
    assert runner.recover() == [job_id]
    assert runner.run_pending() == 1
    job = _job(database, job_id)
    assert (job.state, job.attempts) == ("succeeded", 2)
    assert _contacts(database) == 2

    doomed = _import(database, CSV.replace(b"01", b"09"))
    for _ in range(MAX_ATTEMPTS):
        with database.transaction() as connection:
            resource.claim(connection, doomed, NOW)
    runner.recover()
    job = _job(database, doomed)
    assert job.state == "failed"
    assert job.error == (
        f"interrupted {MAX_ATTEMPTS} times (the process stopped while it ran);"
        " nothing of it was applied"
    )
    assert _contacts(database) == 2


def _campaign(database: Database) -> int:
    with database.transaction() as connection:
        ready_account(connection, now=NOW)
        add_contacts(
            connection,
            "vip",
            [{"phone_e164": "+33612345601"}, {"phone_e164": "+33612345602"}],
            now=NOW,
        )
        return draft_campaign(connection, "vip", "Soldes -20% ce week-end", now=NOW)


@pytest.mark.commits
def test_a_send_job_prepares_the_campaign_and_an_export_job_keeps_its_file(
    database: Database,
) -> None:
    campaign_id = _campaign(database)
    clock = FakeClock(NOW)
    with database.transaction() as connection:
        send = resource.submit(
            connection,
            "default",
            "campaign_send",
            {"campaign_id": campaign_id},
            NOW,
            campaign_id=campaign_id,
        )
    assert run_job(Host(database), send.id, clock) == "succeeded"
    job = _job(database, send.id)
    assert job.result is not None
    assert job.result["ready"] == 2
    with database.reader() as connection:
        status = connection.execute(
            select(t.campaigns.c.status).where(t.campaigns.c.id == campaign_id)
        ).scalar_one()
        messages = connection.execute(select(func.count()).select_from(t.messages)).scalar_one()
    assert (status, messages) == ("sending", 2)

    with database.transaction() as connection:
        export = resource.submit(
            connection, "default", "campaign_export", {"campaign_id": campaign_id}, NOW
        )
    assert run_job(Host(database), export.id, clock) == "succeeded"
    with database.reader() as connection:
        kept = resource.job_file(connection, "default", export.id, "output")
    assert kept.name == f"campaign-{campaign_id}.csv"
    assert kept.content.decode("utf-8-sig").count("\n") == 3  # header and two recipients
    assert _job(database, export.id).result == {
        "file": kept.name,
        "rows": 2,
        "bytes": len(kept.content),
        "format": "csv",
    }


@pytest.mark.commits
def test_a_send_job_refused_fails_with_the_services_sentence(database: Database) -> None:
    campaign_id = _campaign(database)
    with database.transaction() as connection:
        connection.execute(t.campaigns.update().values(status="cancelled"))
        send = resource.submit(
            connection, "default", "campaign_send", {"campaign_id": campaign_id}, NOW
        )
    assert run_job(Host(database), send.id, FakeClock(NOW)) == "failed"
    assert "cancelled" in (_job(database, send.id).error or "")


@pytest.mark.commits
def test_a_due_scheduled_campaign_gets_one_send_job(database: Database) -> None:
    campaign_id = _campaign(database)
    with database.transaction() as connection:
        schedule_campaign(
            connection, "default", campaign_id, NOW + timedelta(hours=1), FakeClock(NOW)
        )
    assert check_schedules(Host(database), FakeClock(NOW)) == []
    later = FakeClock(NOW + timedelta(hours=2))
    [job] = check_schedules(Host(database), later)
    assert check_schedules(Host(database), later) == []  # one queued already
    assert (job.kind, job.campaign_id, job.params["scheduled"]) == (
        "campaign_send",
        campaign_id,
        True,
    )
    assert run_job(Host(database), job.id, later) == "succeeded"


def test_the_in_process_runner_runs_a_submitted_job(sqlite_database: Database) -> None:
    runner = start_in_process(Host(sqlite_database), poll=0.05, schedules=None)
    try:
        job_id = _import(sqlite_database)
        runner.wake()
        deadline = time.monotonic() + 10
        while _job(sqlite_database, job_id).state in resource.ACTIVE:
            assert time.monotonic() < deadline, "the runner did not run the job"
            time.sleep(0.02)
    finally:
        runner.stop()
    assert _job(sqlite_database, job_id).state == "succeeded"


def test_a_queued_job_can_be_cancelled_and_then_never_runs(database: Database) -> None:
    job_id = _import(database)
    with database.transaction() as connection:
        assert resource.cancel_job(connection, "default", job_id, NOW).state == "cancelled"
        with pytest.raises(InvalidInput, match="queued job"):
            resource.cancel_job(connection, "default", job_id, NOW)
    assert run_job(Host(database), job_id) is None


@pytest.mark.commits
def test_a_run_whose_job_was_taken_over_applies_nothing(database: Database) -> None:
    job_id = _import(database)
    with database.transaction() as connection:
        stale = resource.claim(connection, job_id, NOW)  # a run thought dead...
        resource.claim(connection, job_id, NOW)  # ...and the job claimed again
    assert stale is not None
    with pytest.raises(resource.JobTakenOver), database.transaction() as connection:
        resource.succeed(connection, stale, {"imported": 2}, NOW)
    with database.transaction() as connection:
        resource.fail(connection, job_id, "the stale run failed", NOW, attempt=stale.attempts)
    job = _job(database, job_id)
    assert (job.state, job.attempts, job.error) == ("running", 2, None)
    assert run_job(Host(database), job_id) == "succeeded"
