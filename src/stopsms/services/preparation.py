"""Preparation: a campaign's list becomes its outbox, one decision per contact (rules 6, 9–12).

One query (:func:`recipient_chunks`) reads the list in list order (``list_members`` by contact
id) joined to ``contacts`` with, per contact, whether an active opt-out suppresses the number
for this account (scope ``account``, or ``sender`` = the campaign's sender) — an indexed
``EXISTS`` on the number. :class:`~stopsms.services.decisions.Decider` then decides each
recipient (the reasons, their order, the composing, pricing and credit rules are in
:mod:`stopsms.services.decisions`).

Rows are written in chunks (``COPY`` on PostgreSQL) inside one transaction with the status
moves ``draft/scheduled → preparing → sending``: a preparation is all or nothing, and
preparing a campaign that already has messages returns their summary without writing
(idempotent). On SQLite the same rows are written set-based when they can be
(:mod:`stopsms.services.preparation_sqlite`). A campaign whose messages could not carry a
working STOP mention (:func:`stopsms.services.stop_mention.check_sending`: a stored mention
format that is not one, the placeholder shortcode) is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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
from stopsms.services.accounts import Account, AccountRef, get_account, get_account_by_id
from stopsms.services.campaigns import Campaign, get_campaign
from stopsms.services.decisions import (
    CONSTANT_COLUMNS,
    VARYING_COLUMNS,
    Decider,
    InsertRow,
    PreparationSummary,
    constant_values,
)
from stopsms.services.errors import NotFound, ServiceError
from stopsms.services.optouts import account_suppressing_senders
from stopsms.services.preparation_sqlite import (
    parents_known,
    prepare_in_sqlite,
    set_based,
    sql_literal,
    stored,
)
from stopsms.services.stop_mention import check_sending
from stopsms.store import tables as t
from stopsms.store.database import Database

__all__ = [
    "CHUNK",
    "campaign_of",
    "prepare_campaign",
    "recipient_chunks",
    "summary_from_messages",
]

#: Recipients read, decided and written per round trip.
CHUNK = 20_000
Writer = Callable[[list[InsertRow]], None]


# -- the query --------------------------------------------------------------------------------


def recipient_chunks(
    connection: Connection, campaign: Campaign, *, with_custom: bool, chunk: int = CHUNK
) -> Iterator[Sequence[Sequence[Any]]]:
    """The list's contacts in list order, ``chunk`` at a time, as tuples
    ``(contact_id, e164, region, first, last, email, company, custom, consent, erased,
    opted_out)`` (``custom`` is ``None`` unless ``with_custom``; flags are 0/1)."""
    c, lm, o = t.contacts, t.list_members, t.optouts
    senders = account_suppressing_senders(connection, campaign.account_id, campaign.sender)
    opted_out = exists().where(
        o.c.account_id == campaign.account_id,
        o.c.phone_e164 == c.c.phone_e164,
        o.c.revoked_at.is_(None),
        *(() if senders is None else (o.c.sender.in_(senders),)),
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


# -- writing ----------------------------------------------------------------------------------


def _writer(connection: Connection, campaign: Campaign, created_at: datetime) -> Writer:
    """A function writing a campaign's outbox rows fast on this backend.

    PostgreSQL: ``COPY``. SQLite: ``executemany`` binding only the per-recipient columns (the
    campaign's constants are literals of the statement: binding is most of the cost).
    """
    constants = constant_values(campaign, stored(connection, created_at))
    names = ", ".join(CONSTANT_COLUMNS + VARYING_COLUMNS)
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        assert raw is not None

        def copy(rows: list[InsertRow]) -> None:
            with raw.cursor() as cursor, cursor.copy(f"COPY messages ({names}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(constants + row)

        return copy
    literals = ", ".join(sql_literal(value) for value in constants)
    marks = ", ".join("?" for _ in VARYING_COLUMNS)
    sql = f"INSERT INTO messages ({names}) VALUES ({literals}, {marks})"

    def executemany(rows: list[InsertRow]) -> None:
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    return executemany


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
    shortcode_substitution: bool = False,
) -> PreparationSummary:
    """Turn campaign ``campaign_id``'s list into its outbox (see the module doc).

    ``shortcode_substitution``: the provider that will send it replaces ``STOP 00000`` by its
    own shortcode (else an account still on the placeholder is refused).

    ``target``: a :class:`Database` or an engine (a transaction is opened and committed), or a
    connection already in the caller's transaction. Raises
    :class:`~stopsms.domain.errors.InvalidTransition` for a campaign that cannot be prepared
    (cancelled, or paused/sending without messages).
    """
    if isinstance(target, Connection):
        return _prepare(target, campaign_id, clock, account, shortcode_substitution)
    engine = target.engine if isinstance(target, Database) else target
    with engine.connect() as connection, parents_known(connection), connection.begin():
        return _prepare(connection, campaign_id, clock, account, shortcode_substitution)


def _prepare(
    connection: Connection,
    campaign_id: int,
    clock: Clock,
    account: AccountRef | None,
    substitution: bool = False,
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
    check_sending(acc, campaign.sender, campaign.type, substitution=substitution)
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
    if set_based(connection, decider):
        summary = prepare_in_sqlite(connection, campaign, decider, now)
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
