"""Issue 11, item 3: a receipt never touches an older message whose provider id was reused.

An SMSC that restarts may number its message ids from 1 again. Messages go through the
outbox as the dispatcher moves them (claim, ``submitting``, result recorded), then receipts
arrive for the new messages: each must reach the newest submission of its id, never the old
message (on main, the new "2"'s failure marked the old "2" failed too and opted its recipient
out). A receipt for an old message whose id is still unique — it arrives on a later bind than
its submit — still reaches it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, insert, select

from stopsms.providers.base import DeliveryReceipt, ReceiptStatus, SubmitOutcome, SubmitResult
from stopsms.services.accounts.accounts import get_account
from stopsms.services.messages import outbox
from stopsms.services.messages.receipts import apply_receipts
from stopsms.store import tables as t
from stopsms.store.database import Database

BEFORE = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
AFTER = BEFORE + timedelta(seconds=30)  # the SMSC restarted in between


def _queue(conn: Connection, phones: list[str]) -> None:
    account = get_account(conn, "default")
    rows = [
        {
            "account_id": account.id,
            "phone_e164": phone,
            "region": "FR",
            "sender": "MaBoutique",
            "kind": "informative",
            "priority": 100,
            "text": "Votre commande est prête",
            "encoding": "GSM-7",
            "segments": 1,
            "price_millicredits": 1000,
            "created_at": BEFORE,
        }
        for phone in phones
    ]
    # Direct insert, not tests.builders: messages queued as preparation writes them.
    conn.execute(insert(t.messages), rows)


def _send(database: Database, phones: list[str], ids: list[str], at: datetime) -> dict[str, int]:
    """Queue messages to ``phones`` and take them through the outbox as accepted with the
    provider ``ids``; returns their outbox ids by phone."""
    with database.transaction() as conn:
        _queue(conn, phones)
        claimed = outbox.claim(conn, token="t", now=at, limit=100)
        assert [m.phone for m in claimed] == phones
        outbox.begin_submit(conn, [m.id for m in claimed], at)
        results = [
            SubmitResult(m.id, SubmitOutcome.ACCEPTED, provider_message_id=pid)
            for m, pid in zip(claimed, ids, strict=True)
        ]
        outbox.record_results(conn, results, {m.id: m for m in claimed}, at)
        return {m.phone: m.id for m in claimed}


def _receipt(
    pid: str, status: ReceiptStatus, at: datetime, code: str | None = None
) -> DeliveryReceipt:
    return DeliveryReceipt(pid, status, code, status.name, at)


def _state(database: Database, message_id: int) -> tuple[str, datetime | None]:
    m = t.messages
    with database.reader() as conn:
        row = conn.execute(select(m.c.status, m.c.delivered_at).where(m.c.id == message_id)).one()
    return row.status, row.delivered_at


def _opted_out(database: Database) -> set[str]:
    with database.reader() as conn:
        return set(conn.execute(select(t.optouts.c.phone_e164)).scalars())


def test_reused_provider_ids_after_an_smsc_restart_never_touch_older_messages(
    database: Database,
) -> None:
    old = _send(database, ["+33610000001", "+33610000002", "+33610000003"], ["1", "2", "3"], BEFORE)
    with database.transaction() as conn:
        first = apply_receipts(conn, [_receipt("1", ReceiptStatus.DELIVERED, BEFORE)], BEFORE)
    assert first.delivered == 1
    old_one_delivered_at = _state(database, old["+33610000001"])[1]
    # The SMSC restarts and numbers from 1 again; the receipts of old "2" and "3" were lost.
    new = _send(database, ["+33620000001", "+33620000002"], ["1", "2"], AFTER)

    later = AFTER + timedelta(seconds=1)
    receipts = [
        _receipt("1", ReceiptStatus.DELIVERED, later),
        _receipt("2", ReceiptStatus.FAILED, later, "061"),  # the operator says: blocked
    ]
    with database.transaction() as conn:
        applied = apply_receipts(conn, receipts, later)
    assert (applied.delivered, applied.failed, applied.ignored) == (1, 1, 0)
    assert _state(database, new["+33620000001"]) == ("delivered", later)
    assert _state(database, new["+33620000002"])[0] == "failed"
    # the old messages with the same ids: untouched
    assert _state(database, old["+33610000001"]) == ("delivered", old_one_delivered_at)
    assert _state(database, old["+33610000002"]) == ("submitted", None)
    # only the number the failed receipt was about is opted out
    assert _opted_out(database) == {"+33620000002"}

    # A receipt repeated for a message already final changes nothing, not even an older one.
    with database.transaction() as conn:
        again = apply_receipts(conn, [_receipt("2", ReceiptStatus.DELIVERED, later)], later)
    assert (again.delivered, again.ignored) == (0, 1)
    assert _state(database, old["+33610000002"]) == ("submitted", None)

    # Old "3", whose id the new run has not reused: its receipt (arriving on a later bind
    # than its submit) still finds it.
    with database.transaction() as conn:
        late = apply_receipts(conn, [_receipt("3", ReceiptStatus.DELIVERED, later)], later)
    assert late.delivered == 1
    assert _state(database, old["+33610000003"]) == ("delivered", later)


def test_the_newest_submission_wins_even_when_its_outbox_row_is_older(
    database: Database,
) -> None:
    """Submit time decides, not the outbox id: a message retried late (older row) may be the
    newest submission of an id."""
    with database.transaction() as conn:
        _queue(conn, ["+33630000001", "+33630000002"])
        claimed = outbox.claim(conn, token="t", now=BEFORE, limit=10)
        first, second = claimed  # first has the lower outbox id
        outbox.begin_submit(conn, [second.id], BEFORE)
        outbox.record_results(
            conn,
            [SubmitResult(second.id, SubmitOutcome.ACCEPTED, provider_message_id="7")],
            {second.id: second},
            BEFORE,
        )
        outbox.begin_submit(conn, [first.id], AFTER)  # retried, accepted after the restart
        outbox.record_results(
            conn,
            [SubmitResult(first.id, SubmitOutcome.ACCEPTED, provider_message_id="7")],
            {first.id: first},
            AFTER,
        )
        applied = apply_receipts(conn, [_receipt("7", ReceiptStatus.DELIVERED, AFTER)], AFTER)
    assert applied.delivered == 1
    assert _state(database, first.id)[0] == "delivered"
    assert _state(database, second.id)[0] == "submitted"
