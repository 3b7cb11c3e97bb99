"""Phone numbers a resource takes under its own field name (``number``).

The problem mapping names ``to`` for an unreadable number (the messages' field);
:func:`named` answers it under the field the request used instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from stopsms.api.problems import Problem
from stopsms.domain.errors import InvalidPhoneNumber

__all__ = ["named"]


@contextmanager
def named(field: str = "number") -> Iterator[None]:
    """Inside the block, an unreadable number is a 422 naming ``field``."""
    try:
        yield
    except InvalidPhoneNumber as error:
        raise Problem(422, "invalid_field", f"{field}: {error}", field=field) from error
