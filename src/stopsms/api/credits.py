"""``/v1/replies`` and ``/v1/credits``: what came in, and what sending costs the account.

The alert threshold is set with ``PATCH /v1/account`` (``alert_threshold_millicredits``).
Credits are added and transferred by the installation's operator (``stopsms credits add|
transfer``): an API key belongs to one account, and a transfer needs an admin or a user who
owns both accounts, which a key cannot be.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from stopsms.api.deps import AppDep, Viewer
from stopsms.api.problems import problem_responses
from stopsms.app import results
from stopsms.app.principals import acting_account
from stopsms.services.accounts.credits import balance, ledger
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
