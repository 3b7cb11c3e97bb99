"""The rest of ``/v1``: an endpoint's description, the opt-out import job, direct credit.

- ``webhook_endpoints.description``: the owner's note about an endpoint (nullable).
- ``jobs.kind`` also takes ``optout_import`` (a blacklist uploaded over the API).
- ``ix_messages_direct_waiting``: messages outside campaigns by account and status with their
  price, partial (``campaign_id IS NULL``) so the campaigns' millions of rows cost it nothing:
  ``POST /v1/messages`` sums the account's queued direct messages from it alone.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_KINDS_BEFORE = "kind IN ('contact_import', 'campaign_send', 'campaign_export')"
_KINDS_AFTER = "kind IN ('contact_import', 'campaign_send', 'campaign_export', 'optout_import')"


def _kinds(condition: str) -> None:
    with op.batch_alter_table("jobs", recreate="auto") as batch:
        batch.drop_constraint(op.f("ck_jobs_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_jobs_kind"), sa.text(condition))


def upgrade() -> None:
    op.add_column("webhook_endpoints", sa.Column("description", sa.Text(), nullable=True))
    _kinds(_KINDS_AFTER)
    op.create_index(
        "ix_messages_direct_waiting",
        "messages",
        ["account_id", "status", "price_millicredits"],
        sqlite_where=sa.text("campaign_id IS NULL"),
        postgresql_where=sa.text("campaign_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_direct_waiting", table_name="messages")
    op.execute("DELETE FROM jobs WHERE kind = 'optout_import'")
    _kinds(_KINDS_BEFORE)
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("description")
