"""Preparation: a campaign's list becomes its outbox, one decision per contact (rules 6, 9–12).

One query (:func:`recipient_chunks`) reads the list in list order (``list_members`` by contact
id) joined to ``contacts`` with, per contact, whether an active opt-out suppresses the number
for this account (scope ``account``, or ``sender`` = the campaign's sender) — an indexed
``EXISTS`` on the number. :class:`~stopsms.services.campaigns.decisions.Decider` then decides each
recipient (the reasons, their order, the composing, pricing and credit rules are in
:mod:`stopsms.services.campaigns.decisions`).

Rows are written in chunks (``COPY`` on PostgreSQL) inside one transaction with the status
moves ``draft/scheduled → preparing → sending``: a preparation is all or nothing, and
preparing a campaign that already has messages returns their summary without writing
(idempotent). On SQLite the same rows are written set-based when they can be
(:mod:`stopsms.services.campaigns.preparation_sets`). A campaign whose messages could not
carry a working STOP mention (:func:`stopsms.services.campaigns.stop_mention.check_sending`: a
stored mention format that is not one, the placeholder shortcode) is refused before anything is
written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    and_,
    delete,
    exists,
    func,
    literal,
    select,
    type_coerce,
)

from stopsms.clock import Clock
from stopsms.domain.campaign import CampaignStatus, Exclusion, move
from stopsms.domain.parts import DEFAULT_MAX_PARTS
from stopsms.errors import Fix, NotFound, ServiceError
from stopsms.services.accounts.accounts import Account, AccountRef, get_account, get_account_by_id
from stopsms.services.campaigns.campaigns import Campaign, get_campaign, resume_campaign
from stopsms.services.campaigns.decisions import (
    CONSTANT_COLUMNS,
    VARYING_COLUMNS,
    WAITING_STATUSES,
    Decider,
    InsertRow,
    PreparationSummary,
    constant_values,
)
from stopsms.services.campaigns.preparation_sets import (
    inform_planner,
    parents_known,
    prepare_set_based,
    set_based,
    sql_literal,
    stored,
)
from stopsms.services.campaigns.shortfall import shortfall_of
from stopsms.services.campaigns.status import change_status
from stopsms.services.campaigns.stop_mention import check_sending
from stopsms.services.optouts.optouts import account_suppressing_senders
from stopsms.store import tables as t
from stopsms.store.database import Database

__all__ = [
    "CHUNK",
    "NothingToSend",
    "PreparationInterrupted",
    "campaign_of",
    "never_prepared",
    "park_scheduled",
    "prepare_campaign",
    "recheck_credit",
    "recipient_chunks",
    "resume_sending",
    "summary_from_messages",
    "summary_of",
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
        # campaign_id alone: the counts come from ix_messages_campaign_id_status
        # (the messages of a campaign are its account's).
        .where(m.campaign_id == campaign.id)
        .group_by(m.decision, m.reason, m.encoding)
    ).all()
    return summary_of(campaign, rows)


def summary_of(campaign: Campaign, rows: Iterable[Sequence[Any]]) -> PreparationSummary:
    """The summary of a prepared campaign from its messages grouped by decision, reason and
    encoding: ``(decision, reason, encoding, count, parts, price)`` rows (a group may come in
    several rows)."""
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


class PreparationInterrupted(ServiceError):
    """The preparation was asked to stop (Ctrl-C, SIGTERM): nothing of it was written."""

    def __init__(self, campaign_id: int) -> None:
        super().__init__(f"preparation of campaign {campaign_id} interrupted: nothing written")
        self.campaign_id = campaign_id


class NothingToSend(ServiceError):
    """Every recipient of the campaign is excluded: preparing it would "complete" it empty."""

    def __init__(self, campaign_id: int, summary: PreparationSummary) -> None:
        reasons = ", ".join(f"{n:,} {reason}" for reason, n in summary.excluded.items())
        super().__init__(
            f"campaign {campaign_id} has nobody to send to: {summary.targeted:,} targeted, "
            f"0 ready"
            + (f" ({reasons})" if reasons else " (the list is empty)")
            + "; nothing sent, campaign left as it was (its preview shows why; cancelling it"
            " ends it)",
            fix=Fix("preview_campaign", (("campaign", str(campaign_id)),)),
        )
        self.campaign_id = campaign_id
        self.summary = summary


def prepare_campaign(
    target: Database | Engine | Connection,
    campaign_id: int,
    clock: Clock,
    *,
    account: AccountRef | None = None,
    shortcode_substitution: bool = False,
    allow_partial: bool = False,
    allow_empty: bool = True,
    should_stop: Callable[[], bool] | None = None,
    max_parts: int = DEFAULT_MAX_PARTS,
    loop: bool = False,
    public_url: str | None = None,
) -> PreparationSummary:
    """Turn campaign ``campaign_id``'s list into its outbox (see the module doc).

    The one entry point of preparation, whatever the database; it chooses how to write, the
    caller does not: on SQLite the whole outbox in one ``INSERT … SELECT``
    (:mod:`~stopsms.services.campaigns.preparation_sets`) when that path can decide the
    campaign (no erased opt-outs, no custom field, credits certain to pay every recipient),
    else — and always on PostgreSQL — recipient by recipient (the loop; ``COPY`` on
    PostgreSQL). ``loop=True`` forces the loop: the reference the set-based path is checked
    against (the tests prepare the same campaigns both ways and expect the same decisions);
    an interface never passes it.

    ``max_parts``: the most SMS parts one recipient's message may take (the caller's
    ``Settings.max_parts``); a recipient above it is excluded ``too_long``.

    ``shortcode_substitution``: the provider that will send it replaces ``STOP 00000`` by its
    own shortcode (else an account still on the placeholder is refused).

    ``public_url``: the installation's address (``Settings.public_url``). An account without
    its own ``unsubscribe_url`` then links to the hosted page, and each ready message whose
    mention is that link gets its own token (``unsubscribe_token``, in the text in place of
    the placeholder its length was counted with); without it such recipients are
    ``no_unsubscribe_page``.

    ``target``: a :class:`Database` or an engine (a transaction is opened and committed), or a
    connection already in the caller's transaction. Raises
    :class:`~stopsms.domain.errors.InvalidTransition` for a campaign that cannot be prepared
    (cancelled, or sending without messages); :class:`~stopsms.services.campaigns.shortfall.
    CreditShortfall` when the credits cannot pay every ready message, unless ``allow_partial``;
    :class:`NothingToSend` when no recipient is ready, unless ``allow_empty``;
    :class:`PreparationInterrupted` when ``should_stop()`` turns true (checked between chunks
    and before the status moves). Either refusal happens before anything is committed.
    """
    run = partial(
        _prepare,
        campaign_id=campaign_id,
        clock=clock,
        account=account,
        substitution=shortcode_substitution,
        allow_partial=allow_partial,
        allow_empty=allow_empty,
        should_stop=should_stop,
        max_parts=max_parts,
        loop=loop,
        public_url=public_url,
    )
    if isinstance(target, Connection):
        return run(target)
    engine = target.engine if isinstance(target, Database) else target
    with engine.connect() as connection, parents_known(connection), connection.begin():
        return run(connection)


def _prepare(
    connection: Connection,
    campaign_id: int,
    clock: Clock,
    account: AccountRef | None,
    *,
    substitution: bool = False,
    allow_partial: bool = False,
    allow_empty: bool = True,
    should_stop: Callable[[], bool] | None = None,
    max_parts: int = DEFAULT_MAX_PARTS,
    loop: bool = False,
    public_url: str | None = None,
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
    move(campaign.status, CampaignStatus.PREPARING)  # refused before anything is written
    if campaign.list_id is None:
        raise ServiceError(f"campaign {campaign_id} has no list (it was deleted)")
    now = clock.now()
    preparing = CampaignStatus.PREPARING
    change_status(connection, campaign_id, preparing, now, expected=campaign.status)
    decider = Decider.for_campaign(
        connection, campaign, acc, max_parts=max_parts, public_url=public_url
    )
    summary = None
    if not loop and set_based(connection, decider):
        summary = prepare_set_based(connection, campaign, decider, now)
    if summary is None:
        write = _writer(connection, campaign, now)
        for rows in recipient_chunks(connection, campaign, with_custom=bool(decider.custom)):
            if should_stop is not None and should_stop():
                raise PreparationInterrupted(campaign_id)
            write(decider.decide(rows))
        summary = decider.finish()
    inform_planner(connection, summary.targeted)
    if should_stop is not None and should_stop():
        raise PreparationInterrupted(campaign_id)
    if not allow_partial and (short := shortfall_of(campaign_id, acc.name, summary)):
        raise short
    if not allow_empty and summary.ready == 0:
        raise NothingToSend(campaign_id, summary)
    sending = CampaignStatus.SENDING
    change_status(connection, campaign_id, sending, now, expected=preparing)
    summary.status = sending
    return summary


# -- credit shortfalls ------------------------------------------------------------------------


def _unpaid(connection: Connection, campaign_id: int) -> Any:
    m = t.messages.c
    return and_(
        m.campaign_id == campaign_id,
        m.decision == "excluded",
        m.reason == Exclusion.INSUFFICIENT_CREDIT.value,
        m.status == "excluded",
    )


def recheck_credit(
    connection: Connection,
    campaign_id: int,
    clock: Clock,
    *,
    account: AccountRef | None = None,
    allow_partial: bool = False,
    max_parts: int = DEFAULT_MAX_PARTS,
    public_url: str | None = None,
) -> PreparationSummary | None:
    """Decide again the recipients a partial send left ``insufficient_credit`` (after a top-up).

    Their rows are replaced by fresh decisions (every reason again, in list order: an opt-out
    or a consent withdrawn meanwhile still wins), paid from the balance less what every
    campaign, this one included, still has to send. Returns the summary of that re-decision
    (``None`` when there was nothing to re-examine); raises
    :class:`~stopsms.services.campaigns.shortfall.CreditShortfall` when some still cannot be paid,
    unless ``allow_partial`` (then the unpaid ones stay ``insufficient_credit``).
    """
    campaign, acc = campaign_of(connection, campaign_id, account)
    m = t.messages.c
    unpaid = _unpaid(connection, campaign_id)
    left = set(connection.execute(select(m.contact_id).where(unpaid)).scalars())
    if not left:
        return None
    connection.execute(delete(t.messages).where(unpaid))
    decider = Decider.for_campaign(
        connection, campaign, acc, max_parts=max_parts, public_url=public_url
    )
    own = connection.execute(
        select(func.coalesce(func.sum(m.price_millicredits), 0)).where(
            m.campaign_id == campaign_id,
            m.decision == "ready",
            m.status.in_(WAITING_STATUSES),
        )
    ).scalar_one()
    decider.available = max(0, decider.available - int(own))
    decider.seen.update(
        connection.execute(
            select(m.phone_e164).where(m.campaign_id == campaign_id, m.phone_e164.is_not(None))
        ).scalars()
    )
    write = _writer(connection, campaign, clock.now())
    for rows in recipient_chunks(connection, campaign, with_custom=bool(decider.custom)):
        mine = [row for row in rows if row[0] in left]
        if mine:
            write(decider.decide(mine))
    summary = decider.finish()
    if not allow_partial and (short := shortfall_of(campaign_id, acc.name, summary)):
        raise short
    return summary


def park_scheduled(connection: Connection, campaign_id: int, reason: str, clock: Clock) -> bool:
    """Park a scheduled campaign that cannot start (credits short, nobody to send to):
    ``scheduled → preparing → paused``
    with nothing prepared and ``reason`` kept in its settings (``paused_reason``); resuming
    it prepares it then. Returns whether it moved (a person may have acted meanwhile)."""
    c = t.campaigns
    row = connection.execute(
        select(c.c.status, c.c.settings).where(c.c.id == campaign_id).with_for_update()
    ).one_or_none()
    if row is None or row.status != CampaignStatus.SCHEDULED.value:
        return False
    settings = {**dict(row.settings or {}), "paused_reason": reason}
    now = clock.now()
    preparing, paused = CampaignStatus.PREPARING, CampaignStatus.PAUSED
    change_status(connection, campaign_id, preparing, now, expected=CampaignStatus.SCHEDULED)
    return change_status(
        connection, campaign_id, paused, now, expected=preparing, values={"settings": settings}
    )


def never_prepared(connection: Connection, campaign_id: int) -> bool:
    """Whether the campaign has no message yet (its resume prepares it: long work, a job)."""
    return not _has_messages(connection, campaign_id)


def resume_sending(
    connection: Connection,
    account: AccountRef,
    campaign_id: int,
    clock: Clock,
    *,
    allow_partial: bool = False,
    shortcode_substitution: bool = False,
    max_parts: int = DEFAULT_MAX_PARTS,
    public_url: str | None = None,
) -> tuple[Campaign, PreparationSummary | None]:
    """``campaign resume``: a paused campaign sends again, its credit decided again first.

    Never prepared (a scheduled campaign the worker parked for credit): it is prepared now,
    with the same refusal as a send. Prepared: the recipients left ``insufficient_credit``
    are re-examined (:func:`recheck_credit`), then ``paused → sending``.
    """
    campaign, acc = campaign_of(connection, campaign_id, account)
    if campaign.status is CampaignStatus.PAUSED and not _has_messages(connection, campaign_id):
        summary = _prepare(
            connection,
            campaign_id,
            clock,
            acc.name,
            substitution=shortcode_substitution,
            allow_partial=allow_partial,
            allow_empty=False,
            max_parts=max_parts,
            public_url=public_url,
        )
        return get_campaign(connection, acc, campaign_id), summary
    rechecked = None
    if campaign.status is CampaignStatus.PAUSED:
        rechecked = recheck_credit(
            connection,
            campaign_id,
            clock,
            account=acc.name,
            allow_partial=allow_partial,
            max_parts=max_parts,
            public_url=public_url,
        )
    return resume_campaign(connection, acc.name, campaign_id, clock), rechecked
