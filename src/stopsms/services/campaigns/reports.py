"""What a campaign will do (preview) and what it did (report, per-recipient export).

Preview (rule 8: the finish time is shown before sending) runs the preparation's own decision
pass — :class:`~stopsms.services.campaigns.decisions.Decider` over the same query — in the caller's
transaction without writing anything, so its counts are exactly what preparation would write
at that moment; once prepared, it reads the stored decisions instead. It adds the final text
for a sample recipient (the first ready one), every distinct STOP mention the campaign uses
per region (with the recipients excluded there for want of an unsubscribe page), the sentence
refusing the campaign if its mention could not work
(:mod:`stopsms.services.campaigns.stop_mention`), and plans the sending with
:func:`stopsms.domain.planning.plan`: ready marketing messages grouped by calendar (policy,
territory, time zones), at the provider's throughput — the ``tps`` of ``STOPSMS_PROVIDER_URL``
when it sets one, else :data:`DEFAULT_RATE` — from now, or from the schedule if later.

The report (rule 14) counts targeted, excluded by reason, sent (``submitted``, ``delivered``,
``failed``: the provider took them), delivered, failed, and apart from sent the messages in
doubt — ``unknown``: on the wire when a process died or the link dropped, maybe received,
never re-sent on its own (:mod:`stopsms.services.messages.doubt` re-queues or closes them) —
and ``closed`` (in doubt, closed for good by a person); the opt-outs attributed to the
campaign (count and % of sent), the credits of the messages that left, and when held messages
resume. Its arithmetic is exact: ``targeted = excluded + sent + unknown + closed + rejected +
waiting + in_flight + cancelled`` (:attr:`CampaignReport.accounted`). The export writes one row
per recipient with its status (``unknown`` and ``closed`` among them); the status is ``STOPPED``
for a number whose opt-out is attributed to this campaign. Cells that a spreadsheet would run
as a formula are escaped (a leading ``'``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    String,
    and_,
    exists,
    func,
    literal,
    null,
    select,
    text,
    union_all,
)

from stopsms.clock import Clock
from stopsms.domain.campaign import LEFT, MessageStatus
from stopsms.domain.compose import ComposedMessage, compose
from stopsms.domain.mention import AccountType, MessageType, existing_mention
from stopsms.domain.parts import DEFAULT_MAX_PARTS
from stopsms.domain.phone import describe, territory_zones
from stopsms.domain.planning import Cohort, Plan, plan, planning_horizon
from stopsms.domain.text import split_parts
from stopsms.domain.unsubscribe import hosted_link
from stopsms.domain.windows import calendar_for, policy_for
from stopsms.errors import InvalidInput
from stopsms.services.accounts.accounts import Account, AccountRef
from stopsms.services.campaigns.campaigns import Campaign
from stopsms.services.campaigns.decisions import (
    WAITING_STATUSES,
    Decider,
    PreparationSummary,
)
from stopsms.services.campaigns.holds import HeldGroups, held_groups, merge_holds
from stopsms.services.campaigns.preparation import (
    campaign_of,
    recipient_chunks,
    summary_from_messages,
    summary_of,
)
from stopsms.services.campaigns.stop_mention import sending_refusal
from stopsms.services.exports import CSV_DELIMITER, CSV_FILE_ENCODING
from stopsms.store import tables as t

__all__ = [
    "DEFAULT_RATE",
    "EXPORT_COLUMNS",
    "FOLD_ABOVE",
    "CampaignPreview",
    "CampaignReport",
    "Hours",
    "RegionMention",
    "SampleMessage",
    "campaign_figures",
    "campaign_report",
    "export_campaign",
    "export_rows",
    "finals_rows",
    "fold_finals",
    "hour_of",
    "hour_start",
    "preview_campaign",
    "recount_figures",
    "safe_cell",
]

#: Messages per second assumed when the provider URL sets no ``tps`` (a cautious aggregator).
DEFAULT_RATE = 100.0
EXPORT_COLUMNS = (
    "number",
    "decision",
    "reason",
    "status",
    "submitted_at",
    "delivered_at",
    "parts",
    "error_code",
)
_LEFT = tuple(s.value for s in LEFT)


# -- preview ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SampleMessage:
    """The final SMS of one recipient, with its parts and what to warn about."""

    phone_e164: str | None
    region: str
    composed: ComposedMessage
    parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RegionMention:
    """The STOP mention a campaign's ready messages to ``region`` end with (None: none), how
    many are ready, and how many are excluded there for want of an unsubscribe page."""

    region: str
    mention: str | None
    ready: int
    no_unsubscribe_page: int = 0


@dataclass(frozen=True, slots=True)
class CampaignPreview:
    """Decisions, sample, mentions, totals and plan of a campaign (see the module doc).

    ``refusal``: why sending would be refused (the STOP mention could not work), or None."""

    campaign: Campaign
    summary: PreparationSummary
    sample: SampleMessage | None
    plan: Plan
    start: datetime
    rate: float
    prepared: bool
    mentions: tuple[RegionMention, ...] = ()
    refusal: str | None = None
    account_name: str = ""

    @property
    def held_groups(self) -> HeldGroups:
        """The planned holds by the instant they end (one per calendar, see campaigns.holds)."""
        return merge_holds(
            (datetime.fromtimestamp(c.held_until, UTC), c.held)
            for c in self.plan.cohorts
            if c.held_until is not None
        )


def _zones_by_prefix(phones: list[str]) -> dict[tuple[str, ...], int]:
    """Count numbers per time-zone set; one lookup per 7-digit prefix (zones go by area)."""
    cache: dict[str, tuple[str, ...]] = {}
    counts: dict[tuple[str, ...], int] = {}
    for phone in phones:
        prefix = phone[:8]
        zones = cache.get(prefix)
        if zones is None:
            zones = cache[prefix] = describe(phone).time_zones
        counts[zones] = counts.get(zones, 0) + 1
    return counts


def _cohorts(
    by_region: dict[str, list[str]], policy_name: str | None, start: float, horizon: float
) -> list[Cohort]:
    cohorts: list[Cohort] = []
    territory = territory_zones()
    for region, phones in sorted(by_region.items()):
        own = territory.get(region, ())
        groups = {own: len(phones)} if len(own) == 1 else _zones_by_prefix(phones)
        policy = policy_for(region, policy_name)
        for zones, count in groups.items():
            calendar = calendar_for(region, zones, policy)
            key = f"{region} {'+'.join(zones)} ({policy.name})"
            cohorts.append(
                Cohort(key, count, calendar.open_intervals_epoch(start, start + horizon))
            )
    return cohorts


def _ready_by_region(connection: Connection, campaign: Campaign) -> dict[str, list[str]]:
    m = t.messages.c
    rows = connection.execute(
        select(m.region, m.phone_e164).where(
            m.campaign_id == campaign.id,
            m.decision == "ready",
            m.status.in_(("pending", "held", "claimed")),
            m.phone_e164.is_not(None),
        )
    )
    out: dict[str, list[str]] = {}
    for region, phone in rows:
        out.setdefault(region or "", []).append(phone)
    return out


def _stored_sample(
    connection: Connection, campaign: Campaign, account: Account, public_url: str | None
) -> SampleMessage | None:
    m = t.messages.c
    row = connection.execute(
        select(m.phone_e164, m.region, m.text, m.unsubscribe_token)
        .where(m.campaign_id == campaign.id, m.decision == "ready", m.text.is_not(None))
        .order_by(m.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    # The stored text already carries its mention (with its own token): composing it again
    # keeps it, once.
    style = account.mention_style(public_url)
    if row.unsubscribe_token and public_url:
        style = replace(style, unsubscribe_url=hosted_link(public_url, row.unsubscribe_token))
    composed = compose(
        row.text,
        region=row.region or "FR",
        message_type=campaign.type,
        style=style,
        account_type=AccountType(account.type),
        mention_enabled=account.mention_enabled,
    )
    return SampleMessage(row.phone_e164, row.region or "", composed, tuple(split_parts(row.text)))


def _stored_mentions(connection: Connection, campaign: Campaign) -> tuple[RegionMention, ...]:
    """Per region of a prepared campaign: the mention of one ready text, the ready count and
    the recipients excluded for want of an unsubscribe page."""
    m = t.messages.c
    ready = connection.execute(
        select(m.region, func.min(m.id), func.count())
        .where(m.campaign_id == campaign.id, m.decision == "ready")
        .group_by(m.region)
    ).all()
    texts = dict(
        connection.execute(select(m.id, m.text).where(m.id.in_([row[1] for row in ready]))).all()
    )
    no_page: dict[str | None, int] = dict(
        connection.execute(
            select(m.region, func.count())
            .where(m.campaign_id == campaign.id, m.reason == "no_unsubscribe_page")
            .group_by(m.region)
        ).all()
    )
    out = {
        region or "": RegionMention(
            region or "",
            existing_mention(texts.get(first) or ""),
            count,
            no_page.pop(region, 0),
        )
        for region, first, count in ready
    }
    for region, count in no_page.items():
        out[region or ""] = RegionMention(region or "", None, 0, count)
    return tuple(out[k] for k in sorted(out))


def preview_campaign(
    connection: Connection,
    account: AccountRef,
    campaign_id: int,
    clock: Clock,
    *,
    rate: float | None = None,
    shortcode_substitution: bool = False,
    max_parts: int = DEFAULT_MAX_PARTS,
    public_url: str | None = None,
) -> CampaignPreview:
    """What campaign ``campaign_id`` sends, to whom, and when it will finish (module doc).

    ``shortcode_substitution``: the provider replaces ``STOP 00000`` by its own shortcode;
    ``max_parts``: the most parts one recipient's message may take (``too_long`` above);
    ``public_url``: the installation's address (the hosted unsubscribe page: before
    preparation its links show the placeholder token, counted at a token's length)."""
    campaign, acc = campaign_of(connection, campaign_id, account)
    speed = rate if rate is not None else DEFAULT_RATE
    if not (math.isfinite(speed) and speed > 0):
        raise InvalidInput("rate", rate, "must be a positive number of messages per second")
    prepared = connection.execute(
        select(t.messages.c.id).where(t.messages.c.campaign_id == campaign.id).limit(1)
    ).first()
    if prepared is not None:
        summary = summary_from_messages(connection, campaign)
        by_region = _ready_by_region(connection, campaign)
        sample = _stored_sample(connection, campaign, acc, public_url)
        mentions = _stored_mentions(connection, campaign)
    else:
        decider = Decider.for_campaign(
            connection, campaign, acc, keep_regions=True, max_parts=max_parts, public_url=public_url
        )
        for rows in recipient_chunks(connection, campaign, with_custom=bool(decider.custom)):
            decider.decide(rows)
        summary = decider.finish()
        by_region = decider.ready_by_region
        sample = None
        if decider.sample is not None:
            values, region = decider.sample
            phone = by_region[region][0]
            composed = decider.composer.compose(values, region)
            sample = SampleMessage(phone, region, composed, tuple(split_parts(composed.text)))
        regions = sorted(set(decider.sample_by_region) | set(decider.no_page_by_region))
        mentions = tuple(
            RegionMention(
                region,
                decider.composer.compose(decider.sample_by_region[region], region).stop_mention
                if region in decider.sample_by_region
                else None,
                len(by_region.get(region, ())),
                decider.no_page_by_region[region],
            )
            for region in regions
        )
    now = clock.now()
    start = max(now, campaign.scheduled_at) if campaign.scheduled_at else now
    t0 = start.timestamp()
    if campaign.type is MessageType.MARKETING:
        waiting = sum(len(v) for v in by_region.values())
        horizon = planning_horizon(waiting, speed)
        policy_name = campaign.window_policy or acc.window_policy
        cohorts = _cohorts(by_region, policy_name, t0, horizon)
        result = plan(t0, speed, cohorts)
    else:
        result = plan(t0, speed, [], informative=sum(len(v) for v in by_region.values()))
    refusal = sending_refusal(
        acc, campaign.sender, campaign.type, substitution=shortcode_substitution
    )
    return CampaignPreview(
        campaign,
        summary,
        sample,
        result,
        start,
        speed,
        prepared is not None,
        mentions=mentions,
        refusal=refusal,
        account_name=acc.name,
    )


# -- report -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """What happened to a campaign's recipients (rule 14)."""

    campaign: Campaign
    targeted: int
    ready: int  # still to send or sent: prepared ready, less those excluded at send time
    excluded: dict[str, int]  # by reason, at preparation and at send time together
    excluded_at_send: dict[str, int]  # the part of ``excluded`` decided at submit time
    sent: int
    delivered: int
    failed: int
    unknown: int  # in doubt: maybe received, never re-sent on its own, not counted as sent
    rejected: int
    waiting: int
    held: int
    cancelled: int
    stops: int
    credits_millicredits: int
    held_until: datetime | None
    held_groups: HeldGroups = ()
    closed: int = 0  # were unknown; closed for good by a person
    in_flight: int = 0  # submitting: on the wire right now

    @property
    def accounted(self) -> int:
        """Every recipient in exactly one count: equal to ``targeted`` (module doc)."""
        return (
            sum(self.excluded.values())
            + self.sent
            + self.unknown
            + self.closed
            + self.rejected
            + self.waiting
            + self.in_flight
            + self.cancelled
        )

    @property
    def stop_rate(self) -> float:
        """STOPs as a percentage of messages sent (0 when nothing was sent)."""
        return 100.0 * self.stops / self.sent if self.sent else 0.0


#: A campaign's sent, delivered and failed messages per hour (UTC epoch second of its start).
Hours = dict[str, dict[int, int]]


def hour_of(connection: Connection, column: Any) -> ColumnElement[Any]:
    """``column``'s hour (UTC) on either backend, read back by :func:`hour_start`: naive UTC
    text's first 13 characters on SQLite, ``date_trunc`` of the UTC time on PostgreSQL
    (cheaper per row than formatting it as text)."""
    if connection.dialect.name == "sqlite":
        return func.substr(column, 1, 13)
    return func.date_trunc("hour", func.timezone("UTC", column))


def hour_start(value: object) -> int:
    """The epoch second of an hour read by :func:`hour_of`."""
    if isinstance(value, datetime):
        return int(value.replace(tzinfo=UTC).timestamp())
    return int(datetime.strptime(str(value), "%Y-%m-%d %H").replace(tzinfo=UTC).timestamp())


def campaign_report(
    connection: Connection, account: AccountRef, campaign_id: int
) -> CampaignReport:
    """The report of campaign ``campaign_id`` (see the module doc)."""
    return campaign_figures(connection, account, campaign_id)[0]


def campaign_figures(
    connection: Connection, account: AccountRef, campaign_id: int, *, hourly: bool = False
) -> tuple[CampaignReport, Hours]:
    """The report of campaign ``campaign_id`` and, when ``hourly``, its messages sent,
    delivered and failed per hour (else empty), without reading its settled messages.

    Exactly what a grouped pass over all its messages gives (:func:`recount_figures`, which
    the tests compare it with), from three reads: the messages in a final status from
    ``campaign_finals`` (kept by triggers, migration 0015: a few rows per hour of sending),
    ``pending``, ``held`` and ``claimed`` counted on the ``(campaign_id, status)`` index alone
    (ready, not yet on the wire: no hour, no price that counts — the reset of ``submitted_at``
    on every way back to ``pending`` makes that so), and the few on the wire or in doubt
    (``submitting``, ``submitted``, ``unknown``) read and grouped. Reading all 100,000
    messages of a running campaign took 140–170 ms on SQLite and 70–160 ms on PostgreSQL at
    each visit of its page, the dashboard and the list (``python -m bench pages``,
    docs/web.md)."""
    campaign, _ = campaign_of(connection, campaign_id, account)
    return _figures(connection, campaign, _rows(connection, campaign.id, hourly), hourly)


def recount_figures(
    connection: Connection, account: AccountRef, campaign_id: int, *, hourly: bool = False
) -> tuple[CampaignReport, Hours]:
    """:func:`campaign_figures` from one grouped pass over all the campaign's messages (the
    reference its kept counts must equal; what the pages did before 0015)."""
    campaign, _ = campaign_of(connection, campaign_id, account)
    m = t.messages.c
    keys = _keys(connection, hourly)
    rows = connection.execute(
        select(
            *keys,
            func.count(),
            func.coalesce(func.sum(m.segments), 0),
            func.coalesce(func.sum(m.price_millicredits), 0),
        )
        .where(m.campaign_id == campaign.id)
        .group_by(*keys)
    ).all()
    return _figures(connection, campaign, [tuple(r) for r in rows], hourly)


#: Message statuses kept in ``campaign_finals`` are all the others (0015's ``OPEN``).
OPEN_STATUSES = ("pending", "held", "claimed", "submitting", "submitted", "unknown")
#: Open statuses counted on the index alone: ready, no hour, no price counted (not sent).
_COUNTED_ON_INDEX = ("pending", "held", "claimed")
#: PostgreSQL: a campaign's delta rows in ``campaign_finals`` beyond which a page folds them.
FOLD_ABOVE = 512


def _keys(connection: Connection, hourly: bool) -> list[Any]:
    m = t.messages.c
    times = (m.submitted_at, m.delivered_at, m.failed_at)
    hours = [hour_of(connection, column) for column in times] if hourly else []
    return [m.decision, m.reason, m.encoding, m.status, *hours]


def _hour_text(connection: Connection, column: Any) -> ColumnElement[Any]:
    """``column``'s hour (UTC) as ``campaign_finals`` keeps it: ``YYYY-MM-DD HH`` text."""
    if connection.dialect.name == "sqlite":
        return func.substr(column, 1, 13)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")


def _rows(connection: Connection, campaign_id: int, hourly: bool) -> list[tuple[Any, ...]]:
    """The grouped rows of :func:`recount_figures` (decision, reason, encoding, status, [the
    three hours,] count, parts, price), several rows per group allowed.

    One statement (``UNION ALL`` of the kept rows, the index count and the messages on the
    wire or in doubt): on PostgreSQL each statement of a read-committed transaction has its
    own snapshot, and a message settled between two reads would be counted twice or not at
    all."""
    f, m = t.campaign_finals.c, t.messages.c
    kept: list[Any] = [f.decision, f.reason, f.encoding, f.status]
    if hourly:
        kept += [f.sent_hour, f.delivered_hour, f.failed_hour]
    hours: list[Any] = []
    if hourly:
        hours = [_hour_text(connection, c) for c in (m.submitted_at, m.delivered_at, m.failed_at)]
    wire = [m.decision, m.reason, m.encoding, m.status, *hours]
    nothing = [null(), null(), null()] if hourly else []
    statement = union_all(
        select(
            *kept,
            func.sum(f.messages),
            func.sum(f.segments),
            func.sum(f.price_millicredits),
        )
        .where(f.campaign_id == campaign_id)
        .group_by(*kept),
        select(
            literal("ready", String()),
            null(),
            null(),
            m.status,
            *nothing,
            func.count(),
            literal(0, BigInteger()),
            literal(0, BigInteger()),
        )
        .where(m.campaign_id == campaign_id, m.status.in_(_COUNTED_ON_INDEX))
        .group_by(m.status),
        select(
            *wire,
            func.count(),
            func.coalesce(func.sum(m.segments), 0),
            func.coalesce(func.sum(m.price_millicredits), 0),
        )
        .where(
            m.campaign_id == campaign_id,
            m.status.in_([s for s in OPEN_STATUSES if s not in _COUNTED_ON_INDEX]),
        )
        .group_by(*wire),
    )
    out: list[tuple[Any, ...]] = []
    for row in connection.execute(statement):
        count, parts, price = int(row[-3]), int(row[-2]), int(row[-1])
        if count or parts or price:  # kept rows whose deltas summed to nothing
            out.append((*(value or None for value in row[:-3]), count, parts, price))
    return out


def finals_rows(connection: Connection, campaign_id: int) -> int:
    """How many rows ``campaign_finals`` holds for the campaign (one index seek)."""
    f = t.campaign_finals.c
    return int(
        connection.execute(select(func.count()).where(f.campaign_id == campaign_id)).scalar_one()
    )


def fold_finals(connection: Connection, campaign_id: int) -> None:
    """On PostgreSQL, replace a campaign's delta rows in ``campaign_finals`` by their sums,
    one row per key (nothing to do on SQLite, which keeps one row per key).

    One statement: the rows it deletes are exactly those it sums; deltas that concurrent
    writers commit meanwhile are not visible to it and stay as they are, so the sums stay
    exact without locking the writers out."""
    if connection.dialect.name != "postgresql":
        return
    connection.execute(
        text(
            """
            WITH gone AS (
                DELETE FROM campaign_finals WHERE campaign_id = :c RETURNING *
            )
            INSERT INTO campaign_finals (campaign_id, slot, decision, reason, encoding, status,
                sent_hour, delivered_hour, failed_hour, messages, segments, price_millicredits)
            SELECT campaign_id, (SELECT nextval('campaign_finals_slot')), decision, reason,
                encoding, status, sent_hour, delivered_hour, failed_hour, sum(messages),
                sum(segments), sum(price_millicredits)
            FROM gone
            GROUP BY campaign_id, decision, reason, encoding, status, sent_hour,
                delivered_hour, failed_hour
            HAVING sum(messages) <> 0 OR sum(segments) <> 0 OR sum(price_millicredits) <> 0
            """
        ),
        {"c": campaign_id},
    )


def _figures(
    connection: Connection, campaign: Campaign, rows: list[tuple[Any, ...]], hourly: bool
) -> tuple[CampaignReport, Hours]:
    m = t.messages.c
    summary = summary_of(
        campaign, ((r[0], r[1], r[2], int(r[-3]), int(r[-2]), int(r[-1])) for r in rows)
    )
    by_status: dict[str, tuple[int, int]] = {}
    # A recipient prepared ready can still be excluded at submit time (a STOP that arrived
    # meanwhile): counted with the exclusions, so targeted = ready + excluded always holds.
    at_send: dict[str, int] = {}
    series: Hours = {"sent": {}, "delivered": {}, "failed": {}} if hourly else {}
    for row in rows:
        decision, reason, status = row[0], row[1], row[3]
        count, price = int(row[-3]), int(row[-1])
        before = by_status.get(status, (0, 0))
        by_status[status] = (before[0] + count, before[1] + price)
        if decision == "ready" and status == "excluded":
            at_send[str(reason)] = at_send.get(str(reason), 0) + count
        for measure, hour in zip(series, row[4:7], strict=False):
            if hour is not None:
                start = hour_start(hour)
                series[measure][start] = series[measure].get(start, 0) + count

    def n(*statuses: str) -> int:
        return sum(by_status.get(s, (0, 0))[0] for s in statuses)

    o = t.optouts.c
    stops = connection.execute(
        select(func.count(func.distinct(o.phone_key))).where(
            o.account_id == campaign.account_id, o.campaign_id == campaign.id
        )
    ).scalar_one()
    excluded = dict(summary.excluded)
    for reason, count in at_send.items():
        excluded[reason] = excluded.get(reason, 0) + count
    held_until = None
    if n("held"):
        held_until = connection.execute(
            select(func.min(m.not_before)).where(m.campaign_id == campaign.id, m.status == "held")
        ).scalar_one()
    report = CampaignReport(
        campaign=campaign,
        targeted=summary.targeted,
        ready=summary.ready - sum(at_send.values()),
        excluded=excluded,
        excluded_at_send=at_send,
        sent=n(*_LEFT),
        delivered=n("delivered"),
        failed=n("failed"),
        unknown=n(MessageStatus.UNKNOWN.value),
        closed=n(MessageStatus.CLOSED.value),
        in_flight=n(MessageStatus.SUBMITTING.value),
        rejected=n("rejected"),
        # Waiting to leave: a message on the wire (submitting) is ``in_flight``, not here.
        waiting=n(*(s for s in WAITING_STATUSES if s != MessageStatus.SUBMITTING.value)),
        held=n("held"),
        cancelled=n("cancelled"),
        stops=int(stops),
        credits_millicredits=sum(by_status.get(s, (0, 0))[1] for s in _LEFT),
        held_until=held_until,
        held_groups=held_groups(connection, campaign.id) if n("held") else (),
    )
    return report, series


# -- export -----------------------------------------------------------------------------------


def safe_cell(value: object) -> object:
    """``value`` made inert for spreadsheets: text starting with ``= + - @`` (or a tab or CR)
    gets a leading ``'``, except a plain number such as an E.164 ``+33612345678``."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        body = value[1:]
        if value[0] in "+-" and body.isascii() and body.isdigit():
            return value
        return "'" + value
    return value


def export_rows(
    connection: Connection, account: AccountRef, campaign_id: int
) -> Iterator[tuple[Any, ...]]:
    """One row per recipient, :data:`EXPORT_COLUMNS` order, in list order (values raw)."""
    campaign, _ = campaign_of(connection, campaign_id, account)
    m, o = t.messages.c, t.optouts.c
    stopped = exists().where(
        and_(
            o.account_id == campaign.account_id,
            o.campaign_id == campaign.id,
            o.phone_e164 == m.phone_e164,
        )
    )
    query = (
        select(
            m.phone_e164,
            m.decision,
            m.reason,
            m.status,
            m.submitted_at,
            m.delivered_at,
            m.segments,
            m.error_code,
            stopped.label("stopped"),
        )
        .where(m.campaign_id == campaign.id, m.account_id == campaign.account_id)
        .order_by(m.contact_id, m.id)
    )
    for row in connection.execute(query, execution_options={"yield_per": 10_000}):
        status = "STOPPED" if row.stopped else row.status
        yield (
            row.phone_e164 or "",
            row.decision,
            row.reason or "",
            status,
            row.submitted_at.isoformat() if row.submitted_at else "",
            row.delivered_at.isoformat() if row.delivered_at else "",
            row.segments,
            row.error_code or "",
        )


def export_campaign(
    connection: Connection,
    account: AccountRef,
    campaign_id: int,
    output: Path | IO[str],
    *,
    format: str = "csv",
) -> int:
    """Write the per-recipient export to ``output`` (a path, or a text stream for CSV);
    returns the number of recipients written."""
    if format not in ("csv", "xlsx"):
        raise InvalidInput("format", format, "csv or xlsx")
    rows = export_rows(connection, account, campaign_id)
    count = 0
    if format == "xlsx":
        if not isinstance(output, Path):
            raise InvalidInput("output", "-", "an xlsx export needs an output file")
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(f"campaign {campaign_id}")
        sheet.append(list(EXPORT_COLUMNS))
        for row in rows:
            sheet.append([safe_cell(v) for v in row])
            count += 1
        workbook.save(output)
        return count
    stream = (
        output.open("w", newline="", encoding=CSV_FILE_ENCODING)
        if isinstance(output, Path)
        else output
    )
    try:
        writer = csv.writer(stream, delimiter=CSV_DELIMITER)
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            writer.writerow([safe_cell(v) for v in row])
            count += 1
    finally:
        if isinstance(output, Path):
            stream.close()
    return count
