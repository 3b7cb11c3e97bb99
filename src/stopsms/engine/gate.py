"""The in-process suppression gate: what makes "nothing after an acknowledged STOP" exact.

The database re-check at submit time sees every opt-out committed before it ran; a STOP
committed a millisecond later would still meet a message already past that check. The gate
closes that gap inside one process, where the inbound handler and the dispatcher share it:

1. When an MO arrives, its number is marked *pending* at once (before any database work):
   no new chunk will carry a message to it; such messages are put back, not excluded.
2. Once the opt-out is committed, the (account, number, sender) is *blocked*: messages to
   it are excluded at the gate, whatever the database check saw.
3. Before the handler returns (and so before the provider acknowledges the MO), it waits
   for every chunk already on the wire that carries the number to be answered.

So every submit to that number reached the SMSC before the acknowledgement of its STOP.
Across processes (several workers on PostgreSQL) only the database check applies; the
window is the time between that check and the wire, a few milliseconds.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Iterable

__all__ = ["SuppressionGate"]


class SuppressionGate:
    """Numbers this process must not send to now (see module doc)."""

    def __init__(self) -> None:
        self._pending: Counter[str] = Counter()
        self._blocked: set[tuple[int, str, str]] = set()
        self._chunks: dict[int, tuple[frozenset[str], asyncio.Event]] = {}
        self._ids = itertools.count()

    # -- the inbound side --------------------------------------------------------------

    def mark_pending(self, phone: str) -> None:
        """An MO from ``phone`` is being handled: send it nothing new until it is settled."""
        self._pending[phone] += 1

    def clear_pending(self, phone: str) -> None:
        self._pending[phone] -= 1
        if self._pending[phone] <= 0:
            del self._pending[phone]

    def block(self, account_id: int, phone: str, sender: str = "") -> None:
        """``phone`` opted out of ``account_id`` (of one ``sender`` when given)."""
        self._blocked.add((account_id, phone, sender))

    def unblock(self, account_id: int, phone: str) -> None:
        """``phone`` re-subscribed to ``account_id`` (every scope of it)."""
        self._blocked = {key for key in self._blocked if key[:2] != (account_id, phone)}

    async def wait_clear(self, phone: str) -> None:
        """Wait until no chunk carrying ``phone`` is still on the wire."""
        events = [event for phones, event in self._chunks.values() if phone in phones]
        for event in events:
            await event.wait()

    # -- the dispatcher side -----------------------------------------------------------

    def is_blocked(self, account_id: int, phone: str, sender: str | None) -> bool:
        blocked = self._blocked
        if not blocked:
            return False
        return (account_id, phone, "") in blocked or (account_id, phone, sender or "") in blocked

    def is_pending(self, phone: str) -> bool:
        return bool(self._pending) and phone in self._pending

    def enter(self, phones: Iterable[str]) -> int:
        """A chunk carrying ``phones`` goes on the wire; returns its token for :meth:`leave`."""
        token = next(self._ids)
        self._chunks[token] = (frozenset(phones), asyncio.Event())
        return token

    def leave(self, token: int) -> None:
        """The chunk was answered (or failed): release whoever waits on its numbers."""
        _, event = self._chunks.pop(token)
        event.set()
