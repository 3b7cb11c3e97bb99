"""Signed session cookies: who is signed in, in which account, since when.

The cookie holds ``user.account.issued.signature`` (the account name base64url-encoded, the
issue time in seconds, an HMAC-SHA256 over the three with a key derived from
``Settings.secret_key``; without one, a key made for this process, so sessions end when the
process restarts). It is ``HttpOnly``, ``SameSite=Lax`` (a link from elsewhere opens the page
signed in; a form from elsewhere is still refused by the anti-forgery field) and ``Secure``
when the request came over https. A session lasts :data:`MAX_AGE`; the role is not in the
cookie but read again per request (:func:`stopsms.app.area.principal_of_user`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_AGE", "SESSION_COOKIE", "Session", "Sessions"]

SESSION_COOKIE: Final = "stopsms_session"
#: Twelve hours: a working day, then sign in again.
MAX_AGE: Final = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user and the account they act in (None: their first)."""

    user_id: int
    account: str | None
    issued: int


class Sessions:
    """Signs and reads session cookies with one key (see the module doc)."""

    def __init__(self, secret_key: str | None, clock: Callable[[], float] = time.time) -> None:
        key = secret_key.encode() if secret_key else secrets.token_bytes(32)
        self._key = hashlib.sha256(b"stopsms web sessions\0" + key).digest()
        self._clock = clock

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, user_id: int, account: str | None, issued: int | None = None) -> str:
        """The cookie value for ``user_id`` acting in ``account`` (``issued``: keep a
        session's start when only the account changes)."""
        name = base64.urlsafe_b64encode((account or "").encode()).decode().rstrip("=")
        when = int(self._clock()) if issued is None else issued
        payload = f"{user_id}.{name}.{when}"
        return f"{payload}.{self._signature(payload)}"

    def read(self, value: str | None) -> Session | None:
        """The session of a cookie, if ours, well formed and younger than :data:`MAX_AGE`."""
        if not value or value.count(".") != 3:
            return None
        payload, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature, self._signature(payload)):
            return None
        user, name, issued = payload.split(".")
        if not user.isdigit() or not issued.isdigit():
            return None
        if self._clock() - int(issued) > MAX_AGE:
            return None
        account = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode() or None
        return Session(int(user), account, int(issued))
