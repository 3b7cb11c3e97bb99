"""Reading the opt-out registry back: listings, exports and the review of uncertain records.

:func:`list_optouts`, :func:`iter_optouts` and :func:`count_optouts` page or stream an account's
records (active only unless asked). Keyword opt-outs whose keyword was not the first word are
recorded ``uncertain`` and in force at once ("when in doubt, opt out"); :func:`review_queue`
lists those nobody has reviewed, and a person confirms (:func:`confirm_review`) or dismisses
them with the reasoning (:func:`dismiss_review`, which revokes).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from stopsms.services.accounts import AccountRef, resolve_account
from stopsms.services.errors import InvalidInput
from stopsms.services.optouts import OptOut, get_optout, optout_from_row
from stopsms.store import tables as t

__all__ = [
    "confirm_review",
    "count_optouts",
    "dismiss_review",
    "iter_optouts",
    "list_optouts",
    "review_queue",
]

_O = t.optouts.c


def _listing(
    account_id: int,
    *,
    include_revoked: bool,
    source: str | None,
    uncertain: bool | None,
) -> Any:
    query = select(t.optouts).where(_O.account_id == account_id)
    if not include_revoked:
        query = query.where(_O.revoked_at.is_(None))
    if source is not None:
        query = query.where(_O.source == source)
    if uncertain is not None:
        query = query.where(_O.uncertain == uncertain)
    return query


def list_optouts(
    connection: Connection,
    account: AccountRef,
    *,
    include_revoked: bool = False,
    source: str | None = None,
    uncertain: bool | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[OptOut]:
    """The account's opt-outs, newest first (active only unless ``include_revoked``)."""
    acc = resolve_account(connection, account)
    query = _listing(acc.id, include_revoked=include_revoked, source=source, uncertain=uncertain)
    query = query.order_by(_O.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [optout_from_row(row) for row in connection.execute(query).mappings()]


def iter_optouts(
    connection: Connection, account: AccountRef, *, include_revoked: bool = False
) -> Iterator[OptOut]:
    """Stream the account's opt-outs oldest first (exports of millions of rows)."""
    acc = resolve_account(connection, account)
    query = _listing(acc.id, include_revoked=include_revoked, source=None, uncertain=None)
    result = connection.execution_options(yield_per=10_000).execute(query.order_by(_O.id))
    for row in result.mappings():
        yield optout_from_row(row)


def count_optouts(
    connection: Connection, account: AccountRef, *, include_revoked: bool = False
) -> int:
    acc = resolve_account(connection, account)
    query = select(func.count()).select_from(t.optouts).where(_O.account_id == acc.id)
    if not include_revoked:
        query = query.where(_O.revoked_at.is_(None))
    return int(connection.execute(query).scalar_one())


def review_queue(connection: Connection, account: AccountRef) -> list[OptOut]:
    """Uncertain keyword opt-outs nobody has reviewed yet, oldest first.

    They are already in force ("when in doubt, opt out"); review confirms or dismisses them.
    """
    acc = resolve_account(connection, account)
    rows = connection.execute(
        select(t.optouts)
        .where(
            _O.account_id == acc.id,
            _O.uncertain.is_(True),
            _O.reviewed_at.is_(None),
            _O.revoked_at.is_(None),
        )
        .order_by(_O.id)
    ).mappings()
    return [optout_from_row(row) for row in rows]


def confirm_review(
    connection: Connection,
    account: AccountRef,
    optout_id: int,
    *,
    by: str,
    now: datetime | None = None,
) -> OptOut:
    """A person read the inbound text and agrees it is an opt-out: it stays in force."""
    acc = resolve_account(connection, account)
    get_optout(connection, acc.id, optout_id)
    connection.execute(
        update(t.optouts)
        .where(_O.account_id == acc.id, _O.id == optout_id)
        .values(reviewed_at=now or datetime.now(UTC), reviewed_by=by)
    )
    return get_optout(connection, acc.id, optout_id)


def dismiss_review(
    connection: Connection,
    account: AccountRef,
    optout_id: int,
    *,
    evidence: str,
    by: str,
    now: datetime | None = None,
) -> OptOut:
    """A person read the inbound text and it was not an opt-out: revoke, with the reasoning."""
    if not evidence or not evidence.strip():
        raise InvalidInput("evidence", evidence, "say why the text is not an opt-out")
    acc = resolve_account(connection, account)
    current = get_optout(connection, acc.id, optout_id)
    if not current.active:
        raise InvalidInput("opt-out", optout_id, "already revoked")
    at = now or datetime.now(UTC)
    connection.execute(
        update(t.optouts)
        .where(_O.account_id == acc.id, _O.id == optout_id)
        .values(
            reviewed_at=at,
            reviewed_by=by,
            revoked_at=at,
            revoked_by=by,
            revoke_evidence=f"review: {evidence.strip()}",
        )
    )
    return get_optout(connection, acc.id, optout_id)
