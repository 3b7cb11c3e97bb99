"""The hosted unsubscribe page's link and what it shows: the token's shape, the masked number.

Every message whose STOP mention is a link to the hosted page carries its own token:
``{public_url}/u/{token}``, :data:`TOKEN_LENGTH` characters of :data:`TOKEN_ALPHABET`
(base62: 62¹⁰ ≈ 8.4 × 10¹⁷ values, ≈ 59.5 bits, drawn by the services from ``secrets``). The
domain knows only the shape: a text is composed, counted and priced with
:data:`PLACEHOLDER_TOKEN` in place of the token (the same length, and each of its characters
one GSM 7-bit unit like every base62 character, so parts and cost are exact before any token
exists); the services put a real token in at preparation. The placeholder is never a token
(``_`` is not base62) and never leaves: the dispatcher's placeholder guard excludes a message
whose link still holds it (:func:`stopsms.domain.mention.placeholder_on_wire`).
"""

from __future__ import annotations

import string
from typing import Final

import phonenumbers

__all__ = [
    "PLACEHOLDER_TOKEN",
    "TOKEN_ALPHABET",
    "TOKEN_LENGTH",
    "UNSUBSCRIBE_PATH",
    "hosted_link",
    "is_token",
    "masked_number",
]

#: Characters of a token: URL-safe as they are, one GSM 7-bit unit each.
TOKEN_ALPHABET: Final = string.digits + string.ascii_letters
#: Characters of a token (its length in every SMS that carries one).
TOKEN_LENGTH: Final = 10
#: Stands for the token in a text composed before tokens exist (preview, length, cost).
PLACEHOLDER_TOKEN: Final = "_" * TOKEN_LENGTH
#: The path of the per-message page, under the installation's public URL.
UNSUBSCRIBE_PATH: Final = "/u/"
_ALPHABET_SET: Final = frozenset(TOKEN_ALPHABET)
#: What masks a digit on the page (shown, never sent: a page is not an SMS).
MASK: Final = "\u2022"


def hosted_link(public_url: str, token: str = PLACEHOLDER_TOKEN) -> str:
    """The hosted page's link for ``token`` (the placeholder by default), e.g.
    ``https://sms.shop.fr/u/3kT9xQ2bZa``; ``public_url`` has no trailing slash."""
    return public_url.rstrip("/") + UNSUBSCRIBE_PATH + token


def is_token(value: str) -> bool:
    """Whether ``value`` has a token's shape (the length and alphabet; not that it exists)."""
    return len(value) == TOKEN_LENGTH and all(c in _ALPHABET_SET for c in value)


def masked_number(e164: str) -> str:
    """``e164`` as the page shows it: international format, every digit masked but the country
    code, the first national digit and the last two (``+33 6 •• •• •• 78``).

    Enough for a person to recognise their own number, not enough to learn someone else's from
    a forwarded link. A number ``phonenumbers`` cannot read keeps only its last two digits.
    """
    try:
        number = phonenumbers.parse(e164, None)
        shown = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        code = f"+{number.country_code}"
    except phonenumbers.NumberParseException:
        shown, code = e164, "+"
    if not shown.startswith(code):
        code = ""
    rest = shown[len(code) :]
    digits = [i for i, c in enumerate(rest) if c.isdigit()]
    keep = set(digits[:1] if code != "+" else []) | set(digits[-2:])
    masked = "".join(MASK if i in set(digits) - keep else c for i, c in enumerate(rest))
    return code + masked
