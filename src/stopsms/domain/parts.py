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
The campaign's check reads the text with its fields empty; a field value can still lengthen
one recipient's message, so preparation decides each recipient against the ceiling too
(``too_long``: excluded, never charged), and the dispatcher refuses, before the wire, any
message above the protocol's 255 parts (:func:`beyond_protocol`, whatever wrote the row).
"""

from __future__ import annotations

from stopsms.domain.errors import DomainError
from stopsms.domain.text import UCS2_PART, measure, segments_for

__all__ = [
    "DEFAULT_MAX_PARTS",
    "PROTOCOL_MAX_PARTS",
    "WARN_PARTS",
    "TooManyParts",
    "beyond_protocol",
    "check_max_parts",
    "parts_warning",
]

WARN_PARTS = 4
DEFAULT_MAX_PARTS = 10
#: One octet counts the parts in the concatenation header (3GPP TS 23.040, SMPP 3.4).
PROTOCOL_MAX_PARTS = 255
#: Characters that fit in :data:`PROTOCOL_MAX_PARTS` parts in either coding: a part holds at
#: least 33 of them (UCS-2: 67 units, a surrogate pair never split; GSM-7: 76 escape pairs).
_FITS_EITHER_CODING = PROTOCOL_MAX_PARTS * (UCS2_PART // 2)


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


def beyond_protocol(text: str, segments: int, *, ucs2: bool) -> bool:
    """Whether a message would take more than :data:`PROTOCOL_MAX_PARTS` parts on the wire.

    ``segments``: the parts stored with it; ``ucs2``: the coding it leaves with (else GSM-7,
    or UCS-2 if a character needs it). The text is measured only when it is long enough to
    matter (over 8,415 characters), so the dispatcher's hot path is two integer comparisons.
    """
    if segments > PROTOCOL_MAX_PARTS:
        return True
    if len(text) <= _FITS_EITHER_CODING:
        return False
    if ucs2:
        units = len(text.encode("utf-16-le", "surrogatepass")) >> 1
        return segments_for(text, units, False) > PROTOCOL_MAX_PARTS
    return measure(text).segments > PROTOCOL_MAX_PARTS
