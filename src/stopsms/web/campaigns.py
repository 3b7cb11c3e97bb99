"""The campaign pages: ``/campaigns`` (the list), ``/campaigns/new`` (the composer, its live
preview and its recipients by decision), ``/campaigns/{id}`` (progress, actions, report, chart,
export).

- The list: newest first, :data:`~stopsms.app.campaigns.PER_PAGE` a page (``?page=N``), each
  line with its status, targeted, sent, delivered %, STOP % and credits.
- The composer: a plain form (its fix and save buttons post it). htmx refreshes the preview as
  one types (``POST /campaigns/new/preview``, a fragment that reads no list) and the recipients
  by decision when the list or the sender changes (``GET /campaigns/new/audience``, one grouped
  read of the list, kept for the keystrokes that follow: their cost in credits is the kept
  counts times the text's parts).
- A campaign's page: while something may move (scheduled, preparing, sending, held, paused) its
  progress fragment (``GET /campaigns/{id}/progress``) is fetched again every 2 s by htmx —
  sent, delivered, failed, "held until" (the account's zone, named), STOPs — and, without
  JavaScript, the page reloads itself every 10 s (a ``<noscript>`` refresh). Pause / resume /
  cancel are forms (editor and owner; absent for a viewer and refused with 403) that follow
  the status: the poll names the buttons the page shows (``?shown=pause,cancel``, its
  ``hx-vals``) and, when the status allows others (a campaign that finished, was cancelled or paused
  elsewhere), the fragment carries the new ones out of band (``hx-swap-oob``); on any other
  poll the buttons are left alone, so a poll never replaces one between a person's mousedown
  and mouseup (a swap there loses the click). The report
  (targeted, excluded by reason, delivered, failed, STOP count and %, credits) is the services'
  own, with a chart of sent / delivered / STOPs per hour (uPlot, drawn by ``/static/charts.js``
  from the element's ``data-series``: no inline script under the area's CSP). The per-recipient
  export is ``GET /campaigns/{id}/export?format=csv|xlsx`` (STOPPED for a number whose opt-out
  is attributed to the campaign); a viewer may download it (a viewer sees).

Another account's campaign, a campaign that does not exist and an id that is not one are the
same 404 page.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from stopsms.app import App
from stopsms.app import area as use_cases
from stopsms.app import campaigns as campaign_cases
from stopsms.clock import SystemClock
from stopsms.domain.campaign import CampaignStatus
from stopsms.domain.errors import StopsmsError
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.web.actions import act
from stopsms.web.pages import (
    EXPIRED,
    NOT_ALLOWED,
    NOT_FOUND,
    Page,
    app_of,
    form_of,
    to_login,
    who_of,
)

__all__ = ["router"]

#: The largest campaign id a page accepts (a BIGINT); a longer number is not found.
_MAX_ID: Final = 2**63 - 1
_MEDIA: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _id(value: str) -> int | None:
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 0 < number <= _MAX_ID else None


def _composer_values(
    app: App, who: Principal, fields: dict[str, str], *, with_lists: bool = True
) -> dict[str, Any]:
    text = fields.get("text", "")[:1600]
    mention = fields.get("mention", "on" if "text" not in fields else "") == "on"
    view = use_cases.composer(
        app, who, text, sender=fields.get("sender"), mention=mention, with_lists=with_lists
    )
    list_name = fields.get("list", "")[:200]
    if not list_name and view.lists:
        list_name = view.lists[0].name
    sender = view.preview.sender
    audience = campaign_cases.cached_audience(who, list_name, sender) if list_name else None
    cost = None
    if audience is not None:
        cost = campaign_cases.audience_cost(audience, view.preview.composed.segments)
    return {
        "text": text,
        "view": view,
        "mention": mention,
        "sender": sender,
        "list_name": list_name,
        "at": fields.get("at", ""),
        "can_send": who.role.allows(Role.EDITOR),
        "audience": audience,
        "cost": cost,
    }


def _campaign_values(view: campaign_cases.CampaignView, who: Principal) -> dict[str, Any]:
    return {
        "campaign": view.campaign,
        "view": view,
        "can_act": who.role.allows(Role.EDITOR),
        "error": None,
        "preview": None,
        "actions_changed": False,
    }


def _previewed(view: campaign_cases.CampaignView) -> bool:
    """Whether the page shows what preparation would decide now: a campaign not prepared yet
    that still may be — not one cancelled before it was (its page said "will receive 2",
    "held until" and an expected finish for a campaign that will never send)."""
    return view.report is None and view.campaign.status is not CampaignStatus.CANCELLED


def make_router() -> APIRouter:
    """The campaign pages' routes (see the module doc)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/campaigns", response_class=HTMLResponse)
    def campaigns_page(request: Request, page: str = "1") -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        number = _id(page) or 1
        lines, total = campaign_cases.campaign_lines(app_of(request), who, number)
        pages = max(1, -(-total // campaign_cases.PER_PAGE))
        return Page(request, who).render(
            "area/campaigns.html", lines=lines, total=total, page=min(number, pages), pages=pages
        )

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

    @router.get("/campaigns/new/audience", response_class=HTMLResponse)
    async def audience(
        request: Request, list: str = "", sender: str = "", text: str = ""
    ) -> Response:
        who = who_of(request)
        if who is None:
            return Response(status_code=401)
        app = app_of(request)
        view = use_cases.composer(app, who, text[:1600], sender=sender or None, with_lists=False)
        found = await run_in_threadpool(
            campaign_cases.audience, app, who, list[:200], view.preview.sender, SystemClock()
        )
        page = Page(request, who)
        if found is None:
            return page.render("area/audience.html", 404, audience=None, cost=None)
        cost = campaign_cases.audience_cost(found, view.preview.composed.segments)
        return page.render("area/audience.html", audience=found, cost=cost)

    @router.post("/campaigns/new", response_class=HTMLResponse)
    async def compose(request: Request) -> Response:
        posted = await act(request, Role.VIEWER)  # the role each action needs is checked below
        if isinstance(posted, Response):
            return posted
        who, page, fields = posted.who, posted.page, posted.fields
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
        if action == "preview" and fields.get("list"):  # without JavaScript: count here
            sender = use_cases.composer(app, who, "", sender=fields.get("sender")).preview.sender
            await run_in_threadpool(
                campaign_cases.audience, app, who, fields["list"][:200], sender, SystemClock()
            )
        values = _composer_values(app, who, fields)
        return page.render("area/composer.html", error=None, **values)

    @router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
    def campaign_page(request: Request, campaign_id: str) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        page = Page(request, who)
        number = _id(campaign_id)
        view = (
            None if number is None else campaign_cases.campaign_view(app_of(request), who, number)
        )
        if view is None:
            return page.refuse(NOT_FOUND, 404)
        values = _campaign_values(view, who)
        if _previewed(view):  # not prepared yet: what preparation would decide now
            values["preview"] = use_cases.campaign(
                app_of(request), who, view.campaign.id, SystemClock()
            )
        return page.render("area/campaign.html", **values)

    @router.get("/campaigns/{campaign_id}/progress", response_class=HTMLResponse)
    def progress(request: Request, campaign_id: str, shown: str = "") -> Response:
        who = who_of(request)
        if who is None:
            return Response(status_code=401)
        page = Page(request, who)
        number = _id(campaign_id)
        view = (
            None if number is None else campaign_cases.campaign_view(app_of(request), who, number)
        )
        if view is None:
            return page.refuse(NOT_FOUND, 404)
        values = _campaign_values(view, who)
        if _previewed(view):
            values["preview"] = use_cases.campaign(
                app_of(request), who, view.campaign.id, SystemClock()
            )
        # The buttons the page shows (the poll names them, hx-vals "shown"): sent again, out
        # of band, only when the status allows others, never on a poll that changes nothing.
        values["actions_changed"] = values["can_act"] and shown != ",".join(view.actions)
        return page.render("area/progress.html", **values)

    @router.post("/campaigns/{campaign_id}/actions", response_class=HTMLResponse)
    async def campaign_action(request: Request, campaign_id: str) -> Response:
        posted = await act(request, Role.VIEWER)  # the role each action needs is checked below
        if isinstance(posted, Response):
            return posted
        who, page, fields = posted.who, posted.page, posted.fields
        number = _id(campaign_id)
        app = app_of(request)
        if number is None or not campaign_cases.owns(app, who, number):
            return page.refuse(NOT_FOUND, 404)
        if not who.role.allows(Role.EDITOR):
            return page.refuse(NOT_ALLOWED, 403)
        action = fields.get("action", "")
        if action not in campaign_cases.ACTIONS:
            return page.refuse(NOT_ALLOWED, 422)
        try:
            await run_in_threadpool(campaign_cases.act, app, who, number, action, SystemClock())
        except StopsmsError as error:  # the transition's refusal: shown on the page
            view = campaign_cases.campaign_view(app, who, number)
            if view is None:
                return page.refuse(NOT_FOUND, 404)
            values = _campaign_values(view, who)
            if _previewed(view):
                values["preview"] = use_cases.campaign(app, who, number, SystemClock())
            values["error"] = str(error)
            return page.render("area/campaign.html", 409, **values)
        return RedirectResponse(f"/campaigns/{number}", status_code=303)

    @router.get("/campaigns/{campaign_id}/export")
    async def export(request: Request, campaign_id: str, format: str = "csv") -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        page = Page(request, who)
        number = _id(campaign_id)
        app = app_of(request)
        if number is None or format not in _MEDIA or not campaign_cases.owns(app, who, number):
            return page.refuse(NOT_FOUND, 404)
        path = await run_in_threadpool(campaign_cases.export_file, app, who, number, format)
        return FileResponse(
            path,
            media_type=_MEDIA[format],
            filename=f"campaign-{number}.{format}",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
            background=BackgroundTask(path.unlink, missing_ok=True),
        )

    return router


#: The routes the server mounts.
router: Final = make_router()
