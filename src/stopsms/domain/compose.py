"""Composition: the exact SMS that leaves — body, STOP mention, encoding, units, parts, warnings.

:func:`compose` is the reference, used for previews (one message, every warning).
:class:`Composer` is the per-campaign bulk path: built once per (template, style, account,
message type, smart encoding), it caches the mention decision per region, bakes the mention
into the template's format string when the template's static tail decides it, and returns a
plain tuple; it falls back to :func:`compose` whenever a shortcut could differ, so
``Composer(t, …).compose_fast(v, region)`` always equals the fields of
``compose(t.render(v), region=region, …)`` (a property test holds it to that).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Final

from stopsms.domain.mention import (
    AccountType,
    MentionDecision,
    MentionStyle,
    MessageType,
    decide_mention,
    kept_mention,
    mention_suffix,
)
from stopsms.domain.template import Template
from stopsms.domain.text import (
    Encoding,
    Replacement,
    _gsm_units,
    _utf16_units,
    measure,
    segments_for,
    smart_encode,
    ucs2_characters,
)

__all__ = ["ComposedMessage", "Composer", "FastComposition", "compose"]

_DEFAULT_STYLE: Final = MentionStyle()
_GSM7: Final = Encoding.GSM7
_UCS2: Final = Encoding.UCS2

FastComposition = tuple[str, Encoding, int, int]
"""``(text, encoding, units, segments)``: what the bulk path returns per recipient."""


@dataclass(frozen=True, slots=True)
class ComposedMessage:
    """One SMS exactly as it will leave, with the mention decision and what to warn about."""

    text: str
    encoding: Encoding
    units: int
    segments: int
    stop_mention: str | None
    mention_reason: str
    warnings: tuple[str, ...]
    replacements: tuple[Replacement, ...]


def _show(c: str) -> str:
    return c if c.isprintable() and not c.isspace() else f"U+{ord(c):04X}"


def _ordinal_parts(n: int) -> str:
    return {2: "a second part", 3: "a third part"}.get(n, f"{n} parts")


def compose(
    body: str,
    *,
    region: str = "FR",
    message_type: MessageType = MessageType.MARKETING,
    style: MentionStyle = _DEFAULT_STYLE,
    account_type: AccountType = AccountType.MARKETING,
    mention_enabled: bool = True,
    smart_encoding: bool = False,
) -> ComposedMessage:
    """The final SMS for ``body`` sent to ``region`` (rules 1, 2 and 13).

    The mention is appended unless the body already ends with one (then ``stop_mention`` is
    the one found); smart encoding, when asked, applies to the body and counts the mention.
    """
    decision = decide_mention(region, message_type, style, account_type, mention_enabled)
    return _compose(body, decision, smart_encoding)


def _compose(body: str, decision: MentionDecision, smart: bool) -> ComposedMessage:
    warnings: list[str] = []
    mention, reason = decision.mention, decision.reason
    suffix = ""
    if mention is not None:
        found = kept_mention(body, mention)
        if found is not None:
            mention, reason = found, f"{reason}; the text already ends with {found!r}, kept once"
        else:
            body, suffix = mention_suffix(body, mention)
    replacements: tuple[Replacement, ...] = ()
    if smart:
        encoded = smart_encode(body, suffix)
        body, replacements = encoded.text, encoded.replacements
    text = body + suffix
    seg = measure(text)
    if not body.strip():
        warnings.append("the message body is empty")
    if seg.encoding is _UCS2:
        warnings.append(_ucs2_warning(text, seg.segments, smart))
    if suffix:
        without = measure(body).segments
        if seg.segments > without:
            if without == 1:
                warnings.append(
                    f"the STOP mention pushes the message into {_ordinal_parts(seg.segments)}"
                )
            else:
                warnings.append(
                    f"the STOP mention pushes the message from {without} to {seg.segments} parts"
                )
    if replacements:
        done = ", ".join(
            f"{_show(r.original)} → {r.replacement!r} ({r.count}×)" for r in replacements
        )
        warnings.append(f"smart encoding replaced {done}")
    return ComposedMessage(
        text,
        seg.encoding,
        seg.units,
        seg.segments,
        mention,
        reason,
        tuple(warnings),
        replacements,
    )


def _ucs2_warning(text: str, segments: int, smart: bool) -> str:
    chars = ucs2_characters(text)
    shown = ", ".join(_show(c) for c in chars[:5]) + (", …" if len(chars) > 5 else "")
    verb = "forces" if len(chars) == 1 else "force"
    # What it would take in GSM-7 if each of those characters were one GSM character.
    as_gsm = re.sub("[" + re.escape("".join(chars)) + "]", "?", text)
    gsm_parts = measure(as_gsm).segments
    if gsm_parts == segments:
        line = f"{shown} {verb} UCS-2 (70 characters per part instead of 160)"
    else:
        plural = "part" if gsm_parts == 1 else "parts"
        line = f"{shown} {verb} UCS-2: {segments} parts instead of {gsm_parts} {plural}"
        if segments == 1:
            line = f"{shown} {verb} UCS-2: 1 part, but fewer characters fit"
    if not smart and smart_encode(text).replacements:
        line += (
            " (smart encoding would replace it)"
            if len(chars) == 1
            else " (smart encoding would replace them)"
        )
    return line


# ------------------------------------------------------------------------ bulk path

_MAY_FOLLOW_STOP: Final = re.compile(r"(?i)[\d:=\->]*(?:sms|au|to|sur)?[\d:=\->]*|[^\w\s]+")


def _tail_is_static(tail: str, mention: str) -> bool:
    """Whether the text after the last field alone decides the mention (see Composer)."""
    words = tail.split()
    if not words:
        return False  # the template ends with a field
    # A mention starting inside a value could run into the tail only through words that may
    # follow STOP ("SMS", "au", a number, punctuation); the last word may be a link's end.
    if all(_MAY_FOLLOW_STOP.fullmatch(w) for w in words[:-1]):
        return False
    # Whether the character before the tail (a value's last) could matter.
    return (kept_mention(" " + tail, mention) is None) == (
        kept_mention("x" + tail, mention) is None
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one region's messages are built: ``fmt`` renders the final text directly, or
    ``fmt`` is None and each message goes through :func:`_compose`; ``static`` is the whole
    message of a template without fields."""

    decision: MentionDecision
    fmt: str | None
    static: ComposedMessage | None


class Composer:
    """Composes one campaign's messages fast: build once, then call per recipient.

    ``template`` is a :class:`Template` or a text parsed with any custom field accepted.
    Values are looked up by canonical field name (see :meth:`Template.render`).
    """

    __slots__ = (
        "_account",
        "_enabled",
        "_get",
        "_plans",
        "_smart",
        "_style",
        "_type",
        "template",
    )

    def __init__(
        self,
        template: Template | str,
        *,
        message_type: MessageType = MessageType.MARKETING,
        style: MentionStyle = _DEFAULT_STYLE,
        account_type: AccountType = AccountType.MARKETING,
        mention_enabled: bool = True,
        smart_encoding: bool = False,
    ) -> None:
        if not isinstance(template, Template):
            template = Template.parse(template, None)
        self.template = template
        self._type = message_type
        self._style = style
        self._account = account_type
        self._enabled = mention_enabled
        self._smart = smart_encoding
        slots = template.slots
        self._get: Callable[[Mapping[str, str]], tuple[str, ...]] | None = None
        if len(slots) == 1:
            one = slots[0]
            self._get = lambda values: (values[one],)
        elif slots:
            self._get = itemgetter(*slots)
        self._plans: dict[str, _Plan] = {}

    def _plan(self, region: str) -> _Plan:
        decision = decide_mention(region, self._type, self._style, self._account, self._enabled)
        t = self.template
        fmt: str | None = None
        static: ComposedMessage | None = None
        if not t.slots:
            static = _compose(t.pieces[0], decision, self._smart)
        elif decision.mention is None:
            fmt = t._format
        elif _tail_is_static(t.pieces[-1], decision.mention):
            tail = t.pieces[-1]
            if kept_mention(tail, decision.mention) is None:
                kept = tail.rstrip()
                separator = "\n" if "\n" in tail[len(kept) :] else " "
                tail = kept + separator + decision.mention
            fmt = "%s".join(p.replace("%", "%%") for p in (*t.pieces[:-1], tail))
        plan = _Plan(decision, fmt, static)
        self._plans[region] = plan
        return plan

    def compose(self, values: Mapping[str, str], region: str = "FR") -> ComposedMessage:
        """The full :class:`ComposedMessage` (warnings included) for one recipient."""
        plan = self._plans.get(region) or self._plan(region)
        if plan.static is not None:
            return plan.static
        return _compose(self.template.render(values), plan.decision, self._smart)

    def compose_fast(self, values: Mapping[str, str], region: str = "FR") -> FastComposition:
        """``(text, encoding, units, segments)`` for one recipient: the bulk path.

        Same answer as :meth:`compose`, without warnings, several times faster.
        """
        plan = self._plans.get(region) or self._plan(region)
        fmt = plan.fmt
        if fmt is None or self._get is None:
            return self._slow(values, region)
        try:
            text = fmt % self._get(values)
        except KeyError:
            text = fmt % tuple(
                self.template._value(values, i) for i in range(len(self.template.slots))
            )
        units = _gsm_units(text)
        if units >= 0:
            if self._smart and "€" in text:
                return self._slow(values, region)
            return (text, _GSM7, units, 1 if units <= 160 else segments_for(text, units, True))
        if self._smart:
            return self._slow(values, region)
        units = _utf16_units(text)
        return (text, _UCS2, units, 1 if units <= 70 else segments_for(text, units, False))

    def _slow(self, values: Mapping[str, str], region: str) -> FastComposition:
        m = self.compose(values, region)
        return (m.text, m.encoding, m.units, m.segments)

    def compose_many(
        self, rows: Iterable[Mapping[str, str]], region: str = "FR"
    ) -> list[FastComposition]:
        """:meth:`compose_fast` over ``rows``, all sent to ``region``."""
        fast = self.compose_fast
        return [fast(v, region) for v in rows]
