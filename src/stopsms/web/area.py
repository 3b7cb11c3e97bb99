"""The customer area: ``/login``, ``/logout``, ``/account``, ``/``, ``/campaigns/new``,
``/campaigns/{id}``, ``/blacklist``, and the browser libraries under ``/static/``.

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

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stopsms.app import App, blacklist
from stopsms.app import area as use_cases
from stopsms.clock import SystemClock
from stopsms.domain.errors import InvalidPhoneNumber, StopsmsError
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.web.i18n import environment, negotiate, translations
from stopsms.web.security import CSRF_FIELD, Forms
from stopsms.web.sessions import MAX_AGE, SESSION_COOKIE, Sessions

__all__ = ["AREA_CSRF_COOKIE", "router"]

AREA_CSRF_COOKIE: Final = "stopsms_area_csrf"
_STATIC: Final = Path(__file__).parent / "static"
_STATIC_FILES: Final = {
    "htmx.min.js": "text/javascript",
    "area.css": "text/css",
}
#: Scripts and styles from this server only; htmx's own indicator style is turned off.
_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_MAX_FORM_FIELDS: Final = 16


def N_(text: str) -> str:  # noqa: N802 (gettext's marker name, which extraction looks for)
    """Mark ``text`` for the catalogues; it is translated when a page is rendered."""
    return text


_WRONG_LOGIN: Final = N_("This email and password do not match an account.")
_EXPIRED: Final = N_("This form has expired: please send it again from the page.")
_NOT_ALLOWED: Final = N_("Your role in this account does not allow this.")
_NOT_FOUND: Final = N_("This page does not exist in this account.")


def _app(request: Request) -> App:
    app: App = request.app.state.stopsms
    return app


def _state(request: Request) -> tuple[Forms, Sessions]:
    """The anti-forgery signer and the session signer of the server (made once each)."""
    state = request.app.state
    made: tuple[Forms, Sessions] | None = getattr(state, "stopsms_area", None)
    if made is None:
        key = _app(request).settings.secret_key
        made = state.stopsms_area = (Forms(key), Sessions(key))
    return made


class _Page:
    """One answer in the request's language, with the area's headers and form cookie."""

    def __init__(self, request: Request, who: Principal | None = None) -> None:
        self.request, self.who = request, who
        self.language = negotiate(request.headers.get("accept-language"))
        self.gettext = translations(self.language).gettext
        forms, _ = _state(request)
        self.csrf = forms.issue(request.cookies.get(AREA_CSRF_COOKIE))

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        accounts: list[str] = []
        session = _session(self.request)
        if self.who is not None and session is not None:
            accounts = use_cases.account_names(_app(self.request), session.user_id)
        html = (
            environment(self.language)
            .get_template(template)
            .render(
                language=self.language, csrf=self.csrf, who=self.who, accounts=accounts, **values
            )
        )
        response = HTMLResponse(html, status_code=status, headers=dict(_HEADERS))
        response.headers["Content-Language"] = self.language
        response.set_cookie(
            AREA_CSRF_COOKIE,
            self.csrf,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.request.url.scheme == "https",
        )
        return response

    def refuse(self, text: str, status: int) -> HTMLResponse:
        return self.render("area/notice.html", status, message=self.gettext(text))


def _session(request: Request) -> Any:
    _, sessions = _state(request)
    return sessions.read(request.cookies.get(SESSION_COOKIE))


def _who(request: Request) -> Principal | None:
    session = _session(request)
    if session is None:
        return None
    return use_cases.principal_of_user(_app(request), session.user_id, session.account)


#: The zone times are shown in (the accounts served are French; per-account zones come later).
_ZONE: Final = ZoneInfo("Europe/Paris")


def _when(seconds: float | None) -> str:
    """An instant (seconds since the epoch) as ``YYYY-MM-DD HH:MM`` in Paris, or empty."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).astimezone(_ZONE).strftime("%Y-%m-%d %H:%M")


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def _set_session(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


async def _form(request: Request) -> tuple[dict[str, str], bool]:
    """The posted form's text fields and whether its anti-forgery field is ours."""
    form = await request.form(max_files=0, max_fields=_MAX_FORM_FIELDS)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    forms, _ = _state(request)
    return fields, forms.accepts(request.cookies.get(AREA_CSRF_COOKIE), fields.get(CSRF_FIELD))


async def _posted(request: Request) -> tuple[Principal, _Page, dict[str, str]] | Response:
    """A signed-in POST with our anti-forgery field: who, the page and the form; else the
    answer to give instead (to the login page; 403)."""
    who = _who(request)
    if who is None:
        return _to_login()
    fields, ours = await _form(request)
    page = _Page(request, who)
    if not ours:
        return page.refuse(_EXPIRED, 403)
    return who, page, fields


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
        return _Page(request).render("area/login.html", email="", error=None)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        page = _Page(request)
        fields, ours = await _form(request)
        if not ours:
            return page.refuse(_EXPIRED, 403)
        email = fields.get("email", "")[:254]
        user = await run_in_threadpool(
            use_cases.sign_in, _app(request), email, fields.get("password", "")[:1024]
        )
        if user is None or not user.roles:
            error = page.gettext(_WRONG_LOGIN)
            return page.render("area/login.html", 401, email=email, error=error)
        _, sessions = _state(request)
        response = RedirectResponse("/", status_code=303)
        _set_session(request, response, sessions.issue(user.id, None))
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        _, ours = await _form(request)
        if not ours:
            return _Page(request).refuse(_EXPIRED, 403)
        response = _to_login()
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.post("/account")
    async def switch_account(request: Request) -> Response:
        session = _session(request)
        if session is None:
            return _to_login()
        fields, ours = await _form(request)
        if not ours:
            return _Page(request).refuse(_EXPIRED, 403)
        account = fields.get("account", "")
        if use_cases.principal_of_user(_app(request), session.user_id, account) is None:
            return _Page(request).refuse(_NOT_ALLOWED, 403)
        _, sessions = _state(request)
        response = RedirectResponse("/", status_code=303)
        _set_session(request, response, sessions.issue(session.user_id, account, session.issued))
        return response

    @router.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        who = _who(request)
        if who is None:
            return _to_login()
        board = use_cases.dashboard(_app(request), who)
        return _Page(request, who).render("area/dashboard.html", board=board)

    @router.get("/campaigns/new", response_class=HTMLResponse)
    def new_campaign(request: Request) -> Response:
        who = _who(request)
        if who is None:
            return _to_login()
        values = _composer_values(_app(request), who, {})
        return _Page(request, who).render("area/composer.html", error=None, **values)

    @router.post("/campaigns/new/preview", response_class=HTMLResponse)
    async def preview(request: Request) -> Response:
        who = _who(request)
        if who is None:
            return Response(status_code=401)
        fields, ours = await _form(request)
        page = _Page(request, who)
        if not ours:
            return page.refuse(_EXPIRED, 403)
        values = await run_in_threadpool(
            lambda: _composer_values(_app(request), who, fields, with_lists=False)
        )
        return page.render("area/preview.html", **values)

    @router.post("/campaigns/new", response_class=HTMLResponse)
    async def compose(request: Request) -> Response:
        posted = await _posted(request)
        if isinstance(posted, Response):
            return posted
        who, page, fields = posted
        app = _app(request)
        action = fields.get("action", "")
        if action == "fix":
            fields["text"] = use_cases.smart_fix(fields.get("text", ""))
        elif action in ("draft", "schedule", "send"):
            if not who.role.allows(Role.EDITOR):
                return page.refuse(_NOT_ALLOWED, 403)
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
        who = _who(request)
        if who is None:
            return _to_login()
        page = _Page(request, who)
        found = use_cases.campaign(_app(request), who, campaign_id, SystemClock())
        if found is None:
            return page.refuse(_NOT_FOUND, 404)
        return page.render("area/campaign.html", campaign=found.campaign, preview=found, when=_when)

    @router.get("/blacklist", response_class=HTMLResponse)
    def blacklist_page(request: Request, q: str = "") -> Response:
        who = _who(request)
        if who is None:
            return _to_login()
        return _blacklist(_Page(request, who), who, q[:40])

    @router.post("/blacklist", response_class=HTMLResponse)
    async def blacklist_change(request: Request) -> Response:
        posted = await _posted(request)
        if isinstance(posted, Response):
            return posted
        who, page, fields = posted
        if not who.role.allows(Role.EDITOR):
            return page.refuse(_NOT_ALLOWED, 403)
        app, phone = _app(request), fields.get("phone", "")[:40]
        now = SystemClock().now()
        try:
            if fields.get("action") == "remove":
                evidence = fields.get("evidence", "")[:500]
                await run_in_threadpool(blacklist.remove, app, who, phone, evidence, now)
            else:
                await run_in_threadpool(blacklist.add, app, who, phone, now)
        except StopsmsError as error:  # a refusal's sentence, shown above the form
            return _blacklist(page, who, phone, str(error), 422)
        return RedirectResponse(f"/blacklist?q={quote(phone)}", status_code=303)

    return router


def _blacklist(
    page: _Page, who: Principal, search: str, error: str | None = None, status: int = 200
) -> HTMLResponse:
    try:
        records, total = blacklist.listing(_app(page.request), who, search or None)
    except InvalidPhoneNumber as bad:
        records, total = [], 0
        error = str(bad)
    return page.render(
        "area/blacklist.html",
        status,
        records=records,
        total=total,
        search=search,
        error=error,
        can_edit=who.role.allows(Role.EDITOR),
    )


#: The routes the server mounts.
router: Final = make_router()
