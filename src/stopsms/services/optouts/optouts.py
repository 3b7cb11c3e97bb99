"""The opt-out registry (rules 3–5): who must never be messaged again, why, and since when.

Every opt-out lands here whatever its source — an inbound STOP (``keyword``, with the text; an
``uncertain`` flag when the keyword was not the first word), the hosted unsubscribe page
(``web_form``, with the reason), a blacklist import, a provider receipt saying the destination
is blocked (``provider_blocked``, with the code), an aggregator's list (``provider_report``) or
a person (``manual``).

Identity is the number's keyed hash (:mod:`stopsms.store.phone_keys`), so erasing a person
(:mod:`stopsms.services.contacts.erasure`) clears the number but keeps the suppression. A record is
*active* until revoked; revoking (re-subscription) needs evidence of the person's own request
and leaves the record in place. One active record per number and scope (the whole account,
``sender=''``, or one sender ID): recording again returns the existing one.

Checks:
- :func:`is_suppressed` answers for one number with the record that suppresses it;
- :mod:`stopsms.services.optouts.suppression` answers for many at once, set-based.

``sender=None`` in a check means "any sender": a number opted out of one sender ID counts as
suppressed (the strict reading). Campaigns always pass their sender.

**An opt-out is never narrower than the account's scope.** On an account whose
``optout_scope`` is ``account``, an opt-out asked for one sender is recorded for the whole
account (:func:`recording_scope`: widening a person's opt-out is harmless, narrowing it lets a
campaign from another sender reach them), and every active record suppresses every sender
(:func:`suppressing_senders`) — records made while the account was sender-scoped included, so
changing the scope from ``sender`` to ``account`` takes effect at once. A sender a person names
(:func:`record_optout`) must be one of the account's (its list, or its shortcode): a misspelt
sender would record an opt-out that suppresses nothing.

Every account-wide opt-out of a contact whose consent allowed marketing, and every
re-subscription that ends it, is also written to the consent ledger
(:mod:`stopsms.services.optouts.consent`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, and_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from stopsms.domain.phone import normalise, parse_phone
from stopsms.errors import EvidenceRequired, InvalidInput, NotFound
from stopsms.services.accounts.accounts import Account, AccountRef, resolve_account
from stopsms.services.optouts.consent import restore_consent, withdraw_consents
from stopsms.services.webhooks.events import (
    OPTOUT_CREATED,
    OPTOUT_REMOVED,
    record_event,
    record_events,
    subscribers,
)
from stopsms.store import tables as t
from stopsms.store.phone_keys import keyer

__all__ = [
    "OptOut",
    "OptOutRequest",
    "Recorded",
    "account_suppressing_senders",
    "active_for_sender",
    "attribute",
    "event_data",
    "get_optout",
    "history",
    "is_suppressed",
    "known_sender",
    "lifted",
    "optout_from_row",
    "record_many",
    "record_optout",
    "record_optout_batch",
    "recording_scope",
    "resubscribe",
    "suppressing_senders",
    "to_e164",
]

_O = t.optouts.c
#: Rows per IN (…) query: under SQLite's default variable limit with room to spare.
_CHUNK = 900


@dataclass(frozen=True, slots=True)
class OptOut:
    """One record of the registry. ``phone_e164`` is ``None`` once the person was erased."""

    id: int
    account_id: int
    phone_e164: str | None
    scope: str
    sender: str
    source: str
    detail: str | None
    uncertain: bool
    campaign_id: int | None
    recorded_by: str
    recorded_at: datetime
    revoked_at: datetime | None
    revoke_evidence: str | None
    revoked_by: str | None
    reviewed_at: datetime | None
    reviewed_by: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What :func:`record_optout` did: the active record, and whether it is new."""

    optout: OptOut
    created: bool


def optout_from_row(row: RowMapping) -> OptOut:
    """The record of a row of ``optouts``."""
    return OptOut(
        id=row["id"],
        account_id=row["account_id"],
        phone_e164=row["phone_e164"],
        scope=row["scope"],
        sender=row["sender"],
        source=row["source"],
        detail=row["detail"],
        uncertain=bool(row["uncertain"]),
        campaign_id=row["campaign_id"],
        recorded_by=row["recorded_by"],
        recorded_at=row["recorded_at"],
        revoked_at=row["revoked_at"],
        revoke_evidence=row["revoke_evidence"],
        revoked_by=row["revoked_by"],
        reviewed_at=row["reviewed_at"],
        reviewed_by=row["reviewed_by"],
    )


def event_data(optout: OptOut) -> dict[str, object]:
    """The ``data`` of an ``optout.created`` / ``optout.removed`` webhook event."""
    data: dict[str, object] = {
        "optout_id": optout.id,
        "phone": optout.phone_e164,
        "scope": optout.scope,
        "sender": optout.sender or None,
        "source": optout.source,
        "detail": optout.detail,
        "uncertain": optout.uncertain,
        "campaign_id": optout.campaign_id,
        "recorded_at": optout.recorded_at.isoformat(),
    }
    if optout.revoked_at is not None:
        data["revoked_at"] = optout.revoked_at.isoformat()
        data["revoked_by"] = optout.revoked_by
    return data


def to_e164(phone: str) -> str:
    """Normalise a number written any way (``06 12…``, ``+33 6…``); InvalidPhoneNumber if not."""
    e164 = normalise(phone)
    return e164 if e164 is not None else parse_phone(phone).e164  # parse_phone says why


def suppressing_senders(optout_scope: str, sender: str | None) -> tuple[str, ...] | None:
    """The ``sender`` values of the active records that forbid messaging from ``sender`` on an
    account whose opt-out scope is ``optout_scope``; ``None``: every active record does.

    Under ``account`` scope every record suppresses every sender, whatever sender it names (an
    opt-out is never narrower than the account's scope, also for records made while the
    account was sender-scoped). Under ``sender`` scope: the account-wide ones and the
    sender's own. ``sender=None``: any sender (the strict reading).
    """
    if sender is None or optout_scope == "account":
        return None
    return ("", sender)


def account_suppressing_senders(
    connection: Connection, account_id: int, sender: str | None
) -> tuple[str, ...] | None:
    """:func:`suppressing_senders` for the account ``account_id`` (its scope read now)."""
    optout_scope = connection.execute(
        select(t.accounts.c.optout_scope).where(t.accounts.c.id == account_id)
    ).scalar_one()
    return suppressing_senders(str(optout_scope), sender)


def active_for_sender(sender: str | None, optout_scope: str) -> ColumnElement[bool]:
    """Active records that forbid messaging from ``sender`` (``None``: from any sender) on an
    account whose opt-out scope is ``optout_scope`` (see :func:`suppressing_senders`)."""
    senders = suppressing_senders(optout_scope, sender)
    if senders is None:
        return _O.revoked_at.is_(None)
    return and_(_O.revoked_at.is_(None), _O.sender.in_(senders))


def recording_scope(account: Account, sender: str | None, scope: str | None) -> tuple[str, str]:
    """The ``(scope, sender)`` an opt-out asked for ``sender`` in ``scope`` is recorded with.

    ``scope``: ``account`` or ``sender``; by default the account's ``optout_scope`` when a
    ``sender`` is given, else ``account``. Never narrower than the account's scope: on an
    account whose scope is ``account`` the record is account-wide (``sender=''``) whatever
    was asked.
    """
    if scope is None:
        scope = account.optout_scope if sender else "account"
    if scope not in t.OPTOUT_SCOPES:
        raise InvalidInput("scope", scope, f"one of {', '.join(t.OPTOUT_SCOPES)}")
    if scope == "sender" and not (sender and sender.strip()):
        raise InvalidInput("sender", sender, "a sender-scoped opt-out needs the sender ID")
    if scope == "account" or account.optout_scope == "account":
        return "account", ""
    return "sender", (sender or "").strip()


def known_sender(
    connection: Connection,
    account: Account,
    sender: str,
    *,
    otherwise: str = "to opt the number out of the whole account",
) -> str:
    """``sender`` as the account spells it, if it is one of the account's (its list of sender
    IDs or its shortcode, case aside); :class:`InvalidInput` with what to do otherwise (leave
    the sender out ``otherwise``)."""
    wanted = sender.strip()
    names: list[str] = list(
        connection.execute(
            select(t.senders.c.sender)
            .where(t.senders.c.account_id == account.id)
            .order_by(t.senders.c.sender)
        ).scalars()
    )
    names.append(account.shortcode)
    for name in names:
        if name.casefold() == wanted.casefold():
            return name
    listed = ", ".join(names[:-1]) or "none"
    raise InvalidInput(
        "sender",
        sender,
        f"account {account.name!r} has no such sender (senders: {listed}; shortcode "
        f"{account.shortcode}): check the spelling, or leave the sender out {otherwise}",
    )


def _withdrawal_evidence(optout_id: int | None, detail: str | None) -> str:
    record = "opt-out" if optout_id is None else f"opt-out record {optout_id}"
    return f"{record}: {detail}" if detail else record


def _insert(connection: Connection) -> Any:
    return (postgresql if connection.dialect.name == "postgresql" else sqlite).insert


def get_optout(connection: Connection, account_id: int, optout_id: int) -> OptOut:
    """Record ``optout_id`` of the account; :class:`NotFound` if it has none such."""
    row = (
        connection.execute(select(t.optouts).where(_O.account_id == account_id, _O.id == optout_id))
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound("opt-out", optout_id)
    return optout_from_row(row)


def record_optout(
    connection: Connection,
    account: AccountRef,
    phone: str,
    *,
    source: str,
    detail: str | None = None,
    sender: str | None = None,
    scope: str | None = None,
    uncertain: bool = False,
    campaign_id: int | None = None,
    recorded_by: str = "system",
    now: datetime | None = None,
    check_sender: bool = True,
) -> Recorded:
    """Opt ``phone`` out, effective as soon as the caller's transaction commits.

    ``scope`` and ``sender``: see :func:`recording_scope` (never narrower than the account's
    scope). A ``sender`` must be one of the account's (:func:`known_sender`) unless
    ``check_sender`` is false (a sender read from what was sent). An active record that
    already covers the number (same scope and sender, or the whole account) is returned
    instead of a new one; a certain STOP turns an uncertain record into a certain one. A new
    account-wide record withdraws the contact's marketing consent in the ledger
    (:mod:`stopsms.services.optouts.consent`).
    """
    acc = resolve_account(connection, account)
    if source not in t.OPTOUT_SOURCES:
        raise InvalidInput("source", source, f"one of {', '.join(t.OPTOUT_SOURCES)}")
    e164 = to_e164(phone)
    if check_sender and sender is not None and sender.strip():
        sender = known_sender(connection, acc, sender)
    scope, scoped_sender = recording_scope(acc, sender, scope)
    key = keyer(connection).key(e164)
    at = now or datetime.now(UTC)
    row = {
        "account_id": acc.id,
        "phone_key": key,
        "phone_e164": e164,
        "scope": scope,
        "sender": scoped_sender,
        "source": source,
        "detail": detail,
        "uncertain": uncertain,
        "campaign_id": campaign_id,
        "recorded_by": recorded_by,
        "recorded_at": at,
    }
    covering = (
        connection.execute(
            select(t.optouts)
            .where(
                _O.account_id == acc.id,
                _O.phone_key == key,
                _O.revoked_at.is_(None),
                _O.sender.in_(("", scoped_sender)),
            )
            .order_by(_O.sender)
            .limit(1)
        )
        .mappings()
        .first()
    )
    if covering is None:
        new_id = connection.execute(
            _insert(connection)(t.optouts)
            .values(row)
            .on_conflict_do_nothing(
                index_elements=["account_id", "phone_key", "sender"],
                index_where=_O.revoked_at.is_(None),
            )
            .returning(_O.id)
        ).scalar_one_or_none()
        if new_id is not None:
            if not scoped_sender:
                withdraw_consents(
                    connection,
                    acc.id,
                    [(e164, _withdrawal_evidence(new_id, detail))],
                    source=source,
                    at=at,
                )
            made = get_optout(connection, acc.id, new_id)
            record_event(connection, acc.id, OPTOUT_CREATED, event_data(made), at)
            return Recorded(made, created=True)
        # Lost a race with a concurrent writer: theirs is the record.
        return record_optout(
            connection,
            acc,
            e164,
            source=source,
            detail=detail,
            sender=sender,
            scope=scope,
            uncertain=uncertain,
            campaign_id=campaign_id,
            recorded_by=recorded_by,
            now=at,
            check_sender=False,
        )
    existing = optout_from_row(covering)
    if existing.uncertain and not uncertain:
        connection.execute(update(t.optouts).where(_O.id == existing.id).values(uncertain=False))
        existing = get_optout(connection, acc.id, existing.id)
    return Recorded(existing, created=False)


@dataclass(frozen=True, slots=True)
class OptOutRequest:
    """One :func:`record_optout` call, for :func:`record_optout_batch` (same arguments)."""

    account: Account
    phone: str
    source: str
    detail: str | None = None
    sender: str | None = None
    scope: str | None = None
    uncertain: bool = False
    campaign_id: int | None = None
    recorded_by: str = "system"


@dataclass(frozen=True, slots=True)
class _Pending:
    account_id: int
    key: str
    sender: str  # '' for the whole account
    uncertain: bool
    row: dict[str, Any]


#: Rows per multi-row opt-out INSERT (13 columns: far under SQLite's variable limit).
_INSERT_CHUNK = 500


def record_optout_batch(
    connection: Connection, requests: Sequence[OptOutRequest], *, now: datetime | None = None
) -> list[Recorded]:
    """:func:`record_optout` for many requests at once, in the caller's transaction.

    The result is what calling :func:`record_optout` for each request in order would give
    (a number asked twice gets one new record, then that record with ``created=False``;
    senders are not checked against the account's list: they are read from what was sent), but
    set-based: per round of distinct (account, number) pairs, one look-up of the covering
    active records, one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` for all the new ones
    (executemany, sent as multi-row inserts; the partial unique index ``uq_optouts_active``
    arbitrates) and one ``UPDATE`` of the uncertain records a certain request confirms. A
    record lost to a concurrent writer falls back to
    :func:`record_optout`, which returns theirs.
    """
    at = now or datetime.now(UTC)
    e164s: list[str] = []
    checked: list[tuple[OptOutRequest, str, str]] = []  # request, scope, scoped sender
    for request in requests:
        if request.source not in t.OPTOUT_SOURCES:
            raise InvalidInput("source", request.source, f"one of {', '.join(t.OPTOUT_SOURCES)}")
        scope, scoped_sender = recording_scope(request.account, request.sender, request.scope)
        e164s.append(to_e164(request.phone))
        checked.append((request, scope, scoped_sender))
    keys = keyer(connection).keys(e164s)
    pending: list[_Pending] = []
    rounds: list[list[int]] = []
    occurrences: dict[tuple[int, str], int] = {}
    for index, ((request, scope, scoped_sender), e164, key) in enumerate(
        zip(checked, e164s, keys, strict=True)
    ):
        row = {
            "account_id": request.account.id,
            "phone_key": key,
            "phone_e164": e164,
            "scope": scope,
            "sender": scoped_sender,
            "source": request.source,
            "detail": request.detail,
            "uncertain": request.uncertain,
            "campaign_id": request.campaign_id,
            "recorded_by": request.recorded_by,
            "recorded_at": at,
        }
        pending.append(_Pending(request.account.id, key, scoped_sender, request.uncertain, row))
        seen = occurrences.get((request.account.id, key), 0)
        occurrences[(request.account.id, key)] = seen + 1
        if seen == len(rounds):
            rounds.append([])
        rounds[seen].append(index)
    results: list[Recorded | None] = [None] * len(pending)
    for indices in rounds:
        done = _record_round(connection, [pending[i] for i in indices], checked, indices, at)
        for index, recorded in zip(indices, done, strict=True):
            results[index] = recorded
    return [recorded for recorded in results if recorded is not None]


def _record_round(
    connection: Connection,
    items: list[_Pending],
    checked: list[tuple[OptOutRequest, str, str]],
    indices: list[int],
    at: datetime,
) -> list[Recorded]:
    """One round of :func:`record_optout_batch`: each (account, key) at most once."""
    covering: dict[tuple[int, str], list[OptOut]] = {}
    account_ids = sorted({item.account_id for item in items})
    item_keys = [item.key for item in items]
    for start in range(0, len(item_keys), _CHUNK):
        rows = connection.execute(
            select(t.optouts).where(
                _O.account_id.in_(account_ids),
                _O.phone_key.in_(item_keys[start : start + _CHUNK]),
                _O.revoked_at.is_(None),
            )
        ).mappings()
        for row in rows:
            found = optout_from_row(row)
            covering.setdefault((found.account_id, row["phone_key"]), []).append(found)
    out: list[Recorded | None] = [None] * len(items)
    withdrawals: dict[tuple[int, str], list[tuple[str, str | None]]] = {}
    to_insert: list[int] = []
    to_confirm: list[int] = []
    created_here: set[int] = set()  # the fallback to record_optout records its own event
    for position, item in enumerate(items):
        candidates = [
            o
            for o in covering.get((item.account_id, item.key), [])
            if o.sender in ("", item.sender)
        ]
        if not candidates:
            to_insert.append(position)
            continue
        existing = min(candidates, key=lambda o: o.sender)  # the account-wide one first
        if existing.uncertain and not item.uncertain:
            to_confirm.append(existing.id)
            existing = replace(existing, uncertain=False)
        out[position] = Recorded(existing, created=False)
    if to_confirm:
        connection.execute(update(t.optouts).where(_O.id.in_(to_confirm)).values(uncertain=False))
    for start in range(0, len(to_insert), _INSERT_CHUNK):
        chunk = to_insert[start : start + _INSERT_CHUNK]
        inserted = connection.execute(
            _insert(connection)(t.optouts)
            .on_conflict_do_nothing(
                index_elements=["account_id", "phone_key", "sender"],
                index_where=_O.revoked_at.is_(None),
            )
            .returning(*t.optouts.c),
            [items[position].row for position in chunk],
        ).mappings()
        created = {(row["account_id"], row["phone_key"], row["sender"]): row for row in inserted}
        for position in chunk:
            item = items[position]
            mine = created.get((item.account_id, item.key, item.sender))
            if mine is not None:
                made = optout_from_row(mine)
                out[position] = Recorded(made, created=True)
                created_here.add(position)
                if not made.sender and made.phone_e164 is not None:
                    withdrawals.setdefault((made.account_id, made.source), []).append(
                        (made.phone_e164, _withdrawal_evidence(made.id, made.detail))
                    )
                continue
            # Lost a race with a concurrent writer: theirs is the record.
            request, scope, _ = checked[indices[position]]
            out[position] = record_optout(
                connection,
                request.account,
                item.row["phone_e164"],
                source=request.source,
                detail=request.detail,
                sender=request.sender,
                scope=scope,
                uncertain=request.uncertain,
                campaign_id=request.campaign_id,
                recorded_by=request.recorded_by,
                now=at,
                check_sender=False,
            )
    for (account_id, source), evidence in withdrawals.items():
        withdraw_consents(connection, account_id, evidence, source=source, at=at)
    news = [
        (recorded.optout.account_id, event_data(recorded.optout))
        for position, recorded in enumerate(out)
        if recorded is not None and recorded.created and position in created_here
    ]
    if news:
        record_events(connection, OPTOUT_CREATED, news, at)
    return [recorded for recorded in out if recorded is not None]


def record_many(
    connection: Connection,
    account: AccountRef,
    numbers: Iterable[str],
    *,
    source: str,
    detail: str | None = None,
    details: Mapping[str, str] | None = None,
    recorded_by: str = "system",
    now: datetime | None = None,
) -> tuple[int, int]:
    """Opt many E.164 numbers out for the whole account at once (imports, provider reports).

    Set-based: one look-up of the already-active keys, one multi-row insert of the rest
    (and the consent ledger's withdrawals, :mod:`stopsms.services.optouts.consent`).
    ``details`` gives a number its own detail (e.g. a reason column), else ``detail``.
    Returns ``(added, already_opted_out)``; duplicates in ``numbers`` count once.
    """
    acc = resolve_account(connection, account)
    if source not in t.OPTOUT_SOURCES:
        raise InvalidInput("source", source, f"one of {', '.join(t.OPTOUT_SOURCES)}")
    unique = list(dict.fromkeys(numbers))
    keys = keyer(connection).keys(unique)
    existing: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        existing.update(
            connection.execute(
                select(_O.phone_key).where(
                    _O.account_id == acc.id,
                    _O.phone_key.in_(chunk),
                    _O.sender == "",
                    _O.revoked_at.is_(None),
                )
            ).scalars()
        )
    at = now or datetime.now(UTC)
    rows = [
        {
            "account_id": acc.id,
            "phone_key": key,
            "phone_e164": e164,
            "scope": "account",
            "sender": "",
            "source": source,
            "detail": details.get(e164, detail) if details else detail,
            "uncertain": False,
            "recorded_by": recorded_by,
            "recorded_at": at,
        }
        for e164, key in zip(unique, keys, strict=True)
        if key not in existing
    ]
    if rows:
        statement = _insert(connection)(t.optouts).on_conflict_do_nothing(
            index_elements=["account_id", "phone_key", "sender"],
            index_where=_O.revoked_at.is_(None),
        )
        wanted = subscribers(connection, OPTOUT_CREATED)
        if not wanted.get(acc.id):  # nobody to tell: no RETURNING to read back
            connection.execute(statement, rows)
        else:
            inserted = connection.execute(statement.returning(*t.optouts.c), rows).mappings()
            made = [(acc.id, event_data(optout_from_row(row))) for row in inserted]
            record_events(connection, OPTOUT_CREATED, made, at, endpoints=wanted)
        withdraw_consents(
            connection,
            acc.id,
            [
                (e164, _withdrawal_evidence(None, details.get(e164, detail) if details else detail))
                for e164, key in zip(unique, keys, strict=True)
                if key not in existing
            ],
            source=source,
            at=at,
        )
    return len(rows), len(unique) - len(rows)


def is_suppressed(
    connection: Connection, account: AccountRef, phone: str, sender: str | None = None
) -> OptOut | None:
    """The active record that forbids messaging ``phone`` (from ``sender``), or ``None``.

    An account-wide record wins over a sender one when both exist.
    """
    acc = resolve_account(connection, account)
    key = keyer(connection).key(to_e164(phone))
    senders = suppressing_senders(acc.optout_scope, sender)
    params: dict[str, object] = {"account_id": acc.id, "phone_key": key}
    if senders is None:
        statement = _SUPPRESSED_BY_ANY
    else:
        statement, params["senders"] = _SUPPRESSED_BY_SENDERS, list(senders)
    row = connection.execute(statement, params).mappings().first()
    return None if row is None else optout_from_row(row)


def _suppressed(*where: ColumnElement[bool]) -> Any:
    """The statement of :func:`is_suppressed`, built once: the API checks every message it
    queues, and building the statement cost as much as running it."""
    return (
        select(t.optouts)
        .where(
            _O.account_id == bindparam("account_id"),
            _O.phone_key == bindparam("phone_key"),
            _O.revoked_at.is_(None),
            *where,
        )
        .order_by(_O.sender, _O.id)
        .limit(1)
    )


#: :func:`is_suppressed`'s statements, as :func:`active_for_sender` filters.
_SUPPRESSED_BY_ANY = _suppressed()
_SUPPRESSED_BY_SENDERS = _suppressed(_O.sender.in_(bindparam("senders", expanding=True)))


def history(connection: Connection, account: AccountRef, phone: str) -> list[OptOut]:
    """Every record ever made for ``phone`` in the account (revoked ones too), oldest first."""
    acc = resolve_account(connection, account)
    key = keyer(connection).key(to_e164(phone))
    rows = connection.execute(
        select(t.optouts).where(_O.account_id == acc.id, _O.phone_key == key).order_by(_O.id)
    ).mappings()
    return [optout_from_row(row) for row in rows]


def resubscribe(
    connection: Connection,
    account: AccountRef,
    phone: str,
    *,
    evidence: str,
    by: str,
    sender: str | None = None,
    now: datetime | None = None,
) -> list[OptOut]:
    """Revoke the active opt-outs of ``phone`` on the person's own, evidenced request (rule 5).

    ``sender``: revoke only the record for that sender ID (an account-wide one stays).
    The records stay, marked revoked with the evidence, who and when. When no account-wide
    record is left active, the consent the opt-out withdrew is restored in the ledger
    (:func:`~stopsms.services.optouts.consent.restore_consent`, source ``re-subscription``).
    """
    if not evidence or not evidence.strip():
        raise EvidenceRequired(phone)
    acc = resolve_account(connection, account)
    e164 = to_e164(phone)
    key = keyer(connection).key(e164)
    where = [_O.account_id == acc.id, _O.phone_key == key, _O.revoked_at.is_(None)]
    if sender is not None:
        where.append(_O.sender == sender.strip())
    ids = list(connection.execute(select(_O.id).where(*where)).scalars())
    if not ids:
        raise NotFound("active opt-out for", e164)
    at = now or datetime.now(UTC)
    connection.execute(
        update(t.optouts)
        .where(_O.id.in_(ids))
        .values(revoked_at=at, revoke_evidence=evidence.strip(), revoked_by=by)
    )
    revoked = [get_optout(connection, acc.id, optout_id) for optout_id in ids]
    record_events(connection, OPTOUT_REMOVED, [(acc.id, event_data(o)) for o in revoked], at)
    listed = ", ".join(str(optout_id) for optout_id in ids)
    lifted(
        connection,
        acc,
        e164,
        revoked,
        source="re-subscription",
        evidence=f"{evidence.strip()} (by {by}; opt-out record {listed} revoked)",
        at=at,
    )
    return revoked


def lifted(
    connection: Connection,
    account: Account,
    e164: str,
    revoked: Sequence[OptOut],
    *,
    source: str,
    evidence: str,
    at: datetime,
) -> str | None:
    """After ``revoked`` records of ``e164`` were revoked: if one was account-wide and none
    is left active, restore the consent the opt-out withdrew (the kind, or ``None``)."""
    if all(o.sender for o in revoked):
        return None
    still = connection.execute(
        select(_O.id)
        .where(
            _O.account_id == account.id,
            _O.phone_key == keyer(connection).key(e164),
            _O.revoked_at.is_(None),
            _O.sender == "",
        )
        .limit(1)
    ).first()
    if still is not None:
        return None
    return restore_consent(connection, account.id, e164, source=source, evidence=evidence, at=at)


def attribute(
    connection: Connection, account: AccountRef, optout_id: int, campaign_id: int
) -> OptOut:
    """Attribute an opt-out to the campaign that caused it (the last one sent to the number)."""
    acc = resolve_account(connection, account)
    get_optout(connection, acc.id, optout_id)
    owned = connection.execute(
        select(t.campaigns.c.id).where(
            t.campaigns.c.id == campaign_id, t.campaigns.c.account_id == acc.id
        )
    ).first()
    if owned is None:
        raise NotFound("campaign", campaign_id)
    connection.execute(
        update(t.optouts)
        .where(_O.account_id == acc.id, _O.id == optout_id)
        .values(campaign_id=campaign_id)
    )
    return get_optout(connection, acc.id, optout_id)
