"""Messages: ``unsubscribe_token``, the hosted unsubscribe page's per-message token.

A message whose STOP mention links to the hosted page (``{public_url}/u/{token}``) carries its
own token, so one click opens a page about exactly that message (its number, sender and
campaign). Unique, indexed only where present: most messages (shortcode regions, accounts with
their own page) have none and cost the index nothing.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("unsubscribe_token", sa.String(10), nullable=True))
    op.create_index(
        "uq_messages_unsubscribe_token",
        "messages",
        ["unsubscribe_token"],
        unique=True,
        sqlite_where=sa.text("unsubscribe_token IS NOT NULL"),
        postgresql_where=sa.text("unsubscribe_token IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_messages_unsubscribe_token", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("unsubscribe_token")
