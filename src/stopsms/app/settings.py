"""The customer area's settings: the account's STOP mention, shortcode, senders, domains,
sending hours, unsubscribe page, opt-out scope, API keys, webhooks and users.

Every change runs the services' own checks (a setting that would defeat a rule is refused
with their sentence: a mention without STOP and the shortcode, a placeholder unsubscribe
link, a protected sender name, a public suffix as a link domain, a private webhook target,
a marketing account without its mention — rule 1: only a notification account, typed so by
an installation admin, drops it) and commits with its audit entry in one transaction, or
not at all. Only an owner changes anything here (:func:`~stopsms.app.access.require`);
editors and viewers read.

The same services as ``stopsms accounts set``, ``senders``, ``domains``, ``apikeys``,
``webhooks`` and ``users``, and as ``/v1/account``, ``/v1/senders``, ``/v1/domains``,
``/v1/apikeys``; one difference with the API: the API keys and webhooks listed here are the
account's, read by id of the signed-in account (another's is ``NotFound``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from stopsms.app import webhooks
from stopsms.app.access import require
from stopsms.app.application import App
from stopsms.domain.account import Account
from stopsms.domain.mention import fill_mention_format
from stopsms.domain.window_policies import POLICIES
from stopsms.errors import InvalidInput
from stopsms.services.access import users
from stopsms.services.access.audit import AuditEntry, audit_entries, record
from stopsms.services.access.keys import ApiKey, CreatedKey, Principal, create_key, list_keys
from stopsms.services.access.keys import revoke_key as revoke
from stopsms.services.access.roles import Role, parse_role
from stopsms.services.accounts import accounts as svc
from stopsms.services.accounts.accounts import AccountChanges, Sender, get_account_by_id
from stopsms.services.webhooks import deliveries, endpoints
from stopsms.services.webhooks.deliveries import Delivery
from stopsms.services.webhooks.endpoints import Endpoint
from stopsms.services.webhooks.events import EVENT_TYPES

__all__ = [
    "FIELDS",
    "SettingsView",
    "add_domain",
    "add_member",
    "add_sender",
    "add_webhook",
    "change_member",
    "change_settings",
    "new_key",
    "remove_domain",
    "remove_member",
    "remove_sender",
    "replay_delivery",
    "revoke_key",
    "set_mention",
    "switch_webhook",
    "view",
]

#: The account's settings the page's main form edits (the services' names).
FIELDS: Final = (
    "brand",
    "shortcode",
    "mention_format",
    "unsubscribe_url",
    "window_policy",
    "optout_scope",
    "confirmation_text",
    "time_zone",
)
#: Settings that may be left empty (stored as none): the account then has none of its own.
_CLEARABLE: Final = ("unsubscribe_url", "window_policy")
#: How many webhook deliveries and audit entries the page shows, newest first.
RECENT: Final = 30


@dataclass(frozen=True, slots=True)
class SettingsView:
    """Everything the settings page shows of one account."""

    account: Account
    mention: str
    senders: list[Sender]
    domains: list[str]
    keys: list[ApiKey]
    endpoints: list[Endpoint]
    deliveries: list[Delivery]
    members: list[users.Member]
    audit: list[AuditEntry]
    hosted_page: str | None

    @property
    def notification(self) -> bool:
        return self.account.type == "notification"

    @property
    def time_zones(self) -> tuple[str, ...]:
        """The zones the page suggests (any other IANA name may be typed)."""
        return svc.COMMON_TIME_ZONES

    @property
    def policies(self) -> tuple[tuple[str, str], ...]:
        """The sending-hours policies to choose from: name and description."""
        return tuple((name, p.description) for name, p in POLICIES.items())

    @property
    def events(self) -> tuple[str, ...]:
        return EVENT_TYPES


def view(app: App, who: Principal) -> SettingsView:
    """The settings page of ``who``'s account (every role reads it)."""
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        public = app.settings.public_url
        return SettingsView(
            account=account,
            mention=fill_mention_format(account.mention_format, account.shortcode),
            senders=svc.list_senders(connection, account),
            domains=svc.list_domains(connection, account),
            keys=list_keys(connection, account),
            endpoints=endpoints.list_endpoints(connection, account.id),
            deliveries=deliveries.list_deliveries(connection, account.id, limit=RECENT),
            members=users.list_members(connection, account.id),
            audit=audit_entries(connection, account.id, limit=RECENT),
            hosted_page=f"{public.rstrip('/')}/u/a/{account.name}" if public else None,
        )


def change_settings(
    app: App, who: Principal, fields: Mapping[str, str], now: datetime
) -> dict[str, str]:
    """Apply the settings of :data:`FIELDS` that ``fields`` gives and that differ from the
    account's (an empty clearable one clears it); returns what changed, also written to the
    audit log (``account.updated``). Nothing is written when a check refuses a value."""
    require(who, Role.OWNER)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        changed: dict[str, str] = {}
        for name in FIELDS:
            if name not in fields:
                continue
            value = fields[name].strip()
            current = getattr(account, name)
            if value == (current or "") or (not value and name not in _CLEARABLE):
                continue
            changed[name] = value
        if changed:
            svc.update_account(connection, account, AccountChanges.from_fields(changed))
            record(connection, account.id, who.actor, "account.updated", changed, now)
    return changed


def set_mention(app: App, who: Principal, enabled: bool, now: datetime) -> None:
    """Switch the account's STOP mention on or off for good: off is refused on a marketing
    account (rule 1, the services' sentence); audited ``account.updated``."""
    require(who, Role.OWNER)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        svc.update_account(connection, account, AccountChanges(mention_enabled=enabled))
        detail = {"mention_enabled": enabled}
        record(connection, account.id, who.actor, "account.updated", detail, now)


# -- senders and domains --------------------------------------------------------------------


def add_sender(app: App, who: Principal, sender: str, now: datetime) -> Sender:
    """Add a sender ID (rule 9: a generic or protected name needs the operator's written
    authorisation, so it is refused here as over the API); audited ``sender.added``."""
    require(who, Role.OWNER)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        added = svc.add_sender(connection, account, sender, now=now)
        record(connection, account.id, who.actor, "sender.added", {"sender": added.sender}, now)
    return added


def remove_sender(app: App, who: Principal, sender: str, now: datetime) -> None:
    """Remove a sender ID (another's or a missing one is ``NotFound``); audited."""
    require(who, Role.OWNER)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        svc.remove_sender(connection, account, sender)
        record(connection, account.id, who.actor, "sender.removed", {"sender": sender}, now)


def add_domain(app: App, who: Principal, domain: str, now: datetime) -> str:
    """Verify a domain for the account's links (subdomains included; a public suffix is
    refused); audited ``domain.added``. Nothing checks that the account controls it."""
    require(who, Role.OWNER)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        value = svc.add_domain(connection, account, domain, now=now)
        record(connection, account.id, who.actor, "domain.added", {"domain": value}, now)
    return value


def remove_domain(app: App, who: Principal, domain: str, now: datetime) -> None:
    """Stop allowing links to a domain; audited ``domain.removed``."""
    require(who, Role.OWNER)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        svc.remove_domain(connection, account, domain)
        record(connection, account.id, who.actor, "domain.removed", {"domain": domain}, now)


# -- API keys -----------------------------------------------------------------------------------


def new_key(app: App, who: Principal, name: str, role: str, now: datetime) -> CreatedKey:
    """A new API key (the result holds it: shown once, stored as a hash); audited by the
    service (``api_key.created``, never the key)."""
    require(who, Role.OWNER)
    parsed = parse_role(role)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        return create_key(connection, account, name, parsed, actor=who.actor, now=now)


def revoke_key(app: App, who: Principal, key_id: int, now: datetime) -> ApiKey:
    """Revoke one of the account's keys (another's is ``NotFound``); audited."""
    require(who, Role.OWNER)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        return revoke(connection, account, key_id, actor=who.actor, now=now)


# -- webhooks -----------------------------------------------------------------------------------


def add_webhook(
    app: App, who: Principal, url: str, events: Iterable[str], now: datetime
) -> Endpoint:
    """A new endpoint (its secret in the result, shown once): the owner's
    :func:`stopsms.app.webhooks.add_endpoint`, audited ``webhook.created`` as over the API."""
    require(who, Role.OWNER)
    return webhooks.add_endpoint(app, who.account, url, events, actor=who.actor, now=now)


def switch_webhook(
    app: App, who: Principal, endpoint_id: int, enabled: bool, now: datetime
) -> Endpoint:
    """Disable an endpoint (nothing is sent to it; its deliveries wait; its reason names the
    user) or enable it again (its pending deliveries are due at once): the owner's
    :func:`stopsms.app.webhooks.update_endpoint`, audited ``webhook.updated`` as over the API."""
    require(who, Role.OWNER)
    return webhooks.update_endpoint(
        app, who.account, endpoint_id, enabled=enabled, actor=who.actor, now=now
    )


def replay_delivery(app: App, who: Principal, delivery_id: int, now: datetime) -> None:
    """Send one of the account's deliveries again (same ``webhook-id``, a fresh day of
    retries): the owner's :func:`stopsms.app.webhooks.replay_delivery`, audited
    ``webhook.replayed``."""
    require(who, Role.OWNER)
    webhooks.replay_delivery(app, who.account, delivery_id, actor=who.actor, now=now)


# -- users of the account -----------------------------------------------------------------------


def add_member(
    app: App, who: Principal, email: str, role: str, password: str, now: datetime
) -> users.Member:
    """Give ``email`` ``role`` in the account: an existing user gets the role (their password
    unchanged, ``password`` must be left empty), a new one is created with ``password``
    (at least 12 characters; the owner hands it over). Audited (``user.created``,
    ``role.set``)."""
    require(who, Role.OWNER)
    parsed = parse_role(role)
    address = users.check_email(email)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        existing = users.find_user(connection, address)
        if existing is None:
            users.create_user(
                connection,
                address,
                password,
                account=account.name,
                role=parsed,
                actor=who.actor,
                now=now,
            )
        elif password:
            raise InvalidInput(
                "password", "…", "this user exists: their own password stays, leave it empty"
            )
        elif any(m.user_id == existing for m in users.list_members(connection, account.id)):
            raise InvalidInput("email", address, "already a member: change their role below")
        else:
            users.set_role(connection, address, account.name, parsed, actor=who.actor, now=now)
        found = users.find_user(connection, address)
    return users.Member(found or 0, address, parsed.value)


def change_member(app: App, who: Principal, user_id: int, role: str, now: datetime) -> users.Member:
    """Give member ``user_id`` another role (the only owner stays owner); audited."""
    require(who, Role.OWNER)
    parsed = parse_role(role)
    with app.transaction() as connection:
        return users.change_member_role(
            connection, who.account_id, user_id, parsed, actor=who.actor, now=now
        )


def remove_member(app: App, who: Principal, user_id: int, now: datetime) -> users.Member:
    """Withdraw member ``user_id``'s role here (not the only owner); audited."""
    require(who, Role.OWNER)
    with app.transaction() as connection:
        return users.remove_member(connection, who.account_id, user_id, actor=who.actor, now=now)
