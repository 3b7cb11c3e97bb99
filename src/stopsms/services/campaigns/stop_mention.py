"""Whether a campaign's messages can carry a working STOP mention, checked where they start.

Rules 1 and 2 say which mention a message gets (:mod:`stopsms.domain.mention`); this module
refuses, with a sentence saying why and what to do, the settings under which that mention
would not work. It is asked at ``campaign create``, at preparation (``campaign send``, a
scheduled campaign started by the worker) and by the campaign preview:

- the account's mention format must still be a STOP mention with its shortcode (a format
  stored before the check existed is refused here, never sent);
- a message never leaves *from* the placeholder shortcode ``00000`` (an unvalidated account's
  messages leave from its shortcode, rule 9);
- ``STOP 00000`` leaves only from an alphanumeric alias through a provider that replaces it by
  its own shortcode (``shortcode_substitution=1`` on the provider URL);
- a recipient whose mention would be a placeholder link is excluded at preparation
  (``no_unsubscribe_page``, :mod:`stopsms.services.campaigns.decisions`), not refused here.

The dispatcher repeats the shortcode and link checks on every message it submits
(:func:`stopsms.domain.mention.placeholder_on_wire`): a message prepared under a substituting
provider and sent through another one is excluded, not sent.
"""

from __future__ import annotations

from stopsms.domain.mention import (
    PLACEHOLDER_SHORTCODE,
    AccountType,
    InvalidMentionFormat,
    MessageType,
    check_mention_format,
    decide_mention,
    is_alias,
    shortcode_refusal,
)
from stopsms.errors import Fix, ServiceError
from stopsms.services.accounts.accounts import Account

__all__ = [
    "MentionRefused",
    "check_sending",
    "mention_needed",
    "sending_refusal",
    "substitutes_shortcode",
]


class MentionRefused(ServiceError):
    """The account's settings would send a campaign without a working STOP mention."""


def mention_needed(account: Account, message_type: MessageType) -> bool:
    """Whether this account's messages of ``message_type`` carry a STOP mention (rule 1)."""
    decision = decide_mention(
        "FR",
        message_type,
        account_type=AccountType(account.type),
        mention_enabled=account.mention_enabled,
    )
    return decision.mention is not None


def sending_refusal(
    account: Account, sender: str, message_type: MessageType, *, substitution: bool
) -> str | None:
    """Why ``account``'s campaign from ``sender`` cannot be sent (None: it can), with what to
    do. ``substitution``: the provider replaces ``STOP 00000`` by its own shortcode."""
    refused = _refusal(account, sender, message_type, substitution=substitution)
    return None if refused is None else refused[0]


def _refusal(
    account: Account, sender: str, message_type: MessageType, *, substitution: bool
) -> tuple[str, Fix] | None:
    needed = mention_needed(account, message_type)
    name = account.name
    if needed:
        try:
            check_mention_format(account.mention_format, account.shortcode)
        except InvalidMentionFormat as error:
            return (
                f"account {name!r}: {error}; set its mention_format, e.g. 'STOP {{shortcode}}'",
                Fix("set_account", (("account", name), ("mention_format", "STOP {shortcode}"))),
            )
    why = shortcode_refusal(
        shortcode=account.shortcode,
        sender=sender,
        mention=needed,
        substitution=substitution,
        alphanumeric=is_alias(sender),
    )
    if why is None:
        return None
    fix = "set the account's real shortcode (its shortcode setting)"
    if sender != PLACEHOLDER_SHORTCODE:
        fix += (
            ", or send from an alphanumeric sender through a provider that replaces"
            " STOP 00000 by its shortcode (provider URL option shortcode_substitution=1)"
        )
    setting = Fix("set_account", (("account", name), ("shortcode", "NNNNN")))
    return f"account {name!r}: {why}; {fix}", setting


def check_sending(
    account: Account, sender: str, message_type: MessageType, *, substitution: bool
) -> None:
    """Raise :class:`MentionRefused` with the sentence of :func:`sending_refusal`, if any."""
    refused = _refusal(account, sender, message_type, substitution=substitution)
    if refused is not None:
        raise MentionRefused(refused[0], fix=refused[1])


def substitutes_shortcode(provider: object) -> bool:
    """Whether ``provider`` (any object) declares it replaces ``STOP 00000`` by its shortcode."""
    return bool(getattr(provider, "shortcode_substitution", False))
