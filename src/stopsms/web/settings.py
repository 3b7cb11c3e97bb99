"""``/settings``: the account's STOP mention, shortcode, senders, domains, sending hours,
unsubscribe page, opt-out scope, API keys, webhooks with their delivery log, and users.

Every role reads the page; only an owner sees the forms, and any other role's POST is 403.
Each form posts to its own address; a change passes the services' checks (a setting that
would defeat a rule comes back as their sentence, 422, nothing written) and is in the audit
log, shown at the bottom of the page. A new API key or webhook secret is shown in the answer
to the POST that made it, once: it is stored hashed (the key) or never shown again (the
secret). The "send without the STOP mention" switch exists only on a notification account; on
a marketing account it is absent and a forged POST is refused with rule 1's sentence. Another
account's key, endpoint, delivery or user is a 404. Use cases: :mod:`stopsms.app.settings`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stopsms.app import settings as use_cases
from stopsms.app.access import NotAllowed
from stopsms.clock import SystemClock
from stopsms.domain.errors import StopsmsError
from stopsms.errors import NotFound
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.web.actions import Posted, act, record_id
from stopsms.web.pages import N_, NOT_ALLOWED, NOT_FOUND, Page, app_of, to_login, who_of

__all__ = ["router"]

#: The opt-out scopes as the page names them.
SCOPES: Final = {
    "account": N_("the whole account: a STOP stops every sender"),
    "sender": N_("each sender: a STOP stops only the sender it answered"),
}


def _render(
    page: Page,
    who: Principal,
    *,
    error: str | None = None,
    status: int = 200,
    **shown: Any,
) -> HTMLResponse:
    found = use_cases.view(app_of(page.request), who)
    values: dict[str, Any] = {"created_key": None, "created_webhook": None} | shown
    return page.render(
        "area/settings.html",
        status,
        view=found,
        error=error,
        scopes=SCOPES,
        can_manage=who.role.allows(Role.OWNER),
        **values,
    )


def _refused(posted: Posted, error: StopsmsError) -> HTMLResponse:
    """A refusal as the answer: 404 for another account's record, 403 for a role, else the
    page with the sentence (422, nothing written)."""
    if isinstance(error, NotFound):
        return posted.page.refuse(NOT_FOUND, 404)
    if isinstance(error, NotAllowed):
        return posted.page.refuse(NOT_ALLOWED, 403)
    return _render(posted.page, posted.who, error=str(error), status=422)


async def _owner_does(request: Request, change: Callable[[Posted], Any], anchor: str) -> Response:
    """An owner's change (``change`` runs off the event loop), then back to the page's
    ``anchor``; a refusal answered by :func:`_refused`."""
    posted = await act(request, Role.OWNER)
    if isinstance(posted, Response):
        return posted
    try:
        await run_in_threadpool(change, posted)
    except StopsmsError as error:
        return _refused(posted, error)
    return RedirectResponse(f"/settings#{anchor}", status_code=303)


def make_router() -> APIRouter:
    """The settings routes (see the module doc)."""
    router = APIRouter(include_in_schema=False)

    def now() -> Any:
        return SystemClock().now()

    @router.get("/settings", response_class=HTMLResponse)
    def settings_page(request: Request) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        return _render(Page(request, who), who)

    @router.post("/settings", response_class=HTMLResponse)
    async def change(request: Request) -> Response:
        def apply(p: Posted) -> None:
            use_cases.change_settings(app_of(request), p.who, p.fields, now())

        return await _owner_does(request, apply, "account")

    @router.post("/settings/mention", response_class=HTMLResponse)
    async def mention(request: Request) -> Response:
        def apply(p: Posted) -> None:
            enabled = p.fields.get("mention") == "on"
            use_cases.set_mention(app_of(request), p.who, enabled, now())

        return await _owner_does(request, apply, "mention")

    @router.post("/settings/senders", response_class=HTMLResponse)
    async def add_sender(request: Request) -> Response:
        def apply(p: Posted) -> None:
            use_cases.add_sender(app_of(request), p.who, p.fields.get("sender", "")[:20], now())

        return await _owner_does(request, apply, "senders")

    @router.post("/settings/senders/remove", response_class=HTMLResponse)
    async def remove_sender(request: Request) -> Response:
        def apply(p: Posted) -> None:
            sender = p.fields.get("sender", "")[:20]
            use_cases.remove_sender(app_of(request), p.who, sender, now())

        return await _owner_does(request, apply, "senders")

    @router.post("/settings/domains", response_class=HTMLResponse)
    async def add_domain(request: Request) -> Response:
        def apply(p: Posted) -> None:
            use_cases.add_domain(app_of(request), p.who, p.fields.get("domain", "")[:253], now())

        return await _owner_does(request, apply, "domains")

    @router.post("/settings/domains/remove", response_class=HTMLResponse)
    async def remove_domain(request: Request) -> Response:
        def apply(p: Posted) -> None:
            domain = p.fields.get("domain", "")[:253]
            use_cases.remove_domain(app_of(request), p.who, domain, now())

        return await _owner_does(request, apply, "domains")

    @router.post("/settings/keys", response_class=HTMLResponse)
    async def new_key(request: Request) -> Response:
        posted = await act(request, Role.OWNER)
        if isinstance(posted, Response):
            return posted
        name = posted.fields.get("name", "")[:100]
        role = posted.fields.get("role", "editor")[:20]
        try:
            created = await run_in_threadpool(
                use_cases.new_key, app_of(request), posted.who, name, role, now()
            )
        except StopsmsError as error:
            return _refused(posted, error)
        return _render(posted.page, posted.who, created_key=created)

    @router.post("/settings/keys/{key_id}/revoke", response_class=HTMLResponse)
    async def revoke_key(request: Request, key_id: int) -> Response:
        def apply(p: Posted) -> None:
            use_cases.revoke_key(app_of(request), p.who, record_id(key_id), now())

        return await _owner_does(request, apply, "keys")

    @router.post("/settings/webhooks", response_class=HTMLResponse)
    async def new_webhook(request: Request) -> Response:
        posted = await act(request, Role.OWNER)
        if isinstance(posted, Response):
            return posted
        url = posted.fields.get("url", "")[:2000]
        events = [e[:40] for e in posted.all("events")]
        try:
            created = await run_in_threadpool(
                use_cases.add_webhook, app_of(request), posted.who, url, events, now()
            )
        except StopsmsError as error:
            return _refused(posted, error)
        return _render(posted.page, posted.who, created_webhook=created)

    @router.post("/settings/webhooks/{endpoint_id}/disable", response_class=HTMLResponse)
    async def disable_webhook(request: Request, endpoint_id: int) -> Response:
        def apply(p: Posted) -> None:
            checked = record_id(endpoint_id)
            use_cases.switch_webhook(app_of(request), p.who, checked, False, now())

        return await _owner_does(request, apply, "webhooks")

    @router.post("/settings/webhooks/{endpoint_id}/enable", response_class=HTMLResponse)
    async def enable_webhook(request: Request, endpoint_id: int) -> Response:
        def apply(p: Posted) -> None:
            checked = record_id(endpoint_id)
            use_cases.switch_webhook(app_of(request), p.who, checked, True, now())

        return await _owner_does(request, apply, "webhooks")

    @router.post("/settings/deliveries/{delivery_id}/replay", response_class=HTMLResponse)
    async def replay(request: Request, delivery_id: int) -> Response:
        def apply(p: Posted) -> None:
            checked = record_id(delivery_id, big=True)
            use_cases.replay_delivery(app_of(request), p.who, checked, now())

        return await _owner_does(request, apply, "deliveries")

    @router.post("/settings/users", response_class=HTMLResponse)
    async def add_user(request: Request) -> Response:
        def apply(p: Posted) -> None:
            use_cases.add_member(
                app_of(request),
                p.who,
                p.fields.get("email", "")[:254],
                p.fields.get("role", "viewer")[:20],
                p.fields.get("password", "")[:1024],
                now(),
            )

        return await _owner_does(request, apply, "users")

    @router.post("/settings/users/{user_id}/role", response_class=HTMLResponse)
    async def change_role(request: Request, user_id: int) -> Response:
        def apply(p: Posted) -> None:
            role = p.fields.get("role", "")[:20]
            use_cases.change_member(app_of(request), p.who, record_id(user_id), role, now())

        return await _owner_does(request, apply, "users")

    @router.post("/settings/users/{user_id}/remove", response_class=HTMLResponse)
    async def remove_user(request: Request, user_id: int) -> Response:
        def apply(p: Posted) -> None:
            use_cases.remove_member(app_of(request), p.who, record_id(user_id), now())

        return await _owner_does(request, apply, "users")

    return router


#: The routes the server mounts.
router: Final = make_router()
