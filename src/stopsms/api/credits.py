"""``/v1/replies`` and ``/v1/credits``: what came in, and what sending costs the account.

The alert threshold is set with ``PATCH /v1/account`` (``alert_threshold_millicredits``).
Credits are added by the installation's operator (``stopsms credits add``). A transfer over the
API (``POST /v1/credits/transfers``) only gives: an owner key moves its account's credits to
an account that shares an owner user with it (:mod:`stopsms.app.credits` has the rule);
``Idempotency-Key`` makes a retry safe. Between any two accounts: an admin's ``stopsms credits
transfer``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from stopsms.api.deps import AppDep, ClockDep, Owner, Viewer
from stopsms.api.problems import Problem, problem_responses
from stopsms.app import results
from stopsms.app.credits import KeyReused, transfer_credits
from stopsms.app.principals import acting_account
from stopsms.services.accounts.credits import (
    InsufficientCredit,
    balance,
    format_credits,
    ledger,
    parse_credits,
)
from stopsms.services.messages.replies import latest_replies

__all__ = ["router"]

router = APIRouter()
_READ = problem_responses(401, 422, 429, 503)
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/replies", tags=["replies"], responses=_READ)
def replies(who: Viewer, app: AppDep, limit: Limit = 50) -> dict[str, Any]:
    """The account's latest inbound SMS, newest first, with the intent read (STOP, START…)."""
    with app.reader() as connection:
        found = latest_replies(connection, acting_account(connection, who), limit)
    return results.to_jsonable({"replies": [results.plain(r) for r in found]})  # type: ignore[no-any-return]


@router.get("/credits", tags=["credits"], responses=_READ)
def credits(who: Viewer, app: AppDep, limit: Limit = 50) -> dict[str, Any]:
    """The balance, whether it is at or below the alert threshold, and the latest ledger
    entries (newest first)."""
    with app.reader() as connection:
        account = acting_account(connection, who)
        found = results.balance(
            balance(connection, account), ledger(connection, account, limit=limit)
        )
    return results.to_jsonable(found)  # type: ignore[no-any-return]


class TransferIn(BaseModel):
    """Credits to give to another account of the same owner."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(min_length=1, max_length=100, description="The account to credit.")
    credits: str = Field(
        min_length=1, max_length=40, description="The amount, e.g. 250 or 12.5 (3 decimals)."
    )


class TransferOut(BaseModel):
    source: str
    target: str
    credits: str
    millicredits: int
    reference: str = Field(description="The note both ledgers keep.")
    at: datetime
    balance: str = Field(description="The key's account's balance after the transfer.")


_REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"model": TransferOut, "description": "Replayed (Idempotency-Key)"}
}


@router.post(
    "/credits/transfers",
    tags=["credits"],
    status_code=201,
    response_model=TransferOut,
    responses=_REPLAYED | problem_responses(401, 403, 404, 422, 429, 503),
)
def transfer(
    body: TransferIn,
    who: Owner,
    app: AppDep,
    clock: ClockDep,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> TransferOut:
    """Give credits to an account that shares an owner with the key's (see the module);
    never below zero (422 ``insufficient_credit``), audited in both accounts."""
    millicredits = parse_credits(body.credits)
    try:
        done = transfer_credits(
            app, who, body.target, millicredits, idempotency_key=idempotency_key, now=clock.now()
        )
    except InsufficientCredit as short:
        raise Problem(422, "insufficient_credit", str(short), field="credits") from None
    except KeyReused as reused:
        raise Problem(422, "idempotency_key_reused", str(reused), field="Idempotency-Key") from None
    if done.replayed:
        response.status_code = 200
    return TransferOut(
        source=done.source,
        target=done.target,
        credits=format_credits(done.millicredits),
        millicredits=done.millicredits,
        reference=done.reference,
        at=done.at,
        balance=format_credits(done.source_balance_millicredits),
    )
