"""The contacts pages' use cases: lists, search, a contact's page, erasure, the import.

Every route of :mod:`stopsms.web.contacts` calls here, never a service. The account is the
acting principal's (:class:`~stopsms.services.access.keys.Principal`); a contact, upload or
job of another account is None here (the page's 404), the same as one that does not exist.

The import is the API's: an upload is checked by reading it as the import will
(:func:`stopsms.services.contacts.uploads.preview_file`: a PNG, an empty or binary file is
refused with the reader's sentence, nothing kept), kept (``uploads``) while a person checks
its columns, then moved into the ``contact_import`` job
(:func:`stopsms.jobs.kinds.submit_import`, what ``POST /v1/contacts/imports`` submits) in
the transaction that deletes the upload. The job runs in the background (the server's runner
on SQLite, ``stopsms jobs worker`` on PostgreSQL); its reject report is the job's file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from stopsms.app.application import App
from stopsms.domain.errors import StopsmsError
from stopsms.errors import InvalidInput, NotFound
from stopsms.jobs import resource
from stopsms.jobs.kinds import submit_import
from stopsms.jobs.resource import Job, JobFile
from stopsms.services.access.keys import Principal
from stopsms.services.accounts.accounts import get_account_by_id
from stopsms.services.contacts.consent import Consent, consent_history
from stopsms.services.contacts.contacts import Contact, ContactList, list_lists
from stopsms.services.contacts.erasure import Erasure, erase_contact
from stopsms.services.contacts.lookup import (
    SentMessage,
    contact_by_id,
    contact_list_names,
    contact_messages,
    search_contacts,
)
from stopsms.services.contacts.uploads import (
    FilePreview,
    Upload,
    column_overrides,
    get_upload,
    keep_upload,
    preview_file,
    take_upload,
)

__all__ = [
    "CONSENTS",
    "MAX_UPLOAD",
    "ContactPage",
    "UploadPage",
    "contact_page",
    "erase",
    "import_job",
    "imports",
    "lists",
    "reject_report",
    "search",
    "start_import",
    "upload",
    "upload_page",
]

#: The largest file the web area takes (the API's limit; larger files: ``stopsms contacts
#: import`` on the server, which streams a file of any size).
MAX_UPLOAD: Final = 64 * 1024 * 1024
#: The consents an import may record, as the form offers them ("" records none).
CONSENTS: Final = ("", "opt-in", "customer")


def lists(app: App, who: Principal) -> list[ContactList]:
    """The account's lists with their number of members, by name."""
    with app.reader() as connection:
        return list_lists(connection, get_account_by_id(connection, who.account_id))


def search(app: App, who: Principal, words: str) -> list[Contact]:
    """The account's contacts of that number, or whose names or company hold the words."""
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        return search_contacts(connection, account, words)


@dataclass(frozen=True, slots=True)
class ContactPage:
    """A contact with its lists, its consent history (oldest first) and its newest messages."""

    contact: Contact
    lists: tuple[str, ...]
    consents: tuple[Consent, ...]
    messages: tuple[SentMessage, ...]


def contact_page(app: App, who: Principal, contact_id: int) -> ContactPage | None:
    """Contact ``contact_id`` of ``who``'s account with its history; None when it is not the
    account's (another's, erased, or none)."""
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        try:
            contact = contact_by_id(connection, account, contact_id)
        except NotFound:
            return None
        return ContactPage(
            contact,
            tuple(contact_list_names(connection, contact.id)),
            tuple(consent_history(connection, account, contact.phone_e164)),
            tuple(contact_messages(connection, account, contact.phone_e164)),
        )


def erase(app: App, who: Principal, contact_id: int, now: datetime) -> Erasure | None:
    """GDPR erasure of contact ``contact_id``'s number (the erasure service: every personal
    trace in the account, the number kept opted out by its hash), in one transaction; None
    when the contact is not the account's."""
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        try:
            contact = contact_by_id(connection, account, contact_id)
        except NotFound:
            return None
        return erase_contact(
            connection, account, contact.phone_e164, by=who.actor, suppress=True, now=now
        )


def _preview(name: str, content: bytes) -> FilePreview:
    """The file read as the import reads it, from a temporary copy named as uploaded (so a
    refusal's sentence names the person's file, not a temporary path)."""
    with tempfile.TemporaryDirectory(prefix="stopsms-upload-") as folder:
        path = Path(folder) / (Path(name).name or "contacts.csv")
        path.write_bytes(content)
        try:
            return preview_file(path)
        except StopsmsError as error:
            # The reader's sentences name the path: show the file's name only.
            error.args = tuple(
                str(a).replace(str(path), path.name) if isinstance(a, str) else a
                for a in error.args
            )
            raise


def upload(app: App, who: Principal, name: str, content: bytes, now: datetime) -> Upload:
    """Keep the uploaded file ``name`` for its mapping once it reads as a contact file.

    Refused, nothing kept: an empty file, one over :data:`MAX_UPLOAD`
    (:class:`~stopsms.errors.InvalidInput` on ``file``), one the import could not read
    (:class:`~stopsms.errors.UnreadableFile` with the reader's reason).
    """
    if not content:
        raise InvalidInput("file", Path(name).name, "the file is empty")
    if len(content) > MAX_UPLOAD:
        raise InvalidInput(
            "file",
            Path(name).name,
            f"more than {MAX_UPLOAD // (1024 * 1024)} MB; import larger files on the server"
            " with stopsms contacts import",
        )
    _preview(name, content)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        return keep_upload(connection, account, name, content, now)


@dataclass(frozen=True, slots=True)
class UploadPage:
    """An upload and how its columns read."""

    upload: Upload
    preview: FilePreview


def upload_page(app: App, who: Principal, upload_id: int) -> UploadPage | None:
    """Upload ``upload_id`` with its preview; None when it is not the account's (or gone)."""
    with app.reader() as connection:
        try:
            kept = get_upload(connection, get_account_by_id(connection, who.account_id), upload_id)
        except NotFound:
            return None
    return UploadPage(kept, _preview(kept.name, kept.content))


def start_import(
    app: App,
    who: Principal,
    upload_id: int,
    now: datetime,
    *,
    mapping: Mapping[int, str],
    list_name: str | None,
    consent: str,
    consent_source: str | None,
) -> Job | None:
    """Submit the ``contact_import`` job of upload ``upload_id`` with the person's
    ``mapping`` (column index → target; a column left out keeps its guess), list and
    consent, and delete the upload, in one transaction; None when the upload is not the
    account's (or was imported already).

    Refused before anything is written (the upload stays): a mapping naming a column the
    file does not have, a target that is no field, no phone, a field twice; a consent not in
    :data:`CONSENTS`; a list name over 200 characters.
    """
    shown = upload_page(app, who, upload_id)
    if shown is None:
        return None
    preview = shown.preview
    chosen = dict(enumerate(preview.guessed)) | dict(mapping)  # a column left out: its guess
    overrides = column_overrides(preview.headers, chosen) if preview.has_header else {}
    if consent not in CONSENTS:
        raise InvalidInput("consent", consent, "none, opt-in or customer")
    options: dict[str, object] = {"region": "FR"}
    if overrides:
        options["overrides"] = overrides
    if list_name:
        if len(list_name) > 200:
            raise InvalidInput("list", list_name[:40] + "…", "at most 200 characters")
        options["list_name"] = list_name
    if consent:
        options["consent"] = consent
        if consent_source:
            options["consent_source"] = consent_source[:200]
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        try:
            kept = take_upload(connection, account, upload_id)
        except NotFound:
            return None
        return submit_import(connection, account.name, kept.name, kept.content, options, now)


def import_job(app: App, who: Principal, job_id: int) -> Job | None:
    """The account's import job ``job_id`` (state, progress, result); None otherwise."""
    with app.reader() as connection:
        try:
            job = resource.get_job(
                connection, get_account_by_id(connection, who.account_id), job_id
            )
        except NotFound:
            return None
    return job if job.kind == "contact_import" else None


def imports(app: App, who: Principal, *, limit: int = 10) -> list[Job]:
    """The account's ``limit`` newest import jobs."""
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        jobs = resource.list_jobs(connection, account, limit=limit * 3)
    return [job for job in jobs if job.kind == "contact_import"][:limit]


def reject_report(app: App, who: Principal, job_id: int) -> JobFile | None:
    """The reject report (line, value, reason, detail) of the account's import ``job_id``;
    None when the job is not the account's or kept no report."""
    if import_job(app, who, job_id) is None:
        return None
    with app.reader() as connection:
        try:
            return resource.job_file(
                connection, get_account_by_id(connection, who.account_id), job_id, "rejects"
            )
        except NotFound:
            return None
