"""How many parts one SMS may take: a warning above a few, a refusal above a ceiling.

A long text is sent as a concatenated SMS, each part billed as one message (rule 12's price is
``parts × price``). Two thresholds, both on the parts of the composed message (mention
included):

- :data:`WARN_PARTS` = 4. Above it the author is told (at ``campaign create`` and
  ``preview``): a 5-part SMS costs five messages per recipient, and every extra part is one
  more chance that the handset waits for a part that never comes (parts travel separately;
  operators deliver them best effort). Four parts — 612 GSM-7 or 268 UCS-2 characters — is
  already far beyond what a marketing SMS needs (most are one or two), so a warning there
  catches a pasted newsletter without nagging a long but deliberate text.
- :data:`DEFAULT_MAX_PARTS` = 10, configurable with ``STOPSMS_MAX_PARTS`` (1–255). Above it
  the campaign is refused (create and send). The hard limit is 255: the concatenation header
  of 3GPP TS 23.040 §9.2.3.24.1 counts parts on one octet, and SMPP 3.4's ``sar_total_segments``
  is one octet too. Operators cap much lower and do not all say where; Twilio, for one, refuses
  a body over 1,600 characters (10–11 GSM-7 parts). Ten parts (1,530 GSM-7 characters) is what
  a campaign can count on; an installation whose provider documents another cap sets it.

A 10,000-character text (66 parts) is refused with its count, the ceiling and what to do.
"""

from __future__ import annotations

from stopsms.domain.errors import DomainError

__all__ = [
    "DEFAULT_MAX_PARTS",
    "PROTOCOL_MAX_PARTS",
    "WARN_PARTS",
    "TooManyParts",
    "check_max_parts",
    "parts_warning",
]

WARN_PARTS = 4
DEFAULT_MAX_PARTS = 10
#: One octet counts the parts in the concatenation header (3GPP TS 23.040, SMPP 3.4).
PROTOCOL_MAX_PARTS = 255


class TooManyParts(DomainError):
    """The message takes more parts than the operators' ceiling."""

    def __init__(self, parts: int, ceiling: int, characters: int) -> None:
        super().__init__(
            f"the message takes {parts:,} SMS parts ({characters:,} characters with its STOP "
            f"mention); at most {ceiling} are sent (operators refuse or truncate longer "
            f"concatenated SMS; STOPSMS_MAX_PARTS sets the ceiling, up to "
            f"{PROTOCOL_MAX_PARTS}): shorten the text"
        )
        self.parts = parts
        self.ceiling = ceiling


def check_max_parts(parts: int, ceiling: int, characters: int) -> None:
    """Raise :class:`TooManyParts` when ``parts`` exceeds ``ceiling``."""
    if parts > ceiling:
        raise TooManyParts(parts, ceiling, characters)


def parts_warning(parts: int) -> str | None:
    """The warning for a message of ``parts`` parts, or ``None`` up to :data:`WARN_PARTS`."""
    if parts <= WARN_PARTS:
        return None
    return (
        f"the message takes {parts} SMS parts: each recipient costs {parts} messages, and the "
        f"more parts the likelier one is lost (keep it to {WARN_PARTS} or fewer)"
    )
