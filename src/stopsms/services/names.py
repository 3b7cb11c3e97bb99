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

from stopsms.services.errors import InvalidInput

__all__ = ["display_name"]

#: Unicode categories refused in a name: control, format (bidi overrides, zero-width) and lone
#: surrogates (bytes that were not UTF-8 on the command line).
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs"})
#: The zero-width joiner (a format character) holds emoji sequences together: allowed.
_ALLOWED: Final = frozenset({"\u200d"})


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
