"""Preparation: a campaign's list becomes its outbox, one decision per contact (rules 6, 9–12).

One query reads the list in list order (``list_members`` by contact id) joined to ``contacts``
with, per contact, whether an active opt-out suppresses the number for this account (scope
``account``, or ``sender`` = the campaign's sender) — an indexed ``EXISTS`` on the number.
People erased since their opt-out are kept by the registry only as a keyed hash
(:mod:`stopsms.store.phone_keys`): when the account has any such record, each candidate is
hashed and matched too. A Python loop then decides, in this order, the first reason that applies:

====================  ==========================================================================
``erased``            the contact was erased (GDPR): no number left
``invalid_number``    the stored number is not E.164 with a region
``duplicate``         the same number earlier in the list (rule 11: charged once)
``opted_out``         an active opt-out for the account or this sender
``no_consent``        marketing without ``opt_in``/``customer`` consent (rule 6)
``sender_not_allowed``  the campaign's sender is no longer allowed for the account (rule 9)
``url_not_allowed``   the personalised text links to an unverified domain (rule 10)
``insufficient_credit`` the credits left cannot pay this message (see below)
``ready``             personalised text with its mention, encoding, parts and price
====================  ==========================================================================

Every ready message is composed with the bulk :class:`~stopsms.domain.compose.Composer`
(mention by recipient region, per-recipient length and parts) and priced ``parts × the
account's price for the region`` (``account_prices`` region, else ``*``, else
:data:`~stopsms.store.tables.DEFAULT_PRICE_MILLICREDITS`). Rows are written in chunks
(``COPY`` on PostgreSQL) inside one transaction with the status
moves ``draft/scheduled → preparing → sending``: a preparation is all or nothing, and
preparing a campaign that already has messages returns their summary without writing
(idempotent).

Credits (rule 12) are debited at send, never here. Preparation only refuses to promise what
cannot be paid: the credits available are the balance minus the price of every message of the
account still waiting to leave (other campaigns' pending/held/claimed ones); ready messages are
paid from that in list order and, from the first one that does not fit, every later ready
recipient is ``insufficient_credit`` (a strict prefix: who gets the campaign never depends on
message lengths further down the list).

The same decision pass serves :func:`stopsms.services.reports.preview_campaign` before
preparation: it runs in a read transaction and writes nothing.

On SQLite, :func:`_prepare_in_sqlite` writes the same rows set-based, in one
``INSERT … SELECT``: texts are composed once per distinct ``(region, field values)`` into a
temporary table, the loop's decisions are a ``CASE``. It applies when the account has no
erased opt-outs, the template no custom field, and the credits certainly pay every member at
the dearest text; otherwise the loop writes (``executemany``). When ``prepare_campaign`` opens
the transaction itself, SQLite's per-row foreign-key checks are off for it (every parent is
read in it).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    and_,
    exists,
    func,
    literal,
    select,
    type_coerce,
    update,
)

from stopsms.clock import Clock
from stopsms.domain.campaign import CampaignStatus, Exclusion, move
from stopsms.domain.compose import Composer
from stopsms.domain.errors import InvalidSender
from stopsms.domain.mention import AccountType, MentionStyle, MessageType
from stopsms.domain.senders import effective_sender
from stopsms.domain.template import STANDARD_FIELDS, Template
from stopsms.domain.text import Encoding
from stopsms.domain.urls import find_links, unverified_domains
from stopsms.services.accounts import (
    Account,
    AccountRef,
    get_account,
    get_account_by_id,
    price_table,
)
from stopsms.services.accounts import list_domains as account_domains
from stopsms.services.campaigns import Campaign, get_campaign
from stopsms.services.errors import NotFound, ServiceError
from stopsms.store import tables as t
from stopsms.store.database import Database
from stopsms.store.phone_keys import keyer

__all__ = [
    "CHUNK",
    "PRIORITY_INFORMATIVE",
    "PRIORITY_MARKETING",
    "Decider",
    "PreparationSummary",
    "campaign_of",
    "prepare_campaign",
    "recipient_chunks",
    "summary_from_messages",
]

#: Outbox priority (0 leaves first): informative campaigns before marketing ones; the
#: dispatcher gives STOP confirmations a lower number still.
PRIORITY_INFORMATIVE = 10
PRIORITY_MARKETING = 100
#: Recipients read, decided and written per round trip.
CHUNK = 20_000
#: Messages not yet debited: what other campaigns have already been promised.
WAITING_STATUSES = ("pending", "held", "claimed", "submitting")
_CONSENTED = frozenset({"opt_in", "customer"})


def _digits(value: str) -> bool:
    """ASCII digits only, at least one (what the SQL path's ``GLOB`` accepts)."""
    return value.isascii() and value.isdigit()


def _linkish(value: str) -> bool:
    """Whether a field value could hold (part of) a link: no host without a dot."""
    return "." in value


InsertRow = tuple[Any, ...]
Writer = Callable[[list[InsertRow]], None]
"""An outbox row's per-recipient columns, in :data:`_VARYING` order."""
#: Columns that are the same for every message of a campaign.
_CONSTANT = ("account_id", "campaign_id", "sender", "kind", "priority", "created_at")
#: Columns decided per recipient (what :meth:`Decider.decide` returns).
_VARYING = (
    "contact_id",
    "phone_e164",
    "region",
    "decision",
    "reason",
    "text",
    "encoding",
    "segments",
    "price_millicredits",
    "status",
)


@dataclass(slots=True)
class PreparationSummary:
    """What preparation decided (or, for a preview, would decide) for a campaign.

    ``targeted``: list members; ``excluded``: counts by :class:`Exclusion` value; ``parts`` and
    ``credits_millicredits``: totals over ready messages; ``encodings``: ready messages by
    encoding; ``available_millicredits``: what the account could pay at decision time (``None``
    when read back from stored messages); ``already_prepared``: nothing was written this time.
    """

    campaign_id: int
    targeted: int = 0
    ready: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    parts: int = 0
    credits_millicredits: int = 0
    encodings: dict[str, int] = field(default_factory=dict)
    available_millicredits: int | None = None
    already_prepared: bool = False
    status: CampaignStatus | None = None

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())


# -- the query --------------------------------------------------------------------------------


def recipient_chunks(
    connection: Connection, campaign: Campaign, *, with_custom: bool, chunk: int = CHUNK
) -> Iterator[Sequence[Sequence[Any]]]:
    """The list's contacts in list order, ``chunk`` at a time, as tuples
    ``(contact_id, e164, region, first, last, email, company, custom, consent, erased,
    opted_out)`` (``custom`` is ``None`` unless ``with_custom``; flags are 0/1)."""
    c, lm, o = t.contacts, t.list_members, t.optouts
    opted_out = exists().where(
        o.c.account_id == campaign.account_id,
        o.c.phone_e164 == c.c.phone_e164,
        o.c.revoked_at.is_(None),
        o.c.sender.in_(("", campaign.sender)),
    )
    query = (
        select(
            c.c.id,
            c.c.phone_e164,
            c.c.region,
            c.c.first_name,
            c.c.last_name,
            c.c.email,
            c.c.company,
            c.c.custom if with_custom else literal(None).label("custom"),
            c.c.consent,
            type_coerce(c.c.erased_at.is_not(None), Integer),
            type_coerce(opted_out, Integer),
        )
        .select_from(lm.join(c, c.c.id == lm.c.contact_id))
        .where(lm.c.list_id == campaign.list_id, c.c.account_id == campaign.account_id)
        .order_by(lm.c.contact_id)
    )
    if connection.dialect.name == "sqlite":
        # The driver's own tuples: no Row objects on the hot path.
        compiled = query.compile(
            dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
        )
        params = [compiled.params[name] for name in compiled.positiontup or ()]
        cursor = connection.connection.cursor()
        try:
            cursor.execute(str(compiled), params)
            while rows := cursor.fetchmany(chunk):
                yield rows
        finally:
            cursor.close()
        return
    result = connection.execute(query, execution_options={"yield_per": chunk})
    for part in result.partitions():
        yield [tuple(row) for row in part]


def _erased_keys(connection: Connection, campaign: Campaign) -> set[str]:
    o = t.optouts.c
    return set(
        connection.execute(
            select(o.phone_key).where(
                o.account_id == campaign.account_id,
                o.phone_e164.is_(None),
                o.revoked_at.is_(None),
                o.sender.in_(("", campaign.sender)),
            )
        ).scalars()
    )


def _outstanding(connection: Connection, account_id: int, campaign_id: int) -> int:
    m = t.messages.c
    total = connection.execute(
        select(func.coalesce(func.sum(m.price_millicredits), 0)).where(
            m.account_id == account_id,
            m.campaign_id.is_distinct_from(campaign_id),
            m.decision == "ready",
            m.status.in_(WAITING_STATUSES),
        )
    ).scalar_one()
    return int(total)


# -- the decisions ----------------------------------------------------------------------------


def style_of(account: Account) -> MentionStyle:
    """The account's STOP mention formats."""
    if account.unsubscribe_url:
        return MentionStyle(
            format=account.mention_format,
            shortcode=account.shortcode,
            unsubscribe_url=account.unsubscribe_url,
        )
    return MentionStyle(format=account.mention_format, shortcode=account.shortcode)


def composer_for(campaign: Campaign, account: Account, template: Template) -> Composer:
    """The bulk composer of this campaign's messages."""
    return Composer(
        template,
        message_type=campaign.type,
        style=style_of(account),
        account_type=AccountType(account.type),
        mention_enabled=account.mention_enabled,
        smart_encoding=campaign.smart_encoding,
    )


class Decider:
    """Decides recipients chunk by chunk, keeping the running state (seen numbers, credits).

    Built once per campaign by :meth:`for_campaign`; :meth:`decide` turns query rows into
    outbox rows and tallies the summary. With ``keep_regions`` it also keeps, for a preview's
    planner, the ready marketing numbers by region and the first ready recipient's values.
    """

    def __init__(
        self,
        *,
        campaign: Campaign,
        template: Template,
        composer: Composer,
        price_of: Callable[[str | None], int],
        available: int,
        erased_keys: set[str],
        key_of: Callable[[str], str],
        verified: list[str],
        sender_allowed: bool,
        keep_regions: bool = False,
    ) -> None:
        self.campaign = campaign
        self.template = template
        self.composer = composer
        self.price_of = price_of
        self.available = available
        self.erased_keys = erased_keys
        self.key_of = key_of
        self.verified = verified
        self.sender_allowed = sender_allowed
        self.keep_regions = keep_regions
        self.static_links_ok = not unverified_domains(template.static_text, verified)
        probe = "zq9probe9qz"
        rendered = template.render(dict.fromkeys(template.slots, probe))
        self.links_need_fields = any(probe in link.text for link in find_links(rendered))
        self.summary = PreparationSummary(campaign.id)
        self.reasons: Counter[str] = Counter()
        self.encodings: Counter[Encoding] = Counter()
        self.seen: set[str] = set()
        self.spent = 0
        self.broke = False
        self.ready_by_region: dict[str, list[str]] = {}
        self.sample: tuple[dict[str, str], str] | None = None
        fields = template.fields
        index = {"first_name": 3, "last_name": 4, "email": 5, "company": 6}
        self.standard = [(name, index[name]) for name in fields if name in index]
        self.custom = [name for name in fields if name not in STANDARD_FIELDS]
        self.single = self.standard[0] if len(self.standard) == 1 and not self.custom else None

    @classmethod
    def for_campaign(
        cls,
        connection: Connection,
        campaign: Campaign,
        account: Account,
        *,
        keep_regions: bool = False,
    ) -> Decider:
        """Everything the decisions need, read once (prices, domains, sender, credits)."""
        template = Template.parse(campaign.body, None)
        prices = price_table(connection, account)
        senders = connection.execute(
            select(t.senders.c.sender).where(t.senders.c.account_id == account.id)
        ).scalars()
        try:
            sender_allowed = campaign.sender == effective_sender(
                campaign.sender,
                validated=account.validated,
                allowed=set(senders),
                shortcode=account.shortcode,
            )
        except InvalidSender:
            sender_allowed = False
        outstanding = _outstanding(connection, account.id, campaign.id)
        erased = _erased_keys(connection, campaign)
        return cls(
            campaign=campaign,
            template=template,
            composer=composer_for(campaign, account, template),
            price_of=prices.per_part,
            available=max(0, account.balance_millicredits - outstanding),
            erased_keys=erased,
            key_of=keyer(connection).key if erased else str,
            verified=account_domains(connection, account),
            sender_allowed=sender_allowed,
            keep_regions=keep_regions,
        )

    def _values(self, row: Sequence[Any]) -> dict[str, str]:
        if self.single is not None:
            return {self.single[0]: row[self.single[1]] or ""}
        values = {name: row[i] or "" for name, i in self.standard}
        if self.custom:
            custom = row[7]
            if isinstance(custom, str):  # raw SQLite rows hold the JSON text
                custom = json.loads(custom)
            if not isinstance(custom, dict):
                custom = {}
            for name in self.custom:
                value = custom.get(name)
                values[name] = "" if value is None else str(value)
        return values

    def decide(self, rows: Sequence[Sequence[Any]]) -> list[InsertRow]:
        """The outbox rows for ``rows`` (query order), in that order."""
        marketing = self.campaign.type is MessageType.MARKETING
        seen, erased_keys, key_of = self.seen, self.erased_keys, self.key_of
        reasons, encodings = self.reasons, self.encodings
        compose = self.composer.compose_fast
        price_of = self.price_of
        values_of = self._values
        has_fields = bool(self.template.slots)
        links_need_fields = self.links_need_fields
        sender_ok, static_ok = self.sender_allowed, self.static_links_ok
        keep = self.keep_regions
        gsm7 = Encoding.GSM7
        gsm7_name, ucs2_name = Encoding.GSM7.value, Encoding.UCS2.value
        spent, available, broke = self.spent, self.available, self.broke
        parts = gsm_count = ucs_count = 0
        prices: dict[str, int] = {}
        out: list[InsertRow] = []
        append = out.append
        for row in rows:
            contact_id, phone, region = row[0], row[1], row[2]
            reason: str | None = None
            if row[9] or phone is None:
                reason, phone = "erased", None
            elif region is None or phone[:1] != "+" or not _digits(phone[1:]):
                reason = "invalid_number"
            elif phone in seen:
                reason = "duplicate"
            else:
                seen.add(phone)
                if row[10] or (erased_keys and key_of(phone) in erased_keys):
                    reason = "opted_out"
                elif marketing and row[8] not in _CONSENTED:
                    reason = "no_consent"
                elif not sender_ok:
                    reason = "sender_not_allowed"
                elif not static_ok:
                    reason = "url_not_allowed"
            if reason is None:
                values = values_of(row) if has_fields else {}
                if has_fields and (links_need_fields or _linkish("".join(values.values()))):
                    body = self.template.render(values)
                    if unverified_domains(body, self.verified):
                        reason = "url_not_allowed"
                if reason is None:
                    text, encoding, _units, segments = compose(values, region)
                    unit = prices.get(region)
                    if unit is None:
                        unit = prices[region] = price_of(region)
                    price = segments * unit
                    if broke or spent + price > available:
                        broke = True
                        reason = "insufficient_credit"
                    else:
                        spent += price
                        parts += segments
                        if encoding is gsm7:
                            gsm_count += 1
                            encoding_name = gsm7_name
                        else:
                            ucs_count += 1
                            encoding_name = ucs2_name
                        if keep:
                            self.ready_by_region.setdefault(region, []).append(phone)
                            if self.sample is None:
                                self.sample = (values, region)
                        append(
                            (
                                contact_id,
                                phone,
                                region,
                                "ready",
                                None,
                                text,
                                encoding_name,
                                segments,
                                price,
                                "pending",
                            )
                        )
                        continue
            reasons[reason] += 1
            append((contact_id, phone, region, "excluded", reason, None, None, 0, 0, "excluded"))
        self.spent, self.broke = spent, broke
        self.summary.parts += parts
        encodings[Encoding.GSM7] += gsm_count
        encodings[Encoding.UCS2] += ucs_count
        return out

    def texts(self, combos: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Per distinct ``(region, *field values)``: the row followed by ``(text, encoding,
        parts, price, url_bad)`` of a ready message with those values (what
        :meth:`decide` computes per recipient, computed once per combination)."""
        fields = [name for name, _ in self.standard]
        out: list[tuple[Any, ...]] = []
        prices: dict[str, int] = {}
        for combo in combos:
            region = combo[0]
            values = dict(zip(fields, combo[1:], strict=True))
            url_bad = int(
                bool(values)
                and (self.links_need_fields or _linkish("".join(values.values())))
                and bool(unverified_domains(self.template.render(values), self.verified))
            )
            text, encoding, _units, segments = self.composer.compose_fast(values, region)
            unit = prices.get(region)
            if unit is None:
                unit = prices[region] = self.price_of(region)
            out.append((*combo, text, encoding.value, segments, segments * unit, url_bad))
        return out

    def finish(self) -> PreparationSummary:
        """The summary of everything decided so far."""
        s = self.summary
        s.excluded = {e.value: self.reasons[e.value] for e in Exclusion if self.reasons[e.value]}
        s.ready = sum(self.encodings.values())
        s.targeted = s.ready + s.excluded_total
        s.encodings = {e.value: n for e, n in self.encodings.items() if n}
        s.credits_millicredits = self.spent
        s.available_millicredits = self.available
        return s


# -- writing ----------------------------------------------------------------------------------


def _writer(connection: Connection, campaign: Campaign, created_at: datetime) -> Writer:
    """A function writing a campaign's outbox rows fast on this backend.

    PostgreSQL: ``COPY``. SQLite: ``executemany`` binding only the per-recipient columns (the
    campaign's constants are literals of the statement: binding is most of the cost).
    """
    priority = (
        PRIORITY_MARKETING if campaign.type is MessageType.MARKETING else PRIORITY_INFORMATIVE
    )
    constants = (
        campaign.account_id,
        campaign.id,
        campaign.sender,
        campaign.type.value,
        priority,
        _stored(connection, created_at),
    )
    names = ", ".join(_CONSTANT + _VARYING)
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        assert raw is not None

        def copy(rows: list[InsertRow]) -> None:
            with raw.cursor() as cursor, cursor.copy(f"COPY messages ({names}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(constants + row)

        return copy
    literals = ", ".join(_sql_literal(value) for value in constants)
    marks = ", ".join("?" for _ in _VARYING)
    sql = f"INSERT INTO messages ({names}) VALUES ({literals}, {marks})"

    def executemany(rows: list[InsertRow]) -> None:
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    return executemany


def _set_based(connection: Connection, decider: Decider) -> bool:
    """Whether :func:`_prepare_in_sqlite` can decide this campaign (else the Python loop)."""
    return (
        connection.dialect.name == "sqlite"
        and not decider.erased_keys
        and not decider.custom
        and not decider.keep_regions
    )


_TEXTS = "temp.stopsms_prepared_texts"
_OPTED = "temp.stopsms_prepared_opted"
#: The opted-out members are listed first (from the registry) when the account's registry has
#: at most this many records per list member; else each member is looked up (``EXISTS``).
REGISTRY_PER_MEMBER = 1.0


#: SQL of the first reasons, on ``contacts c`` (each is 0 or 1, never NULL, where used).
_ERASED = "(c.erased_at IS NOT NULL OR c.phone_e164 IS NULL)"
#: Not ``+`` then ASCII digits only (what :func:`_digits` accepts); two GLOBs are about a
#: third of the cost of substr/length tests.
_INVALID = "(c.region IS NULL OR c.phone_e164 NOT GLOB '+[0-9]*' OR c.phone_e164 GLOB '+*[^0-9]*')"
_UNCONSENTED = (
    "(c.consent IS NULL OR c.consent NOT IN ("
    + ", ".join(f"'{value}'" for value in sorted(_CONSENTED))
    + "))"
)


def _prepare_in_sqlite(
    connection: Connection, campaign: Campaign, decider: Decider, created_at: datetime
) -> PreparationSummary | None:
    """The whole outbox in one ``INSERT … SELECT`` (SQLite; no erased keys, no custom fields).

    The text depends only on the recipient's region and field values: it is composed once per
    distinct combination (into a temporary table) and joined; the decisions are a ``CASE`` in
    the order of :meth:`Decider.decide`. ``duplicate`` cannot happen here: a list holds a
    contact once and ``contacts`` keeps one row per number of the account. The summary is
    read back with two aggregates on the ``(campaign_id, status)`` index.

    ``None`` (nothing written) unless the credits available certainly pay every member at the
    dearest text: only then can no ``insufficient_credit`` arise, and the per-recipient loop
    applies the prefix rule otherwise.
    """
    raw = connection.connection.driver_connection
    assert raw is not None
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
    dearest = max((row[-2] for row in texts), default=0)
    if members * dearest > decider.available:
        return None
    (registry,) = raw.execute(
        "SELECT count(*) FROM optouts WHERE account_id = ?", (campaign.account_id,)
    ).fetchone()
    keys = [f"f{i}" for i in range(len(fields))]
    raw.execute(f"DROP TABLE IF EXISTS {_TEXTS}")
    raw.execute(f"DROP TABLE IF EXISTS {_OPTED}")
    key_columns = "".join(f"{k} TEXT NOT NULL, " for k in keys)
    raw.execute(
        f"CREATE TABLE {_TEXTS} (region TEXT NOT NULL, {key_columns}"
        f"text TEXT, encoding TEXT, segments INTEGER, price INTEGER, url_bad INTEGER,"
        f" PRIMARY KEY ({', '.join(['region', *keys])})) WITHOUT ROWID"
    )
    try:
        marks = ", ".join("?" for _ in range(len(keys) + 6))
        raw.executemany(f"INSERT INTO {_TEXTS} VALUES ({marks})", texts)
        opted_set = registry <= members * REGISTRY_PER_MEMBER
        if opted_set:
            raw.execute(f"CREATE TABLE {_OPTED} (id INTEGER PRIMARY KEY)")
            raw.execute(
                f"INSERT OR IGNORE INTO {_OPTED} SELECT c.id FROM optouts o"
                " CROSS JOIN contacts c CROSS JOIN list_members lm"
                " WHERE o.account_id = ? AND o.phone_e164 IS NOT NULL"
                " AND o.revoked_at IS NULL AND o.sender IN ('', ?)"
                " AND c.account_id = o.account_id AND c.phone_e164 = o.phone_e164"
                " AND lm.list_id = ? AND lm.contact_id = c.id",
                (campaign.account_id, campaign.sender, campaign.list_id),
            )
        stored = _stored(connection, created_at)
        _insert_decided(raw, campaign, decider, stored, fields, keys, opted_set=opted_set)
    finally:
        raw.execute(f"DROP TABLE IF EXISTS {_TEXTS}")
        raw.execute(f"DROP TABLE IF EXISTS {_OPTED}")
    return _written_summary(raw, campaign.id, decider.available)


def _written_summary(raw: Any, campaign_id: int, available: int) -> PreparationSummary:
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
        f"SELECT count(*), coalesce(sum(encoding = '{Encoding.GSM7.value}'), 0),"
        " coalesce(sum(segments), 0), coalesce(sum(price_millicredits), 0)"
        " FROM messages WHERE campaign_id = ? AND status = 'pending'",
        (campaign_id,),
    ).fetchone()
    encodings = {Encoding.GSM7.value: gsm7, Encoding.UCS2.value: ready - gsm7}
    summary.encodings = {name: count for name, count in encodings.items() if count}
    summary.ready, summary.parts, summary.credits_millicredits = ready, parts, price
    summary.targeted = summary.ready + summary.excluded_total
    return summary


def _insert_decided(
    raw: Any,
    campaign: Campaign,
    decider: Decider,
    created_at: Any,
    fields: list[str],
    keys: list[str],
    *,
    opted_set: bool,
) -> None:
    """``INSERT INTO messages … SELECT``: every list member with its decision; opted out when
    listed in the temporary table (``opted_set``) or by an ``EXISTS`` on the registry."""
    priority = (
        PRIORITY_MARKETING if campaign.type is MessageType.MARKETING else PRIORITY_INFORMATIVE
    )
    constants = (
        campaign.account_id,
        campaign.id,
        campaign.sender,
        campaign.type.value,
        priority,
        created_at,
    )
    literals = ", ".join(_sql_literal(value) for value in constants)
    reasons = [
        f"WHEN {_ERASED} THEN 'erased'",
        f"WHEN {_INVALID} THEN 'invalid_number'",
        f"WHEN c.id IN {_OPTED} THEN 'opted_out'"
        if opted_set
        else "WHEN EXISTS (SELECT 1 FROM optouts o WHERE o.account_id = ?"
        " AND o.phone_e164 = c.phone_e164 AND o.revoked_at IS NULL AND o.sender IN ('', ?))"
        " THEN 'opted_out'",
    ]
    params = () if opted_set else (campaign.account_id, campaign.sender)
    if campaign.type is MessageType.MARKETING:
        reasons.append(f"WHEN {_UNCONSENTED} THEN 'no_consent'")
    if not decider.sender_allowed:
        reasons.append("WHEN 1 THEN 'sender_not_allowed'")
    if not decider.static_links_ok:
        reasons.append("WHEN 1 THEN 'url_not_allowed'")
    reasons.append("WHEN p.url_bad THEN 'url_not_allowed'")
    on = " AND ".join(
        ["p.region = c.region", *(f"p.{k} = {f}" for k, f in zip(keys, fields, strict=True))]
    )
    names = ", ".join(_CONSTANT + _VARYING)
    ready = "d.r IS NULL"
    raw.execute(
        f"INSERT INTO messages ({names}) SELECT {literals}, d.id,"
        " CASE WHEN d.r = 'erased' THEN NULL ELSE d.phone END, d.region,"
        f" CASE WHEN {ready} THEN 'ready' ELSE 'excluded' END, d.r,"
        f" CASE WHEN {ready} THEN d.text END, CASE WHEN {ready} THEN d.encoding END,"
        f" CASE WHEN {ready} THEN d.segments ELSE 0 END,"
        f" CASE WHEN {ready} THEN d.price ELSE 0 END,"
        f" CASE WHEN {ready} THEN 'pending' ELSE 'excluded' END"
        " FROM (SELECT lm.contact_id AS id, c.phone_e164 AS phone, c.region AS region,"
        " p.text AS text, p.encoding AS encoding, p.segments AS segments, p.price AS price,"
        f" CASE {' '.join(reasons)} END AS r"
        " FROM list_members lm JOIN contacts c ON c.id = lm.contact_id"
        f" LEFT JOIN {_TEXTS} p ON {on}"
        # OFFSET keeps SQLite from flattening the subquery (which would copy the CASE, and
        # its EXISTS, into every column that reads the reason): it runs once per row.
        " WHERE lm.list_id = ? AND c.account_id = ? ORDER BY lm.contact_id LIMIT -1 OFFSET 0) AS d",
        (*params, campaign.list_id, campaign.account_id),
    )


def _sql_literal(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _stored(connection: Connection, value: datetime) -> Any:
    """``value`` as the driver must receive it for a UTCDateTime column (raw inserts)."""
    processor = t.messages.c.created_at.type.bind_processor(connection.dialect)
    return processor(value) if processor is not None else value


def summary_from_messages(connection: Connection, campaign: Campaign) -> PreparationSummary:
    """The summary of a prepared campaign, read back from its messages."""
    m = t.messages.c
    rows = connection.execute(
        select(
            m.decision,
            m.reason,
            m.encoding,
            func.count(),
            func.coalesce(func.sum(m.segments), 0),
            func.coalesce(func.sum(m.price_millicredits), 0),
        )
        .where(m.campaign_id == campaign.id, m.account_id == campaign.account_id)
        .group_by(m.decision, m.reason, m.encoding)
    ).all()
    summary = PreparationSummary(campaign.id, already_prepared=True, status=campaign.status)
    for decision, reason, encoding, count, parts, price in rows:
        summary.targeted += count
        if decision == "ready":
            summary.ready += count
            summary.parts += int(parts)
            summary.credits_millicredits += int(price)
            summary.encodings[encoding] = summary.encodings.get(encoding, 0) + count
        else:
            summary.excluded[reason] = summary.excluded.get(reason, 0) + count
    order = [e.value for e in Exclusion]
    summary.excluded = dict(sorted(summary.excluded.items(), key=lambda kv: order.index(kv[0])))
    return summary


def _has_messages(connection: Connection, campaign_id: int) -> bool:
    found = connection.execute(
        select(t.messages.c.id).where(t.messages.c.campaign_id == campaign_id).limit(1)
    ).first()
    return found is not None


def campaign_of(
    connection: Connection, campaign_id: int, account: AccountRef | None
) -> tuple[Campaign, Account]:
    """The campaign and its account (checked against ``account`` when given).

    The account is always read again in ``connection``'s transaction, even when an
    :class:`Account` is given: its balance decides ``insufficient_credit``, and a copy read
    before a top-up would exclude recipients the account can now pay for.
    """
    if isinstance(account, Account):
        account = account.name
    if account is None:
        account_id = connection.execute(
            select(t.campaigns.c.account_id).where(t.campaigns.c.id == campaign_id)
        ).scalar_one_or_none()
        if account_id is None:
            raise NotFound("campaign", campaign_id)
        acc = get_account_by_id(connection, account_id)
    else:
        acc = get_account(connection, account)
    return get_campaign(connection, acc, campaign_id), acc


def prepare_campaign(
    target: Database | Engine | Connection,
    campaign_id: int,
    clock: Clock,
    *,
    account: AccountRef | None = None,
) -> PreparationSummary:
    """Turn campaign ``campaign_id``'s list into its outbox (see the module doc).

    ``target``: a :class:`Database` or an engine (a transaction is opened and committed), or a
    connection already in the caller's transaction. Raises
    :class:`~stopsms.domain.errors.InvalidTransition` for a campaign that cannot be prepared
    (cancelled, or paused/sending without messages).
    """
    if isinstance(target, Connection):
        return _prepare(target, campaign_id, clock, account)
    engine = target.engine if isinstance(target, Database) else target
    with engine.connect() as connection, _parents_known(connection), connection.begin():
        return _prepare(connection, campaign_id, clock, account)


@contextmanager
def _parents_known(connection: Connection) -> Iterator[None]:
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


def _prepare(
    connection: Connection, campaign_id: int, clock: Clock, account: AccountRef | None
) -> PreparationSummary:
    campaign, acc = campaign_of(connection, campaign_id, account)
    # Serialise concurrent preparations of one campaign (SQLite's BEGIN IMMEDIATE already does).
    connection.execute(
        select(t.campaigns.c.id).where(t.campaigns.c.id == campaign_id).with_for_update()
    )
    campaign = get_campaign(connection, acc, campaign_id)
    if _has_messages(connection, campaign_id):
        if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
            raise ServiceError(
                f"campaign {campaign_id} is {campaign.status.value} but already has messages"
            )
        return summary_from_messages(connection, campaign)
    preparing = move(campaign.status, CampaignStatus.PREPARING)
    sending = move(preparing, CampaignStatus.SENDING)
    if campaign.list_id is None:
        raise ServiceError(f"campaign {campaign_id} has no list (it was deleted)")
    connection.execute(
        update(t.campaigns).where(t.campaigns.c.id == campaign_id).values(status=preparing.value)
    )
    now = clock.now()
    decider = Decider.for_campaign(connection, campaign, acc)
    summary = None
    if _set_based(connection, decider):
        summary = _prepare_in_sqlite(connection, campaign, decider, now)
    if summary is None:
        write = _writer(connection, campaign, now)
        for rows in recipient_chunks(connection, campaign, with_custom=bool(decider.custom)):
            write(decider.decide(rows))
        summary = decider.finish()
    connection.execute(
        update(t.campaigns)
        .where(and_(t.campaigns.c.id == campaign_id, t.campaigns.c.status == preparing.value))
        .values(status=sending.value, started_at=now)
    )
    summary.status = sending
    return summary
