"""When the next ``submit_sm`` may be written: the throughput cap, counted at the write.

The rule: at most ``rate`` submits in any one-second span of the times they are *written*,
spaced ``1/rate`` apart (after a short burst allowance following an idle spell), and none
during a pause after ``ESME_RTHROTTLED``. The turn is taken at the write, after the room in
the window and the bind were obtained, never before a wait: a turn taken before the wait
on a stalled window (an SMSC restart, slow answers) let every submit that waited leave in
one burst when it ended — issue 11's chaos test saw 211 submits in one second against a
cap of 200, and ``tests/unit/providers/test_smpp_pacing.py`` 18 in one second against 10,
9 of them at the same instant, after a 3-second stall.

Pure (times are given, nothing sleeps) so that the rule is tested on explicit times; the
provider asks :meth:`SubmitPacer.delay`, sleeps, asks again, and calls
:meth:`SubmitPacer.take` in the same event-loop step as the write.
"""

from __future__ import annotations

import collections
import math

__all__ = ["BURST_SECONDS", "SubmitPacer"]

#: After an idle spell, this much sending time may go at once (5 submits at 95/s).
BURST_SECONDS = 0.05
#: ``ESME_RTHROTTLED``: every submit pauses, this long at first, doubling while it goes on.
FIRST_PAUSE = 0.1
LONGEST_PAUSE = 5.0


class SubmitPacer:
    """The throughput cap of one provider (``rate`` submits per second; ``inf``: no cap,
    only the pauses after ``ESME_RTHROTTLED``). Times are seconds of one monotonic clock."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._interval = 0.0 if math.isinf(rate) else 1.0 / rate
        # No one-second span above the rate: the write times of the last `rate` submits.
        self._per_second = 0 if math.isinf(rate) else max(1, int(rate))
        self._recent: collections.deque[float] = collections.deque()
        self._next_slot = -math.inf
        self._pause_until = -math.inf
        self._pause = 0.0

    def delay(self, now: float) -> float:
        """How long to wait before a submit may be written (``0.0``: it may go ``now``).

        Ask again after the wait: others may have taken the turn meanwhile.
        """
        wait = self._pause_until - now
        if self._interval:
            wait = max(wait, self._next_slot - now)
            recent = self._recent
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            if len(recent) >= self._per_second:
                # the oldest of the last `rate` leaves the one-second span at recent[0] + 1
                wait = max(wait, recent[0] + 1.0 - now)
        return max(0.0, wait)

    def take(self, now: float) -> None:
        """A submit was written at ``now`` (after :meth:`delay` said ``0.0``, in the same
        step: no other write in between)."""
        if not self._interval:
            return
        # After an idle spell, start afresh with a small burst allowance, never a credit
        # accumulated while idle (or while the window or the bind stalled).
        self._next_slot = max(self._next_slot, now - BURST_SECONDS) + self._interval
        self._recent.append(now)
        if len(self._recent) > self._per_second:
            self._recent.popleft()

    def throttled(self, now: float) -> None:
        """The SMSC answered ``ESME_RTHROTTLED``: no submit for a pause (0.1 s, doubling to
        5 s while the answers go on; the message comes back ``retry``, never failed)."""
        if now > self._pause_until + 1.0:
            self._pause = FIRST_PAUSE  # the first throttle in a while
        elif now >= self._pause_until:
            self._pause = min(self._pause * 2, LONGEST_PAUSE)  # still throttled after a pause
        self._pause_until = max(self._pause_until, now + self._pause)
