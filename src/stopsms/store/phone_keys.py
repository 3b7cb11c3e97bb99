"""Keyed hashes of phone numbers: how the opt-out registry remembers erased people.

``phone_key = HMAC-SHA256(installation secret, E.164)`` in hex. The secret is random, made on
first open (:func:`stopsms.store.database.ensure_seed`) and never leaves the database, so the
registry can say "this number opted out" after the number itself was erased, while a leaked
export of keys cannot be reversed by enumerating the (small) space of phone numbers without it.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from sqlalchemy import Connection

from stopsms.store.database import installation_secret

__all__ = ["PhoneKeyer", "keyer"]


class PhoneKeyer:
    """Computes phone keys with one installation's secret."""

    __slots__ = ("_inner",)

    def __init__(self, secret: bytes) -> None:
        self._inner = hmac.new(secret, digestmod="sha256")

    def key(self, e164: str) -> str:
        """The key of one E.164 number."""
        mac = self._inner.copy()
        mac.update(e164.encode("ascii"))
        return mac.hexdigest()

    def keys(self, numbers: Iterable[str]) -> list[str]:
        """The keys of many numbers, in order."""
        inner = self._inner
        out: list[str] = []
        append = out.append
        for number in numbers:
            mac = inner.copy()
            mac.update(number.encode("ascii"))
            append(mac.hexdigest())
        return out


def keyer(connection: Connection) -> PhoneKeyer:
    """The :class:`PhoneKeyer` of the installation behind ``connection``."""
    return PhoneKeyer(installation_secret(connection))
