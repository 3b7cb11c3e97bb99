"""The schema, as SQLAlchemy Core tables (the migrations create exactly this).

Conventions, on SQLite and PostgreSQL alike:
- every timestamp is :class:`~stopsms.store.types.UTCDateTime` (aware UTC in and out);
- money is an integer of millicredits (1 credit = 1,000 millicredits);
- phone numbers are E.164 text (``+33612345678``); ``region`` is the ISO 3166 region of the
  number (``FR``, ``RE``…);
- every row that belongs to an account carries ``account_id`` and every query filters on it
  (accounts are isolated);
- "enumerations" are short text columns with a CHECK constraint where the set is ours and
  stable (account types, opt-out sources…), plain text where issue 4's state machines own them.

Groups of tables:
- installation: ``installation`` (key/value: the opt-out hashing secret).
- accounts: ``accounts``, ``account_prices``, ``senders``, ``url_domains``, ``account_keywords``,
  ``credit_ledger``.
- audience: ``contacts``, ``lists``, ``list_members``, ``consents`` (append-only ledger).
- suppression: ``optouts`` (the registry; keyed by an HMAC of the number so erasure keeps it).
- sending: ``campaigns``, ``messages`` (the outbox), ``inbound_messages``; ``workers`` and
  ``bind_leases`` (many sending processes on one database).
- webhooks: ``webhook_endpoints``, ``webhook_events`` (written in the transaction of the data
  they concern), ``webhook_deliveries`` (one per event and endpoint), ``webhook_attempts``.
- access (0004): ``users``, ``memberships`` (a role per account), ``api_keys`` (hashes only),
  ``audit_log``.
- background work: ``jobs`` (the job resource), ``job_files`` (a job's input and output
  files, kept in the database so a worker on another machine reads them); ``uploads`` (0009:
  a contact file uploaded in the web area, kept while its columns are checked, then moved into
  its import job).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)

from stopsms.store.types import BigId, JSONDocument, Millicredits, UTCDateTime

__all__ = [
    "ACCOUNT_TYPES",
    "CONSENT_KINDS",
    "DEFAULT_ACCOUNT",
    "DEFAULT_CONFIRMATION_TEXT",
    "DEFAULT_MENTION_FORMAT",
    "DEFAULT_PRICE_MILLICREDITS",
    "DEFAULT_SHORTCODE",
    "DEFAULT_TIME_ZONE",
    "JOB_FILE_ROLES",
    "JOB_KINDS",
    "JOB_STATES",
    "KEYWORD_INTENTS",
    "OPTOUT_SCOPES",
    "OPTOUT_SOURCES",
    "ROLES",
    "account_keywords",
    "account_prices",
    "accounts",
    "api_keys",
    "audit_log",
    "campaigns",
    "consents",
    "contacts",
    "credit_ledger",
    "inbound_messages",
    "installation",
    "job_files",
    "jobs",
    "list_members",
    "lists",
    "memberships",
    "messages",
    "metadata",
    "optouts",
    "senders",
    "uploads",
    "url_domains",
    "users",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
    "webhook_events",
]

ACCOUNT_TYPES = ("marketing", "notification")
OPTOUT_SCOPES = ("account", "sender")
OPTOUT_SOURCES = (
    "keyword",
    "web_form",
    "import",
    "provider_blocked",
    "provider_report",
    "manual",
)
CONSENT_KINDS = ("opt_in", "customer", "withdrawn")
KEYWORD_INTENTS = ("optout", "optin", "help")
#: A user's or API key's role in one account, most powerful first.
ROLES = ("owner", "editor", "viewer")
JOB_KINDS = ("contact_import", "campaign_send", "campaign_export", "optout_import")
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
JOB_FILE_ROLES = ("input", "rejects", "output")

DEFAULT_ACCOUNT = "default"
#: ``00000`` is the placeholder French operators replace by the real sending shortcode
#: (seed ``002_…``): the honest value for an installation nobody has configured yet.
DEFAULT_SHORTCODE = "00000"
#: An account's time zone until it sets its own: the platform's legal home (rule 7's hours).
DEFAULT_TIME_ZONE = "Europe/Paris"
DEFAULT_MENTION_FORMAT = "STOP {shortcode}"
DEFAULT_CONFIRMATION_TEXT = "Vous ne recevrez plus de SMS de {brand}. SMS non surtaxé."
#: Price of one SMS part for a region the account has no price for: one credit.
DEFAULT_PRICE_MILLICREDITS = 1000


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

installation = Table(
    "installation",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("type", String(20), nullable=False, server_default="marketing"),
    Column("validated", Boolean, nullable=False, server_default=false()),
    Column("shortcode", String(20), nullable=False, server_default=DEFAULT_SHORTCODE),
    Column("mention_format", String(100), nullable=False, server_default=DEFAULT_MENTION_FORMAT),
    Column("mention_enabled", Boolean, nullable=False, server_default=true()),
    Column("unsubscribe_url", Text),
    Column("optout_scope", String(10), nullable=False, server_default="account"),
    Column("window_policy", String(50)),
    Column("brand", String(100)),
    Column("confirmation_text", Text, nullable=False, server_default=DEFAULT_CONFIRMATION_TEXT),
    Column("balance_millicredits", Millicredits, nullable=False, server_default="0"),
    Column("alert_threshold_millicredits", Millicredits, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    # IANA name (0013): the zone its pages show times in and an offset-less schedule is read in.
    Column("time_zone", String(64), nullable=False, server_default=DEFAULT_TIME_ZONE),
    CheckConstraint(_in("type", ACCOUNT_TYPES), name="type"),
    CheckConstraint(_in("optout_scope", OPTOUT_SCOPES), name="optout_scope"),
    # Rule 1: only a notification account may send without the STOP mention.
    CheckConstraint("mention_enabled OR type = 'notification'", name="mention_required"),
)

account_prices = Table(
    "account_prices",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    # ISO region (``FR``) or ``*`` for the account's price everywhere else.
    Column("region", String(3), primary_key=True),
    Column("millicredits_per_part", Millicredits, nullable=False),
    CheckConstraint("millicredits_per_part >= 0", name="non_negative"),
)

senders = Table(
    "senders",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("sender", String(20), primary_key=True),
    Column("authorised_protected", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime, nullable=False),
)

url_domains = Table(
    "url_domains",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("domain", String(253), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

account_keywords = Table(
    "account_keywords",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("keyword", String(50), primary_key=True),
    Column("intent", String(10), nullable=False),
    CheckConstraint(_in("intent", KEYWORD_INTENTS), name="intent"),
)

credit_ledger = Table(
    "credit_ledger",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("delta_millicredits", Millicredits, nullable=False),
    Column("balance_after_millicredits", Millicredits, nullable=False),
    # top_up | send | confirmation | transfer_in | transfer_out | adjustment
    Column("reason", String(30), nullable=False),
    Column("reference", Text),
    Column("at", UTCDateTime, nullable=False),
    Index(None, "account_id", "id"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("phone_e164", String(20)),  # NULL once erased
    Column("region", String(3)),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("email", Text),
    Column("company", Text),
    Column("custom", JSONDocument),
    # Latest consent (denormalised from ``consents`` in the same transaction, so campaign
    # preparation filters on one column): opt_in | customer | withdrawn | NULL (none).
    Column("consent", String(10)),
    Column("consent_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("erased_at", UTCDateTime),
    UniqueConstraint("account_id", "phone_e164"),
    CheckConstraint(f"consent IS NULL OR {_in('consent', CONSENT_KINDS)}", name="consent"),
)

lists = Table(
    "lists",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "name"),
)

list_members = Table(
    "list_members",
    metadata,
    Column("list_id", ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "contact_id"),
)

consents = Table(
    "consents",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("source", Text, nullable=False),
    Column("evidence", Text),
    Column("recorded_at", UTCDateTime, nullable=False),
    CheckConstraint(_in("kind", CONSENT_KINDS), name="kind"),
    Index(None, "account_id", "contact_id", "id"),
)

optouts = Table(
    "optouts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    # HMAC-SHA256(installation secret, E.164), hex: survives erasure of the number itself.
    Column("phone_key", String(64), nullable=False),
    Column("phone_e164", String(20)),  # NULL once the person is erased
    Column("scope", String(10), nullable=False, server_default="account"),
    Column("sender", String(20), nullable=False, server_default=""),  # '' for account scope
    Column("source", String(20), nullable=False),
    Column("detail", Text),  # inbound text, form reason, provider code…
    Column("uncertain", Boolean, nullable=False, server_default=false()),
    Column("reviewed_at", UTCDateTime),
    Column("reviewed_by", Text),
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="SET NULL")),
    Column("recorded_by", Text, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("revoke_evidence", Text),
    Column("revoked_by", Text),
    CheckConstraint(_in("scope", OPTOUT_SCOPES), name="scope"),
    CheckConstraint(_in("source", OPTOUT_SOURCES), name="source"),
    CheckConstraint("(scope = 'account') = (sender = '')", name="scope_sender"),
    CheckConstraint(
        "revoked_at IS NULL OR (revoke_evidence IS NOT NULL AND revoke_evidence <> '')",
        name="revoke_evidence",
    ),
    # One active record per number and scope: the fast path of every suppression check.
    Index(
        "uq_optouts_active",
        "account_id",
        "phone_key",
        "sender",
        unique=True,
        sqlite_where=text("revoked_at IS NULL"),
        postgresql_where=text("revoked_at IS NULL"),
    ),
    Index(None, "account_id", "phone_e164"),
    Index(None, "account_id", "recorded_at"),
    # The STOPs attributed to a campaign, counted and dated index-only (0012; 0003 before).
    Index("ix_optouts_campaign_stops", "campaign_id", "account_id", "recorded_at", "phone_key"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("list_id", ForeignKey("lists.id", ondelete="SET NULL")),
    Column("sender", String(20)),
    Column("type", String(20), nullable=False, server_default="marketing"),
    Column("body", Text, nullable=False),
    # draft | scheduled | preparing | sending | held | paused | completed | cancelled
    Column("status", String(20), nullable=False, server_default="draft"),
    Column("scheduled_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("completed_at", UTCDateTime),
    Column("window_policy", String(50)),
    Column("settings", JSONDocument),
    Index(None, "account_id", "status"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE")),
    Column("contact_id", ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("phone_e164", String(20)),  # NULL once the recipient is erased
    Column("region", String(3)),
    Column("sender", String(20)),
    Column("kind", String(20), nullable=False),  # marketing | informative | confirmation
    Column("priority", Integer, nullable=False, server_default="100"),  # 0 leaves first
    Column("decision", String(10), nullable=False, server_default="ready"),  # ready|excluded
    Column("reason", String(50)),  # exclusion reason code
    Column("text", Text),
    Column("encoding", String(10)),
    Column("segments", Integer, nullable=False, server_default="1"),
    Column("price_millicredits", Millicredits, nullable=False, server_default="0"),
    # pending | held | claimed | submitted | delivered | failed | rejected | unknown
    # | cancelled | excluded
    Column("status", String(20), nullable=False, server_default="pending"),
    Column("not_before", UTCDateTime),
    Column("claim_token", String(64)),
    Column("claimed_at", UTCDateTime),
    Column("submitted_at", UTCDateTime),
    Column("provider_message_id", String(100)),
    Column("delivered_at", UTCDateTime),
    Column("failed_at", UTCDateTime),
    Column("error_code", String(50)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    # The hosted unsubscribe page's per-message token (0006): only where the mention links there.
    Column("unsubscribe_token", String(10)),
    # Given by an API caller (``Idempotency-Key``): a retried request finds its message (0004).
    Column("idempotency_key", String(255)),
    Index("ix_messages_claim", "status", "priority", "not_before", "id"),
    # Partial (0002): prepared messages have no provider id yet.
    Index(
        "ix_messages_provider_message_id",
        "provider_message_id",
        sqlite_where=text("provider_message_id IS NOT NULL"),
        postgresql_where=text("provider_message_id IS NOT NULL"),
    ),
    # A campaign's messages by status (0001; 0012 made it covering, 0014 gave that back: it
    # cost preparation 16 %).
    Index(None, "campaign_id", "status"),
    Index(None, "account_id", "phone_e164", "id"),
    # Partial (0010): the messages queued outside campaigns, whose cost a new one is checked
    # against (campaign messages cost it nothing).
    Index(
        "ix_messages_direct_waiting",
        "account_id",
        "status",
        "price_millicredits",
        sqlite_where=text("campaign_id IS NULL"),
        postgresql_where=text("campaign_id IS NULL"),
    ),
    # Partial (0011): the dashboard's chart counts the messages sent apart from campaigns.
    Index(
        "ix_messages_direct_created",
        "account_id",
        "created_at",
        sqlite_where=text("campaign_id IS NULL"),
        postgresql_where=text("campaign_id IS NULL"),
    ),
    Index(
        "uq_messages_idempotency_key",
        "account_id",
        "idempotency_key",
        unique=True,
        sqlite_where=text("idempotency_key IS NOT NULL"),
        postgresql_where=text("idempotency_key IS NOT NULL"),
    ),
    # Partial (0006): most messages have no token (shortcode regions, own pages).
    Index(
        "uq_messages_unsubscribe_token",
        "unsubscribe_token",
        unique=True,
        sqlite_where=text("unsubscribe_token IS NOT NULL"),
        postgresql_where=text("unsubscribe_token IS NOT NULL"),
    ),
)

#: What a settled campaign did, counted once (0011): its report's counts and its hourly series
#: (sent, delivered, failed), taken in ``status``; the STOPs are always counted live.
campaign_tallies = Table(
    "campaign_tallies",
    metadata,
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("report", JSONDocument, nullable=False),
    Column("hourly", JSONDocument, nullable=False),
    Column("computed_at", UTCDateTime, nullable=False),
    Index(None, "account_id"),
)

#: A campaign's messages in a final status, counted by triggers on ``messages`` (0015): count,
#: parts and price by the report's keys (hours as ``YYYY-MM-DD HH`` UTC text, ``''`` for none,
#: as for ``reason`` and ``encoding``). SQLite keeps one row per key (``slot`` 0); PostgreSQL
#: appends one delta row per statement and key (a fresh ``slot``), summed by readers and folded
#: from time to time. No foreign key: the triggers run while a campaign is deleted too.
campaign_finals = Table(
    "campaign_finals",
    metadata,
    Column("campaign_id", Integer, primary_key=True),
    Column("slot", BigInteger, primary_key=True),
    Column("decision", String(10), primary_key=True),
    Column("reason", String(50), primary_key=True),
    Column("encoding", String(10), primary_key=True),
    Column("status", String(20), primary_key=True),
    Column("sent_hour", String(13), primary_key=True),
    Column("delivered_hour", String(13), primary_key=True),
    Column("failed_hour", String(13), primary_key=True),
    Column("messages", BigInteger, nullable=False),
    Column("segments", BigInteger, nullable=False),
    Column("price_millicredits", BigInteger, nullable=False),
)

#: One row per live sending process (``worker`` or ``send``); its id is the claim token of
#: the messages it holds, and only an expired lease's claims are taken over (0007).
workers = Table(
    "workers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("role", String(20), nullable=False),  # worker | send
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("lease_expires_at", UTCDateTime, nullable=False),
    Index("ix_workers_lease_expires_at", "lease_expires_at"),
)

#: The bind slots of a provider account (its URL's ``binds``): a slot is held by the worker
#: it names while that worker's lease runs (0007).
bind_leases = Table(
    "bind_leases",
    metadata,
    Column("provider", String(255), primary_key=True),  # system_id@host:port
    Column("slot", Integer, primary_key=True),
    Column("worker_id", String(32)),
    Column("acquired_at", UTCDateTime),
)

inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("sender_e164", String(20)),  # NULL once the person is erased
    Column("recipient", String(20)),
    Column("text", Text),
    Column("intent", String(10)),  # optout | optin | help | other
    Column("certain", Boolean, nullable=False, server_default=true()),
    Column("keyword", String(50)),
    Column("provider_reference", String(100)),
    Column("received_at", UTCDateTime, nullable=False),
    Column("optout_id", ForeignKey("optouts.id", ondelete="SET NULL")),
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="SET NULL")),
    Column("reviewed_at", UTCDateTime),
    Index(None, "account_id", "received_at"),
    Index(None, "account_id", "sender_e164"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("description", Text),  # the owner's note (0010)
    Column("events", Text, nullable=False),  # event types, space-separated
    Column("secret", Text, nullable=False),  # whsec_…
    # After a rotation the old secret still signs (a second signature) until it expires.
    Column("previous_secret", Text),
    Column("previous_secret_expires_at", UTCDateTime),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("disabled_at", UTCDateTime),
    Column("disabled_reason", Text),
    # The first failed attempt since the last success, and the failed attempts since then.
    Column("failing_since", UTCDateTime),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "account_id"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(40), nullable=False),
    Column("data", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "account_id", "id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("event_id", ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False),
    Column("endpoint_id", ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    # pending | delivered | failed
    Column("status", String(10), nullable=False, server_default="pending"),
    # When a pending delivery is due; a claim moves it a lease ahead (an expired lease is due).
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claim_token", String(64)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("delivered_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint(_in("status", ("pending", "delivered", "failed")), name="status"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index(None, "endpoint_id", "id"),
    Index(None, "event_id"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("delivery_id", ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Integer, nullable=False),
    Column("error", Text),
    Index(None, "delivery_id", "id"),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),  # argon2id, with its parameters
    Column("admin", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(10), nullable=False),
    CheckConstraint(_in("role", ROLES), name="role"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("role", String(10), nullable=False),
    Column("prefix", String(16), nullable=False, unique=True),  # shown in lists, looked up by
    Column("key_hash", String(64), nullable=False),  # SHA-256 of the whole key, hex
    Column("created_by", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    CheckConstraint(_in("role", ROLES), name="role"),
    Index(None, "account_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE")),
    Column("actor", Text, nullable=False),
    Column("action", String(50), nullable=False),
    Column("detail", JSONDocument),
    Column("at", UTCDateTime, nullable=False),
    Index(None, "account_id", "id"),
)

# -- background work (migration 0008) ----------------------------------------------------------

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    # The campaign a send or export job works on (one queued/running send per campaign).
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="SET NULL")),
    Column("state", String(16), nullable=False, server_default="queued"),
    Column("params", JSONDocument, nullable=False),
    Column("progress_done", BigInteger, nullable=False, server_default="0"),
    Column("progress_total", BigInteger),
    Column("result", JSONDocument),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # procrastinate's job id (PostgreSQL only; NULL on SQLite, where the runner polls).
    Column("queue_job_id", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    CheckConstraint(_in("kind", JOB_KINDS), name="kind"),
    CheckConstraint(_in("state", JOB_STATES), name="state"),
    Index(None, "account_id", "id"),
    Index(None, "state", "id"),
    Index(None, "campaign_id"),
)

job_files = Table(
    "job_files",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("job_id", ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("name", Text, nullable=False),
    Column("content", LargeBinary, nullable=False),
    CheckConstraint(_in("role", JOB_FILE_ROLES), name="role"),
    UniqueConstraint("job_id", "role"),
)

# -- uploads awaiting their column mapping (migration 0009) -------------------------------------

#: A contact file uploaded in the customer area, kept in the database (not on the server's
#: disk: behind a load balancer the mapping form may reach another server) until its import
#: job takes it in the same transaction that deletes it; a day-old one is dropped at the
#: account's next upload.
uploads = Table(
    "uploads",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "account_id", "id"),
)
