"""Uploads: a contact file uploaded in the customer area, kept until its columns are mapped.

The web area's import is two steps (upload and see the columns, then confirm the mapping); the
file waits between them in ``uploads``, in the database rather than on one server's disk, so
that the second step may reach another server behind the same load balancer.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stopsms.store.types import BigId, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", BigId, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_uploads_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )
    op.create_index(op.f("ix_uploads_account_id_id"), "uploads", ["account_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_uploads_account_id_id"), table_name="uploads")
    op.drop_table("uploads")
