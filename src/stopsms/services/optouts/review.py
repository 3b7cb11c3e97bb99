"""Reading the opt-out registry back: listings, exports and the review of uncertain records.

:func:`list_optouts`, :func:`iter_optouts` and :func:`count_optouts` page or stream an account's
records (active only unless asked). Keyword opt-outs whose keyword was not the first word are
recorded ``uncertain`` and in force at once ("when in doubt, opt out"); :func:`review_queue`
lists those nobody has reviewed, and a person confirms (:func:`confirm_review`) or dismisses
them with the reasoning (:func:`dismiss_review`, which revokes); :func:`review` does several
at once, all or nothing.

The review acts on uncertain records only: a certain opt-out (a plain "STOP", an import, a
manual entry) is never dismissed — it is lifted only at the person's own, evidenced request
(a re-subscription). A confirmation always leaves the number suppressed: confirming
a dismissed record puts the opt-out back in force (a new record; the dismissal stays in the
history); a record revoked at the person's request (START) is not confirmed over it. A record
confirmed once is not dismissed afterwards. Contradictory requests (an id both confirmed and
dismissed, or given twice) are refused before anything changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from stopsms.errors import Fix, InvalidInput
from stopsms.services.accounts.accounts import AccountRef, resolve_account
from stopsms.services.optouts.optouts import (
    OptOut,
    event_data,
    get_optout,
    known_sender,
    lifted,
    optout_from_row,
    record_optout,
)
from stopsms.services.webhooks.events import OPTOUT_REMOVED, record_event
from stopsms.store import tables as t

__all__ = [
    "Reviewed",
    "confirm_review",
    "count_optouts",
    "dismiss_review",
    "iter_optouts",
    "list_optouts",
    "review",
    "review_queue",
]

_O = t.optouts.c
#: How a dismissal's reasoning starts in ``revoke_evidence``.
_DISMISSED = "review: "


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


def _dismissed(optout: OptOut) -> bool:
    """Whether ``optout`` was revoked by a dismissal (not by a re-subscription)."""
    return (
        optout.revoked_at is not None
        and optout.reviewed_at == optout.revoked_at
        and (optout.revoke_evidence or "").startswith(_DISMISSED)
    )


def _reviewable(optout: OptOut, option: str) -> None:
    """Refuse, with what to do instead, a record the review queue does not act on."""
    if optout.uncertain:
        return
    what = optout.source + (f" {optout.detail!r}" if optout.detail else "")
    fix = None
    if not optout.active:
        remedy = "it is not in force"
    elif option == "confirm":
        remedy = "it is in force already"
    else:
        remedy = "to re-subscribe the number, remove its opt-out with the person's own request"
        fix = _resubscription(optout)
    raise InvalidInput(
        option,
        optout.id,
        f"record {optout.id} is a certain opt-out ({what}): only uncertain ones are reviewed; "
        + remedy,
        fix=fix,
    )


def _resubscription(optout: OptOut) -> Fix:
    """Re-subscribing the record's number, at the person's own request (evidence)."""
    return Fix("resubscribe", (("phone", optout.phone_e164 or "NUMBER"), ("evidence", "…")))


def _check_confirm(optout: OptOut) -> None:
    _reviewable(optout, "confirm")
    if optout.active or _dismissed(optout):
        return
    raise InvalidInput(
        "confirm",
        optout.id,
        f"record {optout.id} was revoked on {optout.revoked_at:%Y-%m-%d} at the person's own "
        f"request ({optout.revoke_evidence}): that later request stands; to opt the number out "
        "again, record a new opt-out",
        fix=Fix("record_optout", (("phone", optout.phone_e164 or "NUMBER"),)),
    )


def _check_dismiss(optout: OptOut, evidence: str | None) -> None:
    _reviewable(optout, "dismiss")
    if not optout.active:
        how = "dismissed" if _dismissed(optout) else "revoked"
        raise InvalidInput(
            "dismiss",
            optout.id,
            f"record {optout.id} was already {how} on {optout.revoked_at:%Y-%m-%d}",
        )
    if optout.reviewed_at is not None:
        raise InvalidInput(
            "dismiss",
            optout.id,
            f"record {optout.id} was confirmed by {optout.reviewed_by} on "
            f"{optout.reviewed_at:%Y-%m-%d}: it is an opt-out; to re-subscribe the number, "
            "remove its opt-out with the person's own request",
            fix=_resubscription(optout),
        )
    if not evidence or not evidence.strip():
        raise InvalidInput("evidence", evidence, "say why the text is not an opt-out")


def confirm_review(
    connection: Connection,
    account: AccountRef,
    optout_id: int,
    *,
    by: str,
    now: datetime | None = None,
) -> OptOut:
    """A person read the inbound text and agrees it is an opt-out: the number stays suppressed.

    Only uncertain records are reviewed. Returns the record in force: this one, or — when it
    had been dismissed — a new record of the same text, sender and campaign (the dismissal
    stays in the history), reviewed by ``by``. A record revoked at the person's request
    (START, ``optouts remove``) is refused: their later request stands.
    """
    acc = resolve_account(connection, account)
    current = get_optout(connection, acc.id, optout_id)
    _check_confirm(current)
    at = now or datetime.now(UTC)
    if current.active:
        if current.reviewed_at is None:
            connection.execute(
                update(t.optouts)
                .where(_O.account_id == acc.id, _O.id == optout_id)
                .values(reviewed_at=at, reviewed_by=by)
            )
        return get_optout(connection, acc.id, optout_id)
    if current.phone_e164 is None:
        raise InvalidInput(
            "confirm", optout_id, f"record {optout_id}'s number was erased since its dismissal"
        )
    sender = current.sender or None
    if sender is not None:
        try:
            sender = known_sender(connection, acc, sender)
        except InvalidInput:  # a sender the account no longer has: the whole account
            sender = None
    recorded = record_optout(
        connection,
        acc,
        current.phone_e164,
        source=current.source,
        detail=current.detail,
        sender=sender,
        uncertain=True,
        campaign_id=current.campaign_id,
        recorded_by=by,
        now=at,
        check_sender=False,
    )
    in_force = recorded.optout
    if in_force.uncertain and in_force.reviewed_at is None:
        connection.execute(
            update(t.optouts).where(_O.id == in_force.id).values(reviewed_at=at, reviewed_by=by)
        )
        in_force = get_optout(connection, acc.id, in_force.id)
    return in_force


def dismiss_review(
    connection: Connection,
    account: AccountRef,
    optout_id: int,
    *,
    evidence: str,
    by: str,
    now: datetime | None = None,
) -> OptOut:
    """A person read the inbound text and it was not an opt-out: revoke, with the reasoning.

    Only an uncertain record nobody confirmed can be dismissed; a certain one (a plain STOP)
    is lifted only at the person's own request (a re-subscription with its evidence). The consent
    the opt-out withdrew, if any, is restored in the ledger.
    """
    acc = resolve_account(connection, account)
    current = get_optout(connection, acc.id, optout_id)
    _check_dismiss(current, evidence)
    at = now or datetime.now(UTC)
    reasoning = f"{_DISMISSED}{evidence.strip()}"
    connection.execute(
        update(t.optouts)
        .where(_O.account_id == acc.id, _O.id == optout_id)
        .values(
            reviewed_at=at,
            reviewed_by=by,
            revoked_at=at,
            revoked_by=by,
            revoke_evidence=reasoning,
        )
    )
    done = get_optout(connection, acc.id, optout_id)
    record_event(connection, acc.id, OPTOUT_REMOVED, event_data(done), at)
    if done.phone_e164 is not None:
        lifted(
            connection,
            acc,
            done.phone_e164,
            [done],
            source="opt-out dismissed on review",
            evidence=f"{reasoning} (by {by}; opt-out record {optout_id} revoked)",
            at=at,
        )
    return done


@dataclass(frozen=True, slots=True)
class Reviewed:
    """One record of a :func:`review`: what was done, and the record now in force (confirm)
    or the record revoked (dismiss)."""

    optout_id: int
    action: str  # "confirmed" | "dismissed"
    optout: OptOut


def review(
    connection: Connection,
    account: AccountRef,
    *,
    confirm: Sequence[int] = (),
    dismiss: Sequence[int] = (),
    evidence: str | None = None,
    by: str,
    now: datetime | None = None,
) -> list[Reviewed]:
    """Confirm and dismiss records together, all or nothing.

    Everything is checked before anything changes: an id given twice (or both confirmed and
    dismissed), ``evidence`` without a dismissal, a record that is not the account's, not
    uncertain, or not in a state to be confirmed or dismissed — each refused with a sentence.
    """
    ids = [*confirm, *dismiss]
    for optout_id in dict.fromkeys(ids):
        if optout_id in confirm and optout_id in dismiss:
            raise InvalidInput(
                "confirm/dismiss",
                optout_id,
                f"record {optout_id} cannot be both confirmed and dismissed: choose one",
            )
        if ids.count(optout_id) > 1:
            option = "confirm" if optout_id in confirm else "dismiss"
            raise InvalidInput(option, optout_id, f"record {optout_id} is given twice")
    if evidence is not None and not dismiss:
        raise InvalidInput(
            "evidence", evidence, "goes with a dismissal (why the text is not an opt-out)"
        )
    acc = resolve_account(connection, account)
    for optout_id in confirm:
        _check_confirm(get_optout(connection, acc.id, optout_id))
    for optout_id in dismiss:
        _check_dismiss(get_optout(connection, acc.id, optout_id), evidence)
    at = now or datetime.now(UTC)
    done = [
        Reviewed(optout_id, "confirmed", confirm_review(connection, acc, optout_id, by=by, now=at))
        for optout_id in confirm
    ]
    done += [
        Reviewed(
            optout_id,
            "dismissed",
            dismiss_review(connection, acc, optout_id, evidence=evidence or "", by=by, now=at),
        )
        for optout_id in dismiss
    ]
    return done
