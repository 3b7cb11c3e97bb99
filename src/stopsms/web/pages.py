"""What every page of the customer area shares: who is signed in, the page in the
request's language (the ``lang`` cookie, else ``Accept-Language``: :func:`.i18n.choose`) with
the area's headers, the anti-forgery check of a posted form, the language switch.

Each feature's pages (:mod:`stopsms.web.area` and its siblings) are a router of their own that
calls these and the application layer; :data:`stopsms.web.ROUTERS` lists them for the server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stopsms.app import App
from stopsms.app import area as use_cases
from stopsms.domain.planning import CohortPlan
from stopsms.services.access.keys import Principal
from stopsms.web.i18n import (
    LANGUAGE_COOKIE,
    LANGUAGES,
    ZONE,
    choose,
    environment,
    translations,
)
from stopsms.web.security import CSRF_FIELD, Forms
from stopsms.web.sessions import MAX_AGE, SESSION_COOKIE, Sessions

__all__ = [
    "AREA_CSRF_COOKIE",
    "EXPIRED",
    "LANGUAGE_NAMES",
    "NOT_ALLOWED",
    "NOT_FOUND",
    "N_",
    "ZONE",
    "HeldZone",
    "Page",
    "app_of",
    "form_of",
    "held_zones",
    "language_router",
    "session_of",
    "set_session",
    "state_of",
    "to_login",
    "who_of",
]

AREA_CSRF_COOKIE: Final = "stopsms_area_csrf"
#: Scripts and styles from this server only; htmx's own indicator style is turned off.
HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
MAX_FORM_FIELDS: Final = 16
#: Each language's name in itself (the header's switch offers the other one).
LANGUAGE_NAMES: Final = {"fr": "Français", "en": "English"}


def N_(text: str) -> str:  # noqa: N802 (gettext's marker name, which extraction looks for)
    """Mark ``text`` for the catalogues; it is translated when a page is rendered."""
    return text


WRONG_LOGIN: Final = N_("This email and password do not match an account.")
EXPIRED: Final = N_("This form has expired: please send it again from the page.")
NOT_ALLOWED: Final = N_("Your role in this account does not allow this.")
NOT_FOUND: Final = N_("This page does not exist in this account.")


def app_of(request: Request) -> App:
    app: App = request.app.state.stopsms
    return app


def state_of(request: Request) -> tuple[Forms, Sessions]:
    """The anti-forgery signer and the session signer of the server (made once each)."""
    state = request.app.state
    made: tuple[Forms, Sessions] | None = getattr(state, "stopsms_area", None)
    if made is None:
        key = app_of(request).settings.secret_key
        made = state.stopsms_area = (Forms(key), Sessions(key))
    return made


class Page:
    """One answer in the request's language, with the area's headers and form cookie; its
    instants in the signed-in account's zone (:data:`ZONE` before anyone signs in)."""

    def __init__(self, request: Request, who: Principal | None = None) -> None:
        self.request, self.who = request, who
        self.language = choose(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
        self.gettext = translations(self.language).gettext
        self.zone = who.time_zone if who is not None else ZONE.key
        forms, _ = state_of(request)
        self.csrf = forms.issue(request.cookies.get(AREA_CSRF_COOKIE))

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        accounts: list[str] = []
        session = session_of(self.request)
        if self.who is not None and session is not None:
            accounts = use_cases.account_names(app_of(self.request), session.user_id)
        values.setdefault("held_zones", lambda cohorts: held_zones(cohorts, self.zone))
        url = self.request.url
        here = url.path + (f"?{url.query}" if url.query else "")
        html = (
            environment(self.language, self.zone)
            .get_template(template)
            .render(
                language=self.language,
                languages=LANGUAGE_NAMES,
                here=here,
                csrf=self.csrf,
                who=self.who,
                accounts=accounts,
                zone=self.zone,
                **values,
            )
        )
        response = HTMLResponse(html, status_code=status, headers=dict(HEADERS))
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


@dataclass(frozen=True, slots=True)
class HeldZone:
    """Recipients of one region and zone held outside their hours, and when the first leaves."""

    region: str
    zone: str
    held: int
    held_until: float


def held_zones(cohorts: Iterable[CohortPlan], account_zone: str) -> list[HeldZone]:
    """The held recipients by region and zone, when any of them is in a zone other than
    ``account_zone`` (else empty: the account-zone instant says it all). Sending hours are the
    recipients' local hours: a list with Réunion numbers held until 09:00 there is held until
    06:00 in Paris in winter, and the page shows both.

    A cohort's key is ``"{region} {zone}[+{zone}…] ({policy})"`` (the composer's plan, in
    :mod:`stopsms.app.campaigns`); its first zone is the one its calendar answers in."""
    found: dict[tuple[str, str], HeldZone] = {}
    for cohort in cohorts:
        if not cohort.held or cohort.held_until is None:
            continue
        region, _, rest = cohort.key.partition(" ")
        zone = rest.split(" (", 1)[0].split("+", 1)[0]
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):  # not a key of ours: no local time to show
            continue
        seen = found.get((region, zone))
        if seen is not None:
            found[(region, zone)] = HeldZone(
                region, zone, seen.held + cohort.held, min(seen.held_until, cohort.held_until)
            )
        else:
            found[(region, zone)] = HeldZone(region, zone, cohort.held, cohort.held_until)
    if all(zone == account_zone for _, zone in found):
        return []
    return [found[key] for key in sorted(found)]


def session_of(request: Request) -> Any:
    _, sessions = state_of(request)
    return sessions.read(request.cookies.get(SESSION_COOKIE))


def who_of(request: Request) -> Principal | None:
    session = session_of(request)
    if session is None:
        return None
    return use_cases.principal_of_user(app_of(request), session.user_id, session.account)


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def set_session(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


async def form_of(
    request: Request, *, max_fields: int = MAX_FORM_FIELDS
) -> tuple[dict[str, str], bool]:
    """The posted form's text fields (at most ``max_fields``) and whether its anti-forgery
    field is ours."""
    form = await request.form(max_files=0, max_fields=max_fields)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    forms, _ = state_of(request)
    return fields, forms.accepts(request.cookies.get(AREA_CSRF_COOKIE), fields.get(CSRF_FIELD))


def language_router() -> APIRouter:
    """``POST /language``: the header's switch (a form, no JavaScript) sets the ``lang``
    cookie for a year and goes back to the page it was on (a path of this site only)."""
    router = APIRouter(include_in_schema=False)

    @router.post("/language")
    async def switch_language(request: Request) -> Response:
        fields, ours = await form_of(request)
        if not ours:
            return Page(request).refuse(EXPIRED, 403)
        back = fields.get("next", "/")
        if not back.startswith("/") or back.startswith(("//", "/\\")):
            back = "/"  # never another site
        response = RedirectResponse(back, status_code=303)
        language = fields.get("lang")
        if language in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE,
                str(language),
                max_age=365 * 24 * 3600,
                path="/",
                samesite="lax",
                secure=request.url.scheme == "https",
            )
        return response

    return router
