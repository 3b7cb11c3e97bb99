"""Campaign tallies: what a settled campaign did, counted once; messages sent apart from
campaigns indexed by account and date.

The dashboard and the campaign pages of an account with 100 campaigns and 10,000,000
messages read every message of the campaigns they show on each visit (the dashboard's 30-day
chart: every message of the month). A settled campaign (completed or cancelled, no message
left that may change) never changes its counts again: ``campaign_tallies`` keeps its report's
counts and its hourly series, taken once by the first page that sees it settled
(:mod:`stopsms.app.campaigns`). The messages sent apart from campaigns (API, confirmations)
are few beside them: a partial index on ``(account_id, created_at) WHERE campaign_id IS NULL``
lets the chart count them without reading the campaigns' ones.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stopsms.store.types import JSONDocument, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_tallies",
        sa.Column(
            "campaign_id",
            sa.Integer,
            sa.ForeignKey(
                "campaigns.id",
                ondelete="CASCADE",
                name="fk_campaign_tallies_campaign_id_campaigns",
            ),
            nullable=False,
        ),
        sa.Column(
            "account_id",
            sa.Integer,
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_campaign_tallies_account_id_accounts"
            ),
            nullable=False,
        ),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("report", JSONDocument, nullable=False),
        sa.Column("hourly", JSONDocument, nullable=False),
        sa.Column("computed_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", name="pk_campaign_tallies"),
    )
    op.create_index("ix_campaign_tallies_account_id", "campaign_tallies", ["account_id"])
    op.create_index(
        "ix_messages_direct_created",
        "messages",
        ["account_id", "created_at"],
        sqlite_where=sa.text("campaign_id IS NULL"),
        postgresql_where=sa.text("campaign_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_direct_created", table_name="messages")
    op.drop_index("ix_campaign_tallies_account_id", table_name="campaign_tallies")
    op.drop_table("campaign_tallies")
