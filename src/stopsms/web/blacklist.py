"""The blacklist pages: ``/blacklist`` (every opt-out, paged, with its date, source, campaign
and the words received; a search by number shows its whole history), add and remove with
evidence, import a file, export as CSV, and the review queue of uncertain STOPs.

A viewer reads and exports; an editor also adds, imports and approves or dismisses what the
review queue holds; an owner also removes (only with the person's own request as evidence:
rule 5), as over the API: a lifted opt-out makes the number reachable again. A form the role
does not allow is absent and its POST is 403. Another account's record is a 404. Use
cases: :mod:`stopsms.app.blacklist`.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stopsms.app import blacklist
from stopsms.app.access import NotAllowed
from stopsms.clock import SystemClock
from stopsms.domain.errors import InvalidPhoneNumber, StopsmsError
from stopsms.errors import NotFound
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.services.optouts.files import OptOutImport
from stopsms.web.actions import Posted, act
from stopsms.web.pages import N_, NOT_ALLOWED, NOT_FOUND, Page, app_of, to_login, who_of

__all__ = ["router"]

NO_FILE: Final = N_("Choose a file to import.")
#: What each opt-out source is called on the page (the store's names are stable codes).
SOURCES: Final = {
    "keyword": N_("SMS STOP"),
    "web_form": N_("web page"),
    "import": N_("import"),
    "provider_blocked": N_("provider"),
    "provider_report": N_("provider"),
    "manual": N_("manual"),
}


def _render(
    page: Page,
    who: Principal,
    search: str = "",
    offset: int = 0,
    *,
    error: str | None = None,
    status: int = 200,
    imported: OptOutImport | None = None,
) -> HTMLResponse:
    try:
        found = blacklist.listing(app_of(page.request), who, search or None, offset)
    except InvalidPhoneNumber as bad:
        found = blacklist.Listing([], 0, 0, False, [])
        error = str(bad)
    return page.render(
        "area/blacklist.html",
        status,
        listing=found,
        search=search,
        error=error,
        imported=imported,
        sources=SOURCES,
        page_size=blacklist.PAGE,
        can_edit=who.role.allows(Role.EDITOR),
        can_lift=who.role.allows(Role.OWNER),
    )


def _refused(posted: Posted, error: StopsmsError, search: str = "") -> HTMLResponse:
    """A use case's refusal as the answer: 404 for another account's record, 403 for a role,
    else the blacklist with the sentence (422, nothing written)."""
    if isinstance(error, NotFound):
        return posted.page.refuse(NOT_FOUND, 404)
    if isinstance(error, NotAllowed):
        return posted.page.refuse(NOT_ALLOWED, 403)
    return _render(posted.page, posted.who, search, error=str(error), status=422)


def make_router() -> APIRouter:
    """The blacklist's routes (see the module doc)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/blacklist", response_class=HTMLResponse)
    def blacklist_page(request: Request, q: str = "", offset: int = 0) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        return _render(Page(request, who), who, q[:40], min(max(0, offset), 2**40))

    @router.post("/blacklist", response_class=HTMLResponse)
    async def blacklist_change(request: Request) -> Response:
        posted = await act(request, Role.EDITOR)
        if isinstance(posted, Response):
            return posted
        app, who, fields = app_of(request), posted.who, posted.fields
        phone = fields.get("phone", "")[:40]
        now = SystemClock().now()
        try:
            if fields.get("action") == "remove":
                if not who.role.allows(Role.OWNER):
                    return posted.page.refuse(NOT_ALLOWED, 403)
                evidence = fields.get("evidence", "")[:500]
                await run_in_threadpool(blacklist.remove, app, who, phone, evidence, now)
            else:
                await run_in_threadpool(blacklist.add, app, who, phone, now)
        except StopsmsError as error:
            return _refused(posted, error, phone)
        return RedirectResponse(f"/blacklist?q={quote(phone)}", status_code=303)

    @router.post("/blacklist/import", response_class=HTMLResponse)
    async def blacklist_import(request: Request) -> Response:
        posted = await act(request, Role.EDITOR, upload="file")
        if isinstance(posted, Response):
            return posted
        if posted.file is None or not posted.file[1]:
            error = posted.page.gettext(NO_FILE)
            return _render(posted.page, posted.who, error=error, status=422)
        name, data = posted.file
        try:
            done = await run_in_threadpool(
                blacklist.import_file, app_of(request), posted.who, name, data, SystemClock().now()
            )
        except StopsmsError as error:
            return _refused(posted, error)
        return _render(posted.page, posted.who, imported=done)

    @router.get("/blacklist/export")
    def blacklist_export(request: Request, revoked: bool = False) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        text = blacklist.export_csv(app_of(request), who, include_revoked=revoked)
        return Response(
            text.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="blacklist-{who.account}.csv"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @router.post("/blacklist/review/{optout_id}/approve", response_class=HTMLResponse)
    async def approve(request: Request, optout_id: int) -> Response:
        posted = await act(request, Role.EDITOR)
        if isinstance(posted, Response):
            return posted
        try:
            await run_in_threadpool(
                blacklist.approve, app_of(request), posted.who, optout_id, SystemClock().now()
            )
        except StopsmsError as error:
            return _refused(posted, error)
        return RedirectResponse("/blacklist#review", status_code=303)

    @router.post("/blacklist/review/{optout_id}/dismiss", response_class=HTMLResponse)
    async def dismiss(request: Request, optout_id: int) -> Response:
        posted = await act(request, Role.EDITOR)
        if isinstance(posted, Response):
            return posted
        evidence = posted.fields.get("evidence", "")[:500]
        try:
            await run_in_threadpool(
                blacklist.dismiss,
                app_of(request),
                posted.who,
                optout_id,
                evidence,
                SystemClock().now(),
            )
        except StopsmsError as error:
            return _refused(posted, error)
        return RedirectResponse("/blacklist#review", status_code=303)

    return router


#: The routes the server mounts.
router: Final = make_router()
