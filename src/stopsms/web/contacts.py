"""The contacts pages: ``/contacts`` (lists, search, upload), an upload's columns, an import's
progress and result, a contact's page, its erasure.

- ``GET /contacts?q=``: the lists with their members, the search (a number in any format,
  or words of a name or company), the upload form (editor, owner), the recent imports.
- ``POST /contacts/uploads`` (multipart: ``file`` and the anti-forgery field): the file is
  read as the import will read it and kept (:func:`stopsms.app.contacts.upload`); an empty
  file, one over :data:`~stopsms.app.contacts.MAX_UPLOAD` (refused from its
  ``Content-Length`` before the body is read, 413), or one that is no CSV or ``.xlsx`` is
  refused with a sentence naming ``file``, nothing kept.
- ``GET /contacts/uploads/{id}``: the first rows and, above each column, a select with what
  the import would make of it (phone, names, email, company, custom field, ignore); the list
  (an existing one, or a new name) and the consent to record. ``POST`` submits the
  ``contact_import`` job (the API's) and redirects to it; a mapping naming a column the file
  does not have, no phone, a field twice: 422 with the sentence, nothing written.
- ``GET /contacts/imports/{id}``: the job's progress bar, refreshed by htmx from
  ``…/progress`` (a fragment, every second while it runs; without JavaScript a "Refresh"
  link), then the counts (imported, updated, duplicates, rejected) and the reject report
  (``…/rejects``: line, value, reason, detail; CSV cells neutralised against formulas).
- ``GET /contacts/{id}``: the contact, its lists, its consent history, its messages with
  their statuses; ``GET``/``POST /contacts/{id}/erase``: the GDPR erasure, after a
  confirmation page (editor, owner).

A viewer sees every page but has no upload form nor erase button, and those POSTs are 403.
Another account's contact, upload or job is a 404, the page of one that does not exist.
"""

from __future__ import annotations

import re
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from stopsms.app import contacts as use_cases
from stopsms.clock import SystemClock
from stopsms.domain.errors import StopsmsError
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.web.actions import act
from stopsms.web.pages import (
    AREA_CSRF_COOKIE,
    EXPIRED,
    N_,
    NOT_ALLOWED,
    NOT_FOUND,
    Page,
    app_of,
    form_of,
    state_of,
    to_login,
    who_of,
)
from stopsms.web.security import CSRF_FIELD

__all__ = ["router"]

#: What a multipart upload may carry besides its file (the anti-forgery field).
_MAX_UPLOAD_FIELDS: Final = 4
#: The mapping form's fields: one per column (a file may have many) and five more.
_MAX_MAPPING_FIELDS: Final = 512
#: Room for the multipart envelope around the file, in the ``Content-Length`` check.
_ENVELOPE: Final = 64 * 1024
#: What an uploaded file's name may not carry into a header (quotes, controls, non-ASCII).
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._ -]")
#: The mapping's choices, as the selects show them.
TARGET_LABELS: Final = {
    "phone": N_("Phone"),
    "first_name": N_("First name"),
    "last_name": N_("Last name"),
    "email": N_("Email"),
    "company": N_("Company"),
    "custom": N_("Custom field"),
    "ignore": N_("Ignore"),
}
#: Words the pages show for the values of the database (message statuses, consent kinds,
#: job states): marked here so that the catalogues hold them.
_VALUES: Final = (
    N_("pending"),
    N_("held"),
    N_("claimed"),
    N_("submitted"),
    N_("delivered"),
    N_("failed"),
    N_("rejected"),
    N_("unknown"),
    N_("cancelled"),
    N_("excluded"),
    N_("opt_in"),
    N_("customer"),
    N_("withdrawn"),
    N_("queued"),
    N_("running"),
    N_("succeeded"),
    N_("missing_phone"),
    N_("invalid_phone"),
    N_("lost_digits"),
)
TOO_LARGE: Final = N_(
    "This file is larger than %(limit)s MB: import it on the server with"
    " “stopsms contacts import”, which takes files of any size."
)
NO_FILE: Final = N_("Choose a CSV or Excel (.xlsx) file to upload.")
ERASED: Final = N_("The contact was erased; its number stays opted out.")


def _can_edit(who: Principal) -> bool:
    return who.role.allows(Role.EDITOR)


def _can_erase(who: Principal) -> bool:
    """GDPR erasure is the owner's, as over the API: it cannot be undone."""
    return who.role.allows(Role.OWNER)


def make_router() -> APIRouter:
    """The contacts pages' routes (see the module doc)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/contacts", response_class=HTMLResponse)
    def contacts_page(request: Request, q: str = "", erased: str = "") -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        return _contacts(Page(request, who), who, q[:100], notice=ERASED if erased else None)

    @router.post("/contacts/uploads", response_class=HTMLResponse)
    async def upload(request: Request) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        page = Page(request, who)
        limit = use_cases.MAX_UPLOAD
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + _ENVELOPE:
            # Refused before the body is read: nothing of it is parsed or kept.
            text = page.gettext(TOO_LARGE) % {"limit": limit // (1024 * 1024)}
            response = _contacts(page, who, "", error=text, status=413)
            response.headers["Connection"] = "close"
            return response
        async with request.form(max_files=1, max_fields=_MAX_UPLOAD_FIELDS) as form:
            forms, _ = state_of(request)
            token = form.get(CSRF_FIELD)
            ours = isinstance(token, str) and forms.accepts(
                request.cookies.get(AREA_CSRF_COOKIE), token
            )
            if not ours:
                return page.refuse(EXPIRED, 403)
            if not _can_edit(who):
                return page.refuse(NOT_ALLOWED, 403)
            sent = form.get("file")
            if not isinstance(sent, UploadFile) or not sent.filename:
                return _contacts(page, who, "", error=page.gettext(NO_FILE), status=422)
            name, content = sent.filename, await sent.read(limit + 1)
        app, now = app_of(request), SystemClock().now()
        try:
            kept = await run_in_threadpool(use_cases.upload, app, who, name, content, now)
        except StopsmsError as error:  # empty, too large, unreadable: the sentence says which
            status = 413 if len(content) > limit else 422
            return _contacts(page, who, "", error=str(error), status=status)
        return RedirectResponse(f"/contacts/uploads/{kept.id}", status_code=303)

    @router.get("/contacts/uploads/{upload_id:int}", response_class=HTMLResponse)
    def upload_page(request: Request, upload_id: int) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        page = Page(request, who)
        shown = use_cases.upload_page(app_of(request), who, upload_id)
        if shown is None:
            return page.refuse(NOT_FOUND, 404)
        return _upload(page, who, shown, {})

    @router.post("/contacts/uploads/{upload_id:int}", response_class=HTMLResponse)
    async def start_import(request: Request, upload_id: int) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        page = Page(request, who)
        fields, ours = await form_of(request, max_fields=_MAX_MAPPING_FIELDS)
        if not ours:
            return page.refuse(EXPIRED, 403)
        if not _can_edit(who):
            return page.refuse(NOT_ALLOWED, 403)
        app = app_of(request)
        mapping: dict[int, str] = {}
        for key, value in fields.items():
            if key.startswith("column-"):
                index = key.removeprefix("column-")
                mapping[int(index) - 1 if index.isdigit() else -1] = value
        new_list = " ".join(fields.get("new_list", "").split())
        list_name = new_list or fields.get("list", "") or None
        try:
            job = await run_in_threadpool(
                lambda: use_cases.start_import(
                    app,
                    who,
                    upload_id,
                    SystemClock().now(),
                    mapping=mapping,
                    list_name=list_name,
                    consent=fields.get("consent", ""),
                    consent_source=fields.get("consent_source", "").strip() or None,
                )
            )
        except StopsmsError as error:  # the mapping, list or consent refused: nothing written
            shown = use_cases.upload_page(app, who, upload_id)
            if shown is None:
                return page.refuse(NOT_FOUND, 404)
            return _upload(page, who, shown, fields, error=str(error), status=422)
        if job is None:
            return page.refuse(NOT_FOUND, 404)
        return RedirectResponse(f"/contacts/imports/{job.id}", status_code=303)

    @router.get("/contacts/imports/{job_id:int}", response_class=HTMLResponse)
    def import_page(request: Request, job_id: int) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        page = Page(request, who)
        job = use_cases.import_job(app_of(request), who, job_id)
        if job is None:
            return page.refuse(NOT_FOUND, 404)
        return page.render("area/contacts_import.html", job=job)

    @router.get("/contacts/imports/{job_id:int}/progress", response_class=HTMLResponse)
    def import_progress(request: Request, job_id: int) -> Response:
        who = who_of(request)
        if who is None:
            return Response(status_code=401)
        page = Page(request, who)
        job = use_cases.import_job(app_of(request), who, job_id)
        if job is None:
            return page.refuse(NOT_FOUND, 404)
        return page.render("area/contacts_progress.html", job=job)

    @router.get("/contacts/imports/{job_id:int}/rejects")
    def rejects(request: Request, job_id: int) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        kept = use_cases.reject_report(app_of(request), who, job_id)
        if kept is None:
            return Page(request, who).refuse(NOT_FOUND, 404)
        return Response(
            kept.content,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{_UNSAFE.sub("_", kept.name)}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @router.get("/contacts/{contact_id:int}", response_class=HTMLResponse)
    def contact_page(request: Request, contact_id: int) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        page = Page(request, who)
        shown = use_cases.contact_page(app_of(request), who, contact_id)
        if shown is None:
            return page.refuse(NOT_FOUND, 404)
        return page.render(
            "area/contact.html",
            shown=shown,
            can_edit=_can_edit(who),
            can_erase=_can_erase(who),
        )

    @router.get("/contacts/{contact_id:int}/erase", response_class=HTMLResponse)
    def erase_page(request: Request, contact_id: int) -> Response:
        who = who_of(request)
        if who is None:
            return to_login()
        page = Page(request, who)
        if not _can_erase(who):
            return page.refuse(NOT_ALLOWED, 403)
        shown = use_cases.contact_page(app_of(request), who, contact_id)
        if shown is None:
            return page.refuse(NOT_FOUND, 404)
        return page.render("area/contacts_erase.html", contact=shown.contact)

    @router.post("/contacts/{contact_id:int}/erase", response_class=HTMLResponse)
    async def erase(request: Request, contact_id: int) -> Response:
        posted = await act(request, Role.VIEWER)  # erasing is the owner's: checked below
        if isinstance(posted, Response):
            return posted
        who, page = posted.who, posted.page
        if not _can_erase(who):
            return page.refuse(NOT_ALLOWED, 403)
        done = await run_in_threadpool(
            use_cases.erase, app_of(request), who, contact_id, SystemClock().now()
        )
        if done is None:
            return page.refuse(NOT_FOUND, 404)
        return RedirectResponse("/contacts?erased=1", status_code=303)

    return router


def _contacts(
    page: Page,
    who: Principal,
    search: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    app = app_of(page.request)
    found = None
    if search.strip():
        try:
            found = use_cases.search(app, who, search)
        except StopsmsError as bad:  # a number that cannot be read: its reason
            found, error = [], str(bad)
    return page.render(
        "area/contacts.html",
        status,
        lists=use_cases.lists(app, who),
        imports=use_cases.imports(app, who),
        search=search,
        found=found,
        error=error,
        notice=page.gettext(notice) if notice else None,
        can_edit=_can_edit(who),
        limit_mb=use_cases.MAX_UPLOAD // (1024 * 1024),
    )


def _upload(
    page: Page,
    who: Principal,
    shown: use_cases.UploadPage,
    fields: dict[str, str],
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    preview = shown.preview
    chosen = [fields.get(f"column-{i + 1}", guess) for i, guess in enumerate(preview.guessed)]
    return page.render(
        "area/contacts_upload.html",
        status,
        upload=shown.upload,
        preview=preview,
        chosen=chosen,
        targets=TARGET_LABELS,
        lists=use_cases.lists(app_of(page.request), who),
        fields=fields,
        consents=use_cases.CONSENTS,
        error=error,
        can_edit=_can_edit(who),
    )


#: The routes the server mounts.
router: Final = make_router()
