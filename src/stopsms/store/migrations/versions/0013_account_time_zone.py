"""Accounts: ``time_zone``, the IANA zone an account's pages show times in and an
offset-less schedule is read in.

Every existing account gets ``Europe/Paris``, the zone every page and schedule used before
(the platform's legal home): nothing an account sees or schedules changes until it sets its
own zone.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("time_zone", sa.String(64), nullable=False, server_default="Europe/Paris"),
    )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("time_zone")
