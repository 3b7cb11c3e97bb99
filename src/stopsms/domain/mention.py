"""The STOP mention: which one a message gets, recognising one already there, appending it.

DESIGN.md rules 1 and 2, decided here:

- A marketing message always gets the mention, from any account.
- A marketing account's messages always carry it, informative ones included ("only a
  notification account may send without it", seed 001).
- A notification account's informative messages carry it while the account's mention setting
  is on (``mention_enabled``, on by default — seed 001: a notification account "can activate
  or deactivate at any time the display of the word STOP SMS"), and none once it is off.
- Which mention: ``STOP <shortcode>`` (per-account format: ``STOP {shortcode}``,
  ``STOP au {shortcode}``) for France, the overseas territories served by French operators (RE
  GP MQ GF YT PM BL MF) and Belgium; an unsubscribe link to the hosted page everywhere else,
  including NC, PF and WF, whose own operators do not route the French shortcodes.
- A mention format is accepted only if the mention it produces is itself recognised as a STOP
  mention (:func:`existing_mention`, the recogniser that prevents doubling) and contains the
  shortcode (:func:`check_mention_format`): ``{shortcode}``, ``Reply NO`` or ``STOP SMS``
  alone would leave a marketing SMS without a working way out.
- ``00000`` (:data:`PLACEHOLDER_SHORTCODE`) is a placeholder, never a real shortcode: ``STOP
  00000`` works only when an alphanumeric sender goes through a provider that replaces it by
  its own shortcode (seed 002), and nobody can reply to a message sent *from* ``00000``
  (:func:`shortcode_refusal`).
- The default link mention is ``STOP: {url}`` with ``https://stopsms.invalid/u``
  (:data:`PLACEHOLDER_URL`: ``.invalid`` so that an unconfigured install can never point a
  recipient at somebody else's site). A placeholder link (:func:`is_placeholder_url`:
  ``.invalid``, ``.example``, ``.test``, ``.localhost``, ``example.com|net|org``) never
  leaves: until the hosted page exists, a recipient whose mention would be one is excluded,
  and an account's ``unsubscribe_url`` may not be one.
- Appending: never twice (:func:`kept_mention`): a text that already ends with the mention it
  needs (the same shortcode, ``STOP 36 034`` for ``STOP 36034``, or the same link) is left
  alone; a text that ends with a mention that would not work for it (``Stop SMS`` with no
  number, another shortcode, another link, often brought by a merge field) gets the account's
  mention after it, since a doubled mention is only ugly and a missing one is unlawful.
  Trailing whitespace of the text is dropped and the mention joined by one space, or by one
  newline when that whitespace held a newline (the author put the end of the message on its
  own line). Both cost one unit.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from stopsms.domain.errors import DomainError, InvalidSender
from stopsms.domain.senders import SenderKind, parse_sender
from stopsms.domain.unsubscribe import PLACEHOLDER_TOKEN, UNSUBSCRIBE_PATH

__all__ = [
    "PLACEHOLDER_SHORTCODE",
    "PLACEHOLDER_URL",
    "SHORTCODE_REGIONS",
    "AccountType",
    "InvalidMentionFormat",
    "MentionDecision",
    "MentionStyle",
    "MessageType",
    "append_mention",
    "check_mention_format",
    "decide_mention",
    "ends_with_mention",
    "existing_mention",
    "fill_mention_format",
    "is_alias",
    "is_placeholder_url",
    "kept_mention",
    "mention_suffix",
    "placeholder_on_wire",
    "shortcode_refusal",
]

#: The shortcode of an account nobody configured: French operators' placeholder, which a
#: substituting provider replaces by its own shortcode; never a number one can reply to.
PLACEHOLDER_SHORTCODE: Final = "00000"
#: The longest mention format (its column's width; the mention is in every SMS).
MENTION_FORMAT_LIMIT: Final = 100
#: The unsubscribe link of an account nobody configured (leads nowhere, on purpose).
PLACEHOLDER_URL: Final = "https://stopsms.invalid/u"

# Regions whose operators route the French/Belgian STOP shortcodes (rule 2).
SHORTCODE_REGIONS: Final = frozenset({"FR", "RE", "GP", "MQ", "GF", "YT", "PM", "BL", "MF", "BE"})


class MessageType(enum.Enum):
    """Marketing (default, needs consent and the mention) or informative (order, OTP…)."""

    MARKETING = "marketing"
    INFORMATIVE = "informative"


class AccountType(enum.Enum):
    """Marketing accounts (default) always carry the mention; notification ones may not."""

    MARKETING = "marketing"
    NOTIFICATION = "notification"


@dataclass(frozen=True, slots=True)
class MentionStyle:
    """An account's mention formats.

    ``format`` takes ``{shortcode}`` (``"STOP {shortcode}"``, ``"STOP au {shortcode}"``) or is
    a literal such as ``"STOP 00000"``; ``link_format`` takes ``{url}``, filled with
    ``unsubscribe_url``, for regions without a STOP shortcode.
    """

    format: str = "STOP {shortcode}"
    shortcode: str = "36034"
    link_format: str = "STOP: {url}"
    unsubscribe_url: str = PLACEHOLDER_URL

    def shortcode_mention(self) -> str:
        """The mention for shortcode regions, e.g. ``STOP 36034``."""
        return fill_mention_format(self.format, self.shortcode)

    def link_mention(self) -> str:
        """The mention for other regions, e.g. ``STOP: https://stopsms.invalid/u``."""
        return self.link_format.replace("{url}", self.unsubscribe_url)

    @property
    def link_works(self) -> bool:
        """Whether the link mention leads to a real page (not a placeholder)."""
        return not is_placeholder_url(self.unsubscribe_url)


@dataclass(frozen=True, slots=True)
class MentionDecision:
    """The mention a message must end with (None: none) and the sentence saying why."""

    mention: str | None
    reason: str


def decide_mention(
    region: str,
    message_type: MessageType,
    style: MentionStyle = MentionStyle(),
    account_type: AccountType = AccountType.MARKETING,
    mention_enabled: bool = True,
) -> MentionDecision:
    """Which mention a message to ``region`` gets, by rules 1 and 2 (see the module doc)."""
    region = region.upper()
    note = ""
    if message_type is MessageType.MARKETING:
        why = "marketing SMS"
    elif account_type is AccountType.MARKETING:
        why = "informative SMS from a marketing account"
        note = "; a marketing account's messages always carry the mention"
    elif mention_enabled:
        why = "informative SMS from a notification account with the mention on"
    else:
        return MentionDecision(
            None, "informative message from a notification account, mention off: no mention"
        )
    if region in SHORTCODE_REGIONS:
        operators = "Belgian" if region == "BE" else "French"
        return MentionDecision(
            style.shortcode_mention(),
            f"{why} to {region}: STOP + shortcode ({operators} operators route a STOP reply to"
            f" the shortcode){note}",
        )
    return MentionDecision(
        style.link_mention(),
        f"{why} to {region or 'an unknown region'}: an unsubscribe link (no operator there"
        f" routes a STOP reply to a French or Belgian shortcode){note}",
    )


# A mention at the very end: STOP (not inside a word), then optionally SMS, then optionally
# "au"/"to"/":" and a short number (spaces allowed inside: "36 034") or a link; trailing
# spaces and punctuation tolerated. "Stop SMS" alone counts; a bare "STOP" does not ("don't
# stop").
_MENTION_AT_END: Final = re.compile(
    r"""stop
        (?:
            [\s:]+sms(?:[\s:]+(?:au|to|=|->)?[\s:]*\d(?:[\d\u00a0 ]{2,5})\d)?
          | [\s:]+(?:sms[\s:]+)?(?:au\b|to\b|=|->)?[\s:]*\d(?:[\d\u00a0 ]{2,5})\d
          | [\s:]*(?:sms[\s:]+)?(?:au\b|to\b|sur\b|=|->|:)?[\s:]*(?:https?://|www\.)\S+
        )
        [\s.!?;,)\]»"'’]*\Z""",
    re.IGNORECASE | re.VERBOSE,
)
_TAIL_WINDOW: Final = 300


def existing_mention(text: str) -> str | None:
    """The STOP mention ``text`` already ends with (without trailing punctuation), or None.

    Recognised, in any case: ``STOP 36034``, ``STOP au 36173``, ``Stop SMS``,
    ``STOP SMS au 36034``, ``STOP 00000``, ``stop: https://…``; trailing spaces and
    punctuation are tolerated. A bare ``STOP`` is not a mention ("don't stop"), nor is
    ``non-stop 2024``.
    """
    tail = text[-_TAIL_WINDOW:]
    lowered = tail.lower()
    at = lowered.rfind("stop")
    # The mention starts at one of the last "stop"s; try from the last one backwards.
    while at >= 0:
        if at == 0 or _boundary(tail[at - 1]):
            m = _MENTION_AT_END.match(tail, at)
            if m is not None:
                return _strip_trailing(m.group(0))
        at = lowered.rfind("stop", 0, at)
    if len(text) > _TAIL_WINDOW and len(tail.split()) <= 1:
        # Only a link (no whitespace) longer than the window can start before it.
        for m in _MENTION_AT_END.finditer(text):
            if m.start() == 0 or _boundary(text[m.start() - 1]):
                return _strip_trailing(m.group(0))
    return None


def ends_with_mention(text: str) -> bool:
    """Whether ``text`` already ends with a STOP mention (see :func:`existing_mention`)."""
    return existing_mention(text) is not None


def kept_mention(text: str, mention: str) -> str | None:
    """The mention ``text`` ends with when it works as ``mention`` (then none is appended).

    It works when it carries the same link as ``mention`` (compared without case), or, for a
    shortcode mention, the same digits (``STOP SMS au 36 034`` for ``STOP 36034``). ``Stop
    SMS`` alone, another shortcode or another link does not: the caller appends ``mention``.
    """
    found = existing_mention(text)
    if found is None or not _carries(found, mention):
        return None
    return found


def _carries(found: str, mention: str) -> bool:
    link = _LINK.search(mention)
    if link is not None:
        return _strip_trailing(link.group(0)).lower() in found.lower()
    digits = "".join(c for c in mention if c.isdigit())
    return "".join(c for c in found if c.isdigit()) == digits


def _strip_trailing(mention: str) -> str:
    return mention.rstrip(_TRAILING)


_TRAILING: Final = " \t\r\n\u00a0.!?;,)]»\"'’"


def _boundary(c: str) -> bool:
    # "non-stop 2024" is not a mention: a hyphen or a letter before STOP rules it out.
    return not (c.isalnum() or c in "_-")


def mention_suffix(text: str, mention: str) -> tuple[str, str]:
    """Split the final message into ``(body, suffix)``: ``body + suffix`` is what is sent.

    ``suffix`` is ``""`` when ``text`` already ends with that mention (:func:`kept_mention`;
    ``body`` is then ``text`` unchanged); otherwise ``body`` is ``text`` without trailing
    whitespace and ``suffix`` the separator (one space, or one newline when that whitespace
    held one) and the mention. An empty text gets the mention alone.
    """
    if kept_mention(text, mention) is not None:
        return text, ""
    body = text.rstrip()
    if not body:
        return "", mention
    separator = "\n" if "\n" in text[len(body) :] else " "
    return body, separator + mention


def append_mention(text: str, mention: str) -> tuple[str, bool]:
    """``(final text, whether the mention was added)``; never adds it twice (see
    :func:`mention_suffix`).

    Trailing whitespace is dropped and the mention joined with one space, or one newline when
    that whitespace held a newline. An empty text becomes the mention alone.
    """
    body, suffix = mention_suffix(text, mention)
    if not suffix:
        return text, False
    return body + suffix, True


# ------------------------------------------------------------------ the account's settings


class InvalidMentionFormat(DomainError):
    """A mention format that would not produce a working STOP mention."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(
            f"mention format {value!r} refused: {reason}; a marketing SMS must end with a"
            " STOP mention containing the shortcode, e.g. 'STOP {shortcode}' or"
            " 'STOP au {shortcode}'"
        )
        self.value = value
        self.reason = reason


def fill_mention_format(format: str, shortcode: str) -> str:
    """The mention ``format`` gives with ``shortcode`` (``{shortcode}`` replaced, nothing else)."""
    return format.replace("{shortcode}", shortcode)


def check_mention_format(format: str, shortcode: str) -> str:
    """The mention ``format`` produces with ``shortcode``; :class:`InvalidMentionFormat` unless
    it is a recognised STOP mention (:func:`existing_mention`) containing the shortcode."""
    if not format.strip():
        raise InvalidMentionFormat(format, "it is empty")
    if len(format) > MENTION_FORMAT_LIMIT:
        raise InvalidMentionFormat(
            format, f"it is {len(format)} characters long, at most {MENTION_FORMAT_LIMIT}"
        )
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in format):
        raise InvalidMentionFormat(format, "it holds a control character (one line of text)")
    if "{" in format.replace("{shortcode}", "") or "}" in format.replace("{shortcode}", ""):
        raise InvalidMentionFormat(format, "only {shortcode} may be written in braces")
    if "{shortcode}" not in format:
        raise InvalidMentionFormat(format, "it does not contain {shortcode}")
    mention = fill_mention_format(format, shortcode)
    found = existing_mention(mention)
    if found is None:
        raise InvalidMentionFormat(
            format, f"{mention!r} is not a STOP mention (STOP, then the shortcode, at the end)"
        )
    if shortcode not in found:
        raise InvalidMentionFormat(
            format, f"the STOP mention {found!r} at its end does not contain the shortcode"
        )
    shown = "".join(c for c in found if c.isdigit())
    if shown != shortcode:
        raise InvalidMentionFormat(
            format, f"the STOP mention {found!r} shows the number {shown}, not the shortcode"
        )
    return mention


#: Hosts reserved for documentation and tests, never a real unsubscribe page (RFC 2606, 6761).
_PLACEHOLDER_TLDS: Final = ("invalid", "example", "test", "localhost", "local")
_PLACEHOLDER_DOMAINS: Final = ("example.com", "example.net", "example.org", "localhost")


def is_placeholder_url(url: str) -> bool:
    """Whether ``url`` cannot be a working unsubscribe page: not http(s), no host, a host
    reserved for examples (``.invalid``, ``.example``, ``.test``, ``.localhost``, ``.local``,
    ``example.com|net|org`` and their subdomains, ``localhost``) or an IP address no recipient
    can reach (loopback, private, link-local…)."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return True
    if parts.scheme not in ("http", "https") or not host:
        return True
    labels = host.split(".")
    if labels[-1] in _PLACEHOLDER_TLDS:
        return True
    try:
        if not ipaddress.ip_address(host).is_global:  # 127.0.0.1, 10.x, 192.168.x, ::1…
            return True
    except ValueError:
        pass
    return any(host == d or host.endswith("." + d) for d in _PLACEHOLDER_DOMAINS)


def shortcode_refusal(
    *, shortcode: str, sender: str, mention: bool, substitution: bool, alphanumeric: bool
) -> str | None:
    """Why messages of an account with ``shortcode``, sent by ``sender``, cannot leave (None:
    they can). ``mention``: they carry the shortcode mention; ``substitution``: the provider
    replaces ``STOP 00000`` by its own shortcode; ``alphanumeric``: ``sender`` is an alias.

    Nobody can reply to a message *from* :data:`PLACEHOLDER_SHORTCODE`; ``STOP 00000`` is a
    working mention only when a substituting provider sends it from an alphanumeric alias.
    """
    if sender == PLACEHOLDER_SHORTCODE:
        return (
            f"its messages would leave from {PLACEHOLDER_SHORTCODE}, a placeholder nobody can"
            " reply to"
        )
    if mention and shortcode == PLACEHOLDER_SHORTCODE and not (substitution and alphanumeric):
        why = (
            "the sender is not an alphanumeric alias"
            if substitution
            else "the provider does not replace it by its own shortcode"
        )
        return f"its STOP mention would be 'STOP {PLACEHOLDER_SHORTCODE}', a placeholder: {why}"
    return None


def is_alias(sender: str) -> bool:
    """Whether ``sender`` is an alphanumeric sender ID (an alias, not a number)."""
    try:
        return parse_sender(sender, authorised=True).kind is SenderKind.ALPHANUMERIC
    except InvalidSender:
        return False


#: Substrings one of which a message with a placeholder mention must hold (a cheap first test).
_SUSPECT: Final = (
    PLACEHOLDER_SHORTCODE,
    "00 000",
    "00\u00a0000",
    ".invalid",
    "example",
    ".test",
    "localhost",
    ".local",
    PLACEHOLDER_TOKEN,
)
_LINK: Final = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


def placeholder_on_wire(
    text: str, sender: str, *, substitution: bool, tokens_to_come: bool = False
) -> str | None:
    """The exclusion reason of a message about to be submitted with a placeholder (None: it
    may leave): ``placeholder_shortcode`` (from ``00000``, or ending with ``STOP 00000`` when
    the provider does not substitute it for an alias), ``no_unsubscribe_page`` (its mention is
    a placeholder link, or a hosted-page link still holding the placeholder token instead of
    its own: :mod:`stopsms.domain.unsubscribe`). ``tokens_to_come``: the text is a preview,
    composed before tokens exist (preparation gives each message its own), so the placeholder
    token is no reason. A substring test first: the full check is rare."""
    if sender == PLACEHOLDER_SHORTCODE:
        return "placeholder_shortcode"
    if not any(s in text for s in _SUSPECT):
        return None
    mention = existing_mention(text)
    if mention is None:
        return None
    digits = "".join(c for c in mention if c.isdigit())
    if digits == PLACEHOLDER_SHORTCODE and not (substitution and is_alias(sender)):
        return "placeholder_shortcode"
    link = _LINK.search(mention)
    if link is not None:
        url = link.group(0)
        if is_placeholder_url(url if "://" in url else "https://" + url):
            return "no_unsubscribe_page"
        if not tokens_to_come and UNSUBSCRIBE_PATH + PLACEHOLDER_TOKEN in url:
            return "no_unsubscribe_page"
    return None
