"""Results as JSON: the one form ``--json`` prints (and the API will send).

The services return plain dataclasses; each function here turns one of them (or the few a
command shows together) into a JSON-ready ``dict`` whose keys are the public names — ``text``
for a campaign's body, ``list`` for its list's name, amounts of credits in credits
(``0.045``) where they are shown as such. :func:`dumps` writes one such value as one line of
compact UTF-8 JSON: enums as their values, datetimes and dates in ISO-8601, tuples and sets as
arrays. The CLI's tests pin these shapes byte for byte (``tests/integration``,
``tests/unit/cli``), so an interface that prints them prints what a script already reads.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from stopsms.domain.keywords import Classification
from stopsms.domain.phone import PhoneNumber
from stopsms.services.accounts.accounts import Account, PriceTable, Sender
from stopsms.services.accounts.credits import CreditBalance, LedgerEntry, format_credits
from stopsms.services.campaigns import reports
from stopsms.services.campaigns.campaigns import Campaign, CampaignListing
from stopsms.services.compliance import Preview, WindowAnswer
from stopsms.services.contacts.consent import Consent
from stopsms.services.messages.doubt import Resolution
from stopsms.services.optouts.optouts import OptOut, Recorded
from stopsms.services.optouts.review import Reviewed

if TYPE_CHECKING:
    from stopsms.services.contacts.importing import ImportSummary

__all__ = [
    "Json",
    "account",
    "account_details",
    "balance",
    "campaign",
    "campaign_listing",
    "campaign_preview",
    "campaign_report",
    "classification",
    "consent_history",
    "dumps",
    "import_summary",
    "message_preview",
    "optout",
    "optout_check",
    "optout_recorded",
    "plain",
    "recipient",
    "reviewed",
    "to_jsonable",
    "window_answer",
]

Json = dict[str, Any]

#: The zone a campaign preview's finish and hold times are given in.
PARIS = ZoneInfo("Europe/Paris")


def to_jsonable(value: Any) -> Any:
    """``value`` (dataclasses already turned into dicts) in JSON types: enums as values,
    datetimes and dates in ISO-8601, tuples and sets as lists, keys as strings."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """One line of compact UTF-8 JSON."""
    return json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":"))


def plain(record: Any) -> Json:
    """A result dataclass whose fields are its public form, as they are."""
    return dataclasses.asdict(record)


def import_summary(value: ImportSummary) -> Json:
    """``contacts import``: :func:`plain`'s shape, built field by field.

    ``dataclasses.asdict`` copies each superseded row deeply, one by one: 0.24-0.36 s for the
    50,000 of the benchmark's 1,000,000-row file, where this takes a few hundredths.
    """
    data = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    data["superseded"] = [{"line": row.line, "by_line": row.by_line} for row in value.superseded]
    return data


# -- accounts and credits -----------------------------------------------------------------------


def account(value: Account) -> Json:
    """An account's settings, its STOP mention as sent and its balance in credits."""
    data = plain(value)
    data["mention"] = value.mention
    data["balance"] = format_credits(value.balance_millicredits)
    return data


def account_details(
    value: Account,
    senders: Iterable[Sender],
    domains: list[str],
    prices: PriceTable,
    keywords: Mapping[str, str],
) -> Json:
    """``accounts show``: the account with its senders, domains, prices and keywords."""
    data = account(value)
    data.update(
        senders=[plain(s) for s in senders],
        domains=domains,
        prices_millicredits=dict(prices.by_region, **{"*": prices.fallback_millicredits}),
        keywords=keywords,
    )
    return data


def balance(value: CreditBalance, entries: Iterable[LedgerEntry]) -> Json:
    """A balance, whether it is at or below its alert threshold, and the latest entries."""
    data = plain(value)
    data["below_threshold"] = value.below_threshold
    data["ledger"] = [plain(e) for e in entries]
    return data


# -- campaigns ----------------------------------------------------------------------------------


def campaign(c: Campaign) -> Json:
    return {
        "id": c.id,
        "name": c.name,
        "status": c.status.value,
        "type": c.type.value,
        "list": c.list_name,
        "sender": c.sender,
        "text": c.body,
        "scheduled_at": c.scheduled_at,
        "created_at": c.created_at,
        "started_at": c.started_at,
        "completed_at": c.completed_at,
    }


def campaign_listing(listing: Iterable[CampaignListing]) -> list[Json]:
    """``campaign list``: each campaign with its recipients, ready and sent counts."""
    return [
        {**campaign(i.campaign), "recipients": i.recipients, "ready": i.ready} | {"sent": i.sent}
        for i in listing
    ]


def _epoch(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, PARIS)


def campaign_preview(result: reports.CampaignPreview, length_warning: str | None) -> Json:
    """``campaign preview``: a sample SMS, counts by decision, credits, mentions, timing."""
    s, p = result.summary, result.plan
    sample = None
    if result.sample is not None:
        composed = result.sample.composed
        sample = {
            "to": result.sample.phone_e164,
            "region": result.sample.region,
            "text": composed.text,
            "encoding": composed.encoding.value,
            "units": composed.units,
            "parts": list(result.sample.parts),
            "mention": composed.stop_mention,
            "warnings": list(composed.warnings),
        }
    return {
        "campaign": campaign(result.campaign),
        "prepared": result.prepared,
        "targeted": s.targeted,
        "ready": s.ready,
        "excluded": s.excluded,
        "parts": s.parts,
        "credits": s.credits_millicredits / 1000,
        "available_credits": (
            None if s.available_millicredits is None else s.available_millicredits / 1000
        ),
        "encodings": s.encodings,
        "sample": sample,
        "rate_per_second": result.rate,
        "start": result.start,
        "finish": _epoch(p.finish),
        "leave_now": p.now,
        "held": p.held,
        "held_until": _epoch(p.held_until),
        "held_groups": [{"until": at, "messages": n} for at, n in result.held_groups],
        "unplanned": p.unplanned,
        "mentions": [
            {
                "region": m.region,
                "mention": m.mention,
                "ready": m.ready,
                "no_unsubscribe_page": m.no_unsubscribe_page,
            }
            for m in result.mentions
        ],
        "refused": result.refusal,
        "length_warning": length_warning,
    }


def campaign_report(r: reports.CampaignReport) -> Json:
    """``campaign report``: targeted, excluded by reason, sent, delivered, STOPs, credits."""
    return {
        "campaign": campaign(r.campaign),
        "targeted": r.targeted,
        "ready": r.ready,
        "excluded": r.excluded,
        "excluded_at_send": r.excluded_at_send,
        "sent": r.sent,
        "delivered": r.delivered,
        "failed": r.failed,
        "unknown": r.unknown,
        "closed": r.closed,
        "in_flight": r.in_flight,
        "rejected": r.rejected,
        "waiting": r.waiting,
        "held": r.held,
        "held_until": r.held_until,
        "cancelled": r.cancelled,
        "stops": r.stops,
        "stop_rate_percent": round(r.stop_rate, 2),
        "credits": r.credits_millicredits / 1000,
    }


def unknown_resolution(r: Resolution) -> Json:
    """``campaign resolve-unknown``: what was re-queued or closed, and the campaign after."""
    return {
        "campaign_id": r.campaign_id,
        "action": r.action.value,
        "requeued": r.requeued,
        "closed": r.closed,
        "excluded_opted_out": r.excluded_opted_out,
        "credits": r.credits_millicredits / 1000,
        "campaign_status": r.campaign_status.value,
    }


# -- opt-outs and consent -----------------------------------------------------------------------


def optout(value: OptOut) -> Json:
    """An opt-out record and whether it is in force."""
    data = plain(value)
    data["active"] = value.active
    return data


def optout_recorded(result: Recorded, *, widened: bool) -> Json:
    """``optouts add``: the record, whether it is new, and whether a sender was widened to
    the whole account (the account's opt-out scope is ``account``)."""
    return {**optout(result.optout), "created": result.created, "widened": widened}


def optout_check(phone: str, found: OptOut | None, records: Iterable[OptOut]) -> Json:
    """``optouts check``: whether the number is suppressed, by which record, its history."""
    return {
        "phone": phone,
        "suppressed": found is not None,
        "by": optout(found) if found else None,
        "history": [optout(r) for r in records],
    }


def reviewed(done: Iterable[Reviewed]) -> list[Json]:
    """The opt-out review's confirmations and dismissals: each record and what became of it."""
    return [{"id": r.optout_id, "action": r.action, "record": optout(r.optout)} for r in done]


def consent_history(phone: str, entries: Iterable[Consent]) -> Json:
    return {"phone": phone, "history": [plain(e) for e in entries]}


# -- the compliance core: preview, window, classify ---------------------------------------------


def recipient(number: PhoneNumber | None) -> Json | None:
    if number is None:
        return None
    return {
        "e164": number.e164,
        "region": number.region,
        "time_zones": list(number.time_zones),
        "kind": number.kind,
    }


def message_preview(result: Preview) -> Json:
    """``preview``: the SMS as it will leave, its measurements and why it has its mention."""
    composed = result.composed
    return {
        "text": composed.text,
        "encoding": composed.encoding.value,
        "units": composed.units,
        "segments": composed.segments,
        "stop_mention": composed.stop_mention,
        "mention_reason": composed.mention_reason,
        "warnings": list(composed.warnings),
        "replacements": [
            {"original": r.original, "replacement": r.replacement, "count": r.count}
            for r in composed.replacements
        ],
        "parts": list(result.parts),
        "type": result.message_type.value,
        "sender": result.sender,
        "recipient": recipient(result.recipient),
        "refused": result.refusal,
        "unverified_domains": list(result.unverified_domains),
    }


def window_answer(answer: WindowAnswer) -> Json:
    """``window``: may a message reach the number at that instant; if not, when next."""
    decision = answer.decision
    return {
        "allowed": decision.allowed,
        "at": answer.at,
        "local_time": decision.local_time,
        "rule": decision.rule,
        "policy": answer.policy,
        "next_allowed": decision.next_allowed,
        "window_end": decision.window_end,
        "recipient": recipient(answer.recipient),
    }


def classification(found: Classification) -> Json:
    """``classify``: the intent of an inbound SMS, how certain, and the keyword that decided."""
    return {"intent": found.intent.value, "certain": found.certain, "keyword": found.keyword}
