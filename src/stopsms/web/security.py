"""What protects the pages: forms signed against forgery, a rate limit per address, headers.

Forgery (CSRF), by a signed double-submit cookie: the page sets a cookie holding
``nonce.signature`` (HMAC-SHA256 of the nonce with ``Settings.secret_key``, or with a key made
for this process when none is set: forms then expire when the process restarts) and puts the
same value in the form; a POST is accepted only when the cookie and the field are equal (a
constant-time comparison) and the signature is ours. Another site can make a browser send the
cookie, not read it to fill the field; and the cookie is ``SameSite=Strict`` and ``HttpOnly``.

Rate limit: at most ``limit`` POSTs per address in a sliding ``window`` (in this process; a
server of several processes multiplies it). The address is the connection's peer, not
``X-Forwarded-For``: behind a proxy the proxy must limit, or forward only its own clients.

Headers on every page: a Content Security Policy with no script at all and only the page's own
style (by its hash), ``X-Frame-Options: DENY`` (no clickjacking of the confirm button),
``Referrer-Policy: no-referrer`` (the token in the address never leaks to another site),
``nosniff`` and ``no-store`` (a shared computer keeps no page with a masked number).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "STYLE", "Forms", "RateLimiter", "security_headers"]

CSRF_COOKIE: Final = "stopsms_csrf"
CSRF_FIELD: Final = "csrf"
_NONCE_BYTES: Final = 18

#: The pages' whole style sheet, inline and allowed by its hash (no other style, no script).
STYLE: Final = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1b1b1b}h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}"
    "select,input,textarea{font:inherit;width:100%;box-sizing:border-box;padding:.4rem}"
    "button{font:inherit;margin-top:1rem;padding:.6rem 1.2rem;background:#b00020;color:#fff;"
    "border:0;border-radius:4px}.number{font-size:1.3rem;letter-spacing:.05em}"
    ".error{color:#b00020}.muted{color:#555;font-size:.9rem}"
)
_STYLE_HASH: Final = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
_HEADERS: Final = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def security_headers() -> dict[str, str]:
    """The headers every page carries (see the module doc)."""
    return dict(_HEADERS)


class Forms:
    """Signs and checks the forms' anti-forgery values with one key (see the module doc)."""

    def __init__(self, secret_key: str | None) -> None:
        key = secret_key.encode() if secret_key else secrets.token_bytes(32)
        self._key = hashlib.sha256(b"stopsms web forms\0" + key).digest()

    def _signature(self, nonce: str) -> str:
        digest = hmac.new(self._key, nonce.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, current: str | None) -> str:
        """The value for a new form: the browser's current one when it is ours, else new."""
        if current and self.signed(current):
            return current
        nonce = secrets.token_urlsafe(_NONCE_BYTES)
        return f"{nonce}.{self._signature(nonce)}"

    def signed(self, value: str) -> bool:
        """Whether ``value`` is a nonce with our signature."""
        nonce, _, signature = value.partition(".")
        return bool(nonce) and hmac.compare_digest(signature, self._signature(nonce))

    def accepts(self, cookie: str | None, field: str | None) -> bool:
        """Whether a POST with this cookie and this form field is the page's own."""
        if not cookie or not field:
            return False
        return hmac.compare_digest(cookie.encode(), field.encode()) and self.signed(cookie)


class RateLimiter:
    """At most ``limit`` hits per key in any ``window`` seconds (a sliding log per key).

    Memory is bounded: past ``max_keys`` keys, those with no hit in the window are dropped.
    """

    def __init__(
        self,
        limit: int = 10,
        window: float = 60.0,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.max_keys, self.clock = limit, window, max_keys, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count a hit of ``key``: None when allowed, else the seconds until the next is."""
        now = self.clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self.max_keys:
                    self._forget(now)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window - now
            hits.append(now)
            return None

    def _forget(self, now: float) -> None:
        stale = [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]
        for key in stale:
            del self._hits[key]
