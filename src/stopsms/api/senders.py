"""``/v1/senders`` and ``/v1/domains``: what the account may send as, and link to (owner).

The same services as ``stopsms senders|domains``; each change commits with its audit entry
(``sender.added``, ``sender.removed``, ``domain.added``, ``domain.removed``). A generic or
protected sender name needs a written authorisation (rule 9): that stays with the CLI's
operator (``senders add --authorised``), so over the API such a name is refused. A domain
added is verified for the account's links, subdomains included; nothing checks that the
account controls it (as on the CLI).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from stopsms.api.deps import AppDep, ClockDep, Owner, Viewer
from stopsms.api.problems import problem_responses
from stopsms.app import App, results
from stopsms.app.principals import acting_account
from stopsms.clock import Clock
from stopsms.services.access.audit import record
from stopsms.services.access.keys import Principal
from stopsms.services.accounts import accounts as svc
from stopsms.services.accounts.accounts import Account

__all__ = ["router"]

router = APIRouter()
_READ = problem_responses(401, 404, 422, 429, 503)
_WRITE = problem_responses(401, 403, 404, 409, 422, 429, 503)


def _remove(
    remove: Callable[[Connection, Account, str], None],
    kind: str,
    value: str,
    who: Principal,
    app: App,
    clock: Clock,
) -> None:
    """Remove ``value`` with ``remove`` and record ``<kind>.removed``, in one transaction."""
    with app.transaction() as connection:
        account = acting_account(connection, who)
        remove(connection, account, value)
        record(connection, account.id, who.actor, f"{kind}.removed", {kind: value}, clock.now())


class SenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: str = Field(min_length=1, max_length=20, description="3–11 letters/digits, …")


@router.get("/senders", tags=["senders"], responses=_READ)
def senders(who: Viewer, app: AppDep) -> dict[str, Any]:
    """The account's sender IDs."""
    with app.reader() as connection:
        found = svc.list_senders(connection, acting_account(connection, who))
    return results.to_jsonable({"senders": [results.plain(s) for s in found]})  # type: ignore[no-any-return]


@router.post("/senders", tags=["senders"], status_code=201, responses=_WRITE)
def add_sender(body: SenderIn, who: Owner, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """Add a sender ID (rule 9's checks; audited)."""
    with app.transaction() as connection:
        account = acting_account(connection, who)
        added = svc.add_sender(connection, account, body.sender, now=clock.now())
        record(
            connection, account.id, who.actor, "sender.added", {"sender": added.sender}, clock.now()
        )
    return results.to_jsonable(results.plain(added))  # type: ignore[no-any-return]


@router.delete("/senders/{sender}", tags=["senders"], status_code=204, responses=_WRITE)
def remove_sender(
    sender: Annotated[str, Path(min_length=1, max_length=20)],
    who: Owner,
    app: AppDep,
    clock: ClockDep,
) -> None:
    """Remove a sender ID from the account's list (audited)."""
    _remove(svc.remove_sender, "sender", sender, who, app, clock)


class DomainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str = Field(min_length=1, max_length=253, description="e.g. shop.example.fr")


@router.get("/domains", tags=["domains"], responses=_READ)
def domains(who: Viewer, app: AppDep) -> dict[str, Any]:
    """The domains the account's messages may link to (subdomains included)."""
    with app.reader() as connection:
        return {"domains": svc.list_domains(connection, acting_account(connection, who))}


@router.post("/domains", tags=["domains"], status_code=201, responses=_WRITE)
def add_domain(body: DomainIn, who: Owner, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """Verify a domain for the account's links (audited)."""
    with app.transaction() as connection:
        account = acting_account(connection, who)
        value = svc.add_domain(connection, account, body.domain, now=clock.now())
        record(connection, account.id, who.actor, "domain.added", {"domain": value}, clock.now())
    return {"domain": value}


@router.delete("/domains/{domain}", tags=["domains"], status_code=204, responses=_WRITE)
def remove_domain(
    domain: Annotated[str, Path(min_length=1, max_length=253)],
    who: Owner,
    app: AppDep,
    clock: ClockDep,
) -> None:
    """Stop allowing links to a domain (audited)."""
    _remove(svc.remove_domain, "domain", domain, who, app, clock)
