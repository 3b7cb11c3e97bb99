"""``/v1/messages``: send one message now, read one, list them.

``POST`` queues the message in the outbox (:func:`stopsms.services.direct.queue_message`) and
answers 202 with the final text (mention included), encoding, parts, cost and status; the
engine sends it. A marketing message outside the legal hours is accepted ``held`` with its
``scheduled_for`` unless ``hold`` is false (then 422 ``outside_sending_hours``). An
``Idempotency-Key`` header makes a retry safe: the second request answers 200 with the message
the first one queued.

``POST`` is an ``async`` route handing the message to the App's intake
(:mod:`stopsms.app.intake`): concurrent requests are queued in one transaction by one writer
thread and each answered once it is committed, instead of a thread and a transaction per
request (``python -m bench api``; figures in docs/api.md).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from stopsms.api.deps import AppDep, Editor, Viewer, application_of
from stopsms.api.problems import problem_responses
from stopsms.app.principals import acting_account
from stopsms.domain.campaign import MessageStatus
from stopsms.domain.mention import MessageType
from stopsms.services.direct import (
    DirectMessage,
    DirectRequest,
    get_message,
    list_messages,
)

__all__ = ["router"]

router = APIRouter(tags=["messages"])

Status = Enum("Status", {s.name: s.value for s in MessageStatus}, type=str)  # type: ignore[misc]


class MessageIn(BaseModel):
    """One message to send now."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=40, description="The recipient, any format.")
    text: str = Field(min_length=1, max_length=1600, description="The body, mention added.")
    type: Literal["marketing", "informative"] = "marketing"
    sender: str | None = Field(default=None, max_length=20, description="A listed sender ID.")
    hold: bool = Field(
        default=True,
        description="Outside legal hours: hold until the window opens (false: refuse).",
    )


class MessageOut(BaseModel):
    """A message of the outbox."""

    id: int
    to: str | None
    region: str | None
    sender: str | None
    type: str
    text: str | None = Field(description="The text as it leaves, STOP mention included.")
    encoding: str | None
    parts: int
    cost: str = Field(description="In credits, e.g. 0.045.")
    status: str
    scheduled_for: datetime | None
    created_at: datetime
    submitted_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    error_code: str | None
    campaign_id: int | None


class MessageList(BaseModel):
    messages: list[MessageOut]
    next_cursor: int | None = Field(description="Give it as `cursor` for the next page.")


def _out(message: DirectMessage) -> MessageOut:
    """The message in its public form (every field but ``replayed``, told by the status)."""
    return MessageOut(
        id=message.id,
        to=message.to,
        region=message.region,
        sender=message.sender,
        type=message.type,
        text=message.text,
        encoding=message.encoding,
        parts=message.parts,
        cost=message.cost,
        status=message.status,
        scheduled_for=message.scheduled_for,
        created_at=message.created_at,
        submitted_at=message.submitted_at,
        delivered_at=message.delivered_at,
        failed_at=message.failed_at,
        error_code=message.error_code,
        campaign_id=message.campaign_id,
    )


_REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"model": MessageOut, "description": "Replayed (Idempotency-Key)"}
}


@router.post(
    "/messages",
    status_code=202,
    response_model=MessageOut,
    responses=_REPLAYED | problem_responses(401, 403, 404, 422, 429, 503),
)
async def send_message(
    body: MessageIn,
    who: Editor,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> MessageOut:
    """Queue one message now (see the module)."""
    asked = DirectRequest(
        to=body.to,
        text=body.text,
        message_type=MessageType(body.type),
        sender=body.sender,
        hold=body.hold,
        idempotency_key=idempotency_key,
    )
    # The App and the clock read from the server's state, not as dependencies: each one
    # FastAPI solves costs the busiest route of the API a few per cent of its event loop.
    state = request.app.state
    intake = application_of(state).intake
    message = await asyncio.wrap_future(intake.submit(who, asked, state.stopsms_clock.now()))
    if message.replayed:
        response.status_code = 200
    return _out(message)


@router.get(
    "/messages/{message_id}",
    response_model=MessageOut,
    responses=problem_responses(401, 404, 422, 429, 503),
)
def read_message(
    message_id: Annotated[int, Path(ge=1, le=2**62)], who: Viewer, app: AppDep
) -> MessageOut:
    """One message of the account (another account's is 404)."""
    with app.reader() as connection:
        return _out(get_message(connection, acting_account(connection, who), message_id))


@router.get(
    "/messages", response_model=MessageList, responses=problem_responses(401, 422, 429, 503)
)
def find_messages(
    who: Viewer,
    app: AppDep,
    status: Status | None = None,
    to: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> MessageList:
    """The account's messages, newest first; filter by ``status`` and ``to``."""
    with app.reader() as connection:
        page = list_messages(
            connection,
            acting_account(connection, who),
            status=status.value if status is not None else None,
            to=to,
            limit=limit,
            cursor=cursor,
        )
    return MessageList(messages=[_out(m) for m in page.messages], next_cursor=page.next_cursor)
