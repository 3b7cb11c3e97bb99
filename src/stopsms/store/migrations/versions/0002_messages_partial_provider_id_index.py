"""Outbox: index ``messages.provider_message_id`` only where it is set.

Every prepared message starts without a provider id; a full index cost each of them an entry
that no lookup ever reads (receipts look ids up by value, which implies ``IS NOT NULL``, so
both SQLite and PostgreSQL use the partial index). Measured by ``python -m bench prepare``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SET = sa.text("provider_message_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_messages_provider_message_id", table_name="messages")
    op.create_index(
        "ix_messages_provider_message_id",
        "messages",
        ["provider_message_id"],
        unique=False,
        sqlite_where=_SET,
        postgresql_where=_SET,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_provider_message_id", table_name="messages")
    op.create_index(
        "ix_messages_provider_message_id", "messages", ["provider_message_id"], unique=False
    )
