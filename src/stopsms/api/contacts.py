"""``/v1/contacts`` and ``/v1/lists``: the audience, its consent history, erasure, imports.

Numbers are read in any format and kept as E.164 (``number=06 12 34 56 78`` finds
``+33612345678``); a number that cannot be read is a 422 naming ``number``. An import is a
file upload (``multipart/form-data``): the file is kept with a ``contact_import`` job in the
request's transaction and the answer is 202 with the job; its reject report is the job's
``rejects`` file (``/v1/jobs/{id}/files/rejects``). GDPR erasure (owner) removes every personal
trace of a number and keeps it suppressed (the erasure service's rule).

One contact (``/v1/contacts/{id}``) is read, edited (``PATCH``: standard and custom fields,
``""`` clears one) and has a field removed (``DELETE …/fields/{field}``); the number and the
consent are not fields: a consent given with an edit is recorded in the consent history in the
same transaction (:mod:`stopsms.services.contacts.editing`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from stopsms.api.deps import AppDep, ClockDep, Editor, Owner, Viewer
from stopsms.api.jobs import JobOut, accepted
from stopsms.api.numbers import named
from stopsms.api.problems import Problem, problem_responses
from stopsms.app import results
from stopsms.app.principals import acting_account
from stopsms.jobs.kinds import submit_import
from stopsms.services.contacts.consent import consent_history, record_consent
from stopsms.services.contacts.contacts import create_list, list_contacts, list_lists
from stopsms.services.contacts.editing import (
    ConsentChange,
    clear_field,
    get_contact,
    update_contact,
)
from stopsms.services.contacts.erasure import erase_contact
from stopsms.services.contacts.lookup import find_contact
from stopsms.services.optouts.optouts import to_e164

__all__ = ["MAX_UPLOAD", "router"]

router = APIRouter(tags=["contacts"])
_READ = problem_responses(401, 404, 422, 429, 503)
_WRITE = problem_responses(401, 403, 404, 409, 422, 429, 503)
#: The largest import file taken over HTTP (larger files: ``stopsms contacts import``).
MAX_UPLOAD = 64 * 1024 * 1024

Number = Annotated[str, Query(min_length=1, max_length=40, description="Any format.")]
ContactId = Annotated[int, Path(ge=1, le=2**62)]
FieldValue = Annotated[str, Field(max_length=1000)]


@router.get("/contacts", responses=_READ)
def find_contacts(
    who: Viewer,
    app: AppDep,
    number: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    list_name: Annotated[str | None, Query(alias="list", min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> dict[str, Any]:
    """The account's contacts, oldest first (``list``: one list's); ``number``: the one
    contact of that number, in any format."""
    with named(), app.reader() as connection:
        account = acting_account(connection, who)
        if number is not None:
            found = find_contact(connection, account, number)
            page = [] if found is None else [found]
        else:
            page = list_contacts(
                connection, account, list_name=list_name, limit=limit, offset=offset
            )
    return {"contacts": [results.plain(c) for c in page]}


@router.get("/contacts/consents", responses=_READ)
def consents(number: Number, who: Viewer, app: AppDep) -> dict[str, Any]:
    """A number's consent history, oldest first (each entry's kind, source, evidence)."""
    with named(), app.reader() as connection:
        entries = consent_history(connection, acting_account(connection, who), number)
    return results.to_jsonable(results.consent_history(to_e164(number), entries))  # type: ignore[no-any-return]


class ConsentIn(BaseModel):
    """A consent to record; the number's contact is created (bare) if it has none."""

    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=40, description="Any format.")
    kind: Literal["opt_in", "customer", "withdrawn"]
    source: str = Field(
        min_length=1, max_length=200, pattern=r"\S", description="Where it comes from."
    )
    evidence: str | None = Field(default=None, min_length=1, max_length=2000)


@router.post("/contacts/consents", status_code=201, responses=_WRITE)
def add_consent(body: ConsentIn, who: Editor, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """Record a consent in the number's ledger (a contact in no list until an import or a
    list puts it in one; an opt-out still suppresses it whatever its consent)."""
    with named(), app.transaction() as connection:
        entry = record_consent(
            connection,
            acting_account(connection, who),
            body.number,
            body.kind,
            source=body.source,
            evidence=body.evidence,
            now=clock.now(),
        )
    return results.plain(entry)


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=40, description="Any format.")
    suppress: bool = Field(
        default=True, description="Keep the number opted out (its hash only) after erasure."
    )


@router.post("/contacts/erasures", responses=_WRITE)
def erase(body: ErasureIn, who: Owner, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """GDPR erasure of a number: every personal trace in the account, in one transaction."""
    with named(), app.transaction() as connection:
        done = erase_contact(
            connection,
            acting_account(connection, who),
            body.number,
            by=who.actor,
            suppress=body.suppress,
            now=clock.now(),
        )
    return results.plain(done)


@router.post("/contacts/imports", status_code=202, response_model=JobOut, responses=_WRITE)
def import_contacts(
    who: Editor,
    app: AppDep,
    clock: ClockDep,
    file: Annotated[UploadFile, File(description="CSV or XLSX, one contact a row.")],
    list_name: Annotated[str | None, Form(alias="list", min_length=1, max_length=200)] = None,
    consent: Annotated[Literal["opt_in", "opt-in", "customer"] | None, Form()] = None,
    consent_source: Annotated[str | None, Form(min_length=1, max_length=200)] = None,
    delimiter: Annotated[str | None, Form(min_length=1, max_length=1)] = None,
    encoding: Annotated[str | None, Form(min_length=1, max_length=40)] = None,
    region: Annotated[str, Form(pattern=r"^[A-Z]{2}$")] = "FR",
) -> JobOut:
    """Upload a file of contacts: 202 with the ``contact_import`` job that imports it."""
    content = file.file.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD:
        raise Problem(413, "file_too_large", f"file: more than {MAX_UPLOAD:,} bytes", field="file")
    if not content:
        raise Problem(422, "invalid_field", "file: the file is empty", field="file")
    options: dict[str, Any] = {"region": region}
    for key, value in (
        ("list_name", list_name),
        ("consent", consent),
        ("consent_source", consent_source),
        ("delimiter", delimiter),
        ("encoding", encoding),
    ):
        if value is not None:
            options[key] = value
    with app.transaction() as connection:
        account = acting_account(connection, who)
        job = submit_import(
            connection, account.name, file.filename or "contacts.csv", content, options, clock.now()
        )
    return accepted(job)


@router.get("/lists", responses=_READ)
def lists(who: Viewer, app: AppDep) -> dict[str, Any]:
    """The account's lists and how many contacts each holds."""
    with app.reader() as connection:
        found = list_lists(connection, acting_account(connection, who))
    return {"lists": [results.plain(x) for x in found]}


class ListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


@router.post("/lists", status_code=201, responses=_WRITE)
def new_list(body: ListIn, who: Editor, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """A new, empty list (a taken name is 409)."""
    with app.transaction() as connection:
        created = create_list(
            connection, acting_account(connection, who), body.name, now=clock.now()
        )
    return results.plain(created)


@router.get("/contacts/{contact_id}", responses=_READ)
def read_contact(contact_id: ContactId, who: Viewer, app: AppDep) -> dict[str, Any]:
    """One contact: its fields, custom fields and latest consent."""
    with app.reader() as connection:
        found = get_contact(connection, acting_account(connection, who), contact_id)
    return results.plain(found)


class ConsentChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["opt_in", "customer", "withdrawn"]
    source: str = Field(min_length=1, max_length=200, pattern=r"\S")
    evidence: str | None = Field(default=None, min_length=1, max_length=2000)


class ContactPatch(BaseModel):
    """The fields to change; a field left out stays, ``""`` clears it."""

    model_config = ConfigDict(extra="forbid")

    first_name: FieldValue | None = None
    last_name: FieldValue | None = None
    email: FieldValue | None = None
    company: FieldValue | None = None
    custom: dict[Annotated[str, Field(min_length=1, max_length=50)], FieldValue] | None = Field(
        default=None, max_length=50, description='Custom fields by name; "" removes one.'
    )
    consent: ConsentChangeIn | None = Field(
        default=None, description="Recorded in the consent history with the change."
    )


@router.patch("/contacts/{contact_id}", responses=_WRITE)
def change_contact(
    contact_id: ContactId, body: ContactPatch, who: Editor, app: AppDep, clock: ClockDep
) -> dict[str, Any]:
    """Edit the contact's fields (and record a consent), all or nothing."""
    fields = body.model_dump(exclude_none=True, exclude={"custom", "consent"})
    consent = ConsentChange(**body.consent.model_dump()) if body.consent is not None else None
    with app.transaction() as connection:
        updated = update_contact(
            connection,
            acting_account(connection, who),
            contact_id,
            clock.now(),
            fields=fields,
            custom=body.custom,
            consent=consent,
        )
    return results.plain(updated)


@router.delete("/contacts/{contact_id}/fields/{field}", responses=_WRITE)
def delete_field(
    contact_id: ContactId,
    field: Annotated[str, Path(min_length=1, max_length=50)],
    who: Editor,
    app: AppDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """Remove one field of the contact (a standard one emptied, a custom one deleted)."""
    with app.transaction() as connection:
        updated = clear_field(
            connection, acting_account(connection, who), contact_id, field, clock.now()
        )
    return results.plain(updated)
