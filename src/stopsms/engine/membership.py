"""This process as one of many sending workers: its lease, its heartbeat, its bind slots.

A :class:`Membership` registers the process in ``workers`` (its id is the claim token of the
dispatcher's messages), renews the lease every
:data:`~stopsms.services.messages.workers.HEARTBEAT_SECONDS` and, on the same beat, takes over
what expired workers left (:func:`~stopsms.services.messages.workers.reap`): a SIGKILLed
worker's claims are served again within lease + heartbeat (12 s) — at the next beat or bind
poll when it ran on this host (its process is gone: its lease is ended at once).

The heartbeat is a thread of its own with its own connection, so neither a long transaction
of the dispatcher (a large claim, a preparation) nor a busy event loop delays it (under load
a worker's loop was seen blocked 14 s at start-up: its lease ran out before it sent).
A renewal refused (the process stalled longer than its lease and another worker took over
what it held) sets :attr:`Membership.lost`; the process then stops sending — what it held is
someone else's now. A lease that ran out without anyone taking over is simply renewed.

Bind slots: a provider whose URL gives ``binds`` opens a session only on slots leased here
(:meth:`Membership.acquire_binds`), so all the workers together never hold more binds than the
account allows; a slot returns with its holder's lease, however the holder died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Connection

from stopsms.engine.database_thread import DatabaseThread
from stopsms.providers.base import Provider, ProviderError
from stopsms.services.messages import workers
from stopsms.store.database import Database

__all__ = ["BindSlots", "Membership", "bind_slots"]

log = logging.getLogger(__name__)

#: (provider account key, binds allowed, binds this provider opens), from the provider.
BindSlots = tuple[str, int, int]


def bind_slots(provider: Provider) -> BindSlots | None:
    """What the provider's bind limit asks of the leases, ``None`` when it has none."""
    slots: BindSlots | None = getattr(provider, "bind_slots", None)
    return slots


def _wall() -> datetime:
    return datetime.now(UTC)


def _host_identity() -> str | None:
    """This host's name and PID namespace (``name#pid:[4026531836]``): two processes with
    equal identities see each other's PIDs. ``None`` where the namespace cannot be read."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    return f"{socket.gethostname()}#{namespace}"[:255]


def _alive(pid: int) -> bool:
    """Whether a process of that PID exists here and is not a zombie (a PID reused since
    counts as alive: the lease then decides, which is the safe side). A SIGKILLed worker
    whose parent has not waited for it yet is a zombie: dead, though ``kill(pid, 0)`` still
    finds it (the failover benchmark's victim stayed one until the end: 7.5 s, the lease)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # "pid (comm) S …": the state follows the last ")" (comm may hold any byte)
            state = stat.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


class Membership:
    """Register, heartbeat, reap, lease bind slots (see the module doc).

    ``on_event`` is told, one line each, what was taken over from an expired worker and when
    this process waits for a bind slot; ``on_reaped`` gets each takeover's counts (a
    ``campaign send`` reports them as its reconciliation: the heartbeat may take a dead run's
    claims before the send's own reconcile at start does). ``wall`` is the wall clock leases
    are judged on.
    """

    def __init__(
        self,
        database: Database,
        *,
        role: str,
        on_event: Callable[[str], None] | None = None,
        on_reaped: Callable[[workers.Reaped], None] | None = None,
        heartbeat: float = workers.HEARTBEAT_SECONDS,
        wall: Callable[[], datetime] = _wall,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.role = role
        self.lost = asyncio.Event()
        self.heartbeat = heartbeat
        self.taken_over = workers.Reaped(0, 0, ())
        self._on_event = on_event
        self._on_reaped = on_reaped
        self._wall = wall
        self._database = database
        self._thread = DatabaseThread(database)
        self._stopping = threading.Event()
        self._beat: threading.Thread | None = None
        self._host = _host_identity()

    async def start(self) -> None:
        """Register this process and start the heartbeat.

        Workers registered from this very host (same host name *and* PID namespace) whose
        process is gone are expired first: a SIGKILLed ``send`` rerun at once is reconciled
        at once, not after the lease. (Only this certain case: a process elsewhere, or in
        another container, is judged by its lease alone.)
        """
        host = self._host
        now = self._wall()
        if host is not None:
            mine = await self._thread.run(partial(workers.on_host, host=host, now=now))
            gone = [worker_id for worker_id, pid in mine if not _alive(pid)]
            if gone:
                await self._thread.run(partial(workers.expire, worker_ids=gone, now=now))
        await self._thread.run(
            partial(
                workers.register,
                worker_id=self.id,
                host=host or socket.gethostname(),
                pid=os.getpid(),
                role=self.role,
                now=now,
            )
        )
        self._beat = threading.Thread(
            target=self._heartbeat,
            args=(asyncio.get_running_loop(),),
            name="stopsms-heartbeat",
            daemon=True,
        )
        self._beat.start()

    def _heartbeat(self, loop: asyncio.AbstractEventLoop) -> None:
        """The heartbeat thread: renew, then reap, every ``heartbeat`` seconds (a worker of
        this host whose process is gone is reaped at once, not at its lease's end)."""
        while not self._stopping.wait(self.heartbeat):
            try:
                with self._database.transaction() as conn:
                    renewed = workers.renew(conn, self.id, self._wall())
                if not renewed:
                    self._to_loop(loop, self._lose)
                    return
                with self._database.transaction() as conn:
                    self._expire_gone(conn, self._wall())
                    reaped = workers.reap(conn, self._wall())
            except Exception as exc:  # the database is away: the next beat tries again
                log.warning("heartbeat failed: %s", exc)
                continue
            if reaped.workers or reaped.released or reaped.unknown:
                self._to_loop(loop, partial(self._report, reaped))

    def _expire_gone(self, conn: Connection, now: datetime) -> int:
        """End the leases of the workers registered from this very host whose process is
        gone (the one certain case, as at :meth:`start`): a SIGKILLed colleague on this
        machine gives its binds and claims at the next beat or bind poll, not 6–9 s later at
        its lease's end. Returns how many."""
        if self._host is None:
            return 0
        gone = [
            worker_id
            for worker_id, pid in workers.on_host(conn, host=self._host, now=now)
            if worker_id != self.id and not _alive(pid)
        ]
        return workers.expire(conn, worker_ids=gone, now=now) if gone else 0

    def _acquire(self, conn: Connection, *, provider: str, needed: int, allowed: int) -> list[int]:
        now = self._wall()
        self._expire_gone(conn, now)
        return workers.acquire_binds(
            conn, provider=provider, worker_id=self.id, needed=needed, allowed=allowed, now=now
        )

    @staticmethod
    def _to_loop(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
            loop.call_soon_threadsafe(callback)

    def _lose(self) -> None:
        self._tell(
            "this worker's lease ran out (stalled?): its claims and binds are taken over by "
            "the others; it stops sending"
        )
        self.lost.set()

    def _report(self, reaped: workers.Reaped) -> None:
        if not (reaped.workers or reaped.released or reaped.unknown):
            return
        done = self.taken_over
        self.taken_over = workers.Reaped(
            done.released + reaped.released,
            done.unknown + reaped.unknown,
            done.workers + reaped.workers,
        )
        if self._on_reaped is not None:
            self._on_reaped(reaped)
        gone = ", ".join(reaped.workers) or "a process gone"
        self._tell(
            f"worker lease expired ({gone}): {reaped.released} claimed message(s) back in the "
            f"queue, {reaped.unknown} in doubt recorded as unknown (never re-sent)"
        )

    def _tell(self, line: str) -> None:
        log.warning("%s", line)
        if self._on_event is not None:
            self._on_event(line)

    async def acquire_binds(
        self,
        slots: BindSlots,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        stop: asyncio.Event | None = None,
    ) -> list[int]:
        """Lease the bind slots ``slots`` asks for, waiting while all are held by live workers
        (at most ``timeout`` seconds, then :class:`ProviderError`; ``None``: as long as it
        takes, or until ``stop`` is set: then ``[]``). A slot held by an expired worker is
        free."""
        key, allowed, needed = slots
        if needed > allowed:
            raise ProviderError(
                f"the provider {key} allows {allowed} bind(s) and this process needs {needed}"
            )
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        told = False
        while True:
            held = await self._thread.run(
                partial(self._acquire, provider=key, needed=needed, allowed=allowed)
            )
            if held:
                if told:
                    self._tell(f"bind slot {', '.join(map(str, held))} of {key} leased")
                return held
            if stop is not None and stop.is_set():
                return []
            if deadline is not None and loop.time() >= deadline:
                raise ProviderError(
                    f"all {allowed} bind(s) allowed for {key} are held by other live workers"
                )
            if not told:
                self._tell(
                    f"waiting for a bind: all {allowed} allowed for {key} are held by other "
                    "workers (one is freed when its worker stops or its lease expires)"
                )
                told = True
            await asyncio.sleep(poll)

    async def close(self) -> None:
        """Stop the heartbeat and leave: claims never sent back to ``pending``, binds and the
        row given up (a failure here is left to the others' reap, at lease expiry)."""
        self._stopping.set()
        if self._beat is not None:
            await asyncio.to_thread(self._beat.join)
        try:
            if not self.lost.is_set():
                await self._thread.run(partial(workers.leave, worker_id=self.id))
        except Exception as exc:
            log.warning("could not leave the workers table cleanly: %s", exc)
        finally:
            self._thread.close()
