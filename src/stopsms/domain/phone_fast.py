"""Bulk E.164 normalisation at C speed, answer for answer identical to ``phonenumbers``.

``phonenumbers`` parses about 70,000 numbers a second; an import of 300,000 recipients should
not wait on that. The fast path never re-implements phone-number rules: it compiles the
library's own metadata (national-number patterns, possible lengths, leading digits, national
and international prefixes) into a few regular expressions and runs them over a whole batch
joined into one string, so the per-number work happens inside the regex engine, not in Python:

1. separators that ``phonenumbers`` ignores (space, no-break space, ``.-()/``) are deleted with
   ``str.replace`` over the joined batch;
2. two substitutions with literal replacements rewrite the common shapes of the default region
   into ``+<country code><national number>`` (``0033…`` → ``+33…``, ``06…`` → ``+336…``,
   ``336…`` → ``+336…``, ``+33 (0)6…`` → ``+336…``), each guarded by look-aheads that hold
   exactly when ``phonenumbers`` would read the number the same way;
3. one ``findall`` captures every line that is ``+`` and a number valid by the library's own
   rules (``is_valid_number``), and yields ``""`` for every other line.

Only *valid* answers are claimed; every line the fast path does not claim (invalid numbers,
letters, extensions, odd prefixes…) is handed to plain ``phonenumbers`` with its original text.
So the only way to differ from the library is a wrong claim, which the guards exclude and the
property tests in ``tests/unit/domain/test_phone.py`` hunt for.

One rule on top of the library (:func:`territory_e164`): with the default region FR, a number
written nationally (``0692 98 76 54``, ``0596 …``) that the plan of one French overseas
territory takes as a fixed or mobile number is that territory's (``+262 692…`` RE, ``+596 596…``
MQ), as French users write them; ``phonenumbers`` alone reads ``+33 692…`` (invalid) or even
``+33 596…`` (a metropolitan-looking number no one has). The territories and their patterns
come from the library's metadata (the regions of
:data:`~stopsms.domain.window_policies.FRENCH_TERRITORIES` sharing France's national prefix and
number length), not from a prefix table. The fast path leaves exactly those lines to the
fallback (one more substitution marks them); metropolitan numbers never go there.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers import phonenumberutil as pnu
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

from stopsms.domain.window_policies import FRENCH_TERRITORIES

# Characters that phonenumbers treats as pure punctuation between digits (all are in its
# VALID_PUNCTUATION and none starts an extension, unlike "~" or "x"). Deleting them cannot change
# its answer for a line that is then only "+" and digits.
SEPARATORS = (" ", "\u00a0", ".", "-", "(", ")", "/")

# phonenumbers refuses longer inputs outright, whatever they contain.
_MAX_INPUT_LENGTH = 250
# The longest national significant number phonenumbers accepts.
_MAX_NSN_LENGTH = 17

# Order of the number types in phonenumbers' _number_type_helper; only whether one matches
# matters here, so the two common ones are tried first.
_TYPE_FIELDS = (
    "mobile",
    "fixed_line",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)

_LITERAL_DIGITS = re.compile(r"\d+", re.ASCII)
# The standard library's regex parser (untyped, private; read only to find a guard, below).
re_parser: Any = importlib.import_module("re._parser")
re_constants: Any = importlib.import_module("re._constants")


def reference_e164(raw: str, default_region: str | None) -> str | None:
    """The answer of plain phonenumbers: parse, ``is_valid_number``, format as E.164."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


#: Default regions whose national numbering plan other regions share: France's overseas
#: departments and collectivities are dialled from France as ``0`` + 9 digits.
_NATIONAL_PLANS = {"FR": FRENCH_TERRITORIES - {"FR"}}
#: The number types a territory's plan owns outright (the others, toll-free or premium
#: ``08…``, are national services that stay the default region's).
_GEOGRAPHIC = frozenset(
    {PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


@cache
def national_territories(default_region: str | None) -> tuple[str, ...]:
    """The territories whose numbers are written like ``default_region``'s national ones:
    same national prefix, a national number length in common (``FR`` → ``BL GF GP MF MQ PM RE
    YT``; no other default region has any)."""
    if default_region not in _NATIONAL_PLANS:
        return ()
    home = PhoneMetadata.metadata_for_region(default_region, None)
    if home is None or home.general_desc is None:  # pragma: no cover - FR has metadata
        return ()
    lengths = set(home.general_desc.possible_length or ())
    found = []
    for region in sorted(_NATIONAL_PLANS[default_region]):
        metadata = PhoneMetadata.metadata_for_region(region, None)
        if metadata is None or metadata.general_desc is None:
            continue
        if metadata.national_prefix != home.national_prefix:
            continue
        if lengths & set(metadata.general_desc.possible_length or ()):
            found.append(region)
    return tuple(found)


def territory_e164(raw: str, default_region: str | None) -> str | None:
    """:func:`reference_e164`, except for a number written nationally (national prefix
    included) in a default region whose plan territories share (FR): a fixed or mobile number
    of exactly one territory is that territory's; a number invalid for the default region but
    valid (any type) in exactly one territory is too. Everything else is what
    ``phonenumbers`` says."""
    territories = national_territories(default_region)
    if not territories or default_region is None:
        return reference_e164(raw, default_region)
    try:
        number = phonenumbers.parse(raw, default_region, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        return None
    plain = (
        str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        if phonenumbers.is_valid_number(number)
        else None
    )
    source = phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY
    if number.country_code_source != source:
        return plain  # written with a country code: as written
    home = PhoneMetadata.metadata_for_region(default_region, None)
    lengths = home.general_desc.possible_length if home and home.general_desc else ()
    national = phonenumbers.national_significant_number(number)
    prefix = home.national_prefix if home is not None else None
    written = phonenumbers.normalize_digits_only(raw)
    # Written with its national prefix ("0692…", not "692…"), and as long as a French number.
    if len(national) not in lengths or not prefix or written != prefix + national:
        return plain
    geographic: set[str] = set()
    other: set[str] = set()
    for region in territories:
        candidate = phonenumbers.parse(raw, region)
        if not phonenumbers.is_valid_number(candidate):
            continue
        e164 = str(phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164))
        kind = phonenumbers.number_type(candidate)
        (geographic if kind in _GEOGRAPHIC else other).add(e164)
    if len(geographic) == 1:
        return geographic.pop()
    if plain is not None or geographic:
        return plain  # the default region's, or ambiguous between territories
    return other.pop() if len(other) == 1 else None


def _uncapture(pattern: str) -> str:
    """Make every group of a metadata regex non-capturing, so ours keeps exactly one group."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if pattern[i + 1 : i + 2].isdigit():
                raise ValueError(f"back-reference in metadata pattern {pattern!r}")
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            # A "]" right after "[" or "[^" is a literal, not the end of the class.
            j = i + 1 + (pattern[i + 1 : i + 2] == "^")
            if pattern[j : j + 1] == "]":
                out.append(pattern[i : j + 1])
                i = j + 1
                continue
        elif ch == "(" and pattern[i + 1 : i + 2] != "?":
            out.append("(?:")
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _lengths(lengths: Sequence[int]) -> str:
    """A look-ahead holding when the rest of the line is digits of one of ``lengths``."""
    wanted = sorted({n for n in lengths if n > 0})
    if not wanted:
        return "(?!)"
    return "(?=(?:" + "|".join(rf"\d{{{n}}}" for n in wanted) + ")$)"


def _desc(desc: PhoneNumberDesc | None) -> str | None:
    """``_is_number_matching_desc`` as a regex fragment anchored at the line end."""
    if desc is None or not desc.national_number_pattern:
        return None
    length = _lengths(desc.possible_length) if desc.possible_length else ""
    return f"{length}(?:{_uncapture(desc.national_number_pattern)})$"


def _valid_in(metadata: PhoneMetadata) -> str | None:
    """``_number_type_helper(nsn, metadata) != UNKNOWN`` as a regex fragment."""
    general = _desc(metadata.general_desc)
    if general is None:
        return None
    fields: tuple[str, ...] = _TYPE_FIELDS
    if metadata.same_mobile_and_fixed_line_pattern:
        # The helper never tests the mobile description in that case.
        fields = tuple(f for f in fields if f != "mobile")
    types = [d for d in (_desc(getattr(metadata, f)) for f in fields) if d is not None]
    if not types:
        return None
    return f"(?={general})(?:{'|'.join(types)})"


def _metadata(country_code: int, region: str) -> PhoneMetadata | None:
    found: PhoneMetadata | None = PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, region
    )
    return found


def _main_metadata(country_code: int) -> PhoneMetadata | None:
    return _metadata(country_code, phonenumbers.region_code_for_country_code(country_code))


def _valid_national(country_code: int) -> str | None:
    """Whether a national number is valid for the country code, as ``is_valid_number`` says.

    ``region_code_for_number`` takes the first region whose leading digits match, or else the
    first region the number is valid in; the number is valid if it is valid in that region.
    Equivalently: valid in some region, and no earlier region's leading digits match.
    """
    branches: list[str] = []
    earlier_leading: list[str] = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[country_code]:
        metadata = _metadata(country_code, region)
        if metadata is None:
            continue
        valid = _valid_in(metadata)
        if valid is not None:
            guards = "".join(f"(?!{ld})" for ld in earlier_leading)
            branches.append(guards + valid)
        if metadata.leading_digits is not None:
            earlier_leading.append(_uncapture(metadata.leading_digits))
    if not branches:
        return None
    main = _main_metadata(country_code)
    # The national prefix is stripped after the country code when the result stays possible;
    # numbers where it could be are left to phonenumbers rather than modelled.
    guard = _not_prefix(main)
    return guard + "(?:" + "|".join(branches) + ")"


def _not_prefix(metadata: PhoneMetadata | None) -> str:
    npp = metadata.national_prefix_for_parsing if metadata is not None else None
    return f"(?!{_uncapture(npp)})" if npp else ""


def _trie(entries: dict[str, str]) -> str:
    """An alternation over country codes, factored digit by digit (the engine tries fewer)."""
    if "" in entries:
        # Country codes are prefix-free, so a finished code has no longer sibling.
        assert len(entries) == 1
        return entries[""]
    heads: dict[str, dict[str, str]] = {}
    for key, body in entries.items():
        heads.setdefault(key[0], {})[key[1:]] = body
    return "(?:" + "|".join(f"{d}{_trie(sub)}" for d, sub in sorted(heads.items())) + ")"


@cache
def validator() -> re.Pattern[str]:
    """Captures ``+<cc><nsn>`` lines valid for phonenumbers; ``""`` for every other line."""
    entries: dict[str, str] = {}
    for country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        body = _valid_national(country_code)
        if body is not None:
            entries[str(country_code)] = body
    # Every line is preceded by "\n" (the batch gets one in front): a pattern opening with a
    # literal lets the engine jump from line to line instead of trying every position.
    return re.compile(rf"\n(?:(\+{_trie(entries)})|.*)", re.MULTILINE | re.ASCII)


def _possible_after_prefix(metadata: PhoneMetadata) -> str:
    """Lengths whose stripped national number phonenumbers keeps (``_test_number_length``)."""
    rejected = {
        pnu.ValidationResult.TOO_SHORT,
        pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
        pnu.ValidationResult.INVALID_LENGTH,
    }
    kept = [
        n
        for n in range(1, _MAX_NSN_LENGTH + 1)
        if pnu._test_number_length("5" * n, metadata) not in rejected
    ]
    return _lengths(kept)


def _literal_prefix(metadata: PhoneMetadata | None) -> str | None:
    """The national prefix when it is plain digits with no transform rule, else None."""
    if metadata is None or metadata.national_prefix_transform_rule:
        return None
    npp = metadata.national_prefix_for_parsing
    return npp if npp and _LITERAL_DIGITS.fullmatch(npp) else None


Rewrite = tuple[re.Pattern[str], str]


@cache
def rewrites(default_region: str | None) -> tuple[Rewrite, ...]:
    """Substitutions turning the default region's common shapes into ``+<cc><nsn>``.

    Each branch holds only where phonenumbers reads the digits the same way; see the comments.
    """
    metadata = PhoneMetadata.metadata_for_region(default_region, None) if default_region else None
    if metadata is None:
        # Without a known default region only "+…" numbers parse; the validator handles those.
        return ()
    if metadata.country_code is None:  # pragma: no cover - every region has one
        return ()
    cc = str(metadata.country_code)
    main = _main_metadata(metadata.country_code)
    idd = metadata.international_prefix
    no_idd = f"(?!{_uncapture(idd)})" if idd else ""
    found: list[Rewrite] = []
    flags = re.MULTILINE | re.ASCII
    territories = _territory_numbers(default_region or "", metadata)
    if territories is not None:
        # "0596…", "0692…": a territory's number written nationally; left to the fallback
        # (territory_e164) by a character no claim can start with.
        found.append((re.compile(rf"\n{territories}", flags), "\n~"))
    if idd and _LITERAL_DIGITS.fullmatch(idd):
        # "0033…" is "+33…": the IDD is stripped when the next digit is not 0.
        found.append((re.compile(rf"\n{idd}(?=[1-9]\d*$)", flags), "\n+"))
    branches: list[str] = []
    main_prefix = _literal_prefix(main)
    if main is not None and main_prefix is not None:
        # "+33 (0)6…": after the country code the national prefix is stripped when what is left
        # has a kept length; the validator then requires that rest to be valid (hence viable).
        branches.append(rf"\+{cc}{main_prefix}{_possible_after_prefix(main)}")
    prefix = _literal_prefix(metadata)
    if prefix is not None:
        # "06…": no IDD, not starting with the country code, national prefix stripped.
        branches.append(rf"{no_idd}(?!{cc}){prefix}{_possible_after_prefix(metadata)}")
    general = metadata.general_desc.national_number_pattern if metadata.general_desc else None
    if general:
        # "336…": the country code without "+" is taken off when the whole is not viable but
        # the rest is; no national prefix may follow (neither for this region nor the main one).
        branches.append(
            rf"{no_idd}(?!(?:{_uncapture(general)})$){cc}{_not_prefix(metadata)}"
            rf"{_not_prefix(main)}(?=(?:{_uncapture(general)})$)"
        )
    # "612345678": plain national digits with no prefix to strip.
    branches.append(rf"{no_idd}(?!{cc}){_not_prefix(metadata)}(?=\d+$)")
    found.append((re.compile("\n(?:" + "|".join(branches) + ")", flags), f"\n+{cc}"))
    return tuple(found)


def _territory_numbers(default_region: str, metadata: PhoneMetadata) -> str | None:
    """A line that is the national prefix (optional) and a number of the default region's
    length that some territory's plan takes as fixed or mobile (a superset of the lines
    :func:`territory_e164` gives a territory's number to)."""
    territories = national_territories(default_region)
    if not territories or metadata.general_desc is None:
        return None
    branches: list[str] = []
    for region in territories:
        found = PhoneMetadata.metadata_for_region(region, None)
        if found is None:  # pragma: no cover - national_territories checked it
            continue
        for desc in (found.fixed_line, found.mobile):
            # The bare pattern (a superset without its lengths: the line's length is checked
            # once, after); each fails within a digit or two on a metropolitan number.
            if desc is not None and desc.national_number_pattern:
                branch = _uncapture(desc.national_number_pattern)
                if branch not in branches:
                    branches.append(branch)
    if not branches:  # pragma: no cover - the territories have fixed and mobile numbers
        return None
    prefix = metadata.national_prefix or ""
    length = _lengths(metadata.general_desc.possible_length)
    # A guard on the first two digits (the heads the patterns can start with) rejects a
    # metropolitan "06…"/"07…" line at once instead of trying every branch (2× faster).
    heads: set[str] = set()
    for branch in branches:
        found_heads = _heads(branch, 2, metadata.general_desc.possible_length)
        if found_heads is None:
            heads.clear()
            break
        heads |= found_heads
    guard = f"(?={'|'.join(sorted(heads))})" if heads else ""
    return f"{re.escape(prefix)}{guard}(?=(?:{'|'.join(branches)})$){length}"


def _heads(pattern: str, size: int, lengths: Sequence[int]) -> set[str] | None:
    """Every string of ``size`` digits a match of ``pattern`` of one of ``lengths`` can start
    with (a superset); None when the pattern uses something this reading does not know."""
    try:
        parsed = re_parser.parse(pattern)
    except re.error:  # pragma: no cover - the library's patterns compile
        return None
    items = list(parsed)
    # A top-level alternation: only its alternatives that can be that long.
    if len(items) == 1 and items[0][0] is re_constants.BRANCH:
        alternatives = items[0][1][1]
    else:
        alternatives = [parsed]
    heads: set[str] = set()
    for alternative in alternatives:
        low, high = alternative.getwidth()
        if not any(low <= n <= high for n in lengths):
            continue
        found = _sequence_heads(list(alternative), size)
        if found is None:
            return None
        heads |= found
    return heads


_DIGITS = "0123456789"


def _sequence_heads(items: list[Any], size: int) -> set[str] | None:
    found = {""}
    done: set[str] = set()
    for op, arg in items:
        following: set[str] = set()
        for head in found:
            item = _item_heads(op, arg, size - len(head))
            if item is None:
                return None
            for tail in item:
                (done if len(head + tail) >= size else following).add(head + tail)
        found = following
        if not found:
            break
    return done | found


def _item_heads(op: Any, arg: Any, size: int) -> set[str] | None:
    constants = re_constants
    if op is constants.LITERAL:
        return {chr(arg)}
    if op is constants.IN:
        chars: set[str] = set()
        for kind, value in arg:
            if kind is constants.LITERAL:
                chars.add(chr(value))
            elif kind is constants.RANGE:
                chars.update(chr(c) for c in range(value[0], value[1] + 1))
            elif kind is constants.CATEGORY and value is constants.CATEGORY_DIGIT:
                chars.update(_DIGITS)
            else:
                return None
        return chars
    if op is constants.SUBPATTERN:
        return _sequence_heads(list(arg[-1]), size)
    if op is constants.BRANCH:
        heads: set[str] = set()
        for alternative in arg[1]:
            found = _sequence_heads(list(alternative), size)
            if found is None:
                return None
            heads |= found
        return heads
    if op in (constants.MAX_REPEAT, constants.MIN_REPEAT):
        low, high, sub = arg
        heads = set()
        for count in range(low, min(high, size) + 1):
            found = _sequence_heads(list(sub) * count, size)
            if found is None:
                return None
            heads |= found
        return heads
    return None


def normalise_batch(
    raws: Sequence[str],
    default_region: str | None,
    fallback: Callable[[str, str | None], str | None] = territory_e164,
) -> list[str | None]:
    """E.164 for each raw string (None when invalid), ``fallback`` for what is not claimed."""
    claimed = claim_batch(raws, default_region)
    # list.index scans in C; Python only runs for the lines left to phonenumbers.
    result: list[str | None] = claimed  # type: ignore[assignment]
    i = -1
    while True:
        try:
            i = claimed.index("", i + 1)
        except ValueError:
            return result
        result[i] = fallback(raws[i], default_region)


def claim_batch(raws: Sequence[str], default_region: str | None) -> list[str]:
    """The fast path alone: E.164 where it is sure, ``""`` where phonenumbers must decide."""
    if not raws:
        return []
    # Every line, the first included, starts after a "\n": the patterns open with that literal.
    text = "\n" + "\n".join(raws)
    if text.count("\n") != len(raws) or max(map(len, raws)) > _MAX_INPUT_LENGTH:
        # A raw with a newline would shift the lines; a long one is refused by phonenumbers
        # whatever it holds. Blank them here so that they fall back with their original text.
        text = "\n" + "\n".join(
            "" if "\n" in raw or len(raw) > _MAX_INPUT_LENGTH else raw for raw in raws
        )
    for separator in SEPARATORS:
        if separator in text:
            text = text.replace(separator, "")
    for pattern, replacement in rewrites(default_region):
        text = pattern.sub(replacement, text)
    # One match per "\n", so one per line.
    found: list[str] = validator().findall(text)
    if len(found) != len(raws):  # pragma: no cover - would be a bug in the line accounting
        raise AssertionError(f"{len(found)} lines for {len(raws)} numbers")
    return found
