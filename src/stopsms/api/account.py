"""``/v1/account`` and ``/v1/apikeys``: the caller's account settings and its keys (owner only).

A settings change and its audit entry (``account.updated``, the fields and their new values)
commit together. The account's type and validation stay an installation admin's (rule 9:
only an admin turns an account into a notification account), so they are not settable here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from stopsms.api.deps import AppDep, ClockDep, Owner, forget_key
from stopsms.api.problems import problem_responses
from stopsms.app import results
from stopsms.app.principals import acting_account
from stopsms.services.access.audit import record
from stopsms.services.access.keys import ApiKey, create_key, list_keys, revoke_key
from stopsms.services.access.roles import Role
from stopsms.services.accounts.accounts import AccountChanges, update_account

__all__ = ["router"]

router = APIRouter()
#: Key ids are 32-bit integers (``api_keys.id``): a larger one is refused by name, not
#: handed to PostgreSQL to overflow (schemathesis found the 503).
_LARGEST_KEY_ID = 2**31 - 1
_PROBLEMS = problem_responses(401, 403, 404, 422, 429, 503)


class AccountPatch(BaseModel):
    """The settings to change; a field left out stays as it is, ``""`` clears
    ``unsubscribe_url`` and ``window_policy``."""

    model_config = ConfigDict(extra="forbid")

    shortcode: str | None = Field(default=None, max_length=20)
    mention_format: str | None = Field(default=None, max_length=100)
    mention_enabled: bool | None = None
    unsubscribe_url: str | None = Field(default=None, max_length=200)
    optout_scope: Literal["account", "sender"] | None = None
    window_policy: str | None = Field(default=None, max_length=50)
    brand: str | None = Field(default=None, max_length=100)
    confirmation_text: str | None = Field(default=None, max_length=500)
    alert_threshold_millicredits: int | None = Field(default=None, ge=0, le=10**15)
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA time zone, e.g. Europe/Brussels: the customer area's times and an"
        " offset-less schedule.",
    )


@router.get("/account", tags=["account"], responses=_PROBLEMS)
def read_account(who: Owner, app: AppDep) -> dict[str, Any]:
    """The account's settings, its STOP mention and its balance."""
    with app.reader() as connection:
        return results.to_jsonable(results.account(acting_account(connection, who)))  # type: ignore[no-any-return]


@router.patch("/account", tags=["account"], responses=_PROBLEMS)
def change_account(body: AccountPatch, who: Owner, app: AppDep, clock: ClockDep) -> dict[str, Any]:
    """Change the account's settings (recorded in the audit log)."""
    changed = body.model_dump(exclude_none=True)
    with app.transaction() as connection:
        account = acting_account(connection, who)
        updated = update_account(connection, account, AccountChanges.from_fields(changed))
        if changed:
            record(connection, account.id, who.actor, "account.updated", changed, clock.now())
    return results.to_jsonable(results.account(updated))  # type: ignore[no-any-return]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Literal["owner", "editor", "viewer"] = "editor"


class KeyOut(BaseModel):
    """A key as listed: its prefix, never the key."""

    id: int
    name: str
    role: str
    prefix: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreatedKeyOut(KeyOut):
    key: str = Field(description="The key itself: shown this once, never again.")


def _key(value: ApiKey) -> dict[str, Any]:
    return results.plain(value)


@router.get("/apikeys", tags=["apikeys"], response_model=list[KeyOut], responses=_PROBLEMS)
def keys(who: Owner, app: AppDep) -> list[KeyOut]:
    """The account's keys, revoked ones included."""
    with app.reader() as connection:
        found = list_keys(connection, acting_account(connection, who))
    return [KeyOut(**_key(k)) for k in found]


@router.post(
    "/apikeys",
    tags=["apikeys"],
    status_code=201,
    response_model=CreatedKeyOut,
    responses=_PROBLEMS,
)
def new_key(body: KeyIn, who: Owner, app: AppDep, clock: ClockDep) -> CreatedKeyOut:
    """A new key for the account (the answer holds it, once)."""
    with app.transaction() as connection:
        account = acting_account(connection, who)
        created = create_key(
            connection, account, body.name, Role(body.role), actor=who.actor, now=clock.now()
        )
    return CreatedKeyOut(key=created.key, **_key(created.api_key))


@router.delete("/apikeys/{key_id}", tags=["apikeys"], response_model=KeyOut, responses=_PROBLEMS)
def delete_key(
    key_id: Annotated[int, Path(ge=1, le=_LARGEST_KEY_ID)],
    who: Owner,
    app: AppDep,
    clock: ClockDep,
    request: Request,
) -> KeyOut:
    """Revoke one of the account's keys (another account's is 404); this server refuses it
    at once, the others within 5 s (their cache of verified keys) and every intake at once."""
    with app.transaction() as connection:
        account = acting_account(connection, who)
        revoked = revoke_key(connection, account, key_id, actor=who.actor, now=clock.now())
    forget_key(request, key_id)
    return KeyOut(**_key(revoked))
