"""Cells safe to open in a spreadsheet: no formula injection from data someone else typed.

A contact file is other people's data: a "first name" of ``=HYPERLINK("http://evil", "x")`` or
``@SUM(…)`` becomes a live formula when an export or a reject report is opened in Excel or
LibreOffice (CSV injection). :func:`neutralise` prefixes such a value with an apostrophe — the
spreadsheet convention for "this is text" — when it starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return (OWASP's list), except a plain number (``+33612345678``, ``-12.5``),
which no spreadsheet can run and which exports must keep intact.
"""

from __future__ import annotations

import re

__all__ = ["neutralise"]

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")


def neutralise(value: str) -> str:
    """``value``, or ``'`` + ``value`` when a spreadsheet would read it as a formula."""
    if value.startswith(_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value
