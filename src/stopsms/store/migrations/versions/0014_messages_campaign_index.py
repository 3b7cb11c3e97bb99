"""The campaign pages' covering index on messages given back: it cost preparation 16 %.

0012 replaced ``(campaign_id, status)`` by ``ix_messages_campaign_counts``, the same prefix
carrying eight more columns, so that a campaign's counts are read from the index alone.
Measured 2026-12-05 on the same machine, one after the other, load 1.1–1.3: preparing
1,000,000 recipients on SQLite took 4.73 s and 4.74 s without it (211,000 /s, the README's
goal ≥ 200,000 /s met) and 5.63 s twice with it (178,000 /s, missed): every message written
writes that wider entry (about 130 bytes, 1.3 GB for 10,000,000 messages). The pages it
served still missed their own goal with it (the dashboard's p99 242 ms against 100 ms), so
the sending path's figure comes first; ``(campaign_id, status)`` is back, and the counts read
the rows again. The STOPs' index of 0012 (``ix_optouts_campaign_stops``) stays: opt-outs are
written one by one, not by the million.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

COUNTS = [
    "campaign_id",
    "status",
    "decision",
    "reason",
    "encoding",
    "segments",
    "price_millicredits",
    "submitted_at",
    "delivered_at",
    "failed_at",
]


def upgrade() -> None:
    op.create_index("ix_messages_campaign_id_status", "messages", ["campaign_id", "status"])
    op.drop_index("ix_messages_campaign_counts", table_name="messages")


def downgrade() -> None:
    op.create_index("ix_messages_campaign_counts", "messages", COUNTS)
    op.drop_index("ix_messages_campaign_id_status", table_name="messages")
