"""Access: users, memberships (a role per account), API keys, the audit log; idempotent sends.

- ``users``: email and an argon2id password hash; ``admin`` for the installation's admins.
- ``memberships``: a user's role (owner | editor | viewer) in one account.
- ``api_keys``: one account's key, its role, the public ``prefix`` it is looked up by and the
  SHA-256 of the whole key (the key is shown once and never stored); ``last_used_at``.
- ``audit_log``: who changed what (key creation and revocation, roles, account settings).
- ``messages.idempotency_key``: a message sent through the API with an ``Idempotency-Key``
  is found again by it (unique per account), so a retried request sends nothing twice.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stopsms.store.types import BigId, JSONDocument, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ROLES = "role IN ('owner', 'editor', 'viewer')"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "memberships",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.CheckConstraint(_ROLES, name=op.f("ck_memberships_role")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_memberships_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "account_id", name=op.f("pk_memberships")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(_ROLES, name=op.f("ck_api_keys_role")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_api_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index("ix_api_keys_account_id", "api_keys", ["account_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("detail", JSONDocument, nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_audit_log_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_account_id_id", "audit_log", ["account_id", "id"], unique=False)
    op.add_column("messages", sa.Column("idempotency_key", sa.String(255), nullable=True))
    op.create_index(
        "uq_messages_idempotency_key",
        "messages",
        ["account_id", "idempotency_key"],
        unique=True,
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_messages_idempotency_key", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("idempotency_key")
    op.drop_index("ix_audit_log_account_id_id", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_api_keys_account_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("memberships")
    op.drop_table("users")
