"""Who acts: an API key turned into a :class:`~stopsms.services.access.keys.Principal`.

Every interface that takes keys (the API now; the web's sessions next) asks here, so the
account a request may touch and the role it holds come from one place, never from a route's own
query. One indexed read per verification (the key's row, by its prefix); the key's last use is
written only when the stored one is more than a minute old
(:data:`~stopsms.services.access.keys.LAST_USE_PRECISION`), so a busy key costs no write per
request.

:class:`VerifiedKeys` keeps the keys a server verified for :data:`KEY_CACHE_LIFETIME` (5 s),
so a busy key is read from the database once per lifetime instead of once per request (on the
API, that read was a hop to a worker thread and back: 20 % of the event loop's busy time).
The trade-off is revocation's bound: a key revoked through the server that cached it is
forgotten at once; revoked elsewhere (the CLI, another server) it still reads for at most the
lifetime on the routes that only read — and never writes a message: the intake checks every
key again in the transaction that queues its messages (:mod:`stopsms.app.intake`).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Connection

from stopsms.app.application import App
from stopsms.services.access.keys import LAST_USE_PRECISION, Principal, authenticate, mark_used
from stopsms.services.accounts.accounts import Account, get_account_by_id

__all__ = ["KEY_CACHE_LIFETIME", "VerifiedKeys", "acting_account", "principal_of_key"]

#: How long a verified key is believed without reading it again (revocation's bound elsewhere).
KEY_CACHE_LIFETIME = timedelta(seconds=5)


def principal_of_key(app: App, key: str, now: datetime) -> Principal | None:
    """The principal ``key`` stands for (None: unknown, malformed or revoked), its last use
    recorded when the stored one is stale."""
    with app.reader() as connection:
        principal = authenticate(connection, key)
    if principal is None or principal.key_id is None:
        return principal
    last = principal.last_used_at
    if last is None or now - last >= LAST_USE_PRECISION:
        with app.transaction() as connection:
            mark_used(connection, principal.key_id, now)
        principal = replace(principal, last_used_at=now)
    return principal


class VerifiedKeys:
    """Principals of the keys verified within ``lifetime``, by the key's SHA-256 (never the
    key itself); at most ``max_keys`` (then the expired ones, or all, are dropped).

    :meth:`get` answers only a fresh entry whose last use needs no writing (it is refused a
    minute after the last recorded use, so the slow path writes it); a miss is the caller's
    to verify (:func:`principal_of_key`) and :meth:`put` back. Unknown keys are never kept.
    """

    def __init__(self, lifetime: timedelta = KEY_CACHE_LIFETIME, *, max_keys: int = 10_000) -> None:
        self.lifetime = lifetime
        self._max = max_keys
        self._known: dict[bytes, tuple[Principal, datetime]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, now: datetime) -> Principal | None:
        """The principal of ``key`` if verified within the lifetime, else None."""
        found = self._known.get(hashlib.sha256(key.encode()).digest())
        if found is None:
            return None
        principal, verified = found
        last = principal.last_used_at
        if now - verified >= self.lifetime or last is None or now - last >= LAST_USE_PRECISION:
            return None
        return principal

    def put(self, key: str, principal: Principal, now: datetime) -> None:
        """Remember ``key`` as verified ``now``."""
        with self._lock:
            if len(self._known) >= self._max:
                fresh = {d: e for d, e in self._known.items() if now - e[1] < self.lifetime}
                self._known = fresh if len(fresh) < self._max else {}
            self._known[hashlib.sha256(key.encode()).digest()] = (principal, now)

    def __len__(self) -> int:
        return len(self._known)

    def forget(self, key_id: int) -> None:
        """Drop the key ``key_id`` (revoked through this process: refused from now on)."""
        with self._lock:
            self._known = {d: e for d, e in self._known.items() if e[0].key_id != key_id}


def acting_account(connection: Connection, principal: Principal) -> Account:
    """The principal's account, read in the caller's transaction."""
    return get_account_by_id(connection, principal.account_id)
