"""The customer area's use cases: sign in, the acting account, the composer, the dashboard
(the campaign pages' own are :mod:`stopsms.app.campaigns`).

Every page of :mod:`stopsms.web.area` calls here, never a service: the account a session may
touch and its role come from the user's memberships (``services/access``), read again on each
request, so a role withdrawn or a membership removed takes effect at the next click (one
indexed read per request, the same price as an API key's).

The composer's preview is the API's ``POST /v1/preview``: the same
:func:`stopsms.services.compliance.preview` on the account's own settings
(:func:`compliance.account_settings` then :func:`compliance.with_account`); what it adds is
what the page shows beside the SMS (characters left in this part, the characters forcing
UCS-2, the one-click smart-encoding fix, the senders to choose from).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

from sqlalchemy import select

from stopsms.app.application import App
from stopsms.app.campaigns import (
    CampaignLine,
    Counted,
    Series,
    campaign_lines,
    recent_series,
    review_queue_size,
)
from stopsms.clock import Clock
from stopsms.domain.mention import AccountType, MessageType
from stopsms.domain.text import Encoding, smart_encode, ucs2_characters
from stopsms.errors import NotFound
from stopsms.services import compliance
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.services.access.users import User, verify_login
from stopsms.services.accounts.accounts import get_account_by_id
from stopsms.services.accounts.credits import CreditBalance, balance
from stopsms.services.campaigns.campaigns import Campaign, create_campaign
from stopsms.services.campaigns.reports import CampaignPreview, preview_campaign
from stopsms.services.contacts.contacts import ContactList, list_lists
from stopsms.store import tables as t

__all__ = [
    "SEND_NOW_DELAY",
    "Composer",
    "Dashboard",
    "account_names",
    "campaign",
    "composer",
    "dashboard",
    "principal_of_user",
    "save_campaign",
    "sign_in",
    "smart_fix",
]

#: How far ahead "send now" schedules a campaign (the engine looks for due ones every 5 s).
SEND_NOW_DELAY: Final = timedelta(seconds=2)

#: A part's capacity: (one part alone, each part of several), in units of the encoding.
_CAPACITY = {Encoding.GSM7: (160, 153), Encoding.UCS2: (70, 67)}


def sign_in(app: App, email: str, password: str) -> User | None:
    """The user of this email and password (None: either is wrong; the same work for both)."""
    with app.reader() as connection:
        return verify_login(connection, email, password)


def principal_of_user(app: App, user_id: int, account: str | None) -> Principal | None:
    """Who a session acts as: ``account`` (the user's first by name when None) with the
    user's role in it; None when the user is gone or holds no role there."""
    m, a, u = t.memberships, t.accounts, t.users
    query = (
        select(a.c.id, a.c.name, m.c.role, u.c.email, a.c.time_zone)
        .join(m, m.c.account_id == a.c.id)
        .join(u, u.c.id == m.c.user_id)
        .where(m.c.user_id == user_id)
        .order_by(a.c.name)
    )
    if account is not None:
        query = query.where(a.c.name == account)
    with app.reader() as connection:
        row = connection.execute(query.limit(1)).one_or_none()
    if row is None:
        return None
    return Principal(row.id, row.name, Role(row.role), f"user:{row.email}", time_zone=row.time_zone)


def account_names(app: App, user_id: int) -> list[str]:
    """The accounts the user holds a role in, by name (the switcher's choices)."""
    m, a = t.memberships, t.accounts
    query = select(a.c.name).join(m, m.c.account_id == a.c.id).where(m.c.user_id == user_id)
    with app.reader() as connection:
        return list(connection.scalars(query.order_by(a.c.name)))


@dataclass(frozen=True, slots=True)
class Composer:
    """What the composer shows for one text: the SMS as it will leave and its measures."""

    preview: compliance.Preview
    left_in_part: int
    ucs2: tuple[str, ...]
    fixable: bool
    notification: bool
    senders: tuple[str, ...]
    lists: tuple[ContactList, ...]


def composer(
    app: App,
    who: Principal,
    text: str,
    *,
    sender: str | None = None,
    mention: bool = True,
    smart_encoding: bool = False,
    with_lists: bool = True,
) -> Composer:
    """The composer for ``text`` on ``who``'s account; ``mention`` False removes the STOP
    mention only on a notification account (a marketing account always carries it).
    ``with_lists`` False: no lists (the preview fragment of each keystroke must not count a
    list's members: a million-member list would be read on every key)."""
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        settings = compliance.account_settings(
            connection, account, public_url=app.settings.public_url
        )
        lists = tuple(list_lists(connection, account)) if with_lists else ()
    notification = settings.account_type is AccountType.NOTIFICATION
    if notification and not mention:
        settings = replace(settings, mention_enabled=False)
    senders = tuple(sorted(settings.senders))
    request = compliance.PreviewRequest(
        text=text,
        sender=sender if sender in settings.senders else (senders[0] if senders else None),
        message_type=MessageType.INFORMATIVE if notification else MessageType.MARKETING,
        smart_encoding=smart_encoding,
    )
    result = compliance.preview(compliance.with_account(request, settings))
    composed = result.composed
    single, multi = _CAPACITY[composed.encoding]
    capacity = single if composed.segments <= 1 else multi * composed.segments
    ucs2 = tuple(dict.fromkeys(ucs2_characters(composed.text)))
    fixed = smart_encode(text).text
    return Composer(
        preview=result,
        left_in_part=capacity - composed.units,
        ucs2=ucs2,
        fixable=bool(ucs2) and fixed != text,
        notification=notification,
        senders=senders,
        lists=lists,
    )


def smart_fix(text: str) -> str:
    """``text`` with its look-alikes replaced by GSM characters (’ → ', « → ")."""
    return smart_encode(text).text


def save_campaign(
    app: App,
    who: Principal,
    clock: Clock,
    *,
    list_name: str,
    text: str,
    sender: str | None,
    at: str | None = None,
    now: bool = False,
) -> Campaign:
    """A new campaign on ``who``'s account — informative on a notification account, as its
    preview shows it, marketing otherwise: a draft, scheduled when ``at`` is given, or, with
    ``now``, scheduled :data:`SEND_NOW_DELAY` ahead: the engine of ``stopsms serve`` (or the
    workers) prepares due campaigns every few seconds and sends them, holding what the
    sending hours do not allow yet."""
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        notification = AccountType(account.type) is AccountType.NOTIFICATION
        created = create_campaign(
            connection,
            account,
            message_type=MessageType.INFORMATIVE if notification else MessageType.MARKETING,
            list_name=list_name,
            text=text,
            sender=sender,
            clock=clock,
            at=clock.now() + SEND_NOW_DELAY if now else (at or None),
            shortcode_substitution=app.shortcode_substitution,
        )
    return created.campaign


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The home page: the balance, the recent campaigns, the last 30 days per day (sent,
    delivered, STOPs) and the size of the review queue of uncertain STOPs."""

    balance: CreditBalance
    campaigns: tuple[CampaignLine, ...]
    days: Series
    review_queue: int


def dashboard(app: App, who: Principal, clock: Clock, *, recent: int = 10) -> Dashboard:
    """The account's balance, its ``recent`` newest campaigns with their counts and the STOPs
    attributed to each, its 30-day chart and its review queue's size (settled campaigns from
    their tallies: :mod:`stopsms.app.campaigns`)."""
    memo: dict[int, Counted] = {}  # a running campaign is counted once for both
    lines, _ = campaign_lines(app, who, 1, recent, memo=memo)
    days = recent_series(app, who, clock, memo=memo)
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        return Dashboard(
            balance(connection, account), lines, days, review_queue_size(connection, account.id)
        )


def campaign(app: App, who: Principal, campaign_id: int, clock: Clock) -> CampaignPreview | None:
    """The campaign with its counts by decision, credits and plan when it is ``who``'s
    account's, else None (another's is not found): ``campaign preview``'s computation."""
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        try:
            return preview_campaign(
                connection,
                account,
                campaign_id,
                clock,
                rate=app.rate,
                shortcode_substitution=app.shortcode_substitution,
                max_parts=app.max_parts,
                public_url=app.settings.public_url,
            )
        except NotFound:
            return None
