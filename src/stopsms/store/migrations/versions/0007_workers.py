"""Workers and bind leases: many sending processes on one database (issue 11).

``workers``: one row per live sending process (``stopsms worker`` or ``campaign send``), its
id being the claim token of the messages it holds; a heartbeat pushes ``lease_expires_at``
forward. Only the claims of a worker whose lease expired are taken over.

``bind_leases``: one row per bind slot of a provider account (``binds`` of its URL); a slot
belongs to the worker named in it while that worker's lease runs.

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stopsms.store.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
        sa.Column("lease_expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_workers_lease_expires_at", "workers", ["lease_expires_at"])
    op.create_table(
        "bind_leases",
        sa.Column("provider", sa.String(255), primary_key=True),
        sa.Column("slot", sa.Integer, primary_key=True),
        sa.Column("worker_id", sa.String(32)),
        sa.Column("acquired_at", UTCDateTime),
    )


def downgrade() -> None:
    op.drop_table("bind_leases")
    op.drop_index("ix_workers_lease_expires_at", table_name="workers")
    op.drop_table("workers")
