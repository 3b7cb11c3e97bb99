"""Issue 11, item 1: claims belong to live workers; a claim taken over is never sent twice.

On main a starting worker's reconcile released a live colleague's claims, and the dispatcher
ignored ``begin_submit``'s row count, so a chunk whose claim was taken was sent anyway: 1,138
of 5,000 recipients got the campaign twice with two workers on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, select

from stopsms.clock import FakeClock
from stopsms.engine.database_thread import DatabaseThread
from stopsms.engine.dispatcher import Dispatcher
from stopsms.engine.membership import Membership
from stopsms.providers.base import OutboundMessage, SubmitOutcome, SubmitResult
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.messages import outbox, workers
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.e2e.support import TUESDAY_10H, fr, seed_campaign

NOW = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=workers.LEASE_SECONDS + 1)


class RecordingRoute:
    """A provider that accepts everything and keeps each destination it was handed; an
    optional hook runs inside the first ``submit_many`` (while that chunk is on the wire)."""

    name = "recording"
    throughput = float("inf")

    def __init__(self, hook: object = None) -> None:
        self.sent: list[str] = []
        self.refs: list[int] = []
        self.hook = hook

    async def start(self, handlers: object) -> None:
        return None

    async def close(self) -> None:
        return None

    async def submit_many(self, messages: Sequence[OutboundMessage]) -> list[SubmitResult]:
        if callable(self.hook):
            hook, self.hook = self.hook, None
            hook()
        await asyncio.sleep(0.001)
        self.sent += [m.destination for m in messages]
        self.refs += [m.ref for m in messages]
        return [
            SubmitResult(m.ref, SubmitOutcome.ACCEPTED, provider_message_id=f"p{m.ref}")
            for m in messages
        ]


def _statuses(conn: Connection, campaign_id: int) -> Counter[str]:
    m = t.messages
    return Counter(conn.execute(select(m.c.status).where(m.c.campaign_id == campaign_id)).scalars())


def test_reap_takes_over_only_expired_workers_claims(database: Database) -> None:
    campaign_id = seed_campaign(database, [fr(i) for i in range(6)])
    prepare_campaign(database, campaign_id, FakeClock(TUESDAY_10H))
    with database.transaction() as conn:
        workers.register(conn, "live", host="h", pid=1, role="worker", now=LATER)
        workers.register(conn, "dead", host="h", pid=2, role="worker", now=NOW)
        live = outbox.claim(conn, token="live", now=TUESDAY_10H, limit=3)
        dead = outbox.claim(conn, token="dead", now=TUESDAY_10H, limit=3)
        outbox.begin_submit(conn, [m.id for m in live[:1]], TUESDAY_10H, token="live")
        outbox.begin_submit(conn, [m.id for m in dead[:2]], TUESDAY_10H, token="dead")
        # at NOW both leases run: nothing is taken
        assert workers.reap(conn, NOW) == workers.Reaped(0, 0, ())
        reaped = workers.reap(conn, LATER)
        assert (reaped.released, reaped.unknown, reaped.workers) == (1, 2, ("h pid 2",))
        assert _statuses(conn, campaign_id) == {
            "claimed": 2,  # the live worker's, untouched
            "submitting": 1,
            "unknown": 2,  # the dead one's in doubt: never re-sent
            "pending": 1,  # the dead one's never on the wire: queued again
        }
        assert workers.renew(conn, "dead", LATER) is False
        assert workers.renew(conn, "live", LATER) is True
        assert [w[0] for w in workers.live_workers(conn, LATER)] == ["live"]


def test_begin_submit_marks_only_what_the_token_still_holds(database: Database) -> None:
    campaign_id = seed_campaign(database, [fr(i) for i in range(4)])
    prepare_campaign(database, campaign_id, FakeClock(TUESDAY_10H))
    with database.transaction() as conn:
        mine = [m.id for m in outbox.claim(conn, token="a", now=TUESDAY_10H, limit=4)]
        # taken over: back to pending, then claimed by b
        workers.reap(conn, NOW)
        theirs = [m.id for m in outbox.claim(conn, token="b", now=TUESDAY_10H, limit=2)]
        assert outbox.begin_submit(conn, mine, TUESDAY_10H, token="a") == []
        assert sorted(outbox.begin_submit(conn, mine, TUESDAY_10H, token="b")) == sorted(theirs)


def test_bind_slots_never_exceed_the_allowed_and_return_with_the_lease(database: Database) -> None:
    with database.transaction() as conn:
        for name, at in (("a", NOW), ("b", NOW), ("c", LATER)):
            workers.register(conn, name, host="h", pid=1, role="worker", now=at)

        def take(worker: str, needed: int = 1, now: datetime = NOW) -> list[int]:
            return workers.acquire_binds(
                conn, "acme@smsc:2775", worker, needed=needed, allowed=2, now=now
            )

        assert take("a") == [0]
        assert take("a") == [0]  # already held: the same slot
        assert take("b") == [1]
        assert take("c") == []  # both held by live workers
        assert take("c", needed=2, now=LATER) == [0, 1]  # a and b expired: both free again
        assert workers.bind_holders(conn, "acme@smsc:2775", LATER) == [(0, "c"), (1, "c")]
        assert workers.release_binds(conn, "acme@smsc:2775", "c") == 2


@pytest.mark.commits  # DatabaseThread: connections of its own
def test_a_chunk_whose_claim_was_taken_over_is_not_sent(database: Database) -> None:
    numbers = [fr(i) for i in range(1200)]
    campaign_id = seed_campaign(database, numbers)
    prepare_campaign(database, campaign_id, FakeClock(TUESDAY_10H))
    taken: list[int] = []

    def take_over() -> None:
        # While A's first chunk is on the wire, A is judged dead and B claims what A held.
        with database.transaction() as conn:
            workers.reap(conn, datetime.now(UTC))
            taken.extend(m.id for m in outbox.claim(conn, token="b", now=TUESDAY_10H, limit=2000))

    route = RecordingRoute(take_over)

    async def main() -> None:
        thread = DatabaseThread(database)
        try:
            dispatcher = Dispatcher(
                thread, route, FakeClock(TUESDAY_10H), chunk_size=100, token="a", idle_max=None
            )
            await dispatcher.step()
            await dispatcher.flush()
        finally:
            thread.close()

    asyncio.run(main())
    assert taken, "the takeover found claims to take"
    assert not set(route.refs) & set(taken), "A sent messages B had claimed"
    # A sent only what it had marked before the takeover: at most the pipelined chunks
    assert 0 < len(route.refs) <= 300
    with database.reader() as conn:
        m = t.messages
        held_by_b = conn.execute(
            select(m.c.id).where(m.c.claim_token == "b", m.c.status == "claimed")
        ).scalars()
        assert sorted(held_by_b) == sorted(taken)


@pytest.mark.commits
# PostgreSQL only, where many senders run: on SQLite one writer at a time let the first
# sender's claims starve the second (it took no part in 3 of 4 runs on an idle machine), so
# the race this test is about did not happen there.
@pytest.mark.parametrize(
    "database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_second_sender_starting_mid_campaign_takes_nothing_live(database: Database) -> None:
    """The issue's duplicate: a second process starts while a campaign sends, reconciles,
    and sends too. Every recipient gets the campaign exactly once."""
    numbers = [fr(i) for i in range(3000)]
    campaign_id = seed_campaign(database, numbers)
    prepare_campaign(database, campaign_id, FakeClock(TUESDAY_10H))
    first, second = RecordingRoute(), RecordingRoute()

    async def sender(route: RecordingRoute, delay: float) -> None:
        await asyncio.sleep(delay)
        membership = Membership(database, role="send")
        thread = DatabaseThread(database)
        try:
            await membership.start()
            await thread.run(lambda conn: outbox.reconcile(conn, campaign_id=campaign_id))
            dispatcher = Dispatcher(
                thread,
                route,
                FakeClock(TUESDAY_10H),
                campaign_id=campaign_id,
                chunk_size=64,
                rate=6000,
                token=membership.id,
                idle_max=0.05,
            )
            await dispatcher.run(until_done=True)
        finally:
            await membership.close()
            thread.close()

    async def main() -> None:
        await asyncio.wait_for(asyncio.gather(sender(first, 0), sender(second, 0.15)), 60)

    asyncio.run(main())
    sent = Counter(first.sent + second.sent)
    assert second.sent, "the second sender took part"
    assert max(sent.values()) == 1
    assert set(sent) == set(numbers)
    with database.reader() as conn:
        assert _statuses(conn, campaign_id) == {"submitted": 3000}


@pytest.mark.commits
def test_a_stalled_worker_loses_its_lease_and_its_claims(database: Database) -> None:
    """A worker whose lease ran out (stalled, or its clock behind) is taken over by a live one
    on its next heartbeat; its own next renewal is refused, and it stops sending."""
    campaign_id = seed_campaign(database, [fr(i) for i in range(10)])
    prepare_campaign(database, campaign_id, FakeClock(TUESDAY_10H))
    events: list[str] = []

    def ahead() -> datetime:  # a colleague for whom the first one's lease has run out
        return datetime.now(UTC) + timedelta(seconds=workers.LEASE_SECONDS + 1)

    async def main() -> None:
        stalled = Membership(database, role="worker", heartbeat=0.05)
        await stalled.start()
        with database.transaction() as conn:
            outbox.claim(conn, token=stalled.id, now=TUESDAY_10H, limit=10)
        other = Membership(
            database, role="worker", heartbeat=0.05, on_event=events.append, wall=ahead
        )
        await other.start()
        await asyncio.wait_for(stalled.lost.wait(), 5)
        for _ in range(100):
            if other.taken_over.released:
                break
            await asyncio.sleep(0.05)
        await stalled.close()
        await other.close()
        assert other.taken_over.released == 10

    asyncio.run(main())
    assert any("10 claimed message(s) back in the queue" in line for line in events)
    with database.reader() as conn:
        assert _statuses(conn, campaign_id) == {"pending": 10}
        assert workers.live_workers(conn, datetime.now(UTC)) == []


class WindowedRoute(RecordingRoute):
    """A recording route with a window of 64 that notes, at each call, how many messages the
    database holds ``submitting``: what a crash at that instant would leave in doubt."""

    window = 64

    def __init__(self, database: Database) -> None:
        super().__init__()
        self.database = database
        self.in_doubt: list[int] = []

    async def submit_many(self, messages: Sequence[OutboundMessage]) -> list[SubmitResult]:
        with self.database.reader() as conn:
            m = t.messages
            self.in_doubt.append(
                len(conn.execute(select(m.c.id).where(m.c.status == "submitting")).all())
            )
        return await super().submit_many(messages)


@pytest.mark.commits
def test_a_crash_leaves_at_most_one_window_in_doubt(database: Database) -> None:
    """Issue 11, item 4: ~100 in doubt per kill (chunks of 256, three at once, results two
    behind). Now at most the provider's window is ``submitting`` at any instant."""
    campaign_id = seed_campaign(database, [fr(i) for i in range(2000)])
    prepare_campaign(database, campaign_id, FakeClock(TUESDAY_10H))
    route = WindowedRoute(database)

    async def main() -> None:
        thread = DatabaseThread(database)
        try:
            dispatcher = Dispatcher(
                thread, route, FakeClock(TUESDAY_10H), campaign_id=campaign_id, idle_max=None
            )
            assert dispatcher.chunk_size == 32
            await asyncio.wait_for(dispatcher.run(until_done=True), 60)
        finally:
            thread.close()

    asyncio.run(main())
    assert len(route.sent) == 2000
    assert max(route.in_doubt) <= 64
    assert max(route.in_doubt) > 32  # two chunks overlap: the wire is kept busy


class CountingThread(DatabaseThread):
    """A database thread that counts the transactions it was handed."""

    jobs = 0

    def submit(self, fn, *, urgent=False):  # type: ignore[no-untyped-def]
        self.jobs += 1
        return super().submit(fn, urgent=urgent)


@pytest.mark.commits
def test_a_chunk_s_results_and_the_next_chunk_s_mark_share_one_transaction(
    database: Database,
) -> None:
    """Issue 11 (engine): the in-doubt bound cost a quarter of the dispatch rate, two
    transactions per chunk (mark, then results). A chunk waiting for an in-doubt slot now has
    its mark committed with the results that free the slot: about one transaction per chunk,
    and still never more than a window ``submitting``."""
    campaign_id = seed_campaign(database, [fr(i) for i in range(2000)])
    prepare_campaign(database, campaign_id, FakeClock(TUESDAY_10H))
    route = WindowedRoute(database)

    async def main() -> tuple[int, int]:
        thread = CountingThread(database)
        try:
            dispatcher = Dispatcher(
                thread, route, FakeClock(TUESDAY_10H), campaign_id=campaign_id, idle_max=None
            )
            await asyncio.wait_for(dispatcher.run(until_done=True), 60)
            return thread.jobs, dispatcher.stats.chunks
        finally:
            thread.close()

    jobs, chunks = asyncio.run(main())
    with database.reader() as conn:
        assert _statuses(conn, campaign_id) == {"submitted": 2000}
    assert len(route.sent) == len(set(route.sent)) == 2000
    assert chunks == 63  # 2,000 in chunks of 32
    # a claim per batch of 2,048, a settle and a final claim; a few chunks (the first two of
    # each batch, those whose predecessor's results came before they asked) alone
    assert jobs <= chunks + 10, jobs
    assert max(route.in_doubt) <= 64


@pytest.mark.commits
def test_a_dead_colleague_on_this_host_gives_its_bind_and_claims_at_once(
    database: Database,
) -> None:
    """Failover goal (≤ 15 s): a SIGKILLed worker of this machine held its bind slot and its
    claims until its lease ran out (6–9 s after the kill, 17.6 s measured under load). Its
    process is gone, which this host can tell for certain: a waiting worker's bind poll (and
    every heartbeat) ends such a lease at once."""
    import signal
    import subprocess
    import sys
    import time

    from stopsms.engine.membership import _host_identity

    host = _host_identity()
    assert host is not None  # Linux: /proc/self/ns/pid
    campaign_id = seed_campaign(database, [fr(i) for i in range(5)])
    prepare_campaign(database, campaign_id, FakeClock(TUESDAY_10H))
    # SIGKILLed and not waited for yet: a zombie, as a worker under a parent that has not
    # reaped it (kill(pid, 0) still finds it; the failover benchmark's victim was one)
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    victim.send_signal(signal.SIGKILL)
    time.sleep(0.2)
    dead_pid = victim.pid

    async def main() -> float:
        standby = Membership(database, role="worker")
        await standby.start()  # (start expires the dead it finds: this one dies after)
        try:
            now = datetime.now(UTC)
            with database.transaction() as conn:  # this host's, lease running, process gone
                workers.register(conn, "killed", host=host, pid=dead_pid, role="worker", now=now)
                held = workers.acquire_binds(conn, "acct", "killed", needed=1, allowed=1, now=now)
                assert held == [0]
                outbox.claim(conn, token="killed", now=TUESDAY_10H, limit=5)
            loop = asyncio.get_running_loop()
            start = loop.time()
            assert await standby.acquire_binds(("acct", 1, 1), timeout=5.0) == [0]
            return loop.time() - start
        finally:
            await standby.close()

    try:
        waited = asyncio.run(main())
    finally:
        victim.wait()
    assert waited < 3.0  # not the 9 s lease
    with database.reader() as conn:
        assert _statuses(conn, campaign_id) == {"pending": 5}
        assert "killed" not in [w[0] for w in workers.live_workers(conn, datetime.now(UTC))]
