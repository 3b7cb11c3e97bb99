"""Unsubscribe tokens, from ``secrets``, in bulk (shape: :mod:`~stopsms.domain.unsubscribe`).

Preparation asks for one token per message whose mention is the hosted page's link, up to a
million per campaign, so they are cut from one buffer of random bytes rather than drawn
character by character (``secrets.choice`` ten times per token would cost about as much as
the rest of the preparation): bytes 0–247 map onto the 62 characters four times each (an
unbiased draw), 248–255 are dropped (rejection sampling), all in C (``bytes.translate``).

Uniqueness: the index ``uq_messages_unsubscribe_token`` refuses a duplicate; at 62¹⁰ values
the chance that a million new tokens meet any of a hundred million stored ones is about
10⁻⁴, and a preparation that meets one fails whole (nothing written) and can be run again.
"""

from __future__ import annotations

import secrets
from typing import Final

from stopsms.domain.unsubscribe import TOKEN_ALPHABET, TOKEN_LENGTH

__all__ = ["TokenSource", "new_token"]

_USABLE: Final = 256 - 256 % len(TOKEN_ALPHABET)  # 248: each character four times
_TABLE: Final = bytes(ord(TOKEN_ALPHABET[b % len(TOKEN_ALPHABET)]) for b in range(256))
_DROPPED: Final = bytes(range(_USABLE, 256))
#: Tokens cut from one read of the random source.
BATCH: Final = 4096


class TokenSource:
    """Fresh tokens, one per :meth:`next` call, cut from a buffer refilled :data:`BATCH` at a
    time (the call SQLite makes per row in the set-based preparation)."""

    __slots__ = ("_at", "_buffer")

    def __init__(self) -> None:
        self._buffer = ""
        self._at = 0

    def next(self) -> str:
        """A new token (:data:`~stopsms.domain.unsubscribe.TOKEN_LENGTH` base62 characters)."""
        at = self._at
        if at + TOKEN_LENGTH > len(self._buffer):
            self._buffer, at = _draw(BATCH * TOKEN_LENGTH), 0
        self._at = at + TOKEN_LENGTH
        return self._buffer[at : at + TOKEN_LENGTH]


def _draw(characters: int) -> str:
    out = b""
    while len(out) < characters:
        # 248/256 of the bytes are kept: ask for a little more than needed.
        raw = secrets.token_bytes((characters - len(out)) * 33 // 31 + 16)
        out += raw.translate(_TABLE, _DROPPED)
    return out[:characters].decode("ascii")


def new_token() -> str:
    """One new token (for a single message; preparation uses a :class:`TokenSource`)."""
    return _draw(TOKEN_LENGTH)
