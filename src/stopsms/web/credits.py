"""``/credits`` and ``/replies``: what sending costs the account, and what came back.

``/credits``: the balance with its alert threshold (flagged when the balance is at or under
it), the ledger page by page (newest first), and for an owner the threshold form and a
transfer to another account the same person owns (owner on both; audited on both).
``/replies``: the inbound SMS, newest first, page by page, with the keyword reader's decision
(opt-out, opt-in, help, other; certain or not) and the campaign each one answered. Every
role reads both. Use cases: :mod:`stopsms.app.credits`, :mod:`stopsms.app.replies`.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stopsms.app import credits as use_cases
from stopsms.app import replies
from stopsms.app.access import NotAllowed
from stopsms.clock import SystemClock
from stopsms.domain.errors import StopsmsError
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.services.accounts.credits import format_credits
from stopsms.web.actions import Posted, act
from stopsms.web.pages import N_, NOT_ALLOWED, Page, app_of, session_of, to_login, who_of

__all__ = ["router"]

#: What the keyword reader decided, as the inbox says it.
INTENTS: Final = {
    "optout": N_("opt-out (STOP)"),
    "optin": N_("opt-in (START)"),
    "help": N_("help"),
    "other": N_("other"),
}
_LIMIT: Final = 2**40


def _credits(
    page: Page,
    who: Principal,
    user_id: int,
    offset: int = 0,
    *,
    error: str | None = None,
    status: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    found = use_cases.view(app_of(page.request), who, user_id, offset)
    return page.render(
        "area/credits.html",
        status,
        view=found,
        credits=format_credits,
        error=error,
        done=done,
        page_size=use_cases.PAGE,
        can_manage=who.role.allows(Role.OWNER),
    )


def _refused(posted: Posted, error: StopsmsError) -> HTMLResponse:
    if isinstance(error, NotAllowed):
        return posted.page.refuse(NOT_ALLOWED, 403)
    return _credits(posted.page, posted.who, posted.user_id, error=str(error), status=422)


def make_router() -> APIRouter:
    """The credits and replies routes (see the module doc)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/credits", response_class=HTMLResponse)
    def credits_page(request: Request, offset: int = 0) -> Response:
        who, session = who_of(request), session_of(request)
        if who is None or session is None:
            return to_login()
        return _credits(Page(request, who), who, session.user_id, min(max(0, offset), _LIMIT))

    @router.post("/credits/threshold", response_class=HTMLResponse)
    async def threshold(request: Request) -> Response:
        posted = await act(request, Role.OWNER)
        if isinstance(posted, Response):
            return posted
        amount = posted.fields.get("threshold", "")[:40]
        try:
            await run_in_threadpool(
                use_cases.set_threshold, app_of(request), posted.who, amount, SystemClock().now()
            )
        except StopsmsError as error:
            return _refused(posted, error)
        return RedirectResponse("/credits", status_code=303)

    @router.post("/credits/transfer", response_class=HTMLResponse)
    async def transfer(request: Request) -> Response:
        posted = await act(request, Role.OWNER)
        if isinstance(posted, Response):
            return posted
        target = posted.fields.get("target", "")[:100]
        amount = posted.fields.get("amount", "")[:40]
        try:
            moved = await run_in_threadpool(
                use_cases.transfer,
                app_of(request),
                posted.who,
                posted.user_id,
                target,
                amount,
                SystemClock().now(),
            )
        except StopsmsError as error:
            return _refused(posted, error)
        done = posted.page.gettext("%(amount)s credits moved to %(target)s.") % {
            "amount": format_credits(moved.millicredits),
            "target": moved.target,
        }
        return _credits(posted.page, posted.who, posted.user_id, done=done)

    @router.get("/replies", response_class=HTMLResponse)
    def replies_page(request: Request, offset: int = 0) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        found = replies.inbox(app_of(request), who, min(max(0, offset), _LIMIT))
        return Page(request, who).render(
            "area/replies.html", inbox=found, intents=INTENTS, page_size=replies.PAGE
        )

    return router


#: The routes the server mounts.
router: Final = make_router()
