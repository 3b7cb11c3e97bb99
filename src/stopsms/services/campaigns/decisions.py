"""The per-recipient decisions of a campaign, shared by preparation and preview (rules 6, 9–12).

:class:`Decider` takes the rows of
:func:`stopsms.services.campaigns.preparation.recipient_chunks` (the list's contacts in list
order, each with whether an active opt-out suppresses the number for this account: scope
``account``, or ``sender`` = the campaign's sender; every active record when the account's
opt-out scope is ``account``). People erased since their opt-out are kept by the registry
only as a keyed hash (:mod:`stopsms.store.phone_keys`): when the account has any such record,
each candidate is hashed and matched too. It decides, in this order, the first reason that
applies:

====================  ==========================================================================
``erased``            the contact was erased (GDPR): no number left
``invalid_number``    the stored number is not E.164 with a region
``duplicate``         the same number earlier in the list (rule 11: charged once)
``opted_out``         an active opt-out for the account or this sender
``no_consent``        marketing without ``opt_in``/``customer`` consent (rule 6)
``sender_not_allowed``  the campaign's sender is no longer allowed for the account (rule 9)
``url_not_allowed``   the personalised text links to an unverified domain (rule 10)
``no_unsubscribe_page``  the recipient's mention would be a link (no STOP shortcode in its
                      region) and the account has no real ``unsubscribe_url``: a placeholder
                      link never leaves
``too_long``          the personalised message (mention included) takes more SMS parts than
                      the ceiling (``max_parts``: ``STOPSMS_MAX_PARTS``, passed by the caller)
``insufficient_credit`` the credits left cannot pay this message (see below)
``ready``             personalised text with its mention, encoding, parts and price
====================  ==========================================================================

Every ready message is composed with the bulk :class:`~stopsms.domain.compose.Composer`
(mention by recipient region, per-recipient length and parts) and priced ``parts × the
account's price for the region`` (``account_prices`` region, else ``*``, else
:data:`~stopsms.store.tables.DEFAULT_PRICE_MILLICREDITS`). The campaign's own length check
(:mod:`stopsms.services.campaigns.lengths`) reads the text with its fields empty; a long field value
(a 2,000-character first name) makes one recipient ``too_long`` here — an integer comparison
on the parts the composer already counted — and that recipient is never priced nor paid for.

Credits (rule 12) are debited at send, never here. Preparation only refuses to promise what
cannot be paid: the credits available are the balance minus the price of every message of the
account still waiting to leave (other campaigns' pending/held/claimed ones); ready messages are
paid from that in list order and, from the first one that does not fit, every later ready
recipient is ``insufficient_credit`` (a strict prefix: who gets the campaign never depends on
message lengths further down the list).
Their price is kept (``unpaid_millicredits``): sending refuses such a campaign unless a partial
send was asked for, saying what a top-up must add (:mod:`stopsms.services.campaigns.shortfall`).

The same decision pass serves :func:`stopsms.services.campaigns.preparation.prepare_campaign` (which
writes the rows) and :func:`stopsms.services.campaigns.reports.preview_campaign` before preparation
(which runs it in a read transaction and writes nothing).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from stopsms.domain.campaign import CampaignStatus, Exclusion
from stopsms.domain.compose import Composer
from stopsms.domain.errors import InvalidSender
from stopsms.domain.mention import (
    SHORTCODE_REGIONS,
    AccountType,
    MessageType,
    decide_mention,
)
from stopsms.domain.parts import DEFAULT_MAX_PARTS
from stopsms.domain.senders import effective_sender
from stopsms.domain.template import STANDARD_FIELDS, Template
from stopsms.domain.text import Encoding
from stopsms.domain.unsubscribe import hosted_link
from stopsms.domain.urls import may_hold_link, unverified_domains
from stopsms.services.accounts.accounts import Account, price_table
from stopsms.services.accounts.accounts import list_domains as account_domains
from stopsms.services.campaigns.campaigns import Campaign
from stopsms.services.campaigns.tokens import TokenSource
from stopsms.services.optouts.optouts import account_suppressing_senders
from stopsms.store import tables as t
from stopsms.store.phone_keys import keyer

__all__ = [
    "CONSENTED",
    "CONSTANT_COLUMNS",
    "PRIORITY_INFORMATIVE",
    "PRIORITY_MARKETING",
    "VARYING_COLUMNS",
    "WAITING_STATUSES",
    "Decider",
    "InsertRow",
    "PreparationSummary",
    "composer_for",
    "constant_values",
]

#: Outbox priority (0 leaves first): informative campaigns before marketing ones; the
#: dispatcher gives STOP confirmations a lower number still.
PRIORITY_INFORMATIVE = 10
PRIORITY_MARKETING = 100
#: Messages not yet debited: what other campaigns have already been promised.
WAITING_STATUSES = ("pending", "held", "claimed", "submitting")
#: Consents that allow marketing (rule 6).
CONSENTED = frozenset({"opt_in", "customer"})


def _digits(value: str) -> bool:
    """ASCII digits only, at least one (what the SQL path's ``GLOB`` accepts)."""
    return value.isascii() and value.isdigit()


def _linkish(value: str) -> bool:
    """Whether a field value could hold (part of) a link (normalised, a ``.`` or a ``:``)."""
    return may_hold_link(value)


def _fields_touch_links(template: Template) -> bool:
    """Whether a field sits in a run of non-space text that, without it, holds a ``.`` or a
    ``:`` (``https://{x}``, ``{x}.com``, ``{a}:{b}``): every recipient is then checked, since
    values with neither can still complete a link there."""
    marker = "\ue000"  # a private-use character: no link character, no space
    rendered = template.render(dict.fromkeys(template.slots, marker))
    return any(marker in run and may_hold_link(run) for run in rendered.split())


InsertRow = tuple[Any, ...]
"""An outbox row's per-recipient columns, in :data:`VARYING_COLUMNS` order."""
#: Columns that are the same for every message of a campaign (:func:`constant_values`).
CONSTANT_COLUMNS = ("account_id", "campaign_id", "sender", "kind", "priority", "created_at")
#: Columns decided per recipient (what :meth:`Decider.decide` returns).
VARYING_COLUMNS = (
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
    "unsubscribe_token",
)


def constant_values(campaign: Campaign, created_at: Any) -> tuple[Any, ...]:
    """The :data:`CONSTANT_COLUMNS` of ``campaign``'s messages (``created_at`` as the driver
    must receive it)."""
    priority = (
        PRIORITY_MARKETING if campaign.type is MessageType.MARKETING else PRIORITY_INFORMATIVE
    )
    return (
        campaign.account_id,
        campaign.id,
        campaign.sender,
        campaign.type.value,
        priority,
        created_at,
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
    #: The price of the ``insufficient_credit`` recipients (what a top-up must add).
    unpaid_millicredits: int = 0

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())


def _erased_keys(connection: Connection, campaign: Campaign) -> set[str]:
    o = t.optouts.c
    senders = account_suppressing_senders(connection, campaign.account_id, campaign.sender)
    return set(
        connection.execute(
            select(o.phone_key).where(
                o.account_id == campaign.account_id,
                o.phone_e164.is_(None),
                o.revoked_at.is_(None),
                *(() if senders is None else (o.sender.in_(senders),)),
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


def _no_page(campaign: Campaign, account: Account, public_url: str | None) -> bool:
    """Whether recipients outside the shortcode regions would get a placeholder link: their
    messages carry a mention and the account has no real unsubscribe page (neither its own
    nor the hosted one at a reachable ``public_url``)."""
    style = account.mention_style(public_url)
    decision = decide_mention(
        "GB", campaign.type, style, AccountType(account.type), account.mention_enabled
    )
    return decision.mention is not None and not style.link_works


def composer_for(
    campaign: Campaign, account: Account, template: Template, public_url: str | None = None
) -> Composer:
    """The bulk composer of this campaign's messages (hosted-page links hold the placeholder
    token: :func:`tokened_link`)."""
    return Composer(
        template,
        message_type=campaign.type,
        style=account.mention_style(public_url),
        account_type=AccountType(account.type),
        mention_enabled=account.mention_enabled,
        smart_encoding=campaign.smart_encoding,
    )


def tokened_link(account: Account, public_url: str | None) -> str | None:
    """The hosted-page link with the placeholder token that this account's composed texts
    hold where each message needs its own token (None: the account uses its own page)."""
    return hosted_link(public_url) if public_url and account.hosted_page(public_url) else None


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
        no_page: bool = False,
        max_parts: int = DEFAULT_MAX_PARTS,
        tokened: str | None = None,
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
        #: Recipients outside the shortcode regions have no working mention (placeholder link).
        self.no_page = no_page
        #: The most parts one recipient's message may take (``too_long`` above).
        self.max_parts = max_parts
        #: The placeholder hosted-page link a ready text holding it gets its own token in
        #: (None: no hosted page); each such message's token is in ``unsubscribe_token``.
        self.tokened = tokened
        self.tokens = TokenSource()
        #: With ``keep_regions``: per region, the first ready recipient's values (for the
        #: preview's mention of that region) and the recipients excluded for no page.
        self.sample_by_region: dict[str, dict[str, str]] = {}
        self.no_page_by_region: Counter[str] = Counter()
        self.static_links_ok = not unverified_domains(template.static_text, verified)
        self.links_need_fields = _fields_touch_links(template)
        self.summary = PreparationSummary(campaign.id)
        self.reasons: Counter[str] = Counter()
        self.encodings: Counter[Encoding] = Counter()
        self.seen: set[str] = set()
        self.spent = 0
        self.unpaid = 0
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
        max_parts: int = DEFAULT_MAX_PARTS,
        public_url: str | None = None,
    ) -> Decider:
        """Everything the decisions need, read once (prices, domains, sender, credits);
        ``max_parts``: the ceiling of one message's parts, ``public_url``: the installation's
        address (the hosted unsubscribe page's base), both the caller's settings."""
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
            composer=composer_for(campaign, account, template, public_url),
            price_of=prices.per_part,
            available=max(0, account.balance_millicredits - outstanding),
            erased_keys=erased,
            key_of=keyer(connection).key if erased else str,
            verified=account_domains(connection, account),
            sender_allowed=sender_allowed,
            keep_regions=keep_regions,
            no_page=_no_page(campaign, account, public_url),
            max_parts=max_parts,
            tokened=tokened_link(account, public_url),
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
        max_parts = self.max_parts
        tokened, next_token = self.tokened, self.tokens.next
        token: str | None = None
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
                elif marketing and row[8] not in CONSENTED:
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
                if reason is None and self.no_page and region.upper() not in SHORTCODE_REGIONS:
                    reason = "no_unsubscribe_page"
                    if keep:
                        self.no_page_by_region[region] += 1
                if reason is None:
                    text, encoding, _units, segments = compose(values, region)
                    if segments > max_parts:
                        reason = "too_long"
                if reason is None:
                    unit = prices.get(region)
                    if unit is None:
                        unit = prices[region] = price_of(region)
                    price = segments * unit
                    if broke or spent + price > available:
                        broke = True
                        reason = "insufficient_credit"
                        self.unpaid += price
                    else:
                        spent += price
                        parts += segments
                        if encoding is gsm7:
                            gsm_count += 1
                            encoding_name = gsm7_name
                        else:
                            ucs_count += 1
                            encoding_name = ucs2_name
                        if tokened is not None and tokened in text:
                            token = next_token()
                            text = text.replace(tokened, tokened[: -len(token)] + token)
                        else:
                            token = None
                        if keep:
                            self.ready_by_region.setdefault(region, []).append(phone)
                            self.sample_by_region.setdefault(region, values)
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
                                token,
                            )
                        )
                        continue
            reasons[reason] += 1
            append(
                (contact_id, phone, region, "excluded", reason, None, None, 0, 0, "excluded", None)
            )
        self.spent, self.broke = spent, broke
        self.summary.parts += parts
        encodings[Encoding.GSM7] += gsm_count
        encodings[Encoding.UCS2] += ucs_count
        return out

    def texts(self, combos: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Per distinct ``(region, *field values)``: the row followed by ``(text, encoding,
        parts, price, url_bad, no_page, too_long, tokened)`` of a ready message with those
        values (what :meth:`decide` computes per recipient, computed once per combination;
        ``tokened``: the text holds the placeholder hosted link, each message gets a token)."""
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
            no_page = int(self.no_page and region.upper() not in SHORTCODE_REGIONS)
            too_long = int(segments > self.max_parts)
            price = segments * unit
            tokened = int(self.tokened is not None and self.tokened in text)
            out.append(
                (*combo, text, encoding.value, segments, price, url_bad, no_page, too_long, tokened)
            )
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
        s.unpaid_millicredits = self.unpaid
        return s
