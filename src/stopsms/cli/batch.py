"""``--batch`` mode: JSON lines in, one JSON result per line out, in order.

A bad line (invalid JSON, an unknown or ill-typed field, a value a rule refuses) gets an
``{"error": …, "line": N}`` result and the following lines still run. There is no per-line
start-up cost: the command's handler is called in a loop over stdin.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import IO, Any

from stopsms.app.results import dumps
from stopsms.domain.errors import StopsmsError

Handler = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class BadField(StopsmsError):
    """A batch line's field is unknown or of the wrong JSON type."""


def run_batch(handle: Handler, source: IO[str] | None = None, sink: IO[str] | None = None) -> int:
    """Answer every line of ``source``; return how many lines were errors."""
    source = sys.stdin if source is None else source
    sink = sys.stdout if sink is None else sink
    errors = 0
    out: list[str] = []
    for number, line in enumerate(source, start=1):
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise BadField(f"expected a JSON object, got {type(request).__name__}")
            result: Mapping[str, Any] = handle(request)
        except json.JSONDecodeError as error:
            result = {"error": f"invalid JSON: {error.msg} (column {error.colno})", "line": number}
        except StopsmsError as error:
            result = {"error": str(error), "line": number}
        if "error" in result:
            errors += 1
        out.append(dumps(result))
        if len(out) >= 1024:
            sink.write("\n".join(out) + "\n")
            out.clear()
    if out:
        sink.write("\n".join(out) + "\n")
    sink.flush()
    return errors


def fields(
    request: Mapping[str, Any], spec: Mapping[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """Check a batch line against ``spec`` (field name → accepted JSON type) and return it.

    Unknown fields are refused rather than ignored: a typo such as ``"txt"`` would otherwise
    silently preview the wrong message. ``null`` is accepted for every field.
    """
    unknown = sorted(set(request) - set(spec))
    if unknown:
        raise BadField(f"unknown field {unknown[0]!r} (expected: {', '.join(spec)})")
    checked: dict[str, Any] = {}
    for name, value in request.items():
        expected = spec[name]
        if value is not None and (
            not isinstance(value, expected) or (expected is not bool and isinstance(value, bool))
        ):
            wanted = (
                expected.__name__
                if isinstance(expected, type)
                else "/".join(t.__name__ for t in expected)
            )
            raise BadField(f"field {name!r} must be {wanted}, got {json.dumps(value)}")
        checked[name] = value
    return checked
