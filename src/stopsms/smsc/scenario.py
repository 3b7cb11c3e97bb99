"""Scenario files for the SMSC simulator: what the handsets do.

One rule per line; ``#`` starts a comment; numbers are compared by their digits, so
``+33612345678`` and ``33612345678`` are the same handset::

    blocked +33699999999          # every receipt to it fails with err:061 (destination blocked)
    blocked +33699999998 034      # ... with another error code
    fail +33611111111 001         # undeliverable with err:001
    after-first +33612345678 STOP # when its first message was accepted, it replies "STOP"
    at 2.5 +33612345678 START     # 2.5 s after the first bind, it sends "START" to the shortcode
    deliver-ratio 0.9             # share of other messages delivered (the rest fail)
    receipt-delay 0.2             # seconds from submit to receipt

A bad line raises :class:`ScenarioError` naming its number and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stopsms.domain.errors import StopsmsError


class ScenarioError(StopsmsError):
    """A scenario line the simulator cannot read."""


def digits(number: str) -> str:
    """The key a number is matched by: its digits only."""
    return "".join(c for c in number if c.isdigit())


@dataclass(frozen=True, slots=True)
class Reply:
    """An MO the handset ``sender`` sends: after its first message, or ``at`` seconds."""

    sender: str
    text: str
    at: float | None = None  # None: after the first message to ``sender``


@dataclass(slots=True)
class Scenario:
    """Parsed rules. ``failures`` maps a number's digits to the receipt error code."""

    failures: dict[str, str] = field(default_factory=dict)
    replies: list[Reply] = field(default_factory=list)
    deliver_ratio: float | None = None
    receipt_delay: float | None = None

    def after_first(self, destination: str) -> list[Reply]:
        key = digits(destination)
        return [r for r in self.replies if r.at is None and digits(r.sender) == key]

    def timed(self) -> list[Reply]:
        return sorted((r for r in self.replies if r.at is not None), key=lambda r: r.at or 0.0)


def _number(line_no: int, raw: str) -> str:
    if len(digits(raw)) < 3 or not raw.lstrip("+").isdigit():
        raise ScenarioError(f"scenario line {line_no}: {raw!r} is not a phone number")
    return raw


def _float(line_no: int, raw: str, what: str, low: float = 0.0, high: float = 1e9) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ScenarioError(f"scenario line {line_no}: {what} {raw!r} is not a number") from None
    if not low <= value <= high:
        raise ScenarioError(f"scenario line {line_no}: {what} {raw} is not in [{low}, {high:g}]")
    return value


def receipt_error_code(raw: str) -> str | None:
    """The ``err:`` field of a delivery receipt (SMPP 3.4 appendix B: 3 characters), padded
    with zeros (``1`` → ``001``); ``None`` unless ``raw`` is 1 to 3 ASCII letters or digits."""
    return raw.zfill(3) if re.fullmatch(r"[0-9A-Za-z]{1,3}", raw) else None


def _code(line_no: int, raw: str) -> str:
    code = receipt_error_code(raw)
    if code is None:
        raise ScenarioError(
            f"scenario line {line_no}: error code {raw!r} is not 1-3 letters or digits"
        )
    return code


def parse_scenario(text: str) -> Scenario:
    """Read a scenario file's text (format in the module docstring)."""
    scenario = Scenario()
    for line_no, raw_line in enumerate(text.splitlines(), 1):
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        verb, _, rest = line.partition(" ")
        args = rest.split()
        if verb == "blocked" and len(args) in (1, 2):
            code = _code(line_no, args[1]) if len(args) == 2 else "061"
            scenario.failures[digits(_number(line_no, args[0]))] = code
        elif verb == "fail" and len(args) == 2:
            scenario.failures[digits(_number(line_no, args[0]))] = _code(line_no, args[1])
        elif verb == "after-first" and len(args) >= 2:
            sender = _number(line_no, args[0])
            scenario.replies.append(Reply(sender, rest.strip().split(None, 1)[1]))
        elif verb == "at" and len(args) >= 3:
            at = _float(line_no, args[0], "time")
            sender = _number(line_no, args[1])
            scenario.replies.append(Reply(sender, rest.strip().split(None, 2)[2], at))
        elif verb == "deliver-ratio" and len(args) == 1:
            scenario.deliver_ratio = _float(line_no, args[0], "deliver-ratio", 0.0, 1.0)
        elif verb == "receipt-delay" and len(args) == 1:
            scenario.receipt_delay = _float(line_no, args[0], "receipt-delay", 0.0, 3600.0)
        else:
            raise ScenarioError(
                f"scenario line {line_no}: cannot read {line!r} (expected blocked NUMBER [CODE],"
                " fail NUMBER CODE, after-first NUMBER TEXT, at SECONDS NUMBER TEXT,"
                " deliver-ratio R or receipt-delay SECONDS)"
            )
    return scenario
