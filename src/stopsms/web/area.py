"""The customer area: ``/login``, ``/logout``, ``/account``, ``/``, and the browser libraries
under ``/static/`` (the campaign pages and the composer are :mod:`stopsms.web.campaigns`; the
contacts, blacklist, replies, credits and settings are modules of their own too:
:mod:`stopsms.web.contacts`, :mod:`stopsms.web.blacklist`, :mod:`stopsms.web.credits`,
:mod:`stopsms.web.settings`).

Server-rendered pages (Jinja2, French by default, English by ``Accept-Language``) whose
essentials work without JavaScript: the composer is a plain form (its fix and save buttons
post it); htmx (served from this package, :mod:`stopsms.web.static`) only refreshes the preview
as one types (``keyup changed delay:150ms`` → ``POST /campaigns/new/preview``, a fragment).

Who acts: a signed session cookie (:mod:`stopsms.web.sessions`) names the user and account;
the role is read again per request (:func:`stopsms.app.area.principal_of_user`). A viewer sees,
an editor also saves and schedules campaigns (the buttons are absent for a viewer and the POST
is refused with 403), an owner will manage settings. Every form carries the signed
double-submit anti-forgery field (:class:`stopsms.web.security.Forms`, its own cookie at
``/``); a POST without it is refused with 403 before anything is read or written. Another
account's campaign is a 404, the same as one that does not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stopsms.app import area as use_cases
from stopsms.clock import SystemClock
from stopsms.web.pages import (
    AREA_CSRF_COOKIE,
    EXPIRED,
    NOT_ALLOWED,
    WRONG_LOGIN,
    Page,
    app_of,
    form_of,
    session_of,
    set_session,
    state_of,
    to_login,
    who_of,
)
from stopsms.web.sessions import SESSION_COOKIE

__all__ = ["AREA_CSRF_COOKIE", "router"]

_STATIC: Final = Path(__file__).parent / "static"
_STATIC_FILES: Final = {
    "htmx.min.js": "text/javascript",
    "area.css": "text/css",
    "uPlot.iife.min.js": "text/javascript",
    "uPlot.min.css": "text/css",
    "charts.js": "text/javascript",
    "area.js": "text/javascript",
}


def make_router() -> APIRouter:
    """The customer area's routes (see the module doc)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        media = _STATIC_FILES.get(name)
        if media is None:
            return Response(status_code=404)
        return FileResponse(
            _STATIC / name, media_type=media, headers={"Cache-Control": "public, max-age=3600"}
        )

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        return Page(request).render("area/login.html", email="", error=None)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        page = Page(request)
        fields, ours = await form_of(request)
        if not ours:
            return page.refuse(EXPIRED, 403)
        email = fields.get("email", "")[:254]
        user = await run_in_threadpool(
            use_cases.sign_in, app_of(request), email, fields.get("password", "")[:1024]
        )
        if user is None or not user.roles:
            error = page.gettext(WRONG_LOGIN)
            return page.render("area/login.html", 401, email=email, error=error)
        _, sessions = state_of(request)
        response = RedirectResponse("/", status_code=303)
        set_session(request, response, sessions.issue(user.id, None))
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        _, ours = await form_of(request)
        if not ours:
            return Page(request).refuse(EXPIRED, 403)
        response = to_login()
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.post("/account")
    async def switch_account(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return to_login()
        fields, ours = await form_of(request)
        if not ours:
            return Page(request).refuse(EXPIRED, 403)
        account = fields.get("account", "")
        if use_cases.principal_of_user(app_of(request), session.user_id, account) is None:
            return Page(request).refuse(NOT_ALLOWED, 403)
        _, sessions = state_of(request)
        response = RedirectResponse("/", status_code=303)
        set_session(request, response, sessions.issue(session.user_id, account, session.issued))
        return response

    @router.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        board = use_cases.dashboard(app_of(request), who, SystemClock())
        return Page(request, who).render("area/dashboard.html", board=board)

    return router


#: The routes the server mounts.
router: Final = make_router()
