"""The STOP mention: which one a message gets, recognising one already there, appending it.

DESIGN.md rules 1 and 2, decided here:

- A marketing message always gets the mention, from any account.
- A marketing account's messages always carry it, informative ones included ("only a
  notification account may send without it", seed 001).
- A notification account's informative messages carry it while the account's mention setting
  is on (``mention_enabled``, on by default — seed 001: a notification account "can activate
  or deactivate at any time the display of the word STOP SMS"), and none once it is off.
- Which mention: ``STOP <shortcode>`` (per-account format: ``STOP {shortcode}``,
  ``STOP au {shortcode}``, or the literal ``STOP 00000`` placeholder an operator replaces
  itself) for France, the overseas territories served by French operators (RE GP MQ GF YT PM BL
  MF) and Belgium; an unsubscribe link to the hosted page everywhere else, including NC, PF and
  WF, whose own operators do not route the French shortcodes.
- The default link mention is ``STOP: {url}`` with the hosted unsubscribe page
  ``https://stopsms.invalid/u`` (``.invalid`` so that an unconfigured install can never point a
  recipient at somebody else's site; operators set their own).
- Appending: never twice (:func:`ends_with_mention`); trailing whitespace of the text is
  dropped and the mention joined by one space, or by one newline when that whitespace held a
  newline (the author put the end of the message on its own line). Both cost one unit.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "SHORTCODE_REGIONS",
    "AccountType",
    "MentionDecision",
    "MentionStyle",
    "MessageType",
    "append_mention",
    "decide_mention",
    "ends_with_mention",
    "existing_mention",
    "mention_suffix",
]

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
    unsubscribe_url: str = "https://stopsms.invalid/u"

    def shortcode_mention(self) -> str:
        """The mention for shortcode regions, e.g. ``STOP 36034``."""
        return self.format.replace("{shortcode}", self.shortcode)

    def link_mention(self) -> str:
        """The mention for other regions, e.g. ``STOP: https://stopsms.invalid/u``."""
        return self.link_format.replace("{url}", self.unsubscribe_url)


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
    if message_type is MessageType.MARKETING:
        why = "marketing SMS"
    elif account_type is AccountType.MARKETING:
        why = "informative SMS from a marketing account (rule 1)"
    elif mention_enabled:
        why = "informative SMS from a notification account with the mention on"
    else:
        return MentionDecision(
            None, "informative message from a notification account, mention off: no mention"
        )
    if region in SHORTCODE_REGIONS:
        return MentionDecision(
            style.shortcode_mention(), f"{why} to {region}: STOP + shortcode (rule 2)"
        )
    return MentionDecision(
        style.link_mention(),
        f"{why} to {region or 'an unknown region'}: no STOP shortcode there, link (rule 2)",
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


def _strip_trailing(mention: str) -> str:
    return mention.rstrip(_TRAILING)


_TRAILING: Final = " \t\r\n\u00a0.!?;,)]»\"'’"


def _boundary(c: str) -> bool:
    # "non-stop 2024" is not a mention: a hyphen or a letter before STOP rules it out.
    return not (c.isalnum() or c in "_-")


def mention_suffix(text: str, mention: str) -> tuple[str, str]:
    """Split the final message into ``(body, suffix)``: ``body + suffix`` is what is sent.

    ``suffix`` is ``""`` when ``text`` already ends with a mention (``body`` is then ``text``
    unchanged); otherwise ``body`` is ``text`` without trailing whitespace and ``suffix`` the
    separator (one space, or one newline when that whitespace held one) and the mention. An
    empty text gets the mention alone.
    """
    if ends_with_mention(text):
        return text, ""
    body = text.rstrip()
    if not body:
        return "", mention
    separator = "\n" if "\n" in text[len(body) :] else " "
    return body, separator + mention


def append_mention(text: str, mention: str) -> tuple[str, bool]:
    """``(final text, whether the mention was added)``; never adds it twice.

    Trailing whitespace is dropped and the mention joined with one space, or one newline when
    that whitespace held a newline. An empty text becomes the mention alone.
    """
    body, suffix = mention_suffix(text, mention)
    if not suffix:
        return text, False
    return body + suffix, True
