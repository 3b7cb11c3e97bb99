"""Free-text names a user gives things (a campaign, a list, a brand): one visible line of text.

A name is shown in tables, reports, CSV exports and (a brand) the STOP confirmation SMS, so it
must be something a person can read and retype: runs of whitespace (tabs, newlines included)
become one space and the ends are trimmed; what is left must not be empty, must fit its column,
and may not hold control or format characters (``\\x1b`` terminal escapes, ``\\x00``, the
bidirectional overrides and zero-width characters that make one name look like another).
"""

from __future__ import annotations

import unicodedata
from typing import Final

from stopsms.errors import InvalidInput

__all__ = ["check_sms_text", "display_name", "typed_text"]

#: Unicode categories refused in a name: control, format (bidi overrides, zero-width) and lone
#: surrogates (bytes that were not UTF-8 on the command line).
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs"})
#: The zero-width joiner (a format character) holds emoji sequences together: allowed.
_ALLOWED: Final = frozenset({"\u200d"})
#: Kept in free text (an evidence pasted from an e-mail), never in a name.
_LINE_BREAKS: Final = frozenset("\t\n\r")


def display_name(field: str, value: str, *, limit: int) -> str:
    """``value`` with its whitespace collapsed, or :class:`InvalidInput` naming ``field`` when it
    is empty, longer than ``limit`` characters or holds an invisible character."""
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidInput(field, value, "empty: give a name with at least one visible character")
    for character in cleaned:
        category = unicodedata.category(character)
        if category in _REFUSED_CATEGORIES and character not in _ALLOWED:
            what = "not UTF-8" if category == "Cs" else unicodedata.name(character, "control")
            raise InvalidInput(
                field,
                value,
                f"holds the invisible character U+{ord(character):04X} ({what}); write the name"
                " in plain text",
            )
    if len(cleaned) > limit:
        raise InvalidInput(field, value, f"{len(cleaned)} characters, at most {limit}")
    return cleaned


def typed_text(field: str, value: str) -> str:
    """``value`` unchanged (line breaks and tabs kept), or :class:`InvalidInput` naming
    ``field`` when it has no visible character or holds another control or format character
    (a terminal escape in an opt-out's reason or evidence would be replayed on every screen
    that shows it)."""
    if not value.strip():
        raise InvalidInput(field, value, "empty: write it in words")
    for character in value:
        category = unicodedata.category(character)
        if category in _REFUSED_CATEGORIES and character not in _ALLOWED | _LINE_BREAKS:
            raise InvalidInput(
                field,
                value,
                f"holds the invisible character U+{ord(character):04X}; write it in plain text",
            )
    return value


def check_sms_text(field: str, value: str) -> str:
    """``value`` unless it holds a control character other than a tab or a line break (an
    escape or a bell no phone shows, which would also force UCS-2): :class:`InvalidInput`."""
    for character in value:
        if unicodedata.category(character) == "Cc" and character not in _LINE_BREAKS:
            raise InvalidInput(
                field,
                value,
                f"holds the control character U+{ord(character):04X}, which no phone shows;"
                " remove it",
            )
    return value
