"""API keys: created for one account with a name and a role, shown once, stored as a hash.

A key reads ``ssk_<prefix>_<secret>``: the 12-hex-digit prefix is stored as it is (shown in
lists, and the key's row is found by it with one indexed read), the whole key only as its
SHA-256. A key carries 256 bits of randomness, so a fast hash is as safe as a slow one (a slow
one guards guessable passwords) and costs microseconds per request instead of ~50 ms; the
hashes are compared in constant time (:func:`hmac.compare_digest`).

Last use is recorded at most once a minute per key (:data:`LAST_USE_PRECISION`): a request
whose key was already marked used within the minute writes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from stopsms.errors import NotFound, ServiceError
from stopsms.services.access.audit import record
from stopsms.services.access.roles import Role
from stopsms.services.accounts.accounts import AccountRef, resolve_account
from stopsms.services.accounts.names import display_name
from stopsms.store import tables as t

__all__ = [
    "LAST_USE_PRECISION",
    "ApiKey",
    "CreatedKey",
    "Principal",
    "RevokedKey",
    "authenticate",
    "create_key",
    "list_keys",
    "live_keys",
    "mark_used",
    "revoke_key",
]

LAST_USE_PRECISION = timedelta(minutes=1)
_KEY = re.compile(r"ssk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as listed: never the key itself, its prefix."""

    id: int
    name: str
    role: str
    prefix: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: ``key`` is shown this once."""

    key: str
    api_key: ApiKey


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: one account, a role in it, and a name for the audit log."""

    account_id: int
    account: str
    role: Role
    actor: str
    key_id: int | None = None
    last_used_at: datetime | None = None
    #: The account's time zone (IANA name): the zone the customer area shows times in.
    time_zone: str = "Europe/Paris"


class RevokedKey(ServiceError):
    """The key a request was accepted with was revoked before its change was written."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _columns() -> list[Any]:
    k = t.api_keys
    return [
        k.c.id,
        k.c.name,
        k.c.role,
        k.c.prefix,
        k.c.created_by,
        k.c.created_at,
        k.c.last_used_at,
        k.c.revoked_at,
    ]


def _api_key(row: Any) -> ApiKey:
    return ApiKey(*tuple(row))


def create_key(
    connection: Connection,
    account: AccountRef,
    name: str,
    role: Role,
    *,
    actor: str,
    now: datetime,
) -> CreatedKey:
    """A new key for ``account``; the audit log records its creation (never the key)."""
    acc = resolve_account(connection, account)
    label = display_name("name", name, limit=100)
    prefix = secrets.token_hex(6)
    key = f"ssk_{prefix}_{secrets.token_urlsafe(32)}"
    key_id = connection.execute(
        insert(t.api_keys)
        .values(
            account_id=acc.id,
            name=label,
            role=role.value,
            prefix=prefix,
            key_hash=_digest(key),
            created_by=actor,
            created_at=now,
        )
        .returning(t.api_keys.c.id)
    ).scalar_one()
    detail = {"id": key_id, "name": label, "role": role.value, "prefix": prefix}
    record(connection, acc.id, actor, "api_key.created", detail, now)
    row = connection.execute(select(*_columns()).where(t.api_keys.c.id == key_id)).one()
    return CreatedKey(key, _api_key(row))


def list_keys(connection: Connection, account: AccountRef) -> list[ApiKey]:
    """The account's keys, revoked ones included, oldest first."""
    acc = resolve_account(connection, account)
    k = t.api_keys
    rows = connection.execute(select(*_columns()).where(k.c.account_id == acc.id).order_by(k.c.id))
    return [_api_key(row) for row in rows]


def revoke_key(
    connection: Connection, account: AccountRef, key_id: int, *, actor: str, now: datetime
) -> ApiKey:
    """Revoke the account's key ``key_id`` (another account's is :class:`NotFound`, as a
    missing one); revoking a revoked key changes nothing."""
    acc = resolve_account(connection, account)
    k = t.api_keys
    row = connection.execute(
        select(*_columns()).where(k.c.id == key_id, k.c.account_id == acc.id)
    ).one_or_none()
    if row is None:
        raise NotFound("API key", key_id)
    if row.revoked_at is None:
        connection.execute(update(k).where(k.c.id == key_id).values(revoked_at=now))
        detail = {"id": key_id, "name": row.name, "prefix": row.prefix}
        record(connection, acc.id, actor, "api_key.revoked", detail, now)
        row = connection.execute(select(*_columns()).where(k.c.id == key_id)).one()
    return _api_key(row)


def authenticate(connection: Connection, key: str) -> Principal | None:
    """The principal ``key`` stands for, else None (malformed, unknown or revoked: all alike)."""
    found = _KEY.fullmatch(key)
    if found is None:
        return None
    row = connection.execute(_BY_PREFIX, {"prefix": found.group(1)}).one_or_none()
    if row is None or not hmac.compare_digest(row.key_hash, _digest(key)):
        return None
    if row.revoked_at is not None:
        return None
    return Principal(
        account_id=row.account_id,
        account=row.name,
        role=Role(row.role),
        actor=f"api_key:{found.group(1)}",
        key_id=row.id,
        last_used_at=row.last_used_at,
    )


#: :func:`authenticate`'s read, built once (every API request makes it).
_BY_PREFIX = (
    select(
        t.api_keys.c.id,
        t.api_keys.c.account_id,
        t.accounts.c.name,
        t.api_keys.c.role,
        t.api_keys.c.key_hash,
        t.api_keys.c.revoked_at,
        t.api_keys.c.last_used_at,
    )
    .join(t.accounts, t.accounts.c.id == t.api_keys.c.account_id)
    .where(t.api_keys.c.prefix == bindparam("prefix"))
)


def mark_used(connection: Connection, key_id: int, now: datetime) -> bool:
    """Record the key's last use, unless it was recorded within :data:`LAST_USE_PRECISION`
    (one conditional UPDATE; True when it wrote)."""
    k = t.api_keys
    stale = now - LAST_USE_PRECISION
    changed = connection.execute(
        update(k)
        .where(k.c.id == key_id, (k.c.last_used_at.is_(None)) | (k.c.last_used_at < stale))
        .values(last_used_at=now)
    ).rowcount
    return bool(changed)


def live_keys(connection: Connection, key_ids: Collection[int]) -> set[int]:
    """The keys among ``key_ids`` not revoked, read in the caller's transaction (one indexed
    read): a write made with a key checked earlier checks it again where it commits."""
    if not key_ids:
        return set()
    return set(connection.execute(_LIVE, {"ids": list(key_ids)}).scalars())


#: :func:`live_keys`' read, built once (the API's writer runs it per batch).
_LIVE = select(t.api_keys.c.id).where(
    t.api_keys.c.id.in_(bindparam("ids", expanding=True)), t.api_keys.c.revoked_at.is_(None)
)
