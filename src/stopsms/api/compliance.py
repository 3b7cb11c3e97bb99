"""``/v1/preview`` and ``/v1/window``: the CLI's ``preview`` and ``window``, over HTTP.

Both answer with the account's own mention, type, senders and sending-hours policy, in the
JSON form ``--json`` prints (:mod:`stopsms.app.results`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from stopsms.api.deps import AppDep, ClockDep, Viewer
from stopsms.api.problems import problem_responses
from stopsms.app import results
from stopsms.app.principals import acting_account
from stopsms.domain.mention import MessageType
from stopsms.services import compliance

__all__ = ["router"]

router = APIRouter(tags=["compliance"])


class PreviewIn(BaseModel):
    """A message to preview as the account would send it."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1600)
    to: str | None = Field(default=None, min_length=1, max_length=40)
    sender: str | None = Field(default=None, max_length=20)
    type: Literal["marketing", "informative"] = "marketing"
    smart_encoding: bool = False


@router.post("/preview", responses=problem_responses(401, 422, 429, 503))
def preview(body: PreviewIn, who: Viewer, app: AppDep) -> dict[str, Any]:
    """The SMS exactly as it will leave: mention, encoding, units, parts, warnings."""
    with app.reader() as connection:
        settings = compliance.account_settings(connection, acting_account(connection, who))
    request = compliance.with_account(
        compliance.PreviewRequest(
            text=body.text,
            to=body.to,
            sender=body.sender,
            message_type=MessageType(body.type),
            smart_encoding=body.smart_encoding,
        ),
        settings,
    )
    return results.to_jsonable(results.message_preview(compliance.preview(request)))  # type: ignore[no-any-return]


@router.get("/window", responses=problem_responses(401, 422, 429, 503))
def window(
    who: Viewer,
    app: AppDep,
    clock: ClockDep,
    to: Annotated[str, Query(min_length=1, max_length=40)],
    at: Annotated[datetime | None, Query(description="ISO-8601; default now.")] = None,
    type: Annotated[Literal["marketing", "informative"], Query()] = "marketing",
) -> dict[str, Any]:
    """May a message reach ``to`` at ``at`` (or now); if not, when next."""
    with app.reader() as connection:
        policy = acting_account(connection, who).window_policy
    answer = compliance.window(
        compliance.WindowRequest(to=to, at=at, message_type=MessageType(type), policy=policy),
        clock.now(),
    )
    return results.to_jsonable(results.window_answer(answer))  # type: ignore[no-any-return]
