"""Jobs: the job resource (``jobs``), its files (``job_files``), and procrastinate's schema.

``jobs`` is the resource every interface shows (state, progress, result, error); on
PostgreSQL procrastinate (``procrastinate_*`` tables, types and functions) queues them, and its
schema is created here, in the same transaction as ours, so that ``stopsms migrate`` (or the
first open) leaves a database a ``stopsms jobs worker`` can serve and
:func:`~stopsms.store.database.is_current` stays one read of ``alembic_version``. It is the
schema of the procrastinate version installed when the migration runs (``schema.sql``); a
later procrastinate with schema changes comes with a migration of ours applying its
migration files. SQLite has no procrastinate: the in-process runner polls ``jobs``.

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from stopsms.store.types import BigId, JSONDocument, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _procrastinate_schema() -> str:
    from procrastinate.schema import SchemaManager

    return SchemaManager.get_schema()


def _script(sql: str) -> None:
    """Run several statements (``$$`` bodies, no parameters) on the migration's own psycopg
    connection, in its transaction: the simple query protocol takes them as one string."""
    driver: Any = op.get_bind().connection.driver_connection
    driver.execute(sql)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("params", JSONDocument, nullable=False),
        sa.Column("progress_done", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("progress_total", sa.BigInteger(), nullable=True),
        sa.Column("result", JSONDocument, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("queue_job_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('contact_import', 'campaign_send', 'campaign_export')",
            name=op.f("ck_jobs_kind"),
        ),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name=op.f("ck_jobs_state"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_jobs_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_jobs_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_account_id_id"), "jobs", ["account_id", "id"], unique=False)
    op.create_index(op.f("ix_jobs_state_id"), "jobs", ["state", "id"], unique=False)
    op.create_index(op.f("ix_jobs_campaign_id"), "jobs", ["campaign_id"], unique=False)
    op.create_table(
        "job_files",
        sa.Column("id", BigId, nullable=False),
        sa.Column("job_id", BigId, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "role IN ('input', 'rejects', 'output')", name=op.f("ck_job_files_role")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_files_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_files")),
        sa.UniqueConstraint("job_id", "role", name=op.f("uq_job_files_job_id_role")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _script(_procrastinate_schema())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _script(
            """
            DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
                procrastinate_jobs, procrastinate_workers CASCADE;
            DO $$
            DECLARE f record;
            BEGIN
                FOR f IN SELECT oid::regprocedure AS signature FROM pg_proc
                         WHERE proname LIKE 'procrastinate\\_%' LOOP
                    EXECUTE 'DROP FUNCTION IF EXISTS ' || f.signature || ' CASCADE';
                END LOOP;
            END $$;
            DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type,
                procrastinate_job_to_defer_v1 CASCADE;
            """
        )
    op.drop_table("job_files")
    op.drop_index(op.f("ix_jobs_campaign_id"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_state_id"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_account_id_id"), table_name="jobs")
    op.drop_table("jobs")
