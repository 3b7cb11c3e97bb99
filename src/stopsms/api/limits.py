"""Rate limits: a token bucket per API key and one per client IP, in this process.

A bucket holds ``burst`` tokens and refills at ``rate`` per second; a request takes one, and
when none is left it is answered 429 ``rate_limited`` with ``Retry-After``. The IP bucket is
taken before the key is checked, so guessing keys is slowed as much as using one.

In-process buckets are exact for one server. Several servers behind a balancer would each let
through their own share (n × the rate): they would need a shared counter (PostgreSQL
``UPDATE … RETURNING`` on a bucket row, or a Redis ``INCR`` with expiry), or a balancer that
pins a key to one server.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Limits", "TokenBuckets"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Requests per second and burst, per key and per IP (0: no limit)."""

    per_key: float = 100.0
    key_burst: int = 200
    per_ip: float = 200.0
    ip_burst: int = 400


class TokenBuckets:
    """Buckets by name (a key's id, an IP), refilled lazily; thread-safe.

    ``wait`` answers how long until a token, 0 when one was taken. Idle buckets are dropped
    when the table grows past ``max_buckets``, so a flood of addresses cannot grow it without
    bound.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 100_000,
    ) -> None:
        self.rate = rate
        self.burst = float(max(1, burst))
        self._clock = clock
        self._max = max_buckets
        self._buckets: dict[object, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait(self, name: object) -> float:
        """Take a token for ``name``: 0.0 when taken, else the seconds until one is there."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(name, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                if len(self._buckets) > self._max:
                    self._forget_full(now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        full = [
            name
            for name, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self.rate >= self.burst
        ]
        for name in full:
            del self._buckets[name]

    @staticmethod
    def retry_after(wait: float) -> str:
        """The ``Retry-After`` header for a wait (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait)))
