"""Campaigns: creation with every check that can be made up front, and the lifecycle commands.

A campaign is a text sent by one sender to one list. :func:`create_campaign` refuses, with one
clear error each, what can never be sent: an unknown list, a sender not on the account's list
(rule 9 — for an unvalidated account the sender is replaced by its default shortcode and the
result says so), a link to a domain the account has not verified (rule 10), a template field
that no contact of the list has, a schedule in the past or not ISO-8601, and settings under
which its STOP mention would not work (:mod:`stopsms.services.campaigns.stop_mention`: the
placeholder shortcode ``00000``, a mention format that is not a STOP mention).

Lifecycle moves are written by :func:`stopsms.services.campaigns.status.change_status` (the
rule of :func:`stopsms.domain.campaign.move`, a compare-and-set on the current status), so a
pause never overwrites a concurrent move by the dispatcher (``sending ⇄ held``): the command
re-reads and retries once. Cancelling also marks the messages still waiting
(``pending``/``held``) ``cancelled``; messages a dispatcher has already claimed are its to
settle (it reads the campaign status before each batch).

Every function takes a :class:`~sqlalchemy.Connection` inside the caller's transaction and an
account reference; a campaign of another account is "not found" (accounts are isolated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, select, update

from stopsms.clock import Clock
from stopsms.domain.campaign import LEFT, CampaignStatus, move
from stopsms.domain.errors import InvalidSender
from stopsms.domain.mention import MessageType
from stopsms.domain.template import STANDARD_FIELDS, Template
from stopsms.domain.urls import unverified_domains
from stopsms.domain.windows import get_policy
from stopsms.errors import Fix, InvalidInput, NotFound, ServiceError
from stopsms.services.accounts.accounts import (
    Account,
    AccountRef,
    resolve_account,
    resolve_sender,
)
from stopsms.services.accounts.accounts import list_domains as account_domains
from stopsms.services.accounts.names import check_sms_text, display_name
from stopsms.services.campaigns.status import change_status
from stopsms.services.campaigns.stop_mention import check_sending
from stopsms.store import tables as t

__all__ = [
    "SCHEDULE_ZONE",
    "Campaign",
    "CampaignListing",
    "CampaignNotDraft",
    "CreatedCampaign",
    "UnverifiedLink",
    "cancel_campaign",
    "create_campaign",
    "custom_fields_of_list",
    "get_campaign",
    "list_campaigns",
    "parse_schedule",
    "pause_campaign",
    "resume_campaign",
    "schedule_campaign",
    "unschedule_campaign",
    "update_campaign",
]

#: The longest campaign name (its column's width).
CAMPAIGN_NAME_LIMIT = 200

#: The zone of an ``at`` written without an offset when no account's is given: the platform's
#: legal home (rule 7's French sending hours). An account's campaigns read it in the account's
#: own zone (``Account.time_zone``, Paris by default); an explicit offset or ``Z`` is always
#: honoured.
SCHEDULE_ZONE = ZoneInfo("Europe/Paris")
#: How far ahead a campaign may be scheduled: a year. Consent and lists age, and a typo in the
#: year (2062 for 2026) would otherwise wait in silence; 9999-12-31 would overflow UTC.
SCHEDULE_HORIZON = timedelta(days=366)


class UnverifiedLink(ServiceError):
    """The text links to domains the account has not verified (rule 10, anti-smishing)."""

    def __init__(self, domains: list[str]) -> None:
        listed = ", ".join(domains)
        super().__init__(
            f"the text links to unverified domain(s) {listed}: refused (anti-smishing: a message"
            " may link only to the account's own domains); add them to the account's domains"
            " first",
            fix=Fix("add_domain", (("domain", domains[0]),)),
        )
        self.domains = domains


@dataclass(frozen=True, slots=True)
class Campaign:
    """One campaign as stored."""

    id: int
    account_id: int
    name: str
    list_id: int | None
    list_name: str | None
    sender: str
    type: MessageType
    body: str
    status: CampaignStatus
    scheduled_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    window_policy: str | None
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def smart_encoding(self) -> bool:
        return bool(self.settings.get("smart_encoding", False))


@dataclass(frozen=True, slots=True)
class CreatedCampaign:
    """A new campaign and what the platform changed or wants the author to know."""

    campaign: Campaign
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CampaignListing:
    """One line of :func:`list_campaigns`: the campaign and its message counts."""

    campaign: Campaign
    recipients: int
    ready: int
    sent: int


def _campaign_query() -> Any:
    return select(t.campaigns, t.lists.c.name.label("list_name")).outerjoin(
        t.lists, t.lists.c.id == t.campaigns.c.list_id
    )


def _campaign(row: Any) -> Campaign:
    return Campaign(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        list_id=row.list_id,
        list_name=row.list_name,
        sender=row.sender or "",
        type=MessageType(row.type),
        body=row.body,
        status=CampaignStatus(row.status),
        scheduled_at=row.scheduled_at,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        window_policy=row.window_policy,
        settings=dict(row.settings or {}),
    )


def get_campaign(connection: Connection, account: AccountRef, campaign_id: int) -> Campaign:
    """The campaign ``campaign_id`` of ``account``; :class:`NotFound` otherwise."""
    acc = resolve_account(connection, account)
    row = connection.execute(
        _campaign_query().where(t.campaigns.c.id == campaign_id, t.campaigns.c.account_id == acc.id)
    ).one_or_none()
    if row is None:
        raise NotFound("campaign", campaign_id)
    return _campaign(row)


def find_campaigns(
    connection: Connection,
    account: AccountRef,
    *where: Any,
    limit: int | None = None,
    offset: int = 0,
) -> list[Campaign]:
    """The account's campaigns matching ``where`` (conditions on ``campaigns``), newest first,
    ``limit`` of them from ``offset``; no message is read."""
    acc = resolve_account(connection, account)
    query = _campaign_query().where(t.campaigns.c.account_id == acc.id, *where)
    query = query.order_by(t.campaigns.c.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [_campaign(r) for r in connection.execute(query)]


def list_campaigns(
    connection: Connection, account: AccountRef, *, status: CampaignStatus | None = None
) -> list[CampaignListing]:
    """The account's campaigns, newest first, with recipients, ready and sent counts."""
    acc = resolve_account(connection, account)
    query = _campaign_query().where(t.campaigns.c.account_id == acc.id)
    if status is not None:
        query = query.where(t.campaigns.c.status == status.value)
    campaigns = [_campaign(r) for r in connection.execute(query.order_by(t.campaigns.c.id.desc()))]
    m = t.messages
    counts: dict[int, dict[tuple[str, str], int]] = {}
    if campaigns:
        rows = connection.execute(
            select(m.c.campaign_id, m.c.decision, m.c.status, func.count())
            .where(m.c.account_id == acc.id, m.c.campaign_id.in_([c.id for c in campaigns]))
            .group_by(m.c.campaign_id, m.c.decision, m.c.status)
        )
        for campaign_id, decision, status_value, count in rows:
            counts.setdefault(campaign_id, {})[(decision, status_value)] = count
    left = {status.value for status in LEFT}  # unknown ones are in doubt, not sent
    out = []
    for c in campaigns:
        by = counts.get(c.id, {})
        out.append(
            CampaignListing(
                campaign=c,
                recipients=sum(by.values()),
                ready=sum(n for (d, _), n in by.items() if d == "ready"),
                sent=sum(n for (_, s), n in by.items() if s in left),
            )
        )
    return out


# -- creation ----------------------------------------------------------------------------------


def parse_schedule(value: str | datetime, clock: Clock, zone: ZoneInfo = SCHEDULE_ZONE) -> datetime:
    """An ISO-8601 instant in the future, within :data:`SCHEDULE_HORIZON`; an offset-less one
    is wall-clock time in ``zone`` (the account's: the same ``2026-12-08T09:00`` is 08:00 UTC
    for a Paris account and 13:00 UTC for a Martinique one). A wall-clock time the zone skips
    (a spring-forward gap) or repeats is read with ``fold=0``, the earlier offset."""
    if isinstance(value, datetime):
        at = value
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(
                "at", value, "expected ISO-8601, e.g. 2026-11-27T09:00:00+01:00"
            ) from None
    if at.tzinfo is None or at.utcoffset() is None:
        at = at.replace(tzinfo=zone)
    shown = value if isinstance(value, str) else at.isoformat()
    now = clock.now()
    if at <= now:
        raise InvalidInput("at", shown, "is in the past")
    if at.date() > (now + SCHEDULE_HORIZON).date():  # compared as dates: no UTC overflow
        raise InvalidInput(
            "at", shown, f"is more than {SCHEDULE_HORIZON.days} days ahead; check the year"
        )
    return at


def _list_id(connection: Connection, account: Account, list_name: str) -> int:
    list_id = connection.execute(
        select(t.lists.c.id).where(t.lists.c.account_id == account.id, t.lists.c.name == list_name)
    ).scalar_one_or_none()
    if list_id is None:
        raise NotFound("list", list_name)
    return int(list_id)


def custom_fields_of_list(connection: Connection, list_id: int) -> set[str]:
    """The custom field names that at least one contact of the list has."""
    names: set[str] = set()
    rows = connection.execute(
        select(t.contacts.c.custom)
        .join(t.list_members, t.list_members.c.contact_id == t.contacts.c.id)
        .where(t.list_members.c.list_id == list_id, t.contacts.c.custom.is_not(None))
    ).scalars()
    for custom in rows:
        if isinstance(custom, dict):
            names.update(custom)
    return names


def _parse_template(connection: Connection, list_id: int, text: str) -> Template:
    """Parse with the standard fields; look at the list's custom fields only if needed."""
    template = Template.parse(text, None)
    if set(template.slots) <= set(STANDARD_FIELDS):
        return template
    return Template.parse(text, custom_fields_of_list(connection, list_id))


def check_links(
    connection: Connection, account: Account, text: str, *, field: str = "text"
) -> None:
    """Refuse ``text`` when it links to a domain the account has not verified (rule 10)."""
    bad = unverified_domains(text, account_domains(connection, account))
    if bad:
        raise UnverifiedLink(bad)


def _checked_content(
    connection: Connection,
    acc: Account,
    list_id: int,
    text: str,
    sender: str | None,
    message_type: MessageType,
    substitution: bool,
) -> tuple[str, list[str]]:
    """The checks of a campaign's text and sender against its list and account (creation and
    an update while draft make the same ones); the sender it will use and the notes."""
    if not text.strip():
        raise InvalidInput("text", text, "the message is empty")
    check_sms_text("text", text)
    template = _parse_template(connection, list_id, text)
    # Links are checked in the text as written; a field inside a link is checked again per
    # recipient at preparation (reason url_not_allowed).
    check_links(connection, acc, template.static_text)
    notes: list[str] = []
    try:
        effective = resolve_sender(connection, acc, sender)
    except InvalidSender as error:
        fix = Fix("add_sender", (("sender", error.value),)) if error.unlisted else None
        raise InvalidInput("sender", sender, error.reason, fix=fix) from None
    if sender is not None and sender.strip() and effective != sender.strip():
        notes.append(
            f"account {acc.name!r} is not validated: sender {sender.strip()!r} replaced by its "
            f"default shortcode {effective} (an unvalidated account's messages leave from its"
            " shortcode)"
        )
    check_sending(acc, effective, message_type, substitution=substitution)
    return effective, notes


class CampaignNotDraft(ServiceError):
    """Only a draft campaign's content can change (a scheduled one: unschedule it first)."""

    def __init__(self, campaign_id: int, status: CampaignStatus) -> None:
        super().__init__(
            f"campaign {campaign_id} is {status.value}; only a draft campaign can be changed"
        )
        self.campaign_id = campaign_id
        self.status = status


def update_campaign(
    connection: Connection,
    account: AccountRef,
    campaign_id: int,
    clock: Clock,
    *,
    list_name: str | None = None,
    text: str | None = None,
    sender: str | None = None,
    at: str | datetime | None = None,
    name: str | None = None,
    shortcode_substitution: bool = False,
) -> CreatedCampaign:
    """Change a draft campaign: what is given of its list, text, sender, name, and ``at``
    (which schedules it, ``draft → scheduled``, as at creation). The result passes every check
    :func:`create_campaign` makes, on the campaign as it will be; :class:`CampaignNotDraft`
    for any other status. The write is a compare-and-set on ``draft``, so a send that started
    meanwhile is not overwritten (the change is then refused the same way)."""
    acc = resolve_account(connection, account)
    current = get_campaign(connection, acc, campaign_id)
    if current.status is not CampaignStatus.DRAFT:
        raise CampaignNotDraft(campaign_id, current.status)
    if name is not None:
        name = display_name("campaign name", name, limit=CAMPAIGN_NAME_LIMIT)
    if list_name is not None:
        list_id = _list_id(connection, acc, display_name("list name", list_name, limit=200))
    elif current.list_id is not None:
        list_id = current.list_id
    else:
        raise InvalidInput("list", None, "the campaign's list is gone: name one")
    wanted_sender = (
        sender
        if sender is not None
        else (current.settings.get("requested_sender") or current.sender)
    )
    effective, notes = _checked_content(
        connection,
        acc,
        list_id,
        text if text is not None else current.body,
        wanted_sender,
        current.type,
        shortcode_substitution,
    )
    values: dict[str, Any] = {"list_id": list_id, "sender": effective}
    if text is not None:
        values["body"] = text
    if name is not None:
        values["name"] = name
    settings = dict(current.settings)
    settings.pop("requested_sender", None)
    if wanted_sender is not None and wanted_sender.strip() != effective:
        settings["requested_sender"] = wanted_sender.strip()
    values["settings"] = settings
    if at is not None:
        values["scheduled_at"] = parse_schedule(at, clock, acc.zone)
        values["status"] = move(CampaignStatus.DRAFT, CampaignStatus.SCHEDULED).value
    c = t.campaigns.c
    changed = connection.execute(
        update(t.campaigns)
        .where(c.id == campaign_id, c.account_id == acc.id, c.status == CampaignStatus.DRAFT.value)
        .values(**values)
    ).rowcount
    if changed != 1:
        raise CampaignNotDraft(campaign_id, get_campaign(connection, acc, campaign_id).status)
    return CreatedCampaign(get_campaign(connection, acc, campaign_id), tuple(notes))


def create_campaign(
    connection: Connection,
    account: AccountRef,
    *,
    list_name: str,
    text: str,
    sender: str | None,
    clock: Clock,
    message_type: MessageType = MessageType.MARKETING,
    at: str | datetime | None = None,
    name: str | None = None,
    smart_encoding: bool = False,
    window_policy: str | None = None,
    shortcode_substitution: bool = False,
) -> CreatedCampaign:
    """Create a campaign (``draft``, or ``scheduled`` when ``at`` is given) after every check
    that can be made before preparation (see the module doc). ``shortcode_substitution``: the
    configured provider replaces ``STOP 00000`` by its own shortcode."""
    acc = resolve_account(connection, account)
    if name is not None:
        name = display_name("campaign name", name, limit=CAMPAIGN_NAME_LIMIT)
    list_id = _list_id(connection, acc, display_name("list name", list_name, limit=200))
    effective, notes = _checked_content(
        connection, acc, list_id, text, sender, message_type, shortcode_substitution
    )
    if window_policy is not None:
        get_policy(window_policy)
    scheduled_at = parse_schedule(at, clock, acc.zone) if at is not None else None
    status = CampaignStatus.DRAFT
    if scheduled_at is not None:
        status = move(status, CampaignStatus.SCHEDULED)
    now = clock.now()
    settings: dict[str, Any] = {"smart_encoding": smart_encoding}
    if sender is not None and sender.strip() != effective:
        settings["requested_sender"] = sender.strip()
    campaign_id = connection.execute(
        insert(t.campaigns)
        .values(
            account_id=acc.id,
            name=name or f"{list_name} {now.astimezone(acc.zone):%Y-%m-%d %H:%M}",
            list_id=list_id,
            sender=effective,
            type=message_type.value,
            body=text,
            status=status.value,
            scheduled_at=scheduled_at,
            created_at=now,
            window_policy=window_policy,
            settings=settings,
        )
        .returning(t.campaigns.c.id)
    ).scalar_one()
    return CreatedCampaign(get_campaign(connection, acc, campaign_id), tuple(notes))


# -- lifecycle ---------------------------------------------------------------------------------


def _transition(
    connection: Connection,
    account: AccountRef,
    campaign_id: int,
    target: CampaignStatus,
    clock: Clock,
    **values: object,
) -> Campaign:
    """Move a campaign to ``target`` with a compare-and-set on its current status."""
    acc = resolve_account(connection, account)
    for _ in range(3):
        current = get_campaign(connection, acc, campaign_id)
        if change_status(
            connection,
            campaign_id,
            target,
            clock.now(),
            expected=current.status,
            account_id=acc.id,
            values=values,
        ):
            return get_campaign(connection, acc, campaign_id)
    raise ServiceError(f"campaign {campaign_id} keeps changing status; try again")


def schedule_campaign(
    connection: Connection,
    account: AccountRef,
    campaign_id: int,
    at: str | datetime,
    clock: Clock,
) -> Campaign:
    """``draft → scheduled`` at ``at`` (in the future; offset-less: the account's zone)."""
    acc = resolve_account(connection, account)
    when = parse_schedule(at, clock, acc.zone)
    return _transition(
        connection, acc, campaign_id, CampaignStatus.SCHEDULED, clock, scheduled_at=when
    )


def unschedule_campaign(
    connection: Connection, account: AccountRef, campaign_id: int, clock: Clock
) -> Campaign:
    """``scheduled → draft``."""
    return _transition(
        connection, account, campaign_id, CampaignStatus.DRAFT, clock, scheduled_at=None
    )


def pause_campaign(
    connection: Connection, account: AccountRef, campaign_id: int, clock: Clock
) -> Campaign:
    """Stop sending (``preparing``/``sending``/``held`` → ``paused``); dispatchers stop at their
    next batch, messages stay pending."""
    return _transition(connection, account, campaign_id, CampaignStatus.PAUSED, clock)


def resume_campaign(
    connection: Connection, account: AccountRef, campaign_id: int, clock: Clock
) -> Campaign:
    """``paused → sending``; the dispatcher holds again what is outside its window. The
    reason it was paused for (``paused_reason``: credits short, binds refused) is dropped,
    so a later pause never shows a stale one."""
    settings = get_campaign(connection, resolve_account(connection, account), campaign_id).settings
    if "paused_reason" not in settings:
        return _transition(connection, account, campaign_id, CampaignStatus.SENDING, clock)
    kept = {k: v for k, v in settings.items() if k != "paused_reason"}
    return _transition(
        connection, account, campaign_id, CampaignStatus.SENDING, clock, settings=kept
    )


def cancel_campaign(
    connection: Connection, account: AccountRef, campaign_id: int, clock: Clock
) -> tuple[Campaign, int]:
    """Cancel for good; returns the campaign and how many waiting messages were cancelled."""
    campaign = _transition(connection, account, campaign_id, CampaignStatus.CANCELLED, clock)
    result = connection.execute(
        update(t.messages)
        .where(
            t.messages.c.campaign_id == campaign_id,
            t.messages.c.account_id == campaign.account_id,
            t.messages.c.status.in_(("pending", "held")),
        )
        .values(status="cancelled")
    )
    return campaign, int(result.rowcount)
