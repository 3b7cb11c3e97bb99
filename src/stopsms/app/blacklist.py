"""The customer area's blacklist: every opt-out of the account, paged, searched, added,
removed with evidence (rule 5: an opt-out is lifted only on the person's own, evidenced
request), imported from a file, exported, and the review queue of uncertain STOPs.

The page lists :data:`PAGE` records at a time, newest first (the registry can hold millions:
each page is one indexed, limited read, asking for one record more than it shows to know
whether a next page exists, never a count of the rest beyond the total of active records);
a search shows the whole history of one number, revoked records included, through
:func:`stopsms.services.optouts.optouts.history` (its phone key index).

Who may: a viewer reads and exports, an editor adds, removes, imports and reviews
(:class:`~stopsms.app.access.NotAllowed` otherwise). A removal, an import and a review are
in the audit log, written in the change's own transaction.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Final

from stopsms.app.access import require
from stopsms.app.application import App
from stopsms.errors import InvalidInput
from stopsms.services.access.audit import record
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role
from stopsms.services.accounts.accounts import get_account_by_id
from stopsms.services.optouts.files import OptOutImport, export_optouts, import_optouts
from stopsms.services.optouts.optouts import OptOut, history, record_optout, resubscribe
from stopsms.services.optouts.review import (
    confirm_review,
    count_optouts,
    dismiss_review,
    list_optouts,
    review_queue,
)

__all__ = [
    "MAX_IMPORT_BYTES",
    "PAGE",
    "Listing",
    "add",
    "approve",
    "dismiss",
    "export_csv",
    "import_file",
    "listing",
    "remove",
]

#: How many opt-outs the page shows at once, newest first.
PAGE: Final = 100
#: The largest blacklist file the page takes (about 2,000,000 numbers of 13 characters).
MAX_IMPORT_BYTES: Final = 32 * 1024 * 1024
#: The file types an import reads (:func:`stopsms.services.optouts.files.read_blacklist`).
_SUFFIXES: Final = (".csv", ".txt", ".tsv", ".xlsx")


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of the blacklist: its records, the count of active ones, where it starts,
    whether more follow, and the review queue (uncertain STOPs nobody has reviewed)."""

    records: list[OptOut]
    total: int
    offset: int
    more: bool
    queue: list[OptOut]


def listing(app: App, who: Principal, search: str | None = None, offset: int = 0) -> Listing:
    """The page of active opt-outs at ``offset`` (or every record of the number searched);
    a search that is no phone number raises ``InvalidPhoneNumber``."""
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        total = count_optouts(connection, account)
        queue = review_queue(connection, account)
        if search and search.strip():
            found = list(reversed(history(connection, account, search)))
            return Listing(found, total, 0, False, queue)
        page = list_optouts(connection, account, limit=PAGE + 1, offset=max(0, offset))
    return Listing(page[:PAGE], total, max(0, offset), len(page) > PAGE, queue)


def add(app: App, who: Principal, phone: str, now: datetime) -> bool:
    """Opt ``phone`` out by hand (source ``manual``); False when it already was."""
    require(who, Role.EDITOR)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        recorded = record_optout(
            connection, account, phone, source="manual", recorded_by=who.actor, now=now
        )
    return recorded.created


def remove(app: App, who: Principal, phone: str, evidence: str, now: datetime) -> int:
    """Lift ``phone``'s active opt-outs with ``evidence`` (required); how many were lifted.
    The audit log keeps the records and the evidence (``optout.removed``). The owner's, as
    over the API: the number becomes reachable again."""
    require(who, Role.OWNER)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        lifted = resubscribe(connection, account, phone, evidence=evidence, by=who.actor, now=now)
        detail = {"optouts": [o.id for o in lifted], "evidence": evidence.strip()}
        record(connection, account.id, who.actor, "optout.removed", detail, now)
    return len(lifted)


def approve(app: App, who: Principal, optout_id: int, now: datetime) -> OptOut:
    """The uncertain STOP ``optout_id`` was an opt-out: the number stays suppressed (another
    account's record is ``NotFound``); audited ``optout.approved``."""
    require(who, Role.EDITOR)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        done = confirm_review(connection, account, optout_id, by=who.actor, now=now)
        record(connection, account.id, who.actor, "optout.approved", {"optout": optout_id}, now)
    return done


def dismiss(app: App, who: Principal, optout_id: int, evidence: str, now: datetime) -> OptOut:
    """The uncertain STOP ``optout_id`` was no opt-out: revoked with the reasoning
    ``evidence`` (required); audited ``optout.dismissed``."""
    require(who, Role.EDITOR)
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        done = dismiss_review(
            connection, account, optout_id, evidence=evidence, by=who.actor, now=now
        )
        detail = {"optout": optout_id, "evidence": evidence.strip()}
        record(connection, account.id, who.actor, "optout.dismissed", detail, now)
    return done


def import_file(
    app: App, who: Principal, filename: str, data: bytes, now: datetime
) -> OptOutImport:
    """Import an uploaded blacklist file (CSV, TSV, text or ``.xlsx``) as opt-outs of source
    ``import``: every unusable row comes back with its line and reason, the others are in
    force when this returns; audited ``optouts.imported`` with the counts."""
    require(who, Role.EDITOR)
    name = PurePath(filename or "blacklist.csv").name
    suffix = PurePath(name).suffix.lower() or ".csv"
    if suffix not in _SUFFIXES:
        raise InvalidInput("file", name, "a .csv, .tsv, .txt or .xlsx file")
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput("file", name, f"at most {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    with tempfile.TemporaryDirectory(prefix="stopsms-blacklist-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        with app.transaction() as connection:
            account = get_account_by_id(connection, who.account_id)
            done = import_optouts(
                connection,
                account,
                path,
                detail=f"import {name}",
                recorded_by=who.actor,
                now=now,
            )
            detail = {
                "file": name,
                "rows": done.rows,
                "added": done.added,
                "already": done.already,
                "rejected": len(done.rejected),
            }
            record(connection, account.id, who.actor, "optouts.imported", detail, now)
    return done


def export_csv(app: App, who: Principal, *, include_revoked: bool = False) -> str:
    """The account's opt-outs as the CLI's and the API's CSV export (``;``-separated)."""
    out = io.StringIO()
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        export_optouts(connection, account, out, include_revoked=include_revoked)
    return out.getvalue()
