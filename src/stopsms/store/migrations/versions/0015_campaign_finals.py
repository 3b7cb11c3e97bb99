"""Campaign finals: each campaign's messages in a final status, counted by the database as
they are written.

A campaign's report and its hourly chart were a grouped read of all its messages at each
visit of its page, the dashboard and the campaign list: 100,000 rows for a running campaign,
140–170 ms on SQLite, 70–160 ms on PostgreSQL (``python -m bench pages``), above the pages'
goal of 100 ms, and the first visit of a dashboard paid the 30 campaigns of its month
(4–6 s). A message in a final status (delivered, failed, rejected, closed, excluded,
cancelled: every status but :data:`OPEN`) never changes again in the normal course, so its
figures can be kept: ``campaign_finals`` holds, per campaign, the count, parts and price of
its final messages grouped by exactly the keys of the report (decision, reason, encoding,
status, and the hours of ``submitted_at``, ``delivered_at``, ``failed_at``), and the pages
read the open ones only (:func:`stopsms.services.campaigns.reports.campaign_figures`).

Kept by triggers on ``messages``, not by the writers: every statement that inserts, updates or
deletes a message — preparation's bulk insert, claims, results, receipts, at-send exclusions,
cancel, the resolution of messages in doubt, crash reconciliation, the credit re-decision that
deletes and re-inserts rows, erasure — keeps the counts exact in its own transaction, and a
writer added later cannot forget to. A message that leaves a final status (closed → pending,
should it ever happen) is taken out again; a row whose keys do not change costs nothing.

- SQLite (one writer at a time): row triggers that fire only when a final row enters or
  leaves (``WHEN``): one ``UPSERT`` per message that becomes final, none on the claim, submit
  and hold steps. About 4.5 µs a message sent and delivered in all (four updates: 10–12 µs
  without triggers), of which about 2.5 µs because an ``UPDATE`` on a table with triggers
  collects its rows before changing them. ``slot`` is always 0.
- PostgreSQL: statement triggers with transition tables, one grouped ``INSERT`` per statement
  that moved final rows, appending delta rows under a fresh ``slot`` (never an update: several
  workers recording receipts of one campaign would wait on, and could deadlock over, the same
  counter rows). ``ENABLE ALWAYS``: they fire under ``session_replication_role = replica``
  too, which the bulk writers set to skip the foreign keys' checks (:mod:`stopsms.store.bulk`).
  Readers sum the rows; :func:`stopsms.services.campaigns.reports.fold_finals`
  folds a campaign's deltas into one row per key when they pile up.

``hour`` columns: the hour as text ``YYYY-MM-DD HH`` (UTC), ``''`` for none (NULLs would be
distinct in the key); ``reason`` and ``encoding`` likewise ``''`` for none. Rows are kept
without a foreign key to ``campaigns``: the triggers also run while a campaign's messages
are deleted with it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: Statuses whose messages may still change: not kept, read at each visit.
OPEN = ("pending", "held", "claimed", "submitting", "submitted", "unknown")
#: The others (every status of ``MessageStatus`` is in one of the two): kept.
FINAL = ("delivered", "failed", "rejected", "closed", "excluded", "cancelled")
KEYS = (
    "campaign_id",
    "slot",
    "decision",
    "reason",
    "encoding",
    "status",
    "sent_hour",
    "delivered_hour",
    "failed_hour",
)
_FINAL = ", ".join(f"'{s}'" for s in FINAL)


def _final(row: str) -> str:
    """``row`` is in a final status, as comparisons: a SQLite trigger's ``WHEN`` evaluating
    ``IN (…)`` builds the list's lookup table again for every row (22 µs a message settled,
    measured; 4.5 µs so, the ``UPSERT`` included)."""
    return "(" + " OR ".join(f"{row}.status = '{s}'" for s in FINAL) + ")"


_COLUMNS = ", ".join((*KEYS, "messages", "segments", "price_millicredits"))
#: Columns whose change may move a message's figures (the SQLite triggers' ``UPDATE OF``).
_WATCHED = (
    "campaign_id",
    "decision",
    "reason",
    "encoding",
    "status",
    "segments",
    "price_millicredits",
    "submitted_at",
    "delivered_at",
    "failed_at",
)


def _sqlite_values(row: str, sign: str) -> str:
    def hour(column: str) -> str:
        return f"coalesce(substr({row}.{column}, 1, 13), '')"

    return (
        f"{row}.campaign_id, 0, {row}.decision, coalesce({row}.reason, ''),"
        f" coalesce({row}.encoding, ''), {row}.status, {hour('submitted_at')},"
        f" {hour('delivered_at')}, {hour('failed_at')}, {sign}1,"
        f" {sign}{row}.segments, {sign}{row}.price_millicredits"
    )


_UPSERT = (
    f"ON CONFLICT ({', '.join(KEYS)}) DO UPDATE SET"
    " messages = messages + excluded.messages,"
    " segments = segments + excluded.segments,"
    " price_millicredits = price_millicredits + excluded.price_millicredits"
)


def _sqlite_triggers() -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _WATCHED)
    watched = ", ".join(_WATCHED)
    return [
        f"""CREATE TRIGGER campaign_finals_insert AFTER INSERT ON messages
        WHEN NEW.campaign_id IS NOT NULL AND {_final("NEW")}
        BEGIN
            INSERT INTO campaign_finals ({_COLUMNS}) VALUES ({_sqlite_values("NEW", "")})
            {_UPSERT};
        END""",
        f"""CREATE TRIGGER campaign_finals_leave AFTER UPDATE OF {watched} ON messages
        WHEN OLD.campaign_id IS NOT NULL AND {_final("OLD")} AND ({changed})
        BEGIN
            INSERT INTO campaign_finals ({_COLUMNS}) VALUES ({_sqlite_values("OLD", "-")})
            {_UPSERT};
        END""",
        f"""CREATE TRIGGER campaign_finals_enter AFTER UPDATE OF {watched} ON messages
        WHEN NEW.campaign_id IS NOT NULL AND {_final("NEW")} AND ({changed})
        BEGIN
            INSERT INTO campaign_finals ({_COLUMNS}) VALUES ({_sqlite_values("NEW", "")})
            {_UPSERT};
        END""",
        f"""CREATE TRIGGER campaign_finals_delete AFTER DELETE ON messages
        WHEN OLD.campaign_id IS NOT NULL AND {_final("OLD")}
        BEGIN
            INSERT INTO campaign_finals ({_COLUMNS}) VALUES ({_sqlite_values("OLD", "-")})
            {_UPSERT};
        END""",
    ]


def _postgres_rows(table: str, sign: str) -> str:
    def hour(column: str) -> str:
        return f"coalesce(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24'), '')"

    return (
        f"SELECT campaign_id, decision, coalesce(reason, '') AS reason,"
        f" coalesce(encoding, '') AS encoding, status, {hour('submitted_at')} AS sent_hour,"
        f" {hour('delivered_at')} AS delivered_hour, {hour('failed_at')} AS failed_hour,"
        f" {sign}1 AS n, {sign}segments::bigint AS g, {sign}price_millicredits::bigint AS p"
        f" FROM {table} WHERE campaign_id IS NOT NULL AND status IN ({_FINAL})"
    )


def _postgres_function(name: str, rows: str) -> str:
    return f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO campaign_finals ({_COLUMNS})
        SELECT campaign_id, (SELECT nextval('campaign_finals_slot')), decision, reason,
            encoding, status, sent_hour, delivered_hour, failed_hour, sum(n), sum(g), sum(p)
        FROM ({rows}) AS d
        GROUP BY campaign_id, decision, reason, encoding, status, sent_hour, delivered_hour,
            failed_hour
        HAVING sum(n) <> 0 OR sum(g) <> 0 OR sum(p) <> 0;
        RETURN NULL;
    END $$"""


def _postgres_triggers() -> list[str]:
    inserted = _postgres_rows("new_rows", "")
    deleted = _postgres_rows("old_rows", "-")
    return [
        "CREATE SEQUENCE campaign_finals_slot START WITH 1",
        _postgres_function("campaign_finals_inserted", inserted),
        _postgres_function("campaign_finals_updated", f"{inserted} UNION ALL {deleted}"),
        _postgres_function("campaign_finals_deleted", deleted),
        "CREATE TRIGGER campaign_finals_insert AFTER INSERT ON messages"
        " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
        " EXECUTE FUNCTION campaign_finals_inserted()",
        "CREATE TRIGGER campaign_finals_update AFTER UPDATE ON messages"
        " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT"
        " EXECUTE FUNCTION campaign_finals_updated()",
        "CREATE TRIGGER campaign_finals_delete AFTER DELETE ON messages"
        " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
        " EXECUTE FUNCTION campaign_finals_deleted()",
        # Bulk writers set session_replication_role = replica to skip the foreign keys'
        # checks (store.bulk): these must fire then too.
        *(
            f"ALTER TABLE messages ENABLE ALWAYS TRIGGER campaign_finals_{name}"
            for name in ("insert", "update", "delete")
        ),
    ]


def _backfill(dialect: str) -> str:
    """The final messages already there, counted once (slot 0)."""
    if dialect == "sqlite":

        def hour(column: str) -> str:
            return f"coalesce(substr({column}, 1, 13), '')"
    else:

        def hour(column: str) -> str:
            return f"coalesce(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24'), '')"

    keys = (
        "campaign_id, decision, coalesce(reason, ''), coalesce(encoding, ''), status,"
        f" {hour('submitted_at')}, {hour('delivered_at')}, {hour('failed_at')}"
    )
    return (
        f"INSERT INTO campaign_finals ({_COLUMNS})"
        f" SELECT campaign_id, 0, decision, coalesce(reason, ''), coalesce(encoding, ''),"
        f" status, {hour('submitted_at')}, {hour('delivered_at')}, {hour('failed_at')},"
        " count(*), sum(segments), sum(price_millicredits) FROM messages"
        f" WHERE campaign_id IS NOT NULL AND status IN ({_FINAL}) GROUP BY {keys}"
    )


def upgrade() -> None:
    op.create_table(
        "campaign_finals",
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("slot", sa.BigInteger, nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(50), nullable=False),
        sa.Column("encoding", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("sent_hour", sa.String(13), nullable=False),
        sa.Column("delivered_hour", sa.String(13), nullable=False),
        sa.Column("failed_hour", sa.String(13), nullable=False),
        sa.Column("messages", sa.BigInteger, nullable=False),
        sa.Column("segments", sa.BigInteger, nullable=False),
        sa.Column("price_millicredits", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(*KEYS, name="pk_campaign_finals"),
    )
    dialect = op.get_bind().dialect.name
    op.execute(_backfill(dialect))
    for statement in _sqlite_triggers() if dialect == "sqlite" else _postgres_triggers():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "leave", "enter", "delete"):
            op.execute(f"DROP TRIGGER campaign_finals_{name}")
    else:
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER campaign_finals_{name} ON messages")
        for name in ("inserted", "updated", "deleted"):
            op.execute(f"DROP FUNCTION campaign_finals_{name}()")
        op.execute("DROP SEQUENCE campaign_finals_slot")
    op.drop_table("campaign_finals")
