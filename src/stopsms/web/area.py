"""The customer area: ``/login``, ``/logout``, ``/account``, ``/``, ``/campaigns/new``,
``/campaigns/{id}``, and the browser libraries under ``/static/`` (the blacklist, replies,
credits and settings are modules of their own: :mod:`stopsms.web.blacklist`,
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
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stopsms.app import App
from stopsms.app import area as use_cases
from stopsms.clock import SystemClock
from stopsms.domain.errors import StopsmsError
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.web.pages import (
    AREA_CSRF_COOKIE,
    EXPIRED,
    NOT_ALLOWED,
    NOT_FOUND,
    WRONG_LOGIN,
    Page,
    app_of,
    form_of,
    session_of,
    set_session,
    signed_post,
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
}


def _composer_values(
    app: App, who: Principal, fields: dict[str, str], *, with_lists: bool = True
) -> dict[str, Any]:
    text = fields.get("text", "")[:1600]
    mention = fields.get("mention", "on" if "text" not in fields else "") == "on"
    view = use_cases.composer(
        app, who, text, sender=fields.get("sender"), mention=mention, with_lists=with_lists
    )
    return {
        "text": text,
        "view": view,
        "mention": mention,
        "sender": view.preview.sender,
        "list_name": fields.get("list", ""),
        "at": fields.get("at", ""),
        "can_send": who.role.allows(Role.EDITOR),
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
        board = use_cases.dashboard(app_of(request), who)
        return Page(request, who).render("area/dashboard.html", board=board)

    @router.get("/campaigns/new", response_class=HTMLResponse)
    def new_campaign(request: Request) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        values = _composer_values(app_of(request), who, {})
        return Page(request, who).render("area/composer.html", error=None, **values)

    @router.post("/campaigns/new/preview", response_class=HTMLResponse)
    async def preview(request: Request) -> Response:
        who = who_of(request)
        if who is None:
            return Response(status_code=401)
        fields, ours = await form_of(request)
        page = Page(request, who)
        if not ours:
            return page.refuse(EXPIRED, 403)
        values = await run_in_threadpool(
            lambda: _composer_values(app_of(request), who, fields, with_lists=False)
        )
        return page.render("area/preview.html", **values)

    @router.post("/campaigns/new", response_class=HTMLResponse)
    async def compose(request: Request) -> Response:
        posted = await signed_post(request)
        if isinstance(posted, Response):
            return posted
        who, page, fields = posted
        app = app_of(request)
        action = fields.get("action", "")
        if action == "fix":
            fields["text"] = use_cases.smart_fix(fields.get("text", ""))
        elif action in ("draft", "schedule", "send"):
            if not who.role.allows(Role.EDITOR):
                return page.refuse(NOT_ALLOWED, 403)
            try:
                saved = await run_in_threadpool(
                    lambda: use_cases.save_campaign(
                        app,
                        who,
                        SystemClock(),
                        list_name=fields.get("list", ""),
                        text=fields.get("text", ""),
                        sender=fields.get("sender") or None,
                        at=fields.get("at") if action == "schedule" else None,
                        now=action == "send",
                    )
                )
            except StopsmsError as error:  # a refusal's sentence, shown above the form
                values = _composer_values(app, who, fields)
                return page.render("area/composer.html", 422, error=str(error), **values)
            return RedirectResponse(f"/campaigns/{saved.id}", status_code=303)
        values = _composer_values(app, who, fields)
        return page.render("area/composer.html", error=None, **values)

    @router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
    def campaign_page(request: Request, campaign_id: int) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        page = Page(request, who)
        found = use_cases.campaign(app_of(request), who, campaign_id, SystemClock())
        if found is None:
            return page.refuse(NOT_FOUND, 404)
        return page.render("area/campaign.html", campaign=found.campaign, preview=found)

    return router


#: The routes the server mounts.
router: Final = make_router()
