"""Opt-outs: index ``campaign_id`` (attribution).

Reports and the send progress bar count the STOPs attributed to a campaign several times a
second while it sends; without this index each count scanned the whole registry (millions of
rows for a large account). It also serves ``ON DELETE SET NULL`` when a campaign is deleted.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_optouts_campaign_id", "optouts", ["campaign_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_optouts_campaign_id", table_name="optouts")
