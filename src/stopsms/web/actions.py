"""What every changing page of the customer area does before and after its use case: who
posts (a session, our anti-forgery field, a role high enough), and how a refusal is shown.

Order of the checks, the same on every route: no session → to ``/login``; a form without our
anti-forgery value → 403 before anything is read further; a role too low → 403; then the use
case, whose ``NotFound`` (another account's record is one) is the page's 404 and whose other
refusals (:class:`~stopsms.domain.errors.StopsmsError`) come back as their sentence above the
page, nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from stopsms.errors import NotFound
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.web.pages import (
    AREA_CSRF_COOKIE,
    EXPIRED,
    MAX_FORM_FIELDS,
    NOT_ALLOWED,
    Page,
    session_of,
    state_of,
    to_login,
    who_of,
)
from stopsms.web.security import CSRF_FIELD

__all__ = ["Posted", "act", "record_id"]

#: The largest file a form may carry (a blacklist import).
MAX_UPLOAD: Final = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Posted:
    """A form accepted for a use case: who, the page to answer with, the fields, the
    session's user, and the uploaded file's name and bytes when one was asked for."""

    who: Principal
    page: Page
    fields: dict[str, str]
    user_id: int
    file: tuple[str, bytes] | None = None
    #: Every value of a field sent several times (checkboxes), by name.
    lists: dict[str, list[str]] | None = None

    def all(self, name: str) -> list[str]:
        """Every text value posted under ``name`` (none: an empty list)."""
        return (self.lists or {}).get(name, [])


async def act(request: Request, needed: Role, *, upload: str | None = None) -> Posted | Response:
    """The posted form when a signed-in user of role ``needed`` or above sent it with our
    anti-forgery value, else the answer to give (see the module doc). ``upload``: the name
    of a file field to read (at most :data:`MAX_UPLOAD` bytes)."""
    session = session_of(request)
    who = who_of(request)
    if who is None or session is None:
        return to_login()
    async with request.form(max_files=1 if upload else 0, max_fields=MAX_FORM_FIELDS) as form:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        forms, _ = state_of(request)
        page = Page(request, who)
        if not forms.accepts(request.cookies.get(AREA_CSRF_COOKIE), fields.get(CSRF_FIELD)):
            return page.refuse(EXPIRED, 403)
        if not who.role.allows(needed):
            return page.refuse(NOT_ALLOWED, 403)
        file = None
        sent = form.get(upload) if upload is not None else None
        if isinstance(sent, UploadFile):
            file = (sent.filename or "", await sent.read(MAX_UPLOAD + 1))
        lists: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                lists.setdefault(key, []).append(value)
    return Posted(who, page, fields, int(session.user_id), file, lists)


def record_id(value: int, *, big: bool = False) -> int:
    """``value`` when a record could have it as its id (32-bit ids, or 63-bit with ``big``),
    else :class:`~stopsms.errors.NotFound`: PostgreSQL refuses a larger one as an error, and
    the page answers it as it answers any id this account has not, with a 404."""
    if not 1 <= value <= (2**62 if big else 2**31 - 1):
        raise NotFound("record", value)
    return value
