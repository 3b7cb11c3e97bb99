"""Initial schema: accounts, audience, consent, opt-out registry, campaigns and outbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from stopsms.store.types import UTCDateTime

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=20), server_default="marketing", nullable=False),
        sa.Column("validated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("shortcode", sa.String(length=20), server_default="00000", nullable=False),
        sa.Column(
            "mention_format",
            sa.String(length=100),
            server_default="STOP {shortcode}",
            nullable=False,
        ),
        sa.Column("mention_enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("unsubscribe_url", sa.Text(), nullable=True),
        sa.Column("optout_scope", sa.String(length=10), server_default="account", nullable=False),
        sa.Column("window_policy", sa.String(length=50), nullable=True),
        sa.Column("brand", sa.String(length=100), nullable=True),
        sa.Column(
            "confirmation_text",
            sa.Text(),
            server_default="Vous ne recevrez plus de SMS de {brand}. SMS non surtaxé.",
            nullable=False,
        ),
        sa.Column("balance_millicredits", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "alert_threshold_millicredits", sa.BigInteger(), server_default="0", nullable=False
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "mention_enabled OR type = 'notification'", name=op.f("ck_accounts_mention_required")
        ),
        sa.CheckConstraint(
            "optout_scope IN ('account', 'sender')", name=op.f("ck_accounts_optout_scope")
        ),
        sa.CheckConstraint("type IN ('marketing', 'notification')", name=op.f("ck_accounts_type")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "installation",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_installation")),
    )
    op.create_table(
        "account_keywords",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("keyword", sa.String(length=50), nullable=False),
        sa.Column("intent", sa.String(length=10), nullable=False),
        sa.CheckConstraint(
            "intent IN ('optout', 'optin', 'help')", name=op.f("ck_account_keywords_intent")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_keywords_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "keyword", name=op.f("pk_account_keywords")),
    )
    op.create_table(
        "account_prices",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("millicredits_per_part", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "millicredits_per_part >= 0", name=op.f("ck_account_prices_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_prices_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "region", name=op.f("pk_account_prices")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("phone_e164", sa.String(length=20), nullable=True),
        sa.Column("region", sa.String(length=3), nullable=True),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("company", sa.Text(), nullable=True),
        sa.Column("custom", JSON_DOC, nullable=True),
        sa.Column("consent", sa.String(length=10), nullable=True),
        sa.Column("consent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("erased_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "consent IS NULL OR consent IN ('opt_in', 'customer', 'withdrawn')",
            name=op.f("ck_contacts_consent"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_contacts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint(
            "account_id", "phone_e164", name=op.f("uq_contacts_account_id_phone_e164")
        ),
    )
    op.create_table(
        "credit_ledger",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("delta_millicredits", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_millicredits", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_credit_ledger_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_ledger")),
    )
    op.create_index(
        op.f("ix_credit_ledger_account_id_id"), "credit_ledger", ["account_id", "id"], unique=False
    )
    op.create_table(
        "lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_lists_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_lists_account_id_name")),
    )
    op.create_table(
        "senders",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=20), nullable=False),
        sa.Column("authorised_protected", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_senders_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "sender", name=op.f("pk_senders")),
    )
    op.create_table(
        "url_domains",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_url_domains_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "domain", name=op.f("pk_url_domains")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("sender", sa.String(length=20), nullable=True),
        sa.Column("type", sa.String(length=20), server_default="marketing", nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="draft", nullable=False),
        sa.Column("scheduled_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("window_policy", sa.String(length=50), nullable=True),
        sa.Column("settings", JSON_DOC, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_campaigns_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_campaigns_list_id_lists"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(
        op.f("ix_campaigns_account_id_status"), "campaigns", ["account_id", "status"], unique=False
    )
    op.create_table(
        "consents",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('opt_in', 'customer', 'withdrawn')", name=op.f("ck_consents_kind")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_consents_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_consents_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(
        op.f("ix_consents_account_id_contact_id_id"),
        "consents",
        ["account_id", "contact_id", "id"],
        unique=False,
    )
    op.create_table(
        "list_members",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_list_members_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["lists.id"],
            name=op.f("fk_list_members_list_id_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", "contact_id", name=op.f("pk_list_members")),
    )
    op.create_index(
        op.f("ix_list_members_contact_id"), "list_members", ["contact_id"], unique=False
    )
    op.create_table(
        "messages",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", BIG_ID, nullable=True),
        sa.Column("phone_e164", sa.String(length=20), nullable=True),
        sa.Column("region", sa.String(length=3), nullable=True),
        sa.Column("sender", sa.String(length=20), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="100", nullable=False),
        sa.Column("decision", sa.String(length=10), server_default="ready", nullable=False),
        sa.Column("reason", sa.String(length=50), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("encoding", sa.String(length=10), nullable=True),
        sa.Column("segments", sa.Integer(), server_default="1", nullable=False),
        sa.Column("price_millicredits", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=True),
        sa.Column("claim_token", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=100), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=True),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_messages_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_messages_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_messages_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_index(
        op.f("ix_messages_account_id_phone_e164_id"),
        "messages",
        ["account_id", "phone_e164", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_messages_campaign_id_status"), "messages", ["campaign_id", "status"], unique=False
    )
    op.create_index(
        "ix_messages_claim", "messages", ["status", "priority", "not_before", "id"], unique=False
    )
    op.create_index(
        op.f("ix_messages_provider_message_id"), "messages", ["provider_message_id"], unique=False
    )
    op.create_table(
        "optouts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("phone_key", sa.String(length=64), nullable=False),
        sa.Column("phone_e164", sa.String(length=20), nullable=True),
        sa.Column("scope", sa.String(length=10), server_default="account", nullable=False),
        sa.Column("sender", sa.String(length=20), server_default="", nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("uncertain", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.Column("reviewed_by", sa.Text(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoke_evidence", sa.Text(), nullable=True),
        sa.Column("revoked_by", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(scope = 'account') = (sender = '')", name=op.f("ck_optouts_scope_sender")
        ),
        sa.CheckConstraint(
            "revoked_at IS NULL OR (revoke_evidence IS NOT NULL AND revoke_evidence <> '')",
            name=op.f("ck_optouts_revoke_evidence"),
        ),
        sa.CheckConstraint("scope IN ('account', 'sender')", name=op.f("ck_optouts_scope")),
        sa.CheckConstraint(
            "source IN ('keyword', 'web_form', 'import', 'provider_blocked', 'provider_report',"
            " 'manual')",
            name=op.f("ck_optouts_source"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_optouts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_optouts_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optouts")),
    )
    op.create_index(
        op.f("ix_optouts_account_id_phone_e164"),
        "optouts",
        ["account_id", "phone_e164"],
        unique=False,
    )
    op.create_index(
        op.f("ix_optouts_account_id_recorded_at"),
        "optouts",
        ["account_id", "recorded_at"],
        unique=False,
    )
    op.create_index(
        "uq_optouts_active",
        "optouts",
        ["account_id", "phone_key", "sender"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("sender_e164", sa.String(length=20), nullable=True),
        sa.Column("recipient", sa.String(length=20), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("intent", sa.String(length=10), nullable=True),
        sa.Column("certain", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("keyword", sa.String(length=50), nullable=True),
        sa.Column("provider_reference", sa.String(length=100), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("optout_id", BIG_ID, nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_inbound_messages_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_inbound_messages_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["optout_id"],
            ["optouts.id"],
            name=op.f("fk_inbound_messages_optout_id_optouts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
    )
    op.create_index(
        op.f("ix_inbound_messages_account_id_received_at"),
        "inbound_messages",
        ["account_id", "received_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_inbound_messages_account_id_sender_e164"),
        "inbound_messages",
        ["account_id", "sender_e164"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_inbound_messages_account_id_sender_e164"), table_name="inbound_messages")
    op.drop_index(op.f("ix_inbound_messages_account_id_received_at"), table_name="inbound_messages")
    op.drop_table("inbound_messages")
    op.drop_index(
        "uq_optouts_active",
        table_name="optouts",
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.drop_index(op.f("ix_optouts_account_id_recorded_at"), table_name="optouts")
    op.drop_index(op.f("ix_optouts_account_id_phone_e164"), table_name="optouts")
    op.drop_table("optouts")
    op.drop_index(op.f("ix_messages_provider_message_id"), table_name="messages")
    op.drop_index("ix_messages_claim", table_name="messages")
    op.drop_index(op.f("ix_messages_campaign_id_status"), table_name="messages")
    op.drop_index(op.f("ix_messages_account_id_phone_e164_id"), table_name="messages")
    op.drop_table("messages")
    op.drop_index(op.f("ix_list_members_contact_id"), table_name="list_members")
    op.drop_table("list_members")
    op.drop_index(op.f("ix_consents_account_id_contact_id_id"), table_name="consents")
    op.drop_table("consents")
    op.drop_index(op.f("ix_campaigns_account_id_status"), table_name="campaigns")
    op.drop_table("campaigns")
    op.drop_table("url_domains")
    op.drop_table("senders")
    op.drop_table("lists")
    op.drop_index(op.f("ix_credit_ledger_account_id_id"), table_name="credit_ledger")
    op.drop_table("credit_ledger")
    op.drop_table("contacts")
    op.drop_table("account_prices")
    op.drop_table("account_keywords")
    op.drop_table("installation")
    op.drop_table("accounts")
