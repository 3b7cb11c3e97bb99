r"""Preparation set-based, on SQLite and PostgreSQL: the whole outbox in one ``INSERT … SELECT``.

:func:`prepare_set_based` writes the rows the per-recipient loop of
:class:`~stopsms.services.campaigns.decisions.Decider` would write: texts are composed once per
distinct ``(region, field values)`` into a temporary table, the loop's decisions are a ``CASE``. It
applies (:func:`set_based`) when the account has no erased opt-outs, the template no custom
field, and the credits certainly pay every member at the dearest text; otherwise
:func:`stopsms.services.campaigns.preparation.prepare_campaign` writes with the loop
(``executemany`` on SQLite, ``COPY`` on PostgreSQL). The statements are the same on both
backends but for a few words (:class:`_Dialect`); on PostgreSQL the outbox is ``ANALYZE``\ d
after it is written, so the claims that follow are planned on its real size.
When ``prepare_campaign`` opens the transaction itself, SQLite's per-row foreign-key checks are
off for it (:func:`parents_known`: every parent is read in it); PostgreSQL's insert holds its
parents instead of a trigger call per row where the role may
(:func:`~stopsms.store.bulk.parents_held`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stopsms.domain.campaign import Exclusion
from stopsms.domain.mention import MessageType
from stopsms.domain.text import Encoding
from stopsms.services.campaigns.campaigns import Campaign
from stopsms.services.campaigns.decisions import (
    CONSENTED,
    CONSTANT_COLUMNS,
    VARYING_COLUMNS,
    Decider,
    PreparationSummary,
    constant_values,
)
from stopsms.services.optouts.optouts import account_suppressing_senders
from stopsms.store import tables as t
from stopsms.store.bulk import parents_held
from stopsms.store.statistics import analyze_written

__all__ = [
    "REGISTRY_PER_MEMBER",
    "inform_planner",
    "parents_known",
    "prepare_set_based",
    "set_based",
    "sql_literal",
    "stored",
]


def set_based(connection: Connection, decider: Decider) -> bool:
    """Whether :func:`prepare_set_based` can decide this campaign (else the Python loop)."""
    return (
        connection.dialect.name in _DIALECTS
        and not decider.erased_keys
        and not decider.custom
        and not decider.keep_regions
        # Hosted-page tokens are drawn per row by a function SQLite calls back into Python;
        # PostgreSQL has no such function without an extension: its loop writes them by COPY.
        and not (decider.tokened and connection.dialect.name != "sqlite")
    )


_TEXTS = "stopsms_prepared_texts"
_OPTED = "stopsms_prepared_opted"
_TOKEN_FUNCTION = "stopsms_unsubscribe_token"
#: The opted-out members are listed first (from the registry) when the account's registry has
#: at most this many records per list member; else each member is looked up (``EXISTS``).
REGISTRY_PER_MEMBER = 1.0


#: SQL of the first reasons, on ``contacts c`` (each is 0 or 1, never NULL, where used).
_ERASED = "(c.erased_at IS NOT NULL OR c.phone_e164 IS NULL)"
#: Not ``+`` then ASCII digits only (what :meth:`Decider.decide` accepts); on SQLite two GLOBs
#: are about a third of the cost of substr/length tests.
_INVALID_SQLITE = (
    "(c.region IS NULL OR c.phone_e164 NOT GLOB '+[0-9]*' OR c.phone_e164 GLOB '+*[^0-9]*')"
)
_INVALID_POSTGRES = "(c.region IS NULL OR c.phone_e164 !~ '^[+][0-9]+$')"
_UNCONSENTED = (
    "(c.consent IS NULL OR c.consent NOT IN ("
    + ", ".join(f"'{value}'" for value in sorted(CONSENTED))
    + "))"
)


@dataclass(frozen=True)
class _Dialect:
    """What the set-based statements say differently on each backend."""

    temp: str  # the schema of temporary tables
    invalid: str  # SQL of invalid_number on ``contacts c``
    no_rowid: str  # after CREATE TABLE of a keyed table
    bigint: str
    ignore: tuple[str, str]  # INSERT <0> INTO … SELECT … <1>: skip rows already there
    unflattened: str  # after ORDER BY: keeps the subquery computed once per row
    analyze: bool  # ANALYZE the temporary tables (PostgreSQL's planner needs it)

    def sql(self, statement: str) -> str:
        """``statement`` with ``?`` parameters in the driver's style."""
        return statement if self.temp == "temp" else statement.replace("?", "%s")


_DIALECTS = {
    "sqlite": _Dialect(
        "temp",
        _INVALID_SQLITE,
        " WITHOUT ROWID",
        "INTEGER",
        ("OR IGNORE", ""),
        " LIMIT -1 OFFSET 0",
        analyze=False,
    ),
    "postgresql": _Dialect(
        "pg_temp",
        _INVALID_POSTGRES,
        "",
        "BIGINT",
        ("", " ON CONFLICT DO NOTHING"),
        " OFFSET 0",
        analyze=True,
    ),
}


class _Raw:
    """The driver connection, spoken to in ``?`` style whatever the backend."""

    def __init__(self, connection: Connection) -> None:
        raw = connection.connection.driver_connection
        assert raw is not None
        self.raw: Any = raw
        self.dialect = _DIALECTS[connection.dialect.name]

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        cursor = self.raw.cursor()
        if params:
            cursor.execute(self.dialect.sql(statement), tuple(params))
        else:  # no parameters: psycopg then reads no placeholder in the text
            cursor.execute(statement)
        return cursor

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        cursor = self.raw.cursor()
        try:
            cursor.executemany(self.dialect.sql(statement), rows)
        finally:
            cursor.close()


def prepare_set_based(
    connection: Connection, campaign: Campaign, decider: Decider, created_at: datetime
) -> PreparationSummary | None:
    """The whole outbox in one ``INSERT … SELECT`` (no erased keys, no custom fields).

    The text depends only on the recipient's region and field values: it is composed once per
    distinct combination (into a temporary table) and joined; the decisions are a ``CASE`` in
    the order of :meth:`Decider.decide`. ``duplicate`` cannot happen here: a list holds a
    contact once and ``contacts`` keeps one row per number of the account. The summary is
    read back with two aggregates on the ``(campaign_id, status)`` index.

    ``None`` (nothing written) unless the credits available certainly pay every member at the
    dearest text: only then can no ``insufficient_credit`` arise, and the per-recipient loop
    applies the prefix rule otherwise.
    """
    raw = _Raw(connection)
    d = raw.dialect
    texts_table, opted_table = f"{d.temp}.{_TEXTS}", f"{d.temp}.{_OPTED}"
    fields = [f"coalesce(c.{name}, '')" for name, _ in decider.standard]
    combos = raw.execute(
        f"SELECT DISTINCT {', '.join(['c.region', *fields])}"
        " FROM list_members lm JOIN contacts c ON c.id = lm.contact_id"
        f" WHERE lm.list_id = ? AND c.account_id = ? AND NOT {_ERASED}"
        " AND c.region IS NOT NULL",  # a superset of the valid numbers' (cheaper to test)
        (campaign.list_id, campaign.account_id),
    ).fetchall()
    texts = decider.texts(combos)
    (members,) = raw.execute(
        "SELECT count(*) FROM list_members WHERE list_id = ?", (campaign.list_id,)
    ).fetchone()
    # A too_long text is never ready, so never paid: its price bounds nothing.
    dearest = max((row[-5] for row in texts if not row[-2]), default=0)
    if members * dearest > decider.available:
        return None
    (registry,) = raw.execute(
        "SELECT count(*) FROM optouts WHERE account_id = ?", (campaign.account_id,)
    ).fetchone()
    keys = [f"f{i}" for i in range(len(fields))]
    _drop(raw, texts_table, opted_table)
    key_columns = "".join(f"{k} TEXT NOT NULL, " for k in keys)
    raw.execute(
        f"CREATE TABLE {texts_table} (region TEXT NOT NULL, {key_columns}"
        f"text TEXT, encoding TEXT, segments INTEGER, price {d.bigint}, url_bad INTEGER,"
        " no_page INTEGER, too_long INTEGER, tokened INTEGER,"
        f" PRIMARY KEY ({', '.join(['region', *keys])})){d.no_rowid}"
    )
    try:
        marks = ", ".join("?" for _ in range(len(keys) + 9))
        raw.executemany(f"INSERT INTO {texts_table} VALUES ({marks})", texts)
        if d.analyze:
            raw.execute(f"ANALYZE {texts_table}")
        opted_set = registry <= members * REGISTRY_PER_MEMBER
        senders = account_suppressing_senders(connection, campaign.account_id, campaign.sender)
        by_sender = "" if senders is None else " AND o.sender IN ('', ?)"
        if opted_set:
            raw.execute(f"CREATE TABLE {opted_table} (id {d.bigint} PRIMARY KEY)")
            raw.execute(
                f"INSERT {d.ignore[0]} INTO {opted_table} SELECT c.id FROM optouts o"
                " CROSS JOIN contacts c CROSS JOIN list_members lm"
                " WHERE o.account_id = ? AND o.phone_e164 IS NOT NULL"
                f" AND o.revoked_at IS NULL{by_sender}"
                " AND c.account_id = o.account_id AND c.phone_e164 = o.phone_e164"
                f" AND lm.list_id = ? AND lm.contact_id = c.id{d.ignore[1]}",
                (
                    campaign.account_id,
                    *(() if senders is None else (campaign.sender,)),
                    campaign.list_id,
                ),
            )
        created = stored(connection, created_at)
        if decider.tokened:  # SQLite only (set_based): each tokened ready message's own token,
            # drawn per row (not deterministic: never folded into one value).
            raw.raw.create_function(_TOKEN_FUNCTION, 0, decider.tokens.next, deterministic=False)
        # PostgreSQL: the account and the campaign locked once, each contact as it is read
        # (FOR KEY SHARE), instead of three foreign-key trigger calls per message.
        parents = [("accounts", campaign.account_id), ("campaigns", campaign.id)]
        with parents_held(connection, parents) as held:
            _insert_decided(
                raw,
                campaign,
                decider,
                created,
                fields,
                keys,
                opted_set=opted_set,
                senders=senders,
                lock_contacts=held,
            )
    finally:
        if decider.tokened:
            raw.raw.create_function(_TOKEN_FUNCTION, 0, None)
        _drop(raw, texts_table, opted_table)
    return _written_summary(raw, campaign.id, decider.available)


def inform_planner(connection: Connection, written: int) -> None:
    """``ANALYZE messages`` after a preparation wrote ``written`` rows (PostgreSQL, a bulk
    write: :mod:`stopsms.store.statistics`): a campaign of a million recipients doubles a
    fresh outbox, and the claims of the send that follows would be planned for an empty one."""
    analyze_written(connection, written, "messages")


def _drop(raw: _Raw, *tables: str) -> None:
    for table in tables:
        raw.execute(f"DROP TABLE IF EXISTS {table}")


def _written_summary(raw: _Raw, campaign_id: int, available: int) -> PreparationSummary:
    """The summary of messages just written (each ``pending`` or ``excluded``). No ``GROUP
    BY`` over the ready ones: sorting them costs more than summing twice."""
    summary = PreparationSummary(campaign_id, available_millicredits=available)
    excluded = dict(
        raw.execute(
            "SELECT reason, count(*) FROM messages WHERE campaign_id = ? AND status = 'excluded'"
            " GROUP BY reason",
            (campaign_id,),
        ).fetchall()
    )
    summary.excluded = {e.value: excluded[e.value] for e in Exclusion if excluded.get(e.value)}
    ready, gsm7, parts, price = raw.execute(
        "SELECT count(*),"
        f" coalesce(sum(CASE WHEN encoding = '{Encoding.GSM7.value}' THEN 1 ELSE 0 END), 0),"
        " coalesce(sum(segments), 0), coalesce(sum(price_millicredits), 0)"
        " FROM messages WHERE campaign_id = ? AND status = 'pending'",
        (campaign_id,),
    ).fetchone()
    ready, gsm7, parts, price = int(ready), int(gsm7), int(parts), int(price)
    encodings = {Encoding.GSM7.value: gsm7, Encoding.UCS2.value: ready - gsm7}
    summary.encodings = {name: count for name, count in encodings.items() if count}
    summary.ready, summary.parts, summary.credits_millicredits = ready, parts, price
    summary.targeted = summary.ready + summary.excluded_total
    return summary


def _insert_decided(
    raw: _Raw,
    campaign: Campaign,
    decider: Decider,
    created_at: Any,
    fields: list[str],
    keys: list[str],
    *,
    opted_set: bool,
    senders: tuple[str, ...] | None,
    lock_contacts: bool = False,
) -> None:
    """``INSERT INTO messages … SELECT``: every list member with its decision; opted out when
    listed in the temporary table (``opted_set``) or by an ``EXISTS`` on the registry (every
    active record when ``senders`` is ``None``: the account's opt-out scope is ``account``).
    ``lock_contacts``: each contact read is locked ``FOR KEY SHARE`` (what the foreign-key
    check would have done, when :func:`~stopsms.store.bulk.parents_held` skips it): a
    contact deleted meanwhile gets no message."""
    d = raw.dialect
    texts_table, opted_table = f"{d.temp}.{_TEXTS}", f"{d.temp}.{_OPTED}"
    constants = constant_values(campaign, created_at)
    literals = ", ".join(sql_literal(value) for value in constants)
    reasons = [
        f"WHEN {_ERASED} THEN 'erased'",
        f"WHEN {d.invalid} THEN 'invalid_number'",
        f"WHEN c.id IN (SELECT id FROM {opted_table}) THEN 'opted_out'"
        if opted_set
        else "WHEN EXISTS (SELECT 1 FROM optouts o WHERE o.account_id = ?"
        " AND o.phone_e164 = c.phone_e164 AND o.revoked_at IS NULL"
        + ("" if senders is None else " AND o.sender IN ('', ?)")
        + ") THEN 'opted_out'",
    ]
    params: tuple[Any, ...] = ()
    if not opted_set:
        params = (campaign.account_id, *(() if senders is None else (campaign.sender,)))
    if campaign.type is MessageType.MARKETING:
        reasons.append(f"WHEN {_UNCONSENTED} THEN 'no_consent'")
    if not decider.sender_allowed:
        reasons.append("WHEN 1 = 1 THEN 'sender_not_allowed'")
    if not decider.static_links_ok:
        reasons.append("WHEN 1 = 1 THEN 'url_not_allowed'")
    reasons.append("WHEN p.url_bad = 1 THEN 'url_not_allowed'")
    reasons.append("WHEN p.no_page = 1 THEN 'no_unsubscribe_page'")
    reasons.append("WHEN p.too_long = 1 THEN 'too_long'")
    on = " AND ".join(
        ["p.region = c.region", *(f"p.{k} = {f}" for k, f in zip(keys, fields, strict=True))]
    )
    names = ", ".join(CONSTANT_COLUMNS + VARYING_COLUMNS)
    ready = "d.r IS NULL"
    # A tokened ready text gets its own token in place of the placeholder's (both as long),
    # drawn once per row in a middle layer kept unflattened (a column read twice must be one
    # value). Only on SQLite (set_based): PostgreSQL's loop writes tokens.
    placeholder = sql_literal(decider.tokened or "")
    decided = (
        "SELECT lm.contact_id AS id, c.phone_e164 AS phone, c.region AS region,"
        " p.text AS text, p.encoding AS encoding, p.segments AS segments, p.price AS price,"
        f" p.tokened AS tokened, CASE {' '.join(reasons)} END AS r"
        + ("" if decider.tokened else ", NULL AS token")
        + " FROM list_members lm JOIN contacts c ON c.id = lm.contact_id"
        f" LEFT JOIN {texts_table} p ON {on}"
        # OFFSET keeps the planner from flattening the subquery (which would copy the CASE,
        # and its EXISTS, into every column that reads the reason): it runs once per row.
        f" WHERE lm.list_id = ? AND c.account_id = ? ORDER BY lm.contact_id{d.unflattened}"
        + (" FOR KEY SHARE OF c" if lock_contacts else "")
    )
    if decider.tokened:
        decided = (
            f"SELECT d0.*, CASE WHEN d0.r IS NULL AND d0.tokened = 1 THEN {_TOKEN_FUNCTION}()"
            f" END AS token FROM ({decided}) AS d0{d.unflattened}"
        )
    raw.execute(
        f"INSERT INTO messages ({names}) SELECT {literals}, d.id,"
        " CASE WHEN d.r = 'erased' THEN NULL ELSE d.phone END, d.region,"
        f" CASE WHEN {ready} THEN 'ready' ELSE 'excluded' END, d.r,"
        f" CASE WHEN {ready} THEN CASE WHEN d.token IS NULL THEN d.text ELSE"
        f" replace(d.text, {placeholder},"
        f" substr({placeholder}, 1, length({placeholder}) - length(d.token)) || d.token) END END,"
        f" CASE WHEN {ready} THEN d.encoding END,"
        f" CASE WHEN {ready} THEN d.segments ELSE 0 END,"
        f" CASE WHEN {ready} THEN d.price ELSE 0 END,"
        f" CASE WHEN {ready} THEN 'pending' ELSE 'excluded' END, d.token"
        f" FROM ({decided}) AS d",
        (*params, campaign.list_id, campaign.account_id),
    )


def sql_literal(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def stored(connection: Connection, value: datetime) -> Any:
    """``value`` as the driver must receive it for a UTCDateTime column (raw inserts)."""
    # dialect_impl: the SQLite type's own processor formats the text exactly as every other
    # write does ("… 09:00:00.000000"); the generic type's leaves it to the driver, which
    # drops zero microseconds and so breaks equality with the rest of the column.
    column_type = t.messages.c.created_at.type
    processor = column_type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
    return processor(value) if processor is not None else value


@contextmanager
def parents_known(connection: Connection) -> Iterator[None]:
    """SQLite: no foreign-key checks while the transaction we open writes the outbox.

    Every parent of a message written here (the account, the campaign, the contact) is read
    in that same write transaction, so the per-row checks (about a fifth of the insert time)
    prove nothing. The pragma only takes effect outside a transaction, hence set before it
    begins and restored after it ends; a caller's own transaction keeps its checks.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    (enabled,) = raw.execute("PRAGMA foreign_keys").fetchone()
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")
