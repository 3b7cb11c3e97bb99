"""The outbox, as set-based SQL: claim, hold, mark on the wire, record outcomes, reconcile.

Every function takes a :class:`~sqlalchemy.Connection` inside the caller's transaction and
touches many messages with a few statements, never one row at a time in Python loops over
queries. The message states are those of :class:`~stopsms.domain.campaign.MessageStatus`::

    pending ──claim──► claimed ──begin_submit──► submitting ──record──► submitted | rejected
       ▲  ▲              │  │                                   │        | unknown
       │  └──release─────┘  └──hold──► held ──(due)──► pending  └─retry─► pending (+back-off)

Crash semantics (:func:`reconcile`, run before a dispatcher starts, and by every live worker's
heartbeat; only claims no live worker holds, see :mod:`~stopsms.services.messages.workers`):

- ``claimed`` rows were never handed to the provider: they go back to ``pending`` (safe).
- ``submitting`` rows may or may not have reached the provider: the answer was lost with
  the process. They become ``unknown`` — never resent (a duplicate marketing SMS is worse
  than a missing one, and a resent STOP confirmation would be a second one) — and are
  counted, so ``send`` can report how many.

The same rule holds while running: when the SMSC connection drops, the provider answers the
messages that were on the wire ``unknown`` (error code ``connection_lost``, recorded by
:func:`record_results`, never resent); the ones it had not written yet go to the next bind,
or come back ``retry`` (``pending`` again, with back-off) if none came within its timeout. So
a reconnect leaves nothing ``submitting``.

``claim`` uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (several workers may claim at once,
each gets disjoint rows); on SQLite the single ``UPDATE … WHERE id IN (SELECT …) RETURNING``
runs inside a ``BEGIN IMMEDIATE`` transaction, which already excludes every other writer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, bindparam, func, or_, select, text, update

from stopsms.domain.campaign import ACTIVE, CampaignStatus, MessageStatus, can_move
from stopsms.providers.base import SubmitOutcome, SubmitResult
from stopsms.services.accounts.credits import record_if_low
from stopsms.services.campaigns.status import change_status, move_if_allowed
from stopsms.services.messages import workers
from stopsms.services.webhooks.events import (
    MESSAGE_FAILED,
    MESSAGE_SENT,
    record_events,
    subscriptions_for,
)
from stopsms.store import tables as t
from stopsms.store.phone_keys import keyer
from stopsms.store.types import as_utc

__all__ = [
    "CampaignProgress",
    "Claimed",
    "Reconciliation",
    "Recorded",
    "active_campaigns",
    "begin_submit",
    "campaign_progress",
    "campaign_statuses",
    "cancel",
    "claim",
    "exclude",
    "hold",
    "in_flight_to",
    "move_campaign",
    "next_due",
    "opted_out",
    "pause_campaign",
    "reconcile",
    "record_results",
    "release",
    "release_due",
    "retry_delay",
    "settle_campaign",
    "window_policies",
]

_M = t.messages
_ACTIVE_CAMPAIGN = tuple(status.value for status in ACTIVE)
_PENDING = MessageStatus.PENDING.value
_HELD = MessageStatus.HELD.value
_CLAIMED = MessageStatus.CLAIMED.value
_SUBMITTING = MessageStatus.SUBMITTING.value
#: Retry back-off: 5 s doubling per attempt, at most 10 minutes.
_RETRY_BASE_S = 5.0
_RETRY_MAX_S = 600.0


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed message: what the dispatcher needs to check it and hand it to a provider."""

    id: int
    account_id: int
    campaign_id: int | None
    phone: str
    region: str | None
    sender: str | None
    kind: str
    priority: int
    text: str
    encoding: str | None
    segments: int
    price_millicredits: int
    attempts: int

    @property
    def marketing(self) -> bool:
        """Only marketing messages are held by sending windows (rule 7)."""
        return self.kind == "marketing"


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What :func:`reconcile` found left over by a previous run."""

    released: int  # claimed, never on the wire: back to pending
    unknown: int  # submitting when the process died: outcome unknown, never resent


@dataclass(frozen=True, slots=True)
class Recorded:
    """What :func:`record_results` wrote."""

    submitted: int
    rejected: int
    retried: int
    unknown: int
    debited_millicredits: int


def retry_delay(attempts: int) -> float:
    """Seconds before a message refused "for now" (throttled) is offered again."""
    return float(min(_RETRY_MAX_S, _RETRY_BASE_S * 2.0 ** max(0, attempts - 1)))


def reconcile(
    conn: Connection, *, campaign_id: int | None = None, now: datetime | None = None
) -> Reconciliation:
    """Settle messages left ``claimed`` or ``submitting`` by a process that is gone.

    Only claims no live worker holds (:func:`~stopsms.services.messages.workers.reap`): with
    several workers on one database, a starting one never takes a live colleague's claims.
    ``now`` is the wall-clock instant the leases are judged at (default: the current time);
    ``campaign_id`` limits it to one campaign's messages (and those of no campaign, such as
    confirmations).
    """
    at = now if now is not None else datetime.now(UTC)
    reaped = workers.reap(conn, at, campaign_id=campaign_id)
    return Reconciliation(released=reaped.released, unknown=reaped.unknown)


def release_due(conn: Connection, now: datetime, *, campaign_id: int | None = None) -> int:
    """Held messages whose window has opened go back to ``pending``; returns how many."""
    where = [_M.c.status == _HELD, _M.c.not_before <= now]
    if campaign_id is not None:
        where.append(_M.c.campaign_id == campaign_id)
    return conn.execute(update(_M).where(*where).values(status=_PENDING)).rowcount


def claim(
    conn: Connection,
    *,
    token: str,
    now: datetime,
    limit: int,
    campaign_id: int | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due messages, priority first (0 leaves first), then oldest.

    Due: ``pending``, ``not_before`` passed or unset, and either of no campaign (informative
    messages, STOP confirmations) or of a campaign that is ``sending`` or ``held``. With
    ``campaign_id``, only that campaign's messages and those of no campaign are taken: a
    ``campaign send`` also carries the confirmations its STOPs cause.
    """
    c = t.campaigns
    where = [
        _M.c.status == _PENDING,
        or_(_M.c.not_before.is_(None), _M.c.not_before <= now),
        or_(
            _M.c.campaign_id.is_(None),
            _M.c.campaign_id.in_(select(c.c.id).where(c.c.status.in_(_ACTIVE_CAMPAIGN))),
        ),
    ]
    if campaign_id is not None:
        where.append(or_(_M.c.campaign_id == campaign_id, _M.c.campaign_id.is_(None)))
    # Ordered like ix_messages_claim (status, priority, not_before, id), so the scan needs no
    # sort however many messages wait.
    candidates = (
        select(_M.c.id).where(*where).order_by(_M.c.priority, _M.c.not_before, _M.c.id).limit(limit)
    )
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    rows = conn.execute(
        update(_M)
        .where(_M.c.id.in_(candidates.scalar_subquery()))
        .values(status=_CLAIMED, claim_token=token, claimed_at=now)
        .returning(
            _M.c.id,
            _M.c.account_id,
            _M.c.campaign_id,
            _M.c.phone_e164,
            _M.c.region,
            _M.c.sender,
            _M.c.kind,
            _M.c.priority,
            _M.c.text,
            _M.c.encoding,
            _M.c.segments,
            _M.c.price_millicredits,
            _M.c.attempts,
        )
    ).all()
    claimed = [
        Claimed(
            id=row.id,
            account_id=row.account_id,
            campaign_id=row.campaign_id,
            phone=row.phone_e164 or "",
            region=row.region,
            sender=row.sender,
            kind=row.kind,
            priority=row.priority,
            text=row.text or "",
            encoding=row.encoding,
            segments=row.segments,
            price_millicredits=row.price_millicredits,
            attempts=row.attempts,
        )
        for row in rows
    ]
    claimed.sort(key=lambda m: (m.priority, m.id))
    return claimed


def _set_claimed(
    conn: Connection,
    ids: Iterable[int],
    from_status: str = _CLAIMED,
    token: str | None = None,
    **values: object,
) -> int:
    """Update the listed messages that are still ``claimed`` (or ``from_status``) — and, with
    ``token``, still under that claim: a state is never overwritten by a move it did not come
    from, nor by a process whose claim was taken over."""
    id_list = list(ids)
    if not id_list:
        return 0
    where = [_M.c.id.in_(id_list), _M.c.status == from_status]
    if token is not None:
        where.append(_M.c.claim_token == token)
    return conn.execute(update(_M).where(*where).values(**values)).rowcount


def release_token(conn: Connection, token: str) -> int:
    """Every message still ``claimed`` under ``token`` back to ``pending`` (a dispatcher that
    stops early: its claims were never on the wire)."""
    statement = (
        update(_M)
        .where(_M.c.claim_token == token, _M.c.status == _CLAIMED)
        .values(status=_PENDING, claim_token=None, claimed_at=None, submitted_at=None)
    )
    return conn.execute(statement).rowcount


def release(
    conn: Connection, ids: Iterable[int], *, from_status: str = _CLAIMED, token: str | None = None
) -> int:
    """Claimed messages go back to ``pending`` untouched (their campaign was paused, or the
    dispatcher is stopping): they were never on the wire. ``from_status="submitting"`` is
    for messages marked but then kept off the wire by the dispatcher itself."""
    return _set_claimed(
        conn,
        ids,
        from_status,
        token,
        status=_PENDING,
        claim_token=None,
        claimed_at=None,
        submitted_at=None,
    )


def cancel(conn: Connection, ids: Iterable[int], *, token: str | None = None) -> int:
    """Claimed messages of a cancelled campaign become ``cancelled``."""
    return _set_claimed(
        conn, ids, _CLAIMED, token, status=MessageStatus.CANCELLED.value, claim_token=None
    )


def exclude(
    conn: Connection,
    ids: Iterable[int],
    reason: str,
    *,
    from_status: str = _CLAIMED,
    token: str | None = None,
) -> int:
    """Claimed messages found unsendable at submit time (the number opted out since
    preparation) become ``excluded`` with ``reason``; their preparation ``decision`` stays."""
    return _set_claimed(
        conn,
        ids,
        from_status,
        token,
        status=MessageStatus.EXCLUDED.value,
        reason=reason,
        claim_token=None,
        submitted_at=None,
    )


def hold(
    conn: Connection, holds: Sequence[tuple[int, datetime]], *, token: str | None = None
) -> int:
    """Claimed marketing messages outside their recipient's window become ``held`` until
    the given instant (the window's next opening)."""
    if not holds:
        return 0
    where = [_M.c.id == bindparam("m_id"), _M.c.status == _CLAIMED]
    if token is not None:
        where.append(_M.c.claim_token == token)
    statement = (
        update(_M)
        .where(*where)
        .values(status=_HELD, not_before=bindparam("m_not_before"), claim_token=None)
    )
    result = conn.execute(statement, [{"m_id": mid, "m_not_before": at} for mid, at in holds])
    return result.rowcount


def begin_submit(
    conn: Connection,
    ids: Iterable[int],
    now: datetime,
    *,
    token: str | None = None,
    active_only: bool = False,
) -> list[int]:
    """Mark claimed messages ``submitting``: from this commit on, a crash leaves them
    ``unknown`` (maybe on the wire), never ``pending`` (which would resend them).

    Returns the ids actually marked: with ``token``, only the messages still claimed under
    it. The caller sends those and no other — a claim taken over meanwhile (the process was
    thought dead, another one holds the message now) is never sent twice. ``active_only``:
    nor a message whose campaign is no longer active (paused, cancelled: the caller reads
    :func:`campaign_statuses` for the ones left, which saves that read, one round trip per
    chunk, while campaigns stay active).
    """
    id_list = list(ids)
    if not id_list:
        return []
    # The status test through coalesce(): by primary key, never through the claim index
    # (status, …), which a campaign's stale statistics made PostgreSQL prefer, reading every
    # claimed row of the batch (2,048) to mark 64 (1.5-1.9 ms; bench_workers' dispatch).
    where = [_M.c.id.in_(id_list), func.coalesce(_M.c.status, "") == _CLAIMED]
    if token is not None:
        where.append(_M.c.claim_token == token)
    if active_only:
        c = t.campaigns.c
        inactive = (
            select(c.id)
            .where(c.id == _M.c.campaign_id, c.status.not_in([s.value for s in ACTIVE]))
            .exists()
        )
        where.append(or_(_M.c.campaign_id.is_(None), ~inactive))
    marked = conn.execute(
        update(_M).where(*where).values(status=_SUBMITTING, submitted_at=now).returning(_M.c.id)
    )
    return list(marked.scalars())


def in_flight_to(conn: Connection, account_id: int, phone: str) -> int:
    """How many of the account's messages to ``phone`` (confirmations aside) are on the wire
    (``submitting``), whichever process sent them.

    On PostgreSQL the number's ``claimed``/``submitting`` rows are locked (``FOR UPDATE``):
    a pre-wire transaction marking one of them right now is waited for. With the dispatcher
    re-checking the registry *after* its mark (:func:`begin_submit` first), a STOP handler
    that commits its opt-out and then sees nothing in flight here knows no worker will
    send to the number any more.
    """
    query = select(_M.c.status).where(
        _M.c.account_id == account_id,
        _M.c.phone_e164 == phone,
        _M.c.status.in_((_CLAIMED, _SUBMITTING)),
        _M.c.kind != "confirmation",
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return sum(1 for status in conn.execute(query).scalars() if status == _SUBMITTING)


def campaign_statuses(conn: Connection, ids: Iterable[int]) -> dict[int, CampaignStatus]:
    """The current status of each listed campaign."""
    id_list = list(set(ids))
    if not id_list:
        return {}
    c = t.campaigns
    rows = conn.execute(select(c.c.id, c.c.status).where(c.c.id.in_(id_list)))
    return {row.id: CampaignStatus(row.status) for row in rows}


def _debit(
    conn: Connection, accepted: Sequence[tuple[int, int, int | None, int, str]], now: datetime
) -> int:
    """Debit each account for its accepted messages; returns the total debited.

    ``accepted``: (message id, account id, campaign id, price in millicredits, kind). One
    ledger row per account, campaign and reason in this batch, its reference naming how many
    messages and their id range (``campaign:12;messages:256;ids:1001-1256``): each message's
    own price stays on the message, and a ledger row per message would make the ledger as
    long as the outbox (and cost the dispatcher a third of its database time). The balance may
    go below zero: preparation already refused campaigns the balance cannot cover, and a STOP
    confirmation is mandatory whatever the balance (rule 3).
    """
    groups: dict[tuple[int, int | None, str], list[tuple[int, int]]] = defaultdict(list)
    for message_id, account_id, campaign_id, price, kind in accepted:
        reason = "confirmation" if kind == "confirmation" else "send"
        groups[(account_id, campaign_id, reason)].append((message_id, price))
    by_account: dict[int, int] = defaultdict(int)
    for (account_id, _, _), items in groups.items():
        by_account[account_id] += sum(price for _, price in items)
    if conn.dialect.name == "postgresql":
        _postgresql_debit(conn, groups, by_account, now)
        return sum(by_account.values())
    accounts = t.accounts
    balances: dict[int, int] = {}
    for account_id, total in sorted(by_account.items()):
        # One atomic decrement per account (safe with concurrent workers); the running
        # balance of each ledger row is then derived backwards from the final balance.
        balance, threshold = conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(balance_millicredits=accounts.c.balance_millicredits - total)
            .returning(accounts.c.balance_millicredits, accounts.c.alert_threshold_millicredits)
        ).one()
        balances[account_id] = balance + total
        record_if_low(conn, account_id, balance + total, balance, threshold, now)
    ledger_rows: list[dict[str, object]] = []
    for (account_id, campaign_id, reason), items in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2])
    ):
        total = sum(price for _, price in items)
        balances[account_id] -= total
        ids = [message_id for message_id, _ in items]
        scope = f"campaign:{campaign_id};" if campaign_id is not None else ""
        ledger_rows.append(
            {
                "account_id": account_id,
                "delta_millicredits": -total,
                "balance_after_millicredits": balances[account_id],
                "reason": reason,
                "reference": f"{scope}messages:{len(ids)};ids:{min(ids)}-{max(ids)}",
                "at": now,
            }
        )
    if ledger_rows:
        conn.execute(t.credit_ledger.insert(), ledger_rows)
    return sum(by_account.values())


def _ledger_row(
    campaign_id: int | None, reason: str, items: list[tuple[int, int]]
) -> tuple[int, str, str]:
    """(total, reason, reference) of one ledger row of :func:`_debit`."""
    ids = [message_id for message_id, _ in items]
    scope = f"campaign:{campaign_id};" if campaign_id is not None else ""
    reference = f"{scope}messages:{len(ids)};ids:{min(ids)}-{max(ids)}"
    return sum(price for _, price in items), reason, reference


#: :func:`_debit` on PostgreSQL: the account's decrement and its ledger rows in one statement.
_PG_DEBIT = text(
    "WITH d AS (UPDATE accounts SET balance_millicredits = balance_millicredits - :total"
    " WHERE id = :account_id"
    " RETURNING balance_millicredits, alert_threshold_millicredits),"
    " l AS (INSERT INTO credit_ledger"
    " (account_id, delta_millicredits, balance_after_millicredits, reason, reference, at)"
    " SELECT :account_id, -v.total, d.balance_millicredits + v.later, v.reason, v.reference,"
    " :at FROM d, unnest(CAST(:totals AS bigint[]), CAST(:laters AS bigint[]),"
    " CAST(:reasons AS text[]), CAST(:references AS text[])) WITH ORDINALITY"
    " AS v(total, later, reason, reference, n) ORDER BY v.n)"
    " SELECT balance_millicredits, alert_threshold_millicredits FROM d"
)


def _postgresql_debit(
    conn: Connection,
    groups: dict[tuple[int, int | None, str], list[tuple[int, int]]],
    by_account: dict[int, int],
    now: datetime,
) -> None:
    """:func:`_debit` on PostgreSQL: per account, the atomic decrement and its ledger rows in
    one statement (``WITH d AS (UPDATE … RETURNING) INSERT … SELECT … FROM d``), the same rows
    and running balances as the two statements SQLite runs; one round trip less per chunk
    (0.4-0.9 ms of ~8 ms, ``bench_workers``' PostgreSQL dispatch)."""
    for account_id, total in sorted(by_account.items()):
        rows = [
            _ledger_row(campaign_id, reason, items)
            for (group_account, campaign_id, reason), items in sorted(
                groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2])
            )
            if group_account == account_id
        ]
        # Each row's balance after it: the final balance plus what the later rows debit.
        laters, left = [], total
        for row_total, _, _ in rows:
            left -= row_total
            laters.append(left)
        balance, threshold = conn.execute(
            _PG_DEBIT,
            {
                "total": total,
                "account_id": account_id,
                "at": as_utc(now),
                "totals": [row[0] for row in rows],
                "laters": laters,
                "reasons": [row[1] for row in rows],
                "references": [row[2] for row in rows],
            },
        ).one()
        record_if_low(conn, account_id, balance + total, balance, threshold, now)


def record_results(
    conn: Connection,
    results: Sequence[SubmitResult],
    claimed: dict[int, Claimed],
    now: datetime,
) -> Recorded:
    """Write the provider's answers for messages marked ``submitting``, and debit credits
    for the accepted ones in the same transaction (rule 12: debited when actually sent)."""
    accepted: list[dict[str, object]] = []
    debits: list[tuple[int, int, int | None, int, str]] = []
    rejected: list[dict[str, object]] = []
    retried: list[dict[str, object]] = []
    unknown: list[dict[str, object]] = []
    for result in results:
        message = claimed[result.ref]
        if result.outcome is SubmitOutcome.ACCEPTED:
            accepted.append({"m_id": result.ref, "m_pid": result.provider_message_id})
            debits.append(
                (
                    message.id,
                    message.account_id,
                    message.campaign_id,
                    message.price_millicredits,
                    message.kind,
                )
            )
        elif result.outcome is SubmitOutcome.REJECTED:
            rejected.append({"m_id": result.ref, "m_code": result.error_code or "rejected"})
        elif result.outcome is SubmitOutcome.RETRY:
            delay = retry_delay(message.attempts + 1)
            retried.append({"m_id": result.ref, "m_at": now + timedelta(seconds=delay)})
        else:
            unknown.append({"m_id": result.ref, "m_code": result.error_code or "no_answer"})
    submitting = and_(_M.c.id == bindparam("m_id"), _M.c.status == _SUBMITTING)
    # One executemany per outcome; every outcome clears the claim and counts the attempt.
    outcomes: list[tuple[list[dict[str, object]], dict[str, object]]] = [
        (
            accepted,
            {"status": MessageStatus.SUBMITTED.value, "provider_message_id": bindparam("m_pid")},
        ),
        (
            rejected,
            {
                "status": MessageStatus.REJECTED.value,
                "error_code": bindparam("m_code"),
                "failed_at": now,
            },
        ),
        (
            retried,
            {
                "status": _PENDING,
                "not_before": bindparam("m_at"),
                "submitted_at": None,
                "claimed_at": None,
            },
        ),
        (unknown, {"status": MessageStatus.UNKNOWN.value, "error_code": bindparam("m_code")}),
    ]
    if conn.dialect.name == "postgresql":  # one statement per outcome, not one per row
        _postgresql_results(conn, accepted, rejected, retried, unknown, now)
        outcomes = []
    for rows, values in outcomes:
        if rows:
            conn.execute(
                update(_M)
                .where(submitting)
                .values(**values, claim_token=None, attempts=_M.c.attempts + 1),
                rows,
            )
    debited = _debit(conn, debits, now)
    if accepted or rejected:
        _record_sent_events(conn, results, claimed, now)
    return Recorded(len(accepted), len(rejected), len(retried), len(unknown), debited)


def _postgresql_results(
    conn: Connection,
    accepted: list[dict[str, object]],
    rejected: list[dict[str, object]],
    retried: list[dict[str, object]],
    unknown: list[dict[str, object]],
    now: datetime,
) -> None:
    """:func:`record_results`' updates on PostgreSQL: one ``UPDATE … FROM unnest(ids, …)``
    per outcome, with the same rules as SQLite's ``executemany`` (only messages still
    ``submitting`` change; every outcome clears the claim and counts the attempt).

    ``executemany`` sent one statement a row, about 5.4 ms for a chunk of 64 (one process,
    ``bench_workers``' PostgreSQL dispatch); the arrays make it one round trip. The status
    test goes through coalesce(), as in :func:`begin_submit`, so the join is by primary key
    and never through the claim index (status, …).
    """
    table = _M.name
    outcomes: list[tuple[list[dict[str, object]], str, list[tuple[str, str, str]], str]] = [
        (
            accepted,
            MessageStatus.SUBMITTED.value,
            [("m_pid", "text", "pid")],
            "provider_message_id = v.pid",
        ),
        (
            rejected,
            MessageStatus.REJECTED.value,
            [("m_code", "text", "code")],
            "error_code = v.code, failed_at = %s",
        ),
        (
            retried,
            _PENDING,
            [("m_at", "timestamptz", "at")],
            "not_before = v.at, submitted_at = NULL, claimed_at = NULL",
        ),
        (unknown, MessageStatus.UNKNOWN.value, [("m_code", "text", "code")], "error_code = v.code"),
    ]
    for rows, status, columns, sets in outcomes:
        if not rows:
            continue
        arrays = ", ".join(f"CAST(%s AS {kind}[])" for _, kind, _ in columns)
        names = ", ".join(name for _, _, name in columns)
        # in the statement's order: the SET clause's %s (now) first, then the arrays
        parameters: list[object] = [now] if "%s" in sets else []
        parameters.append([row["m_id"] for row in rows])
        parameters += [[row[key] for row in rows] for key, _, _ in columns]
        conn.exec_driver_sql(
            f"UPDATE {table} SET status = '{status}', {sets}, claim_token = NULL,"
            f" attempts = {table}.attempts + 1"
            f" FROM unnest(CAST(%s AS bigint[]), {arrays}) AS v(id, {names})"
            f" WHERE {table}.id = v.id AND coalesce({table}.status, '') = '{_SUBMITTING}'",
            tuple(parameters),
        )


def _record_sent_events(
    conn: Connection, results: Sequence[SubmitResult], claimed: dict[int, Claimed], now: datetime
) -> None:
    """``message.sent`` / ``message.failed`` events for the accepted and rejected messages of
    a batch, for the accounts that want them: one query of the subscriptions per batch, none
    while no endpoint wants either type (``subscriptions_for``: at most 1 s of memory)."""
    wanted = subscriptions_for(conn, (MESSAGE_SENT, MESSAGE_FAILED))
    sent, failed = wanted.get(MESSAGE_SENT), wanted.get(MESSAGE_FAILED)
    if not sent and not failed:
        return
    sent_events: list[tuple[int, dict[str, object]]] = []
    failed_events: list[tuple[int, dict[str, object]]] = []
    for result in results:
        message = claimed[result.ref]
        if message.account_id not in (sent or {}) and message.account_id not in (failed or {}):
            continue
        data: dict[str, object] = {
            "message_id": message.id,
            "campaign_id": message.campaign_id,
            "to": message.phone,
            "sender": message.sender,
            "kind": message.kind,
            "parts": message.segments,
        }
        if result.outcome is SubmitOutcome.ACCEPTED and sent and message.account_id in sent:
            data["provider_message_id"] = result.provider_message_id
            sent_events.append((message.account_id, data))
        elif result.outcome is SubmitOutcome.REJECTED and failed and message.account_id in failed:
            data["error_code"] = result.error_code or "rejected"
            failed_events.append((message.account_id, data))
    if sent_events and sent:
        record_events(conn, MESSAGE_SENT, sent_events, now, endpoints=sent)
    if failed_events and failed:
        record_events(conn, MESSAGE_FAILED, failed_events, now, endpoints=failed)


@dataclass(frozen=True, slots=True)
class CampaignProgress:
    """Counts of one campaign's messages by status, and when its earliest hold ends."""

    status: CampaignStatus
    counts: dict[str, int]
    next_release: datetime | None

    def count(self, *statuses: MessageStatus) -> int:
        return sum(self.counts.get(status.value, 0) for status in statuses)

    @property
    def waiting(self) -> int:
        """Messages still to send (pending, held or claimed)."""
        return self.count(MessageStatus.PENDING, MessageStatus.HELD, MessageStatus.CLAIMED)

    @property
    def in_flight(self) -> int:
        return self.count(MessageStatus.SUBMITTING)


def campaign_progress(conn: Connection, campaign_id: int) -> CampaignProgress:
    """Where a campaign stands: its status, message counts, the end of its earliest hold."""
    c = t.campaigns
    status = conn.execute(select(c.c.status).where(c.c.id == campaign_id)).scalar_one()
    rows = conn.execute(
        select(_M.c.status, func.count())
        .where(_M.c.campaign_id == campaign_id)
        .group_by(_M.c.status)
    ).all()
    next_release = conn.execute(
        select(func.min(_M.c.not_before)).where(
            _M.c.campaign_id == campaign_id, _M.c.status == _HELD
        )
    ).scalar_one_or_none()
    return CampaignProgress(
        CampaignStatus(status), {row[0]: int(row[1]) for row in rows}, next_release
    )


def move_campaign(
    conn: Connection, campaign_id: int, target: CampaignStatus, now: datetime
) -> bool:
    """Move a campaign to ``target`` if the lifecycle allows it from its current status.

    Compare-and-set on the status read (:func:`~stopsms.services.campaigns.status.
    move_if_allowed`), so a person's pause or cancel committed meanwhile is never overwritten;
    returns whether the move happened.
    """
    return move_if_allowed(conn, campaign_id, target, now)


def pause_campaign(conn: Connection, campaign_id: int, now: datetime, *, reason: str) -> bool:
    """Pause an active campaign for ``reason`` (kept in its settings as ``paused_reason``, as
    :func:`~stopsms.services.campaigns.preparation.park_scheduled` does, and shown by
    ``campaign report``); compare-and-set like :func:`move_campaign`. Returns whether it moved.
    """
    c = t.campaigns
    row = conn.execute(select(c.c.status, c.c.settings).where(c.c.id == campaign_id)).one_or_none()
    if row is None:
        return False
    status = CampaignStatus(row.status)
    if status not in ACTIVE or not can_move(status, CampaignStatus.PAUSED):
        return False
    settings = {**dict(row.settings or {}), "paused_reason": reason}
    return change_status(
        conn,
        campaign_id,
        CampaignStatus.PAUSED,
        now,
        expected=status,
        values={"settings": settings},
    )


_S_COMPLETED = CampaignStatus.COMPLETED


def _awaits_credit(conn: Connection, campaign_id: int) -> bool:
    """Whether a partial send left recipients ``insufficient_credit`` (to decide on resume)."""
    found = conn.execute(
        select(_M.c.id)
        .where(
            _M.c.campaign_id == campaign_id,
            _M.c.status == "excluded",
            _M.c.reason == "insufficient_credit",
        )
        .limit(1)
    ).first()
    return found is not None


def settle_campaign(conn: Connection, campaign_id: int, now: datetime) -> CampaignProgress:
    """Move an active campaign to what its messages say: ``completed`` when none waits or
    is in flight — ``paused`` instead when a partial send left recipients for want of credit,
    so that a top-up and ``campaign resume`` reach them —, ``held`` when every waiting one is
    held, back to ``sending`` otherwise.

    A campaign no longer active is returned with its status alone (no counts): its messages
    are not read. An idle dispatcher settles its campaign every second, also while ``campaign
    send --wait`` waits for the receipts of a completed one, and the counts read every message
    of the campaign (100-200 ms at 500,000 on PostgreSQL).
    """
    status = conn.execute(
        select(t.campaigns.c.status).where(t.campaigns.c.id == campaign_id)
    ).scalar_one()
    if CampaignStatus(status) not in ACTIVE:
        return CampaignProgress(CampaignStatus(status), {}, None)
    progress = campaign_progress(conn, campaign_id)
    if progress.status not in ACTIVE:
        return progress
    if progress.waiting == 0 and progress.in_flight == 0:
        target = CampaignStatus.PAUSED if _awaits_credit(conn, campaign_id) else _S_COMPLETED
    elif progress.count(MessageStatus.HELD) == progress.waiting and progress.in_flight == 0:
        target = CampaignStatus.HELD
    else:
        target = CampaignStatus.SENDING
    if move_campaign(conn, campaign_id, target, now):
        return campaign_progress(conn, campaign_id)
    return progress


def opted_out(conn: Connection, messages: Sequence[Claimed]) -> set[int]:
    """Ids of the messages whose recipient has an active opt-out in the message's account,
    account-wide or for the message's sender: the registry re-check at submit time. On an
    account whose opt-out scope is ``account`` every record counts as account-wide, as in
    preparation (:func:`~stopsms.services.optouts.optouts.suppressing_senders`)."""
    if not messages:
        return set()
    o, a = t.optouts, t.accounts
    keys = keyer(conn).keys([m.phone for m in messages])
    rows = conn.execute(
        select(o.c.account_id, o.c.phone_key, o.c.sender, a.c.optout_scope)
        .join(a, a.c.id == o.c.account_id)
        .where(
            o.c.phone_key.in_(set(keys)),
            o.c.account_id.in_({m.account_id for m in messages}),
            o.c.revoked_at.is_(None),
        )
    ).all()
    if not rows:
        return set()
    active = {
        (row.account_id, row.phone_key, "" if row.optout_scope == "account" else row.sender)
        for row in rows
    }
    return {
        m.id
        for m, key in zip(messages, keys, strict=True)
        if (m.account_id, key, "") in active or (m.account_id, key, m.sender or "") in active
    }


def window_policies(
    conn: Connection, campaign_ids: Iterable[int], account_ids: Iterable[int]
) -> tuple[dict[int, str | None], dict[int, str | None]]:
    """The window policy names chosen by campaigns and by accounts (``None``: the default
    for the recipient's territory)."""
    c, a = t.campaigns, t.accounts
    campaign_list, account_list = list(set(campaign_ids)), list(set(account_ids))
    by_campaign: dict[int, str | None] = {}
    by_account: dict[int, str | None] = {}
    if campaign_list:
        rows = conn.execute(select(c.c.id, c.c.window_policy).where(c.c.id.in_(campaign_list)))
        by_campaign = {row.id: row.window_policy for row in rows}
    if account_list:
        rows = conn.execute(select(a.c.id, a.c.window_policy).where(a.c.id.in_(account_list)))
        by_account = {row.id: row.window_policy for row in rows}
    return by_campaign, by_account


def next_due(conn: Connection, now: datetime, *, campaign_id: int | None = None) -> datetime | None:
    """The earliest future ``not_before`` of a waiting message (a hold or a retry back-off):
    when an idle dispatcher has work again."""
    where = [_M.c.status.in_((_PENDING, _HELD)), _M.c.not_before > now]
    if campaign_id is not None:
        where.append(or_(_M.c.campaign_id == campaign_id, _M.c.campaign_id.is_(None)))
    return conn.execute(select(func.min(_M.c.not_before)).where(*where)).scalar_one_or_none()


def active_campaigns(conn: Connection) -> list[int]:
    """Ids of the campaigns the dispatcher may send (``sending`` or ``held``)."""
    c = t.campaigns
    return list(
        conn.execute(select(c.c.id).where(c.c.status.in_(_ACTIVE_CAMPAIGN)).order_by(c.c.id))
        .scalars()
        .all()
    )
