"""Accounts ("licences") and what each one is allowed to do.

An account has a type (``marketing`` by default, or ``notification`` — rule 1), a shortcode and
its STOP mention format, a validation flag and its list of sender IDs (rule 9), its verified URL
domains (rule 10), its opt-out scope (``account`` or per ``sender``), a window policy, its
prices per SMS part and region, its own inbound keywords, and its time zone (an IANA name,
``Europe/Paris`` by default: the zone its pages show times in and an offset-less schedule is
read in). Credits live in
:mod:`stopsms.services.accounts.credits`.

Every function takes a :class:`~sqlalchemy.Connection` inside the caller's transaction and an
account reference (:data:`AccountRef`: an :class:`Account` or its name), and returns plain
frozen dataclasses. The account record and the rules read from its settings alone (its mention
style, its confirmation text) are the domain's, :mod:`stopsms.domain.account`; checking new
settings stays here, since its refusals are the services' :class:`InvalidInput` naming the
field, and the allowed types and scopes are the store's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import Connection, RowMapping, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from stopsms.domain.account import Account, PriceTable
from stopsms.domain.mention import (
    InvalidMentionFormat,
    check_mention_format,
    fill_mention_format,
    is_placeholder_url,
)
from stopsms.domain.senders import effective_sender, parse_sender
from stopsms.domain.urls import public_suffixes
from stopsms.domain.windows import get_policy
from stopsms.errors import AlreadyExists, InvalidInput, NotFound, UnknownAccount
from stopsms.services.accounts.names import check_sms_text, display_name
from stopsms.store import tables as t

__all__ = [
    "COMMON_TIME_ZONES",
    "Account",
    "AccountChanges",
    "AccountRef",
    "PriceTable",
    "Sender",
    "add_domain",
    "add_keyword",
    "add_sender",
    "check_mention",
    "check_time_zone",
    "create_account",
    "get_account",
    "get_account_by_id",
    "keywords",
    "list_accounts",
    "list_domains",
    "list_senders",
    "price_table",
    "remove_domain",
    "remove_keyword",
    "remove_sender",
    "resolve_sender",
    "set_price",
    "update_account",
]


AccountRef: TypeAlias = Account | str


@dataclass(frozen=True, slots=True)
class Sender:
    sender: str
    kind: str
    authorised_protected: bool
    created_at: datetime


def _account(row: RowMapping) -> Account:
    return Account(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        validated=bool(row["validated"]),
        shortcode=row["shortcode"],
        mention_format=row["mention_format"],
        mention_enabled=bool(row["mention_enabled"]),
        unsubscribe_url=row["unsubscribe_url"],
        optout_scope=row["optout_scope"],
        window_policy=row["window_policy"],
        brand=row["brand"] or row["name"],
        confirmation_text=row["confirmation_text"],
        balance_millicredits=row["balance_millicredits"],
        alert_threshold_millicredits=row["alert_threshold_millicredits"],
        created_at=row["created_at"],
        time_zone=row["time_zone"],
    )


def get_account(connection: Connection, account: AccountRef) -> Account:
    """The account named ``account`` (re-read if given an :class:`Account`)."""
    name = account.name if isinstance(account, Account) else account
    row = (
        connection.execute(select(t.accounts).where(t.accounts.c.name == name))
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise UnknownAccount(name)
    return _account(row)


def resolve_account(connection: Connection, account: AccountRef) -> Account:
    """``account`` itself when it is an :class:`Account` (as read by the caller), else the
    account of that name."""
    return account if isinstance(account, Account) else get_account(connection, account)


#: Reads the API's writer makes per batch (:mod:`stopsms.app.intake`), built once: building a
#: statement and its cache key cost more than running it (the writer's statements were ~20 %
#: of its CPU, 2026-12-05).
_BY_ID = select(t.accounts).where(t.accounts.c.id == bindparam("account_id"))
_SENDERS = (
    select(t.senders)
    .where(t.senders.c.account_id == bindparam("account_id"))
    .order_by(t.senders.c.sender)
)
_DOMAINS = (
    select(t.url_domains.c.domain)
    .where(t.url_domains.c.account_id == bindparam("account_id"))
    .order_by(t.url_domains.c.domain)
)
_PRICES = select(t.account_prices.c.region, t.account_prices.c.millicredits_per_part).where(
    t.account_prices.c.account_id == bindparam("account_id")
)


def get_account_by_id(connection: Connection, account_id: int) -> Account:
    row = connection.execute(_BY_ID, {"account_id": account_id}).mappings().one_or_none()
    if row is None:
        raise NotFound("account id", account_id)
    return _account(row)


def list_accounts(connection: Connection) -> list[Account]:
    rows = connection.execute(select(t.accounts).order_by(t.accounts.c.name)).mappings()
    return [_account(row) for row in rows]


#: The longest unsubscribe link: it ends every SMS sent outside the shortcode regions.
UNSUBSCRIBE_URL_LIMIT = 100

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_SHORTCODE = re.compile(r"[0-9]{3,8}")


def check_shortcode(value: str) -> str:
    """``value`` if an account could have it as its shortcode, else :class:`InvalidInput`
    (a preview given a shortcode answers with the accounts' rule)."""
    if not _SHORTCODE.fullmatch(value):
        raise InvalidInput("shortcode", value, "3 to 8 digits")
    return value


def _check_fields(values: dict[str, Any]) -> None:
    """Validate account fields that the database would accept but the rules would not."""
    if "type" in values and values["type"] not in t.ACCOUNT_TYPES:
        raise InvalidInput("type", values["type"], f"one of {', '.join(t.ACCOUNT_TYPES)}")
    if "optout_scope" in values and values["optout_scope"] not in t.OPTOUT_SCOPES:
        raise InvalidInput(
            "optout_scope", values["optout_scope"], f"one of {', '.join(t.OPTOUT_SCOPES)}"
        )
    if "shortcode" in values and not _SHORTCODE.fullmatch(values["shortcode"]):
        raise InvalidInput("shortcode", values["shortcode"], "3 to 8 digits")
    if "mention_format" in values:
        fmt = values["mention_format"]
        if not fmt.strip():
            raise InvalidInput("mention_format", fmt, "empty")
    if values.get("brand"):  # shown in the STOP confirmation SMS; '' stands for the name
        values["brand"] = display_name("brand", values["brand"], limit=100)
    if "confirmation_text" in values:
        text = check_sms_text("confirmation_text", values["confirmation_text"])
        try:
            text.format(brand="x")
        except (KeyError, IndexError, ValueError) as error:
            raise InvalidInput("confirmation_text", text, "only {brand} may be used") from error
    if "window_policy" in values and values["window_policy"] is not None:
        _check_window_policy(values["window_policy"])
    if "unsubscribe_url" in values and values["unsubscribe_url"] is not None:
        url = values["unsubscribe_url"]
        if not re.fullmatch(r"https?://\S+", url) or any(
            unicodedata.category(c) in ("Cc", "Cf") for c in url
        ):
            raise InvalidInput("unsubscribe_url", url, "an http(s):// URL")
        if "@" in url.partition("://")[2].split("/", 1)[0]:  # https://shop.fr@evil.com/
            raise InvalidInput(
                "unsubscribe_url",
                url,
                "a link with a name before '@' in its host part: a reader takes the name for"
                " the site, while the link leads to what follows the '@'",
            )
        if len(url) > UNSUBSCRIBE_URL_LIMIT:
            raise InvalidInput(
                "unsubscribe_url",
                url,
                f"{len(url)} characters, at most {UNSUBSCRIBE_URL_LIMIT}: the link is in every"
                " SMS sent abroad",
            )
        if is_placeholder_url(url):
            raise InvalidInput(
                "unsubscribe_url",
                url,
                "a placeholder or local host (.invalid, .example, .test, example.com,"
                " localhost, a private address…) that leads no recipient to an unsubscribe"
                " page; give your real page, e.g."
                " https://shop.fr/stop-sms",
            )
    if "time_zone" in values:
        values["time_zone"] = check_time_zone(values["time_zone"])
    for field in ("alert_threshold_millicredits",):
        if field in values and values[field] < 0:
            raise InvalidInput(field, values[field], "must not be negative")


#: The zones the settings page offers first (a text field takes any other IANA name):
#: mainland France, its overseas departments and regions, and the neighbours French shops sell to.
COMMON_TIME_ZONES = (
    "Europe/Paris",
    "Europe/Brussels",
    "Europe/Luxembourg",
    "Europe/Zurich",
    "Europe/Monaco",
    "Europe/London",
    "America/Martinique",
    "America/Guadeloupe",
    "America/Cayenne",
    "Indian/Reunion",
    "Indian/Mayotte",
    "Pacific/Noumea",
    "Pacific/Tahiti",
    "America/Montreal",
    "UTC",
)


def check_time_zone(value: str) -> str:
    """``value`` (spaces trimmed) when it is an IANA time zone name this machine knows
    (``Europe/Brussels``), else :class:`InvalidInput` naming ``time_zone``.

    Checked against :func:`zoneinfo.available_timezones` before :class:`ZoneInfo` is asked, so
    a path (``../../etc/passwd``), a file of the zone database that is not a zone
    (``zone.tab``) or a bare abbreviation that the database happens to hold (``CET``, ``EST``:
    an offset, not a place) is refused with the same sentence."""
    name = value.strip() if isinstance(value, str) else value
    known = isinstance(name, str) and name in _zone_names()
    if not known or ("/" not in name and name != "UTC"):
        raise InvalidInput(
            "time_zone",
            value,
            "not a time zone name; give an IANA name such as Europe/Paris,"
            " Europe/Brussels or America/Martinique",
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidInput("time_zone", value, "unknown on this server") from error
    return name


@cache
def _zone_names() -> frozenset[str]:
    """The zone database's names (read once: about 600, 1 ms)."""
    return frozenset(available_timezones())


def check_mention(mention_format: str, shortcode: str) -> str:
    """The mention ``mention_format`` gives with ``shortcode``, else :class:`InvalidInput` with
    the sentence an account gets (a preview given a mention format answers with the accounts' rule).
    """
    _check_mention(mention_format, shortcode)
    return fill_mention_format(mention_format, shortcode)


def _check_mention(mention_format: str, shortcode: str) -> None:
    """The account's mention must be a working STOP mention with its shortcode (rule 2)."""
    try:
        check_mention_format(mention_format, shortcode)
    except InvalidMentionFormat as error:
        raise InvalidInput(
            "mention_format",
            mention_format,
            error.reason
            + (
                "; a marketing SMS must end with STOP and the shortcode,"
                " e.g. 'STOP {shortcode}' or 'STOP au {shortcode}'"
            ),
        ) from None


def _check_window_policy(name: str) -> None:
    get_policy(name)  # raises UnknownPolicy naming the known ones


def create_account(
    connection: Connection,
    name: str,
    *,
    type: str = "marketing",
    shortcode: str = t.DEFAULT_SHORTCODE,
    validated: bool = False,
    brand: str | None = None,
    mention_format: str = t.DEFAULT_MENTION_FORMAT,
    optout_scope: str = "account",
    window_policy: str | None = None,
    unsubscribe_url: str | None = None,
    confirmation_text: str = t.DEFAULT_CONFIRMATION_TEXT,
    alert_threshold_millicredits: int = 0,
    time_zone: str = t.DEFAULT_TIME_ZONE,
    now: datetime | None = None,
) -> Account:
    """Create an account (its mention is on: rule 1 lets only notification accounts drop it)."""
    if not _NAME.fullmatch(name):
        raise InvalidInput("account name", name, "letters, digits, '.', '_' or '-' (max 100)")
    values: dict[str, Any] = {
        "name": name,
        "type": type,
        "shortcode": shortcode,
        "validated": validated,
        "brand": brand or name,
        "mention_format": mention_format,
        "mention_enabled": True,
        "optout_scope": optout_scope,
        "window_policy": window_policy,
        "unsubscribe_url": unsubscribe_url,
        "confirmation_text": confirmation_text,
        "alert_threshold_millicredits": alert_threshold_millicredits,
        "time_zone": time_zone,
        "created_at": now or datetime.now(UTC),
    }
    _check_fields(values)
    _check_mention(mention_format, shortcode)
    try:
        with connection.begin_nested():
            connection.execute(insert(t.accounts).values(values))
    except IntegrityError as error:
        raise AlreadyExists("account", name) from error
    return get_account(connection, name)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountChanges:
    """The settings :func:`update_account` changes: a field left ``None`` stays as it is.

    ``''`` clears a value that may be absent (``unsubscribe_url``, ``window_policy``: stored
    as none) and gives ``brand`` back the account's name; nothing else can be cleared.
    """

    type: str | None = None
    validated: bool | None = None
    shortcode: str | None = None
    mention_format: str | None = None
    mention_enabled: bool | None = None
    unsubscribe_url: str | None = None
    optout_scope: str | None = None
    window_policy: str | None = None
    brand: str | None = None
    confirmation_text: str | None = None
    alert_threshold_millicredits: int | None = None
    time_zone: str | None = None

    @classmethod
    def from_fields(cls, named: Mapping[str, Any]) -> AccountChanges:
        """The changes named by ``named`` (e.g. a JSON body); :class:`InvalidInput` names the
        first field that is not a setting."""
        unknown = sorted(set(named) - set(SETTABLE))
        if unknown:
            raise InvalidInput("account field", unknown[0], f"one of {', '.join(SETTABLE)}")
        return cls(**named)

    def values(self) -> dict[str, Any]:
        """The changed columns and their stored values (``''`` → none for a nullable one)."""
        values = {name: getattr(self, name) for name in SETTABLE}
        changed = {name: value for name, value in values.items() if value is not None}
        for name in _CLEARABLE:
            if changed.get(name) == "":
                changed[name] = None
        return changed


#: Fields :class:`AccountChanges` holds.
SETTABLE = tuple(f.name for f in fields(AccountChanges))
#: Fields stored as none when given as ``''``.
_CLEARABLE = ("unsubscribe_url", "window_policy")


def update_account(connection: Connection, account: AccountRef, changes: AccountChanges) -> Account:
    """Apply ``changes`` after the same checks as :func:`create_account`.

    Refuses to switch the mention off on a marketing account (rule 1).
    """
    current = resolve_account(connection, account)
    values = changes.values()
    if not values:
        return current
    _check_fields(values)
    if "mention_format" in values or "shortcode" in values:
        _check_mention(
            values.get("mention_format", current.mention_format),
            values.get("shortcode", current.shortcode),
        )
    final_type = values.get("type", current.type)
    final_mention = values.get("mention_enabled", current.mention_enabled)
    if not final_mention and final_type != "notification":
        raise InvalidInput(
            "mention_enabled", False, "only a notification account may send without STOP"
        )
    if "brand" in values and not values["brand"]:
        values["brand"] = current.name
    connection.execute(update(t.accounts).where(t.accounts.c.id == current.id).values(values))
    return get_account(connection, current.name)


# -- senders (rule 9) ---------------------------------------------------------------------


def add_sender(
    connection: Connection,
    account: AccountRef,
    sender: str,
    *,
    authorised_protected: bool = False,
    now: datetime | None = None,
) -> Sender:
    """Put ``sender`` on the account's list, after rule 9 (generic/protected need authorising)."""
    acc = resolve_account(connection, account)
    parsed = parse_sender(sender, authorised=authorised_protected)
    try:
        with connection.begin_nested():
            connection.execute(
                insert(t.senders).values(
                    account_id=acc.id,
                    sender=parsed.value,
                    authorised_protected=authorised_protected,
                    created_at=now or datetime.now(UTC),
                )
            )
    except IntegrityError as error:
        raise AlreadyExists("sender", parsed.value) from error
    return Sender(parsed.value, parsed.kind.value, authorised_protected, now or datetime.now(UTC))


def list_senders(connection: Connection, account: AccountRef) -> list[Sender]:
    acc = resolve_account(connection, account)
    rows = connection.execute(_SENDERS, {"account_id": acc.id}).mappings()
    return [
        Sender(
            row["sender"],
            parse_sender(row["sender"], authorised=True).kind.value,
            bool(row["authorised_protected"]),
            row["created_at"],
        )
        for row in rows
    ]


def remove_sender(connection: Connection, account: AccountRef, sender: str) -> None:
    acc = resolve_account(connection, account)
    result = connection.execute(
        delete(t.senders).where(t.senders.c.account_id == acc.id, t.senders.c.sender == sender)
    )
    if result.rowcount == 0:
        raise NotFound("sender", sender)


def resolve_sender(connection: Connection, account: AccountRef, requested: str | None) -> str:
    """The sender a message of this account leaves with (rule 9, see ``effective_sender``)."""
    acc = resolve_account(connection, account)
    if requested is not None and requested.strip() and acc.validated:
        allowed = {s.sender for s in list_senders(connection, acc)}
    else:
        allowed = set()
    return effective_sender(
        requested, validated=acc.validated, allowed=allowed, shortcode=acc.shortcode
    )


# -- verified URL domains (rule 10) -----------------------------------------------------------

_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}")


def _normalise_domain(domain: str) -> str:
    value = domain.strip().lower().rstrip(".")
    if re.search(r"[/:@?#\\\s]", value):  # a URL, not a host: which part was meant is a guess
        raise InvalidInput(
            "domain", domain, "give the host name alone, e.g. shop.example.fr (no scheme or path)"
        )
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise InvalidInput("domain", domain, "not a domain name") from error
    if not _DOMAIN.fullmatch(value):
        raise InvalidInput("domain", domain, "not a domain name (e.g. shop.example.fr)")
    if not public_suffixes().extract_str(value, include_psl_private_domains=True).domain:
        raise InvalidInput(
            "domain",
            domain,
            f"{value} is a public suffix, under which anyone can register a name: allowing it"
            f" would let links to all of them through; give your own domain, e.g. shop.{value}",
        )
    return value


def add_domain(
    connection: Connection, account: AccountRef, domain: str, *, now: datetime | None = None
) -> str:
    """Verify ``domain`` for the account (its subdomains are covered too); returns it normalised."""
    acc = resolve_account(connection, account)
    value = _normalise_domain(domain)
    try:
        with connection.begin_nested():
            connection.execute(
                insert(t.url_domains).values(
                    account_id=acc.id, domain=value, created_at=now or datetime.now(UTC)
                )
            )
    except IntegrityError as error:
        raise AlreadyExists("domain", value) from error
    return value


def list_domains(connection: Connection, account: AccountRef) -> list[str]:
    acc = resolve_account(connection, account)
    return list(connection.execute(_DOMAINS, {"account_id": acc.id}).scalars())


def remove_domain(connection: Connection, account: AccountRef, domain: str) -> None:
    acc = resolve_account(connection, account)
    value = _normalise_domain(domain)
    result = connection.execute(
        delete(t.url_domains).where(
            t.url_domains.c.account_id == acc.id, t.url_domains.c.domain == value
        )
    )
    if result.rowcount == 0:
        raise NotFound("domain", value)


# -- prices -------------------------------------------------------------------------------------


def set_price(
    connection: Connection, account: AccountRef, region: str, millicredits_per_part: int
) -> None:
    """Set the price of one part to ``region`` (ISO code, or ``*`` for every other region)."""
    acc = resolve_account(connection, account)
    code = region.strip().upper()
    if code != "*" and not re.fullmatch(r"[A-Z]{2}", code):
        raise InvalidInput("region", region, "an ISO 3166 code such as FR, or *")
    if millicredits_per_part < 0:
        raise InvalidInput("price", millicredits_per_part, "must not be negative")
    where = (t.account_prices.c.account_id == acc.id, t.account_prices.c.region == code)
    if connection.execute(select(t.account_prices.c.region).where(*where)).first():
        connection.execute(
            update(t.account_prices)
            .where(*where)
            .values(millicredits_per_part=millicredits_per_part)
        )
    else:
        connection.execute(
            insert(t.account_prices).values(
                account_id=acc.id, region=code, millicredits_per_part=millicredits_per_part
            )
        )


def price_table(connection: Connection, account: AccountRef) -> PriceTable:
    """The account's prices (see :class:`PriceTable` for the fall-backs)."""
    acc = resolve_account(connection, account)
    rows = connection.execute(_PRICES, {"account_id": acc.id}).all()
    prices = {row.region: row.millicredits_per_part for row in rows}
    fallback = prices.pop("*", t.DEFAULT_PRICE_MILLICREDITS)
    return PriceTable(prices, fallback)


# -- account keywords ---------------------------------------------------------------------------


def add_keyword(connection: Connection, account: AccountRef, keyword: str, intent: str) -> str:
    """Add an inbound keyword meaning ``intent`` (optout, optin, help) for this account."""
    acc = resolve_account(connection, account)
    word = keyword.strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{2,50}", word):
        raise InvalidInput("keyword", keyword, "2 to 50 letters or digits, one word")
    if intent not in t.KEYWORD_INTENTS:
        raise InvalidInput("intent", intent, f"one of {', '.join(t.KEYWORD_INTENTS)}")
    try:
        with connection.begin_nested():
            connection.execute(
                insert(t.account_keywords).values(account_id=acc.id, keyword=word, intent=intent)
            )
    except IntegrityError as error:
        raise AlreadyExists("keyword", word) from error
    return word


def remove_keyword(connection: Connection, account: AccountRef, keyword: str) -> None:
    acc = resolve_account(connection, account)
    result = connection.execute(
        delete(t.account_keywords).where(
            t.account_keywords.c.account_id == acc.id,
            t.account_keywords.c.keyword == keyword.strip().upper(),
        )
    )
    if result.rowcount == 0:
        raise NotFound("keyword", keyword)


def keywords(connection: Connection, account: AccountRef) -> dict[str, str]:
    """The account's own keywords: ``{KEYWORD: intent}``."""
    acc = resolve_account(connection, account)
    rows = connection.execute(
        select(t.account_keywords.c.keyword, t.account_keywords.c.intent).where(
            t.account_keywords.c.account_id == acc.id
        )
    ).all()
    return {row.keyword: row.intent for row in rows}
