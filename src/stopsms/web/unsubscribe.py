"""The hosted unsubscribe page: ``/u/{token}`` per message, ``/u/a/{account}`` per account.

``GET /u/{token}`` shows the message's number masked (``+33 6 •• •• •• 78``), its sender, an
optional reason (a choice and free words) and a confirm button; ``POST /u/{token}`` records
the opt-out (source ``web_form``, attributed to that message's campaign) and thanks. Sending
it again changes nothing and thanks again. ``GET/POST /u/a/{account}`` is the general form
(the seeds' "input their mobile phone number and the unsubscribe reason"): any number is
opted out, known or not, and every valid number gets the same thank-you page after the same
work, so the page reveals nothing about whom the account knows.

An unknown token, a token whose number was erased and an unknown account get one neutral page
with status 404. Plain HTML forms (no JavaScript); French or English by the ``lang`` cookie or
``Accept-Language`` (:mod:`stopsms.web.i18n`); anti-forgery field and cookie, a rate limit per
address on every POST, security headers (:mod:`stopsms.web.security`). Bad input (a number
that is none, a reason not offered) is answered with the form again or a notice, and nothing
is written.

The process's :class:`~stopsms.app.App` is at ``request.app.state.stopsms``; the server mounts
:data:`router` (``app.include_router(stopsms.web.unsubscribe.router)``).
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from stopsms.app import App
from stopsms.app import unsubscribe as use_cases
from stopsms.domain.errors import InvalidPhoneNumber
from stopsms.errors import InvalidInput
from stopsms.web.i18n import LANGUAGE_COOKIE, choose, environment, translations
from stopsms.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    STYLE,
    Forms,
    RateLimiter,
    security_headers,
)

__all__ = ["MAX_FORM_BYTES", "make_router", "router"]

#: The largest form accepted (the reason's 500 characters, in UTF-8 and percent-encoded).
MAX_FORM_BYTES: Final = 8192


def N_(text: str) -> str:  # noqa: N802 (gettext's marker name, which extraction looks for)
    """Mark ``text`` for the catalogues; it is translated when a page is rendered."""
    return text


_NOT_FOUND: Final = (
    N_("This page does not exist"),
    N_(
        "This link leads to no message of ours. To stop receiving messages, reply STOP to the"
        " message or follow the link at its end."
    ),
)
_EXPIRED: Final = (
    N_("This form has expired"),
    N_("Please open the page again and send the form from it (cookies must be allowed)."),
)
_TOO_MANY: Final = (
    N_("Too many attempts"),
    N_("Please wait a minute, then try again."),
)
_UNREADABLE: Final = (
    N_("This form holds a value we cannot read"),
    N_("Please open the page again and send the form from it."),
)
_NOT_A_NUMBER: Final = N_(
    "This is not a mobile number we can read: write it with its country code,"
    " e.g. +33 6 12 34 56 78."
)


def _app(request: Request) -> App:
    app: App = request.app.state.stopsms
    return app


def _forms(request: Request) -> Forms:
    """The anti-forgery signer of the server's App (made once, with its secret key)."""
    state = request.app.state
    forms: Forms | None = getattr(state, "stopsms_web_forms", None)
    if forms is None:
        forms = state.stopsms_web_forms = Forms(_app(request).settings.secret_key)
    return forms


class _Page:
    """One answer: the language of the request, its template, status and form cookie."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.language = choose(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
        self.gettext = translations(self.language).gettext

    def render(
        self, template: str, status: int = 200, *, form: bool = False, **values: Any
    ) -> HTMLResponse:
        csrf = None
        if form:
            csrf = _forms(self.request).issue(self.request.cookies.get(CSRF_COOKIE))
        html = (
            environment(self.language)
            .get_template(template)
            .render(language=self.language, style=STYLE, csrf=csrf, **values)
        )
        headers = security_headers()
        headers["Content-Language"] = self.language
        response = HTMLResponse(html, status_code=status, headers=headers)
        if csrf is not None:
            response.set_cookie(
                CSRF_COOKIE,
                csrf,
                path="/u/",
                httponly=True,
                samesite="strict",
                secure=self.request.url.scheme == "https",
            )
        return response

    def notice(
        self, texts: tuple[str, str], status: int, headers: dict[str, str] | None = None
    ) -> HTMLResponse:
        title, message = (self.gettext(text) for text in texts)
        response = self.render("notice.html", status, title=title, message=message)
        response.headers.update(headers or {})
        return response


async def _posted(request: Request, limiter: RateLimiter) -> tuple[_Page, Any, HTMLResponse | None]:
    """The page, the form and, when the POST must be refused (rate, size, forgery), the
    answer to give instead."""
    page = _Page(request)
    address = request.client.host if request.client else "unknown"
    wait = limiter.hit(address)
    if wait is not None:
        retry = {"Retry-After": str(max(1, round(wait)))}
        return page, None, page.notice(_TOO_MANY, 429, retry)
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > MAX_FORM_BYTES:
        return page, None, page.notice(_UNREADABLE, 413 if length else 411)
    form = await request.form(max_files=0, max_fields=8)
    field = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not _forms(request).accepts(cookie, field if isinstance(field, str) else None):
        return page, form, page.notice(_EXPIRED, 403)
    return page, form, None


def _text(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def make_router(*, limiter: RateLimiter | None = None) -> APIRouter:
    """The page's routes, with their own rate limiter (default: 10 POSTs a minute per
    address)."""
    limits = limiter if limiter is not None else RateLimiter()
    router = APIRouter(include_in_schema=False)

    @router.get("/u/a/{account}", response_class=HTMLResponse)
    def general_page(request: Request, account: str) -> HTMLResponse:
        page = _Page(request)
        brand = use_cases.account_page(_app(request), account)
        if brand is None:
            return page.notice(_NOT_FOUND, 404)
        return page.render("general.html", form=True, brand=brand, number="", error=None)

    @router.post("/u/a/{account}", response_class=HTMLResponse)
    async def general_unsubscribe(request: Request, account: str) -> HTMLResponse:
        page, form, refused = await _posted(request, limits)
        if refused is not None:
            return refused
        app = _app(request)
        brand = await run_in_threadpool(use_cases.account_page, app, account)
        if brand is None:
            return page.notice(_NOT_FOUND, 404)
        number = (_text(form, "number") or "")[:40]
        try:
            await run_in_threadpool(
                lambda: use_cases.unsubscribe_number(
                    app, account, number, reason=_text(form, "reason"), text=_text(form, "text")
                )
            )
        except InvalidPhoneNumber:
            error = page.gettext(_NOT_A_NUMBER)
            return page.render(
                "general.html", 422, form=True, brand=brand, number=number, error=error
            )
        except InvalidInput:
            return page.notice(_UNREADABLE, 422)
        return page.render("done.html", brand=brand)

    @router.get("/u/{token}", response_class=HTMLResponse)
    def token_page(request: Request, token: str) -> HTMLResponse:
        page = _Page(request)
        found = use_cases.token_page(_app(request), token)
        if found is None:
            return page.notice(_NOT_FOUND, 404)
        return page.render(
            "token.html",
            form=True,
            brand=found.brand,
            number=found.masked_number,
            sender=found.sender,
        )

    @router.post("/u/{token}", response_class=HTMLResponse)
    async def token_unsubscribe(request: Request, token: str) -> HTMLResponse:
        page, form, refused = await _posted(request, limits)
        if refused is not None:
            return refused
        app = _app(request)
        try:
            done = await run_in_threadpool(
                lambda: use_cases.unsubscribe_by_token(
                    app, token, reason=_text(form, "reason"), text=_text(form, "text")
                )
            )
        except InvalidInput:
            return page.notice(_UNREADABLE, 422)
        if done is None:
            return page.notice(_NOT_FOUND, 404)
        return page.render("done.html", brand=done.brand)

    return router


#: The routes the server mounts (one rate limiter for the process).
router: Final = make_router()
