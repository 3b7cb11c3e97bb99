"""Users: an email, a password hashed with argon2id, an admin flag, a role per account.

argon2-cffi's defaults (argon2id, 64 MiB, 3 passes, 4 lanes) are OWASP's recommended
parameters; a hash carries them, so raising them later still verifies the old hashes.
Passwords are at least 12 characters; nothing more is imposed (NIST SP 800-63B).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from stopsms.errors import AlreadyExists, InvalidInput, NotFound
from stopsms.services.access.audit import record
from stopsms.services.access.roles import Role
from stopsms.services.accounts.accounts import get_account
from stopsms.store import tables as t

__all__ = [
    "MIN_PASSWORD",
    "User",
    "check_email",
    "create_user",
    "list_users",
    "reset_password",
    "set_role",
    "verify_login",
]

MIN_PASSWORD = 12
_HASHER = PasswordHasher()
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    admin: bool
    created_at: datetime
    #: account name → role
    roles: dict[str, str]


def check_email(value: str) -> str:
    """``value`` trimmed and lower-cased, if it looks like an address (``name@host.tld``)."""
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise InvalidInput("email", value, "an address such as name@example.fr")
    return email


def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", "…", f"at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def _user_id(connection: Connection, email: str) -> int:
    found = connection.execute(
        select(t.users.c.id).where(t.users.c.email == check_email(email))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("user", email)
    return int(found)


def create_user(
    connection: Connection,
    email: str,
    password: str,
    *,
    admin: bool = False,
    account: str | None = None,
    role: Role = Role.OWNER,
    actor: str,
    now: datetime,
) -> User:
    """Create a user (with ``role`` in ``account`` when one is named)."""
    address = check_email(email)
    hashed = _hash(password)
    account_id = get_account(connection, account).id if account is not None else None
    try:
        with connection.begin_nested():
            user_id = connection.execute(
                insert(t.users)
                .values(email=address, password_hash=hashed, admin=admin, created_at=now)
                .returning(t.users.c.id)
            ).scalar_one()
    except IntegrityError:
        raise AlreadyExists("user", address) from None
    record(connection, None, actor, "user.created", {"email": address, "admin": admin}, now)
    if account_id is not None:
        _set_membership(connection, user_id, account_id, role, actor, now, address)
    return _users(connection, user_id)[0]


def _set_membership(
    connection: Connection,
    user_id: int,
    account_id: int,
    role: Role,
    actor: str,
    now: datetime,
    email: str,
) -> None:
    m = t.memberships
    connection.execute(delete(m).where(m.c.user_id == user_id, m.c.account_id == account_id))
    connection.execute(insert(m).values(user_id=user_id, account_id=account_id, role=role.value))
    record(connection, account_id, actor, "role.set", {"email": email, "role": role.value}, now)


def set_role(
    connection: Connection, email: str, account: str, role: Role, *, actor: str, now: datetime
) -> User:
    """Give the user ``role`` in ``account`` (replacing the one it had there)."""
    user_id = _user_id(connection, email)
    account_id = get_account(connection, account).id
    _set_membership(connection, user_id, account_id, role, actor, now, check_email(email))
    return _users(connection, user_id)[0]


def reset_password(
    connection: Connection, email: str, password: str, *, actor: str, now: datetime
) -> None:
    """Replace the user's password hash."""
    user_id = _user_id(connection, email)
    hashed = _hash(password)
    connection.execute(update(t.users).where(t.users.c.id == user_id).values(password_hash=hashed))
    record(connection, None, actor, "user.password_reset", {"email": check_email(email)}, now)


def verify_login(connection: Connection, email: str, password: str) -> User | None:
    """The user whose email and password these are, else None (the same for both mistakes)."""
    row = connection.execute(
        select(t.users.c.id, t.users.c.password_hash).where(
            t.users.c.email == email.strip().lower()
        )
    ).one_or_none()
    if row is None:
        _HASHER.hash(password)  # the same work as a wrong password: timing tells nothing
        return None
    try:
        _HASHER.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return _users(connection, row.id)[0]


def _users(connection: Connection, user_id: int | None = None) -> list[User]:
    u, m, a = t.users, t.memberships, t.accounts
    query = select(u.c.id, u.c.email, u.c.admin, u.c.created_at).order_by(u.c.email)
    if user_id is not None:
        query = query.where(u.c.id == user_id)
    rows = connection.execute(query).all()
    roles: dict[int, dict[str, str]] = {row.id: {} for row in rows}
    memberships = select(m.c.user_id, a.c.name, m.c.role).join(a, a.c.id == m.c.account_id)
    if user_id is not None:
        memberships = memberships.where(m.c.user_id == user_id)
    for user, name, role in connection.execute(memberships.order_by(a.c.name)):
        roles.setdefault(user, {})[name] = role
    return [User(r.id, r.email, r.admin, r.created_at, roles[r.id]) for r in rows]


def list_users(connection: Connection) -> list[User]:
    """Every user with their roles, by email."""
    return _users(connection)
