"""The one writer of a campaign's status: a compare-and-set with the lifecycle's timestamps.

Every status change — a person's schedule, pause, resume or cancel, preparation's
``→ preparing → sending`` and its parking of a scheduled campaign, the dispatcher's
``sending ⇄ held`` and ``→ completed`` — is one ``UPDATE … WHERE status = <expected>``
written here, after :func:`stopsms.domain.campaign.move` allowed ``expected → target``. The
compare-and-set means a move never overwrites another committed meanwhile (a person's pause
against the dispatcher's ``held``): the caller learns it did not happen and re-reads.

Timestamps follow the target, whoever moves: ``started_at`` is set the first time a campaign
enters ``sending`` (kept when it comes back from ``held`` or ``paused``), ``completed_at``
when it enters a final state (``completed``, ``cancelled``). The one move outside the
lifecycle's graph, :func:`reopen_for_requeue` (``completed → sending`` to send again the
messages it left in doubt), clears ``completed_at``. Entering ``completed`` records the
``campaign.completed`` webhook event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from stopsms.domain.campaign import FINAL, CampaignStatus, can_move, move, reopen
from stopsms.services.webhooks.events import CAMPAIGN_COMPLETED, record_event
from stopsms.store import tables as t

__all__ = ["change_status", "current_status", "move_if_allowed", "reopen_for_requeue"]

_C = t.campaigns


def current_status(connection: Connection, campaign_id: int) -> CampaignStatus:
    """The campaign's status as stored now."""
    return CampaignStatus(
        connection.execute(select(_C.c.status).where(_C.c.id == campaign_id)).scalar_one()
    )


def change_status(
    connection: Connection,
    campaign_id: int,
    target: CampaignStatus,
    now: datetime,
    *,
    expected: CampaignStatus,
    account_id: int | None = None,
    values: Mapping[str, object] | None = None,
) -> bool:
    """Move the campaign from ``expected`` to ``target`` (with the timestamps of ``target`` and
    the other column ``values``) if it still is ``expected`` — and, with ``account_id``, of
    that account; returns whether it moved.

    :class:`~stopsms.domain.errors.InvalidTransition` when the lifecycle forbids the move.
    """
    move(expected, target)
    columns: dict[str, object] = {**(values or {}), "status": target.value}
    if target is CampaignStatus.SENDING:
        columns["started_at"] = func.coalesce(_C.c.started_at, now)
    if target in FINAL:
        columns.setdefault("completed_at", now)
    where = [_C.c.id == campaign_id, _C.c.status == expected.value]
    if account_id is not None:
        where.append(_C.c.account_id == account_id)
    if target is not CampaignStatus.COMPLETED:
        return connection.execute(update(_C).where(*where).values(columns)).rowcount == 1
    moved = connection.execute(
        update(_C).where(*where).values(columns).returning(_C.c.account_id, _C.c.name)
    ).one_or_none()
    if moved is None:
        return False
    data = {"campaign_id": campaign_id, "name": moved.name, "completed_at": now.isoformat()}
    record_event(connection, moved.account_id, CAMPAIGN_COMPLETED, data, now)
    return True


def move_if_allowed(
    connection: Connection, campaign_id: int, target: CampaignStatus, now: datetime
) -> bool:
    """Move a campaign to ``target`` if the lifecycle allows it from its current status (the
    dispatcher's moves: never an error); returns whether the move happened."""
    status = current_status(connection, campaign_id)
    if status is target or not can_move(status, target):
        return False
    return change_status(connection, campaign_id, target, now, expected=status)


def reopen_for_requeue(connection: Connection, campaign_id: int) -> CampaignStatus:
    """The campaign ready to send messages re-queued from ``unknown``
    (:func:`~stopsms.domain.campaign.reopen`): a completed one back to ``sending`` (compare-and-
    set, ``completed_at`` cleared), an active or paused one as it is; returns its status.

    :class:`~stopsms.domain.errors.InvalidTransition` for a cancelled or unstarted campaign."""
    status = current_status(connection, campaign_id)
    target = reopen(status)
    if target is status:
        return status
    moved = connection.execute(
        update(_C)
        .where(_C.c.id == campaign_id, _C.c.status == status.value)
        .values(status=target.value, completed_at=None)
    ).rowcount
    return target if moved == 1 else current_status(connection, campaign_id)
