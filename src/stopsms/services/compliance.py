"""Compliance questions about one message, number or reply, answered from the core's rules.

These are the use cases behind ``stopsms preview``, ``stopsms window`` and
``stopsms classify`` (and later the API): each takes a plain request and returns a plain
result that interfaces render as text or JSON. Nothing here touches the database; the
account-dependent parts (shortcode, mention format, account type, window policy) arrive as
fields of the request, filled by the caller from the account.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from stopsms.domain.compose import ComposedMessage, compose
from stopsms.domain.errors import DomainError
from stopsms.domain.keywords import Classification, Classifier
from stopsms.domain.mention import (
    PLACEHOLDER_SHORTCODE,
    AccountType,
    InvalidMentionFormat,
    MentionStyle,
    MessageType,
    check_mention_format,
    placeholder_on_wire,
)
from stopsms.domain.phone import PhoneNumber, parse_phone
from stopsms.domain.senders import effective_sender, parse_sender
from stopsms.domain.text import split_parts
from stopsms.domain.urls import unverified_domains
from stopsms.domain.windows import WindowDecision, check_window, get_policy, policy_for
from stopsms.services.accounts.accounts import AccountRef, get_account, list_domains, list_senders


class InvalidRequest(DomainError):
    """A request field has a value the question cannot be asked with."""

    def __init__(self, field_name: str, value: object, expected: str) -> None:
        super().__init__(f"invalid {field_name} {value!r}: {expected}")
        self.field_name = field_name
        self.value = value


DEFAULT_REGION = "FR"


@dataclass(frozen=True, slots=True)
class PreviewRequest:
    text: str
    to: str | None = None
    sender: str | None = None
    message_type: MessageType = MessageType.MARKETING
    account_type: AccountType = AccountType.MARKETING
    style: MentionStyle = field(default_factory=MentionStyle)
    mention_enabled: bool = True
    smart_encoding: bool = False
    default_region: str = DEFAULT_REGION
    account: AccountSettings | None = None  # its senders are checked (rule 9)


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """What an account changes in the answers: its mention, type, senders, sending hours."""

    name: str
    account_type: AccountType
    style: MentionStyle
    mention_enabled: bool
    validated: bool
    senders: frozenset[str]
    window_policy: str | None
    domains: frozenset[str] = frozenset()  # verified link domains (rule 10)


def account_settings(
    connection: Connection, account: AccountRef, *, public_url: str | None = None
) -> AccountSettings:
    """Read the settings of ``account`` that preview and window answers depend on
    (``public_url``: the installation's, the base of the hosted unsubscribe page's links)."""
    acc = get_account(connection, account) if isinstance(account, str) else account
    return AccountSettings(
        name=acc.name,
        account_type=AccountType(acc.type),
        style=acc.mention_style(public_url),
        mention_enabled=acc.mention_enabled,
        validated=acc.validated,
        senders=frozenset(s.sender for s in list_senders(connection, acc)),
        window_policy=acc.window_policy,
        domains=frozenset(list_domains(connection, acc)),
    )


def with_account(request: PreviewRequest, account: AccountSettings) -> PreviewRequest:
    """``request`` as ``account`` would send it: its mention, type and mention setting."""
    return replace(
        request,
        account=account,
        account_type=account.account_type,
        style=account.style,
        mention_enabled=account.mention_enabled,
    )


@dataclass(frozen=True, slots=True)
class Preview:
    """The SMS exactly as it will leave, and why it looks that way."""

    composed: ComposedMessage
    parts: tuple[str, ...]
    recipient: PhoneNumber | None
    sender: str | None
    message_type: MessageType
    #: Why this SMS could not leave as shown (its STOP mention would not work), or None.
    refusal: str | None = None
    # With an account: hosts the text links to that it has not verified (rule 10); a campaign
    # with this text is refused.
    unverified_domains: tuple[str, ...] = ()


def _refusal(request: PreviewRequest, composed: ComposedMessage, sender: str | None) -> str | None:
    """Why ``composed`` would be refused or excluded at sending (see stop_mention), or None."""
    if composed.stop_mention is None:
        return None
    try:
        check_mention_format(request.style.format, request.style.shortcode)
    except InvalidMentionFormat as error:
        return f"would be refused: {error}"
    # A hosted-page link shows the placeholder token: each message gets its own when prepared.
    problem = placeholder_on_wire(
        composed.text, sender or "", substitution=False, tokens_to_come=True
    )
    if problem == "placeholder_shortcode":
        return (
            f"would be refused: {PLACEHOLDER_SHORTCODE} is a placeholder shortcode (nobody can"
            " reply to it, and STOP 00000 works only through a provider that replaces it for an"
            " alphanumeric sender); set the account's real one (its shortcode setting)"
        )
    if problem == "no_unsubscribe_page":
        return (
            "would be excluded (no_unsubscribe_page): the STOP link is a placeholder that"
            " leads to no unsubscribe page; set the account's own (its unsubscribe_url setting)"
        )
    return None


def preview(request: PreviewRequest) -> Preview:
    """Compose ``request.text`` for its recipient: mention, encoding, units, parts, warnings."""
    recipient = parse_phone(request.to, request.default_region) if request.to else None
    sender = request.sender
    unverified: tuple[str, ...] = ()
    if request.account is not None:
        account = request.account
        # Rule 9: an unknown sender is an error; an unvalidated account's is its shortcode.
        sender = effective_sender(
            sender,
            validated=account.validated,
            allowed=account.senders,
            shortcode=account.style.shortcode,
        )
        unverified = tuple(unverified_domains(request.text, account.domains))
    elif sender is not None:
        parse_sender(sender)
    region = recipient.region if recipient else request.default_region
    composed = compose(
        request.text,
        region=region,
        message_type=request.message_type,
        style=request.style,
        account_type=request.account_type,
        mention_enabled=request.mention_enabled,
        smart_encoding=request.smart_encoding,
    )
    return Preview(
        composed=composed,
        parts=tuple(split_parts(composed.text)),
        recipient=recipient,
        sender=sender,
        message_type=request.message_type,
        refusal=_refusal(request, composed, sender),
        unverified_domains=unverified,
    )


@dataclass(frozen=True, slots=True)
class WindowRequest:
    to: str
    at: datetime | None = None
    message_type: MessageType = MessageType.MARKETING
    policy: str | None = None
    default_region: str = DEFAULT_REGION


@dataclass(frozen=True, slots=True)
class WindowAnswer:
    recipient: PhoneNumber
    policy: str
    at: datetime
    decision: WindowDecision


def window(request: WindowRequest, now: datetime) -> WindowAnswer:
    """May a message of ``request.message_type`` reach ``request.to`` at ``request.at`` (or now)?

    A naive ``at`` is read in the recipient's local time (the first of its zones), which is
    what a person giving ``at`` as ``2026-11-28T17:50`` means.
    """
    recipient = parse_phone(request.to, request.default_region)
    if request.policy is not None:
        get_policy(request.policy)  # unknown names fail here, before any answer
    policy = policy_for(recipient.region, request.policy)
    at = request.at or now
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(recipient.time_zones[0]))
    decision = check_window(
        at,
        region=recipient.region,
        time_zones=recipient.time_zones,
        marketing=request.message_type is MessageType.MARKETING,
        policy=policy,
    )
    return WindowAnswer(recipient=recipient, policy=policy.name, at=at, decision=decision)


def parse_instant(value: str, field_name: str = "at") -> datetime:
    """Parse an ISO-8601 date-time (``Z`` accepted); naive values stay naive."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            field_name, value, "expected ISO-8601, e.g. 2026-11-28T17:50:00+01:00"
        ) from None
    if parsed.tzinfo is not None and parsed.utcoffset() is None:  # pragma: no cover - defensive
        raise InvalidRequest(field_name, value, "time zone without an offset")
    if parsed.utcoffset() is not None and abs(parsed.utcoffset() or timedelta()) > timedelta(
        hours=18
    ):
        raise InvalidRequest(field_name, value, "offset beyond ±18:00")
    return parsed


def parse_message_type(value: str, field_name: str = "type") -> MessageType:
    try:
        return MessageType(value.strip().lower())
    except ValueError:
        known = ", ".join(t.value for t in MessageType)
        raise InvalidRequest(field_name, value, f"expected one of {known}") from None


def classify(text: str, classifier: Classifier | None = None) -> Classification:
    """Classify an inbound text (opt-out, opt-in, help or other) with the account's keywords."""
    return (classifier or _DEFAULT_CLASSIFIER).classify(text)


_DEFAULT_CLASSIFIER = Classifier()
