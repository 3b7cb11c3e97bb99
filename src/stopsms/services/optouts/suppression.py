"""Checking many numbers against the opt-out registry at once, set-based (rules 3–5).

:func:`suppressed_among` answers for a collection of numbers; :func:`load_suppression` loads an
account's active opt-outs into a :class:`Suppression` to check any number of batches in
memory. Numbers of erased people, kept by :mod:`stopsms.services.optouts.optouts` only as keyed
hashes, count too. As in :func:`stopsms.services.optouts.optouts.is_suppressed`,
``sender=None`` means "any sender": a number opted out of one sender ID counts as suppressed;
on an account whose opt-out scope is ``account`` every active record suppresses every sender
(:func:`~stopsms.services.optouts.optouts.suppressing_senders`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import Connection, bindparam, select

from stopsms.services.accounts.accounts import AccountRef, resolve_account
from stopsms.services.optouts.optouts import active_for_sender, suppressing_senders
from stopsms.store import tables as t
from stopsms.store.phone_keys import PhoneKeyer, keyer

__all__ = ["Suppression", "load_suppression", "suppressed_among"]

_O = t.optouts.c
#: Rows per IN (…) query: under SQLite's default variable limit with room to spare.
_CHUNK = 900
#: Below this many numbers, :func:`suppressed_among` asks the index; above, it loads the set.
_INDEX_LOOKUP_LIMIT = 20_000
#: :func:`suppressed_among`'s look-up by key, built once (the API's writer runs it per batch):
#: active records of any sender, or of the senders bound as ``senders``.
_BY_KEYS = select(_O.phone_key).where(
    _O.account_id == bindparam("account_id"),
    _O.phone_key.in_(bindparam("keys", expanding=True)),
    _O.revoked_at.is_(None),
)
_BY_KEYS_OF_SENDERS = _BY_KEYS.where(_O.sender.in_(bindparam("senders", expanding=True)))


class Suppression:
    """An account's active opt-outs in memory, for checking many numbers fast.

    Numbers still on record are matched directly; numbers of erased people (kept only as keyed
    hashes) are matched by hashing the candidate — only when the account has any.
    """

    __slots__ = ("_erased_keys", "_keyer", "_numbers")

    def __init__(self, numbers: set[str], erased_keys: set[str], phone_keyer: PhoneKeyer) -> None:
        self._numbers = numbers
        self._erased_keys = erased_keys
        self._keyer = phone_keyer

    def __len__(self) -> int:
        return len(self._numbers) + len(self._erased_keys)

    def __contains__(self, e164: object) -> bool:
        if not isinstance(e164, str):
            return False
        if e164 in self._numbers:
            return True
        return bool(self._erased_keys) and self._keyer.key(e164) in self._erased_keys

    def suppressed(self, numbers: Iterable[str]) -> set[str]:
        """The E.164 numbers among ``numbers`` that must not be messaged."""
        candidates = numbers if isinstance(numbers, Collection) else list(numbers)
        found = self._numbers.intersection(candidates)
        if self._erased_keys:
            key = self._keyer.key
            erased = self._erased_keys
            found.update(n for n in candidates if n not in found and key(n) in erased)
        return found


def load_suppression(
    connection: Connection, account: AccountRef, sender: str | None = None
) -> Suppression:
    """Load the account's active opt-outs (for ``sender``, or any) into a :class:`Suppression`."""
    acc = resolve_account(connection, account)
    scope = (_O.account_id == acc.id, active_for_sender(sender, acc.optout_scope))
    numbers = set(
        connection.execute(
            select(_O.phone_e164).where(*scope, _O.phone_e164.is_not(None))
        ).scalars()
    )
    erased = set(
        connection.execute(select(_O.phone_key).where(*scope, _O.phone_e164.is_(None))).scalars()
    )
    return Suppression(numbers, erased, keyer(connection))


def suppressed_among(
    connection: Connection,
    account: AccountRef,
    numbers: Collection[str],
    sender: str | None = None,
) -> set[str]:
    """Which of these E.164 ``numbers`` are suppressed (for ``sender``, or any).

    Few numbers: indexed look-ups by key, a chunk at a time. Many: the whole active set is
    loaded once (:func:`load_suppression`) — see ``bench/bench_suppression.py``.
    """
    acc = resolve_account(connection, account)
    if len(numbers) > _INDEX_LOOKUP_LIMIT:
        return load_suppression(connection, acc, sender).suppressed(numbers)
    unique = list(dict.fromkeys(numbers))
    keys = keyer(connection).keys(unique)
    by_key = dict(zip(keys, unique, strict=True))
    senders = suppressing_senders(acc.optout_scope, sender)
    query = _BY_KEYS if senders is None else _BY_KEYS_OF_SENDERS
    found: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        bound = {"account_id": acc.id, "keys": keys[start : start + _CHUNK]}
        if senders is not None:
            bound["senders"] = list(senders)
        hits = connection.execute(query, bound).scalars()
        found.update(by_key[key] for key in hits)
    return found
