"""Group commit of direct messages (stopsms.app.intake), on SQLite and PostgreSQL.

Concurrent messages share a transaction; each keeps its own rules: a refusal fails alone, an
idempotency key used twice in one batch queues one message, a database failure of one message
rolls its batch back and the others are queued again one by one, and nothing is answered
before it is committed. Batches are made deterministic by holding the writer at its first
transaction while the rest of the messages wait behind it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, func, select

from stopsms.app import App
from stopsms.config import Settings
from stopsms.domain.errors import StopsmsError
from stopsms.domain.mention import MessageType
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.services.accounts.accounts import get_account
from stopsms.services.direct import DirectMessage, DirectRequest, Refused, queue_messages
from stopsms.services.optouts.optouts import record_optout
from stopsms.store import tables as t
from tests.builders import ready_account

#: Tuesday 1 December 2026, 10:00 in Paris: inside every legal window.
OPEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    application = App(Settings(database_url=database_url), actor="test")
    with application.transaction() as connection:
        ready_account(connection, now=OPEN)
        record_optout(connection, "default", "+33600000009", source="manual", now=OPEN)
    yield application
    application.close()


@pytest.fixture
def who(app: App) -> Principal:
    with app.reader() as connection:
        account = get_account(connection, "default")
    return Principal(account.id, account.name, Role.EDITOR, "test")


def _request(n: int, key: str | None = None) -> DirectRequest:
    return DirectRequest(
        to=f"+3360000000{n}",
        text="Votre code : 4821",
        message_type=MessageType.INFORMATIVE,
        idempotency_key=key,
    )


def _count(app: App) -> int:
    with app.reader() as connection:
        return int(connection.execute(select(func.count()).select_from(t.messages)).scalar_one())


@contextmanager
def _held(app: App, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Hold the writer at its first transaction until the block ends (so what is submitted
    meanwhile makes the second batch); yields the event set once the writer is there."""
    entered, release = threading.Event(), threading.Event()
    real = app.transaction

    @contextmanager
    def gated() -> Iterator[Connection]:
        entered.set()
        release.wait(30)
        with real() as connection:
            yield connection

    monkeypatch.setattr(app, "transaction", gated)
    try:
        yield entered
    finally:
        release.set()


def _batch_after_one(
    app: App, who: Principal, monkeypatch: pytest.MonkeyPatch, requests: list[DirectRequest]
) -> list[Future[DirectMessage]]:
    """Submit a first message, hold the writer on it, submit ``requests`` (the next batch)."""
    with _held(app, monkeypatch) as writer_holds_the_first:
        first = app.intake.submit(who, _request(1), OPEN)
        assert writer_holds_the_first.wait(30)
        futures = [app.intake.submit(who, request, OPEN) for request in requests]
        assert not first.done()  # nothing answered before its commit
    first.result(30)
    return futures


def test_concurrent_messages_share_one_commit_and_each_gets_its_own(
    app: App, who: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    futures = _batch_after_one(app, who, monkeypatch, [_request(n) for n in range(2, 8)])
    messages = [future.result(30) for future in futures]
    assert [m.to for m in messages] == [f"+3360000000{n}" for n in range(2, 8)]
    assert len({m.id for m in messages}) == 6
    assert all(m.status == "pending" and not m.replayed for m in messages)
    assert (app.intake.batches, app.intake.messages) == (2, 7)
    assert _count(app) == 7


def test_the_same_message_twice_in_a_batch_is_queued_twice_each_answer_its_own_row(
    app: App, who: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = [_request(2), _request(3), _request(2), _request(2, key="k")]
    futures = _batch_after_one(app, who, monkeypatch, asked)
    messages = [future.result(30) for future in futures]
    assert [m.to for m in messages] == ["+33600000002", "+33600000003"] + ["+33600000002"] * 2
    assert len({m.id for m in messages}) == 4
    with app.reader() as connection:
        stored = dict(connection.execute(select(t.messages.c.id, t.messages.c.phone_e164)).all())
    assert all(stored[m.id] == m.to for m in messages)
    assert (app.intake.batches, app.intake.messages) == (2, 5)


def test_a_refused_message_fails_alone_in_its_batch(
    app: App, who: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    futures = _batch_after_one(app, who, monkeypatch, [_request(n) for n in (2, 9, 3)])
    assert futures[0].result(30).to == "+33600000002"
    with pytest.raises(Refused) as refused:
        futures[1].result(30)
    assert refused.value.code == "recipient_opted_out"
    assert futures[2].result(30).to == "+33600000003"
    assert app.intake.batches == 2
    assert _count(app) == 3


def test_one_idempotency_key_twice_in_a_batch_queues_one_message(
    app: App, who: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    futures = _batch_after_one(
        app, who, monkeypatch, [_request(2, key="order-1"), _request(2, key="order-1")]
    )
    first, second = (future.result(30) for future in futures)
    assert (first.replayed, second.replayed) == (False, True)
    assert first.id == second.id
    assert _count(app) == 2  # the held first message and this one


def test_a_database_failure_rolls_the_batch_back_and_the_others_are_queued_alone(
    app: App, who: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = queue_messages

    def failing(
        connection: Connection, *args: object, **kwargs: object
    ) -> list[DirectMessage | StopsmsError]:
        messages = real(connection, *args, **kwargs)  # type: ignore[arg-type]
        if any(getattr(m, "to", None) == "+33600000004" for m in messages):
            raise OSError("disk I/O error")  # written, then the database fails
        return messages

    monkeypatch.setattr("stopsms.app.intake.queue_messages", failing)
    futures = _batch_after_one(app, who, monkeypatch, [_request(n) for n in (2, 3, 4, 5)])
    assert [futures[i].result(30).to for i in (0, 1, 3)] == [
        "+33600000002",
        "+33600000003",
        "+33600000005",
    ]
    with pytest.raises(OSError, match="disk I/O error"):
        futures[2].result(30)
    with app.reader() as connection:
        numbers = set(connection.execute(select(t.messages.c.phone_e164)).scalars())
    assert numbers == {"+33600000001", "+33600000002", "+33600000003", "+33600000005"}


def test_close_finishes_what_was_handed_over(app: App, who: Principal) -> None:
    futures = [app.intake.submit(who, _request(n), OPEN) for n in range(1, 6)]
    app.intake.close()
    assert all(future.done() for future in futures)
    assert _count(app) == 5
    with pytest.raises(RuntimeError, match="closed"):
        app.intake.submit(who, _request(6), OPEN)
