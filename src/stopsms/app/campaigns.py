"""The campaign pages' use cases: the list, a campaign's progress and report with its chart,
pause / resume / cancel, the per-recipient export, the composer's recipients by decision and
the dashboard's 30-day chart.

Every figure is the services' own: the report is
:func:`~stopsms.services.campaigns.reports.campaign_report` (targeted = excluded + sent + …,
exactly), the export :func:`~stopsms.services.campaigns.reports.export_campaign` (STOPPED for
a number whose opt-out is attributed to the campaign), the actions the API's transitions.

Tallies (the pages' speed on big accounts). A settled campaign — completed or cancelled, no
message left that may still change (pending, held, claimed, submitting, submitted, unknown) —
never changes its counts again, so its report and its hourly series (sent, delivered, failed)
are computed once and kept in ``campaign_tallies`` (migration 0011); the STOPs, which keep
coming after the campaign, are always counted live (the opt-outs' campaign index). A tally
whose campaign's status differs from the one it was taken in is taken again. A running
campaign's report and hours are
:func:`~stopsms.services.campaigns.reports.campaign_figures`: its final messages' figures
kept by the database (``campaign_finals``, migration 0015), its open ones counted (the
waiting on the status index alone, those on the wire or in doubt read) — never its 100,000
rows: 140–200 ms a visit on SQLite before, 8 ms after (``python -m bench pages``, figures in
docs/web.md). On PostgreSQL the kept rows are deltas, one per statement, folded by the page
that finds more than :data:`~stopsms.services.campaigns.reports.FOLD_ABOVE` of them.

The composer's counts by decision (will receive, opted out, no consent, invalid, held outside
the hours) are one grouped read of the list (:func:`audience`), made when the list is chosen,
never on a keystroke: the keystroke preview only multiplies the kept counts by the text's
parts and the account's prices (:func:`audience_cost`).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, and_, delete, exists, func, insert, or_, select
from sqlalchemy.sql.elements import KeyedColumnElement

from stopsms.app.application import App
from stopsms.clock import Clock
from stopsms.domain.campaign import TRANSITIONS, CampaignStatus
from stopsms.domain.mention import AccountType
from stopsms.domain.phone import describe, territory_zones
from stopsms.domain.planning import Cohort, Plan, plan, planning_horizon
from stopsms.domain.windows import calendar_for, policy_for
from stopsms.errors import NotFound
from stopsms.services.access.keys import Principal
from stopsms.services.accounts.accounts import Account, AccountRef, get_account_by_id, price_table
from stopsms.services.campaigns import campaigns as svc
from stopsms.services.campaigns.campaigns import Campaign, custom_fields_of_list
from stopsms.services.campaigns.decisions import CONSENTED
from stopsms.services.campaigns.preparation import resume_sending
from stopsms.services.campaigns.reports import (
    FOLD_ABOVE,
    CampaignReport,
    campaign_figures,
    export_campaign,
    finals_rows,
    fold_finals,
    hour_of,
    hour_start,
)
from stopsms.services.optouts.optouts import account_suppressing_senders
from stopsms.store import tables as t

__all__ = [
    "ACTIONS",
    "PER_PAGE",
    "Audience",
    "CampaignLine",
    "CampaignView",
    "Series",
    "act",
    "actions_for",
    "audience",
    "audience_cost",
    "cached_audience",
    "campaign_lines",
    "campaign_view",
    "export_file",
    "owns",
    "recent_series",
    "review_queue_size",
]

#: Lines of the campaign list per page.
PER_PAGE: Final = 20
#: What a person may do to a campaign from its page.
ACTIONS: Final = ("pause", "resume", "cancel")
#: Messages in these may still change status: a campaign with one is not settled.
OPEN_STATUSES: Final = ("pending", "held", "claimed", "submitting", "submitted", "unknown")
SETTLED: Final = frozenset({CampaignStatus.COMPLETED, CampaignStatus.CANCELLED})
#: Campaign statuses whose page refreshes itself (something may move).
LIVE: Final = frozenset(
    {
        CampaignStatus.SCHEDULED,
        CampaignStatus.PREPARING,
        CampaignStatus.SENDING,
        CampaignStatus.HELD,
        CampaignStatus.PAUSED,
    }
)
HOUR: Final = 3600
#: How long after it finished a campaign's page still refreshes its STOP count.
STOPS_WATCHED: Final = timedelta(days=1)


# -- hourly series ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Series:
    """Counts per bucket: ``starts`` (epoch seconds, ascending) and one column per measure."""

    starts: tuple[int, ...]
    sent: tuple[int, ...]
    delivered: tuple[int, ...]
    stops: tuple[int, ...]

    def as_json(self) -> str:
        """The chart's data attribute: ``{"x": [...], "sent": [...], ...}``."""
        return json.dumps(
            {
                "x": list(self.starts),
                "sent": list(self.sent),
                "delivered": list(self.delivered),
                "stops": list(self.stops),
            },
            separators=(",", ":"),
        )

    @property
    def empty(self) -> bool:
        return not any(self.sent) and not any(self.delivered) and not any(self.stops)


def _hourly(
    connection: Connection, column: KeyedColumnElement[Any], *where: ColumnElement[bool]
) -> dict[int, int]:
    hour = hour_of(connection, column)
    rows = connection.execute(
        select(hour, func.count()).where(column.is_not(None), *where).group_by(hour)
    )
    return {hour_start(h): int(n) for h, n in rows}


def _message_hours(
    connection: Connection, *where: ColumnElement[bool]
) -> dict[str, dict[int, int]]:
    """Sent, delivered and failed per hour of the messages matching ``where``."""
    m = t.messages.c
    return {
        "sent": _hourly(connection, m.submitted_at, *where),
        "delivered": _hourly(connection, m.delivered_at, *where),
        "failed": _hourly(connection, m.failed_at, *where),
    }


def _series(
    buckets: Iterable[int], hours: Mapping[str, Mapping[int, int]], stops: Mapping[int, int]
) -> Series:
    starts = tuple(sorted(set(buckets)))
    return Series(
        starts,
        tuple(hours.get("sent", {}).get(s, 0) for s in starts),
        tuple(hours.get("delivered", {}).get(s, 0) for s in starts),
        tuple(stops.get(s, 0) for s in starts),
    )


# -- tallies ------------------------------------------------------------------------------------

_REPORT_COUNTS = (
    "targeted",
    "ready",
    "sent",
    "delivered",
    "failed",
    "unknown",
    "rejected",
    "waiting",
    "held",
    "cancelled",
    "credits_millicredits",
    "closed",
    "in_flight",
)


def _settled(connection: Connection, campaign: Campaign) -> bool:
    if campaign.status not in SETTLED:
        return False
    m = t.messages.c
    still = connection.execute(
        select(m.id).where(m.campaign_id == campaign.id, m.status.in_(OPEN_STATUSES)).limit(1)
    ).first()
    return still is None


def _stops(connection: Connection, campaign: Campaign) -> int:
    o = t.optouts.c
    return int(
        connection.execute(
            select(func.count(func.distinct(o.phone_key))).where(
                o.account_id == campaign.account_id, o.campaign_id == campaign.id
            )
        ).scalar_one()
    )


def _stop_hours(connection: Connection, campaign_id: int) -> dict[int, int]:
    o = t.optouts.c
    return _hourly(connection, o.recorded_at, o.campaign_id == campaign_id)


def _from_tally(campaign: Campaign, counts: Mapping[str, Any], stops: int) -> CampaignReport:
    n = {name: int(counts[name]) for name in _REPORT_COUNTS}
    return CampaignReport(
        campaign=campaign,
        targeted=n["targeted"],
        ready=n["ready"],
        excluded=dict(counts["excluded"]),
        excluded_at_send=dict(counts["excluded_at_send"]),
        sent=n["sent"],
        delivered=n["delivered"],
        failed=n["failed"],
        unknown=n["unknown"],
        rejected=n["rejected"],
        waiting=n["waiting"],
        held=n["held"],
        cancelled=n["cancelled"],
        stops=stops,
        credits_millicredits=n["credits_millicredits"],
        held_until=None,
        closed=n["closed"],
        in_flight=n["in_flight"],
    )


def _keep(
    app: App, campaign: Campaign, report: CampaignReport, hourly: dict[str, dict[int, int]]
) -> None:
    values = asdict(report)
    counts = {name: values[name] for name in _REPORT_COUNTS}
    counts["excluded"] = report.excluded
    counts["excluded_at_send"] = report.excluded_at_send
    stored = {measure: {str(k): v for k, v in hours.items()} for measure, hours in hourly.items()}
    tallies = t.campaign_tallies
    with app.transaction() as connection:
        connection.execute(delete(tallies).where(tallies.c.campaign_id == campaign.id))
        connection.execute(
            insert(tallies).values(
                campaign_id=campaign.id,
                account_id=campaign.account_id,
                status=campaign.status.value,
                report=counts,
                hourly=stored,
                computed_at=datetime.now(UTC),
            )
        )


Counted = tuple[CampaignReport, dict[str, dict[int, int]]]


def _fold(app: App, connection: Connection, campaign_id: int) -> None:
    """On PostgreSQL, fold the campaign's delta rows of ``campaign_finals`` (one per statement
    that settled messages: receipts, results…) once there are more than
    :data:`~stopsms.services.campaigns.reports.FOLD_ABOVE`, in a transaction of its own, so
    the next visit sums a few rows per hour instead of thousands."""
    if connection.dialect.name != "postgresql":
        return
    if finals_rows(connection, campaign_id) > FOLD_ABOVE:
        with app.transaction() as writing:
            fold_finals(writing, campaign_id)


#: PostgreSQL settings of a transaction that counts a campaign on its messages.
COUNTING: Final = (("jit", "off"), ("work_mem", "32MB"))


def _counting(connection: Connection) -> None:
    """On PostgreSQL, the rest of this (reading) transaction neither JIT-compiles its
    statements nor sorts on disk: the grouped pass over a running campaign's 100,000
    messages cost about 24 ms of JIT compilation and spilled a 6 MB sort to disk with the
    defaults (``EXPLAIN ANALYZE``; the planner expects ~95,000 groups where there are a few),
    a page's whole budget being 100 ms. ``SET LOCAL``: the pooled connection is left as
    found at the transaction's end."""
    if connection.dialect.name == "postgresql":
        for name, value in COUNTING:
            connection.exec_driver_sql(f"SET LOCAL {name} = '{value}'")


def _reports(
    app: App,
    connection: Connection,
    account: AccountRef,
    campaigns: Iterable[Campaign],
    *,
    stops: bool = True,
    memo: dict[int, Counted] | None = None,
) -> dict[int, Counted]:
    """The report and the hourly series of each prepared campaign of ``campaigns``: the
    settled ones' from their tallies (one read for all, and one grouped read of their STOPs
    when ``stops``), the others counted on their messages (and kept when settled). ``memo``:
    what this request already counted (read first, filled)."""
    memo = {} if memo is None else memo
    wanted = {c.id: c for c in campaigns if c.id not in memo}
    if not wanted:
        return {c.id: memo[c.id] for c in campaigns}
    tallies, o = t.campaign_tallies.c, t.optouts.c
    rows = connection.execute(
        select(tallies.campaign_id, tallies.status, tallies.report, tallies.hourly).where(
            tallies.campaign_id.in_(list(wanted))
        )
    ).all()
    kept = {
        row.campaign_id: row for row in rows if row.status == wanted[row.campaign_id].status.value
    }
    attributed: dict[int, int] = {}
    if kept and stops:
        attributed = {
            int(campaign_id): int(n)
            for campaign_id, n in connection.execute(
                select(o.campaign_id, func.count(func.distinct(o.phone_key)))
                .where(o.campaign_id.in_(list(kept)))
                .group_by(o.campaign_id)
            )
        }
    out: dict[int, Counted] = {}
    for campaign_id, campaign in wanted.items():
        row = kept.get(campaign_id)
        if row is not None:
            hourly = {
                measure: {int(k): int(v) for k, v in values.items()}
                for measure, values in dict(row.hourly).items()
            }
            report = _from_tally(campaign, dict(row.report), attributed.get(campaign_id, 0))
            out[campaign_id] = (report, hourly)
            continue
        _counting(connection)
        report, hours = campaign_figures(connection, account, campaign.id, hourly=True)
        if _settled(connection, campaign):
            _keep(app, campaign, report, hours)
        _fold(app, connection, campaign.id)
        out[campaign_id] = (report, hours)
    for campaign_id, counted in out.items():
        if stops or campaign_id not in kept:  # tallies read without STOPs are not memoised
            memo[campaign_id] = counted
    return {c.id: memo.get(c.id) or out[c.id] for c in campaigns}


# -- the list -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignLine:
    """One line of the campaign list: the campaign and what it did so far."""

    campaign: Campaign
    targeted: int
    sent: int
    delivered: int
    stops: int
    credits_millicredits: int

    @property
    def delivered_percent(self) -> float | None:
        """Delivered per hundred sent (None before any is sent)."""
        return 100 * self.delivered / self.sent if self.sent else None

    @property
    def stop_percent(self) -> float | None:
        """STOPs per hundred sent (None before any is sent)."""
        return 100 * self.stops / self.sent if self.sent else None


def _lines(
    app: App,
    connection: Connection,
    account: Account,
    campaigns: list[Campaign],
    memo: dict[int, Counted] | None = None,
) -> tuple[CampaignLine, ...]:
    c, m = t.campaigns.c, t.messages.c
    ids = [campaign.id for campaign in campaigns]
    # One seek per campaign (grouping the messages by campaign read all of them: 2,000,000
    # index entries for a page of 20 campaigns of 100,000).
    prepared = (
        set(
            connection.execute(
                select(c.id).where(
                    c.id.in_(ids), exists().where(m.campaign_id == c.id).correlate(t.campaigns)
                )
            ).scalars()
        )
        if ids
        else set()
    )
    counted = _reports(
        app, connection, account, [c for c in campaigns if c.id in prepared], memo=memo
    )
    out = []
    for campaign in campaigns:
        if campaign.id not in counted:
            out.append(CampaignLine(campaign, 0, 0, 0, 0, 0))
            continue
        report = counted[campaign.id][0]
        out.append(
            CampaignLine(
                campaign,
                report.targeted,
                report.sent,
                report.delivered,
                report.stops,
                report.credits_millicredits,
            )
        )
    return tuple(out)


def campaign_lines(
    app: App,
    who: Principal,
    page: int = 1,
    per_page: int = PER_PAGE,
    *,
    memo: dict[int, Counted] | None = None,
) -> tuple[tuple[CampaignLine, ...], int]:
    """The account's campaigns, newest first, ``per_page`` from page ``page`` (1 is the
    first), each with its counts; and how many campaigns the account has."""
    page = max(1, page)
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        total = int(
            connection.execute(
                select(func.count()).where(t.campaigns.c.account_id == account.id)
            ).scalar_one()
        )
        campaigns = svc.find_campaigns(
            connection, account, limit=per_page, offset=(page - 1) * per_page
        )
        lines = _lines(app, connection, account, campaigns, memo)
    return lines, total


# -- one campaign ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignView:
    """A campaign's page: its report once prepared (None before), its series over time, the
    actions its status allows, and whether the page should refresh itself."""

    campaign: Campaign
    report: CampaignReport | None
    series: Series
    actions: tuple[str, ...]
    #: Seconds between two refreshes of the progress (None: nothing moves any more).
    refresh: int | None = None

    @property
    def live(self) -> bool:
        return self.refresh is not None

    @property
    def stop_percent(self) -> float | None:
        if self.report is None or not self.report.sent:
            return None
        return self.report.stop_rate

    @property
    def delivered_percent(self) -> float | None:
        if self.report is None or not self.report.sent:
            return None
        return 100 * self.report.delivered / self.report.sent


def owns(app: App, who: Principal, campaign_id: int) -> bool:
    """Whether campaign ``campaign_id`` exists in ``who``'s account (one indexed read)."""
    c = t.campaigns.c
    with app.reader() as connection:
        found = connection.execute(
            select(c.id).where(c.id == campaign_id, c.account_id == who.account_id)
        ).first()
    return found is not None


def actions_for(status: CampaignStatus) -> tuple[str, ...]:
    """What a person may do to a campaign in ``status`` (the transitions the domain allows)."""
    allowed = TRANSITIONS.get(status, frozenset())
    out: list[str] = []
    if CampaignStatus.PAUSED in allowed:
        out.append("pause")
    if status is CampaignStatus.PAUSED:
        out.append("resume")
    if CampaignStatus.CANCELLED in allowed:
        out.append("cancel")
    return tuple(out)


def refresh_of(campaign: Campaign, now: datetime) -> int | None:
    """How often a campaign's page refreshes its progress: every 2 s while something may move
    (scheduled, preparing, sending, held, paused), every 10 s for a day after it finished
    (the STOPs keep coming), then never."""
    if campaign.status in LIVE:
        return 2
    finished = campaign.completed_at
    recent = finished is not None and now - finished < STOPS_WATCHED
    return 10 if campaign.status is CampaignStatus.COMPLETED and recent else None


def campaign_view(
    app: App, who: Principal, campaign_id: int, now: datetime | None = None
) -> CampaignView | None:
    """The campaign's page when it is ``who``'s account's, else None (another account's is
    not found, the same as one that does not exist); ``now`` decides its refresh."""
    with app.reader() as connection:
        try:
            campaign = svc.get_campaign(connection, who.account, campaign_id)
        except NotFound:
            return None
        m = t.messages.c
        prepared = connection.execute(
            select(m.id).where(m.campaign_id == campaign.id).limit(1)
        ).first()
        report: CampaignReport | None = None
        hourly: dict[str, dict[int, int]] = {}
        if prepared is not None:
            report, hourly = _reports(app, connection, who.account, [campaign])[campaign.id]
        stops = _stop_hours(connection, campaign.id)
    buckets = {s for hours in hourly.values() for s in hours} | set(stops)
    return CampaignView(
        campaign,
        report,
        _series(buckets, hourly, stops),
        actions_for(campaign.status),
        refresh_of(campaign, now or datetime.now(UTC)),
    )


def act(app: App, who: Principal, campaign_id: int, action: str, clock: Clock) -> Campaign:
    """Pause, resume or cancel ``who``'s account's campaign (:class:`NotFound` for another
    account's; the transition's own refusal when its status does not allow it)."""
    with app.transaction() as connection:
        if action == "pause":
            return svc.pause_campaign(connection, who.account, campaign_id, clock)
        if action == "resume":
            done, _ = resume_sending(
                connection,
                who.account,
                campaign_id,
                clock,
                shortcode_substitution=app.shortcode_substitution,
                max_parts=app.max_parts,
                public_url=app.settings.public_url,
            )
            return done
        if action == "cancel":
            return svc.cancel_campaign(connection, who.account, campaign_id, clock)[0]
    raise NotFound("action", action)


def export_file(app: App, who: Principal, campaign_id: int, format: str) -> Path:
    """The per-recipient export of ``who``'s account's campaign written to a temporary file
    (the caller removes it); :class:`NotFound` for another account's."""
    suffix = ".xlsx" if format == "xlsx" else ".csv"
    descriptor, name = tempfile.mkstemp(prefix="stopsms-export-", suffix=suffix)
    os.close(descriptor)
    path = Path(name)
    try:
        with app.reader() as connection:
            export_campaign(connection, who.account, campaign_id, path, format=format)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


# -- the dashboard ------------------------------------------------------------------------------


def review_queue_size(connection: Connection, account_id: int) -> int:
    """Uncertain STOPs nobody reviewed yet (the review queue of the blacklist)."""
    o = t.optouts.c
    return int(
        connection.execute(
            select(func.count()).where(
                o.account_id == account_id,
                o.uncertain.is_(True),
                o.reviewed_at.is_(None),
                o.revoked_at.is_(None),
            )
        ).scalar_one()
    )


def _days(now: datetime, days: int, zone: ZoneInfo) -> list[datetime]:
    """The starts of the last ``days`` days in ``zone``, today's last (midnight to midnight
    on the zone's clock: a DST change gives a day of 23 or 25 hours, not a shifted cut)."""
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    return [(today - timedelta(days=days - 1 - k)) for k in range(days)]


def recent_series(
    app: App,
    who: Principal,
    clock: Clock,
    *,
    days: int = 30,
    memo: dict[int, Counted] | None = None,
) -> Series:
    """Sent, delivered and STOPs per day (the account's days, cut at midnight in its time
    zone) over the last ``days`` days, today included: settled campaigns from their tallies,
    the others and the messages sent apart from campaigns counted on their messages, the
    STOPs on the opt-outs' date index."""
    starts = _days(clock.now(), days, ZoneInfo(who.time_zone))
    since = starts[0].astimezone(UTC)
    c, m, o = t.campaigns.c, t.messages.c, t.optouts.c
    hourly: dict[str, dict[int, int]] = {"sent": {}, "delivered": {}, "failed": {}}

    def add(hours: Mapping[str, Mapping[int, int]]) -> None:
        for measure, values in hours.items():
            into = hourly.setdefault(measure, {})
            for start, n in values.items():
                into[start] = into.get(start, 0) + n

    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        active = svc.find_campaigns(
            connection,
            account,
            c.status.not_in(("draft", "scheduled")),
            or_(c.completed_at.is_(None), c.completed_at >= since),
        )
        counted = _reports(app, connection, account, active, stops=False, memo=memo)
        for _, hours in counted.values():
            add(hours)
        add(
            _message_hours(
                connection,
                m.account_id == account.id,
                m.campaign_id.is_(None),
                m.created_at >= since - timedelta(days=2),
            )
        )
        stops = _hourly(
            connection, o.recorded_at, o.account_id == account.id, o.recorded_at >= since
        )
    edges = [int(s.timestamp()) for s in starts] + [
        int((starts[-1] + timedelta(days=1)).timestamp())
    ]

    def per_day(values: Mapping[int, int]) -> tuple[int, ...]:
        out = [0] * days
        for start, n in values.items():
            for k in range(days):
                if edges[k] <= start < edges[k + 1]:
                    out[k] += n
                    break
        return tuple(out)

    return Series(
        tuple(edges[:-1]), per_day(hourly["sent"]), per_day(hourly["delivered"]), per_day(stops)
    )


# -- the composer's recipients by decision --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audience:
    """A list's recipients by decision for the composer, with the sending plan.

    ``ready_by_region``: who will receive, per region (the cost multiplies it by the text's
    parts and the region's price); ``plan``: when they leave (held outside the hours, the
    expected finish) at the provider's rate from ``start``."""

    list_name: str
    targeted: int
    ready_by_region: dict[str, int]
    excluded: dict[str, int]
    plan: Plan
    fields: tuple[str, ...]
    prices: dict[str, int] = field(default_factory=dict)

    @property
    def ready(self) -> int:
        return sum(self.ready_by_region.values())


_AUDIENCES: dict[tuple[int, str, str | None], Audience] = {}
_AUDIENCE_LOCK = threading.Lock()
_AUDIENCES_KEPT = 256


def _cohorts(
    connection: Connection,
    list_id: int,
    ready: ColumnElement[bool],
    by_region: dict[str, int],
    policy_name: str | None,
    start: float,
    horizon: float,
) -> list[Cohort]:
    """One cohort per calendar: a region of one zone is one; a region of several (the US…)
    is split by 7-digit prefix, one number read per prefix (zones go by area)."""
    c, lm = t.contacts.c, t.list_members.c
    territory = territory_zones()
    cohorts: list[Cohort] = []
    for region, count in sorted(by_region.items()):
        own = territory.get(region, ())
        groups: dict[tuple[str, ...], int] = {}
        if len(own) == 1:
            groups[own] = count
        else:
            prefix = func.substr(c.phone_e164, 1, 8)
            for phone, n in connection.execute(
                select(func.min(c.phone_e164), func.count())
                .select_from(t.list_members.join(t.contacts, c.id == lm.contact_id))
                .where(lm.list_id == list_id, c.region == region, ready)
                .group_by(prefix)
            ):
                zones = describe(phone).time_zones
                groups[zones] = groups.get(zones, 0) + int(n)
        policy = policy_for(region, policy_name)
        for zones, n in groups.items():
            calendar = calendar_for(region, zones, policy)
            key = f"{region} {'+'.join(zones)} ({policy.name})"
            cohorts.append(Cohort(key, n, calendar.open_intervals_epoch(start, start + horizon)))
    return cohorts


def audience(
    app: App, who: Principal, list_name: str, sender: str | None, clock: Clock
) -> Audience | None:
    """The recipients of ``list_name`` by decision for a campaign from ``sender`` now (None:
    no such list in ``who``'s account), kept for :func:`cached_audience`.

    One grouped read of the list's members (region × consent × erased × opted out) — the
    preparation's own first reasons, in its order: erased, invalid number, opted out (the
    account's scope with this sender), no consent (marketing only). What depends on the text
    (too long, links, the unsubscribe page) is decided at preparation and shown on the
    campaign's page. 1,000,000 members: see ``python -m bench composer``."""
    c, lm, o, lists = t.contacts.c, t.list_members.c, t.optouts.c, t.lists.c
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        list_id = connection.execute(
            select(lists.id).where(lists.account_id == account.id, lists.name == list_name)
        ).scalar_one_or_none()
        if list_id is None:
            return None
        marketing = AccountType(account.type) is not AccountType.NOTIFICATION
        senders = account_suppressing_senders(connection, account.id, sender)
        opted_out = exists().where(
            o.account_id == account.id,
            o.phone_e164 == c.phone_e164,
            o.revoked_at.is_(None),
            *(() if senders is None else (o.sender.in_(senders),)),
        )
        erased = or_(c.erased_at.is_not(None), c.phone_e164.is_(None))
        invalid = c.region.is_(None)
        consented = c.consent.in_(sorted(CONSENTED))
        rows = connection.execute(
            select(
                c.region,
                erased.label("erased"),
                opted_out.label("out"),
                consented.label("consented"),
                func.count(),
            )
            .select_from(t.list_members.join(t.contacts, c.id == lm.contact_id))
            .where(lm.list_id == list_id, c.account_id == account.id)
            .group_by(c.region, erased, opted_out, consented)
        ).all()
        excluded: dict[str, int] = {}
        by_region: dict[str, int] = {}
        targeted = 0
        for region, is_erased, is_out, is_consented, n in rows:
            targeted += int(n)
            reason = None
            if is_erased:
                reason = "erased"
            elif region is None:
                reason = "invalid_number"
            elif is_out:
                reason = "opted_out"
            elif marketing and not is_consented:
                reason = "no_consent"
            if reason is None:
                by_region[region] = by_region.get(region, 0) + int(n)
            else:
                excluded[reason] = excluded.get(reason, 0) + int(n)
        start = clock.now().timestamp()
        ready = and_(~erased, ~invalid, ~opted_out, consented)
        if marketing:
            horizon = planning_horizon(sum(by_region.values()), app.rate)
            cohorts = _cohorts(
                connection, list_id, ready, by_region, account.window_policy, start, horizon
            )
            result = plan(start, app.rate, cohorts)
        else:
            result = plan(start, app.rate, [], informative=sum(by_region.values()))
        fields = tuple(sorted(custom_fields_of_list(connection, list_id)))
        prices = price_table(connection, account)
        per_region = {region: prices.per_part(region) for region in by_region}
    order = ["erased", "invalid_number", "opted_out", "no_consent"]
    found = Audience(
        list_name,
        targeted,
        by_region,
        {k: excluded[k] for k in order if k in excluded},
        result,
        fields,
        per_region,
    )
    with _AUDIENCE_LOCK:
        if len(_AUDIENCES) >= _AUDIENCES_KEPT:
            _AUDIENCES.pop(next(iter(_AUDIENCES)))
        _AUDIENCES[(who.account_id, list_name, sender)] = found
    return found


def cached_audience(who: Principal, list_name: str, sender: str | None) -> Audience | None:
    """The :func:`audience` last counted for this account, list and sender in this process
    (None: not counted yet). No database read: the keystroke preview calls it."""
    with _AUDIENCE_LOCK:
        return _AUDIENCES.get((who.account_id, list_name, sender))


def audience_cost(found: Audience, parts: int) -> int:
    """The credits (millicredits) of sending a ``parts``-part text to ``found``'s recipients."""
    return sum(
        n * parts * found.prices.get(region, 0) for region, n in found.ready_by_region.items()
    )
