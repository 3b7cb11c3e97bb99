"""Message text: GSM 03.38 or UCS-2, units, parts, and smart encoding (DESIGN.md rule 13).

The GSM 03.38 tables are written out below (128 basic characters, 10 extension characters):
they are small, and no maintained Python codec beats them — the PyPI "gsm0338" codec encodes
per character in Python and knows nothing of parts, and here the hot path (:func:`measure`) runs
on C-level ``str.encode``/``bytes.translate`` instead of any per-character loop.

Units are GSM-7 septets (an extension character such as ``€`` or ``[`` costs two: ESC + code)
or UTF-16 code units (a character outside the BMP, e.g. most emoji, costs two). A message of
up to 160 septets / 70 code units is one part; longer messages are split into parts of at most
153 septets / 67 code units (the user data header takes the rest). An escape pair is never
split across parts, nor a surrogate pair, so a part may end one unit short and the number of
parts can exceed ``ceil(units / 153)``; :func:`measure` and :func:`split_parts` always agree.

Left out on purpose: national language shift tables (Turkish, Spanish, Portuguese…), which
French operators do not support reliably, and keeping grapheme clusters (ZWJ emoji sequences,
combining accents) whole across parts, which no operator guarantees either.
"""

from __future__ import annotations

import enum
import itertools
import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from typing import Final

__all__ = [
    "GSM_BASIC",
    "GSM_EXTENSION",
    "Encoding",
    "Replacement",
    "Segmenting",
    "SmartEncoding",
    "gsm7_decode",
    "gsm7_encode",
    "is_gsm7",
    "measure",
    "segments_for",
    "smart_encode",
    "split_parts",
    "ucs2_characters",
]

# GSM 03.38 basic table, in code order 0x00-0x7F; 0x1B (ESC) introduces the extension table.
GSM_BASIC: Final = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: character -> code after ESC (0x1B). Each costs two septets.
GSM_EXTENSION: Final[dict[str, int]] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_ESC: Final = 0x1B
_ENCODE: Final[dict[str, int]] = {c: i for i, c in enumerate(GSM_BASIC) if i != _ESC}
_DECODE_EXT: Final[dict[int, str]] = {v: k for k, v in GSM_EXTENSION.items()}
#: ``str.translate`` tables for the fast paths of :func:`gsm7_encode` / :func:`gsm7_decode`.
#: ASCII characters GSM 03.38 cannot carry map to a non-ASCII sentinel (U+FFFF).
_ENCODE_TABLE: Final[dict[int, str]] = {
    **dict.fromkeys(range(128), "\uffff"),
    **{ord(c): chr(i) for c, i in _ENCODE.items()},
    **{ord(c): chr(_ESC) + chr(v) for c, v in GSM_EXTENSION.items()},
}
_DECODE_TABLE: Final[dict[int, str]] = dict(enumerate(GSM_BASIC))
_BASIC_SET: Final = frozenset(_ENCODE)
_EXT_SET: Final = frozenset(GSM_EXTENSION)
_GSM_SET: Final = _BASIC_SET | _EXT_SET

# Fast path for Latin-1 text: delete every GSM byte with one C-level bytes.translate.
_BASIC_LATIN1: Final = bytes(sorted(ord(c) for c in _BASIC_SET if ord(c) < 256))
_EXT_LATIN1: Final = bytes(sorted(ord(c) for c in _EXT_SET if ord(c) < 256))

_EXT_RE: Final = re.compile("[" + re.escape("".join(GSM_EXTENSION)) + "]")
_ASTRAL_RE: Final = re.compile("[\U00010000-\U0010ffff]")
_GREEK: Final = re.compile("[ΔΦΓΛΩΠΨΣΘΞ]")

GSM_SINGLE: Final = 160
GSM_PART: Final = 153
UCS2_SINGLE: Final = 70
UCS2_PART: Final = 67


class Encoding(enum.Enum):
    """The data coding a message leaves with."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True)
class Segmenting:
    """How a text travels: its encoding, its units (septets or UTF-16 code units), its parts."""

    encoding: Encoding
    units: int
    segments: int


def _gsm_units(text: str) -> int:
    """Septets of ``text`` if it is all GSM 03.38, else -1 (it needs UCS-2).

    Fast path: Latin-1 characters are checked by C-level ``bytes.translate``; ``€`` (the one
    common GSM character beyond Latin-1) is counted with ``str.count``; only a text holding
    Greek capitals or characters outside both goes to the set-based path.
    """
    data = text.encode("latin-1", "ignore")
    beyond = len(text) - len(data)
    if beyond and beyond != text.count("€"):
        if _GREEK.search(text) is None:
            return -1
        return _gsm_units_any(text)
    rest = data.translate(None, _BASIC_LATIN1)
    if not rest:
        return len(text) + beyond
    if rest.translate(None, _EXT_LATIN1):
        return -1
    return len(text) + beyond + len(rest)


def _gsm_units_any(text: str) -> int:
    chars = set(text)
    if chars <= _BASIC_SET:
        return len(text)
    if chars <= _GSM_SET:
        return len(text) + sum(text.count(c) for c in chars & _EXT_SET)
    return -1


def _utf16_units(text: str) -> int:
    if text.isascii():
        return len(text)
    # surrogatepass: a lone surrogate (valid in JSON, e.g. "\ud800") is one code unit, not
    # an error — measuring a message must never fail on what a careless caller sends.
    return len(text.encode("utf-16-le", "surrogatepass")) >> 1


def _cuts(text: str, gsm: bool) -> list[int]:
    """Indexes where each part after the first starts, for a text needing several parts.

    A part takes as many characters as fit in 153 septets / 67 code units; a character costing
    two (escape pair, surrogate pair) that does not fit whole starts the next part. Found with
    the positions of the two-unit characters (few) rather than a walk over every character.
    """
    limit = GSM_PART if gsm else UCS2_PART
    pattern = _EXT_RE if gsm else _ASTRAL_RE
    doubles = [m.start() for m in pattern.finditer(text)]
    n = len(text)
    cuts: list[int] = []
    start = 0
    while True:
        end = min(start + limit, n)
        first = bisect_left(doubles, start)
        while (end - start) + (bisect_left(doubles, end, first) - first) > limit:
            end -= 1
        if end >= n:
            return cuts
        cuts.append(end)
        start = end


def segments_for(text: str, units: int, gsm: bool) -> int:
    """Parts of ``text``, already known to have ``units`` units in the given encoding."""
    single, part = (GSM_SINGLE, GSM_PART) if gsm else (UCS2_SINGLE, UCS2_PART)
    if units <= single:
        return 1
    if units == len(text):
        # No escape pair (GSM-7) nor surrogate pair (UCS-2): nothing can straddle a boundary.
        return -(-units // part)
    return len(_cuts(text, gsm)) + 1


def measure(text: str) -> Segmenting:
    """Encoding, units and parts of ``text`` as it will leave (empty text: 1 part, 0 units)."""
    units = _gsm_units(text)
    if units >= 0:
        return Segmenting(Encoding.GSM7, units, segments_for(text, units, True))
    units = _utf16_units(text)
    return Segmenting(Encoding.UCS2, units, segments_for(text, units, False))


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM 03.38 basic or extension table."""
    return _gsm_units(text) >= 0


def split_parts(text: str) -> list[str]:
    """The texts of the parts ``text`` is sent as; never splits an escape or surrogate pair.

    ``len(split_parts(t)) == measure(t).segments`` and ``"".join(split_parts(t)) == t``.
    """
    units = _gsm_units(text)
    gsm = units >= 0
    if not gsm:
        units = _utf16_units(text)
    if units <= (GSM_SINGLE if gsm else UCS2_SINGLE):
        return [text]
    bounds = [0, *_cuts(text, gsm), len(text)]
    return [text[start:end] for start, end in itertools.pairwise(bounds)]


def ucs2_characters(text: str) -> list[str]:
    """The distinct characters of ``text`` that force UCS-2, in order of first appearance."""
    if _gsm_units(text) >= 0:
        return []
    return list(dict.fromkeys(c for c in text if c not in _GSM_SET))


def gsm7_encode(text: str) -> bytes:
    """Unpacked septets, one byte each, ESC (0x1B) before extension codes (SMPP data_coding 0).

    Raises ``ValueError`` naming the first character that GSM 03.38 cannot carry.
    """
    # Fast path (one C-level pass): every carried character maps to its code (or ESC + code),
    # anything else to a non-ASCII character; the per-character loop below only names the
    # culprit.
    out_text = text.translate(_ENCODE_TABLE)
    if out_text.isascii():
        return out_text.encode("ascii")
    out = bytearray()
    for i, c in enumerate(text):
        code = _ENCODE.get(c)
        if code is not None:
            out.append(code)
            continue
        ext = GSM_EXTENSION.get(c)
        if ext is None:
            raise ValueError(f"{c!r} (U+{ord(c):04X}) at position {i} is not a GSM 03.38 character")
        out.append(_ESC)
        out.append(ext)
    return bytes(out)


def gsm7_decode(data: bytes) -> str:
    """Text of unpacked septets; an unknown escape code reads as its basic character (03.38)."""
    if data.isascii() and _ESC not in data:  # fast path: no escapes, every byte a septet
        return data.decode("ascii").translate(_DECODE_TABLE)
    out: list[str] = []
    escaped = False
    for b in data:
        if b > 0x7F:
            raise ValueError(f"byte 0x{b:02X} is not a GSM 03.38 septet")
        if escaped:
            out.append(_DECODE_EXT.get(b, GSM_BASIC[b] if b != _ESC else " "))
            escaped = False
        elif b == _ESC:
            escaped = True
        else:
            out.append(GSM_BASIC[b])
    if escaped:
        out.append(" ")  # a trailing lone ESC: 03.38 says display a space
    return "".join(out)


# ---------------------------------------------------------------- smart encoding


@dataclass(frozen=True, slots=True)
class Replacement:
    """One kind of character smart encoding replaced, by what, and how many times."""

    original: str
    replacement: str
    count: int


@dataclass(frozen=True, slots=True)
class SmartEncoding:
    """The text after smart encoding and what was replaced (empty when nothing helped)."""

    text: str
    replacements: tuple[Replacement, ...]


_LOOKALIKES: Final[dict[str, str]] = {
    # apostrophes and primes
    "’": "'",
    "‘": "'",
    "‚": "'",
    "‛": "'",
    "′": "'",
    "´": "'",
    "`": "'",
    # quotes
    "“": '"',
    "”": '"',
    "„": '"',
    "‟": '"',
    "″": '"',
    "«": '"',
    "»": '"',
    "‹": "'",
    "›": "'",
    # dashes, ellipsis, bullets
    "…": "...",
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "―": "-",
    "−": "-",
    "•": "-",
    "·": ".",
    # spaces: non-breaking, narrow, thin, en/em, figure, ideographic; tab
    "\u00a0": " ",
    "\u202f": " ",
    "\u2000": " ",
    "\u2001": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2004": " ",
    "\u2005": " ",
    "\u2006": " ",
    "\u2007": " ",
    "\u2008": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u3000": " ",
    "\t": " ",
    # invisible characters
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
    "\u00ad": "",
    # French letters outside GSM 03.38 (é è à ù ì ò É Ç are in it and stay)
    "ç": "c",
    "â": "a",
    "ê": "e",
    "î": "i",
    "ô": "o",
    "û": "u",
    "ë": "e",
    "ï": "i",
    "ÿ": "y",
    "á": "a",
    "í": "i",
    "ó": "o",
    "ú": "u",
    "À": "A",
    "Â": "A",
    "È": "E",
    "Ê": "E",
    "Ë": "E",
    "Î": "I",
    "Ï": "I",
    "Ô": "O",
    "Û": "U",
    "Ù": "U",
    "Ÿ": "Y",
    "œ": "oe",
    "Œ": "OE",
    # other symbols
    "™": "TM",
    "©": "(c)",
    "®": "(R)",
    "°": "o",
}


def _lookalike(c: str) -> str | None:
    """GSM replacement for ``c`` (table first, then NFKD without accents), or None."""
    known = _LOOKALIKES.get(c)
    if known is not None:
        return known
    folded = "".join(d for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d))
    if folded and folded != c and all(d in _GSM_SET for d in folded):
        return folded
    return None


def _parts(text: str) -> int:
    return measure(text).segments


def smart_encode(text: str, suffix: str = "") -> SmartEncoding:
    """Replace look-alikes by GSM characters when that makes ``text`` GSM-7, and ``€`` by ``E``
    only when that makes ``text + suffix`` fit in fewer parts.

    Look-alikes (’ ‘ “ ” « » … – — non-breaking spaces, accented letters outside GSM 03.38…)
    are replaced only if the result is all GSM-7 and needs no more parts than the original:
    a message that stays UCS-2 anyway (an emoji) is left untouched, since ``…`` → ``...``
    would only make it longer. ``€`` → ``E`` is all-or-nothing. ``suffix`` (e.g. the STOP
    mention with its separator) is counted, never changed.
    """
    counts: dict[str, int] = {}
    if _gsm_units(text) < 0:
        pieces: list[str] = []
        for c in text:
            if c in _GSM_SET:
                pieces.append(c)
                continue
            repl = _lookalike(c)
            if repl is None:
                return SmartEncoding(text, ())  # stays UCS-2: replacing would not help
            pieces.append(repl)
            counts[c] = counts.get(c, 0) + 1
        candidate = "".join(pieces)
        if _parts(candidate + suffix) > _parts(text + suffix):
            return SmartEncoding(text, ())
    else:
        candidate = text
    replacements = [Replacement(c, _lookalike(c) or "", n) for c, n in counts.items()]
    euros = candidate.count("€")
    if euros:
        without = candidate.replace("€", "E")
        if _parts(without + suffix) < _parts(candidate + suffix):
            candidate = without
            replacements.append(Replacement("€", "E", euros))
    return SmartEncoding(candidate, tuple(replacements))
