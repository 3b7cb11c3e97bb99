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

from stopsms.errors import AlreadyExists, InvalidInput, NotFound, ServiceError
from stopsms.services.access.audit import record
from stopsms.services.access.roles import Role
from stopsms.services.accounts.accounts import get_account
from stopsms.store import tables as t

__all__ = [
    "MIN_PASSWORD",
    "LastOwner",
    "Member",
    "User",
    "change_member_role",
    "check_email",
    "create_user",
    "find_user",
    "list_members",
    "list_users",
    "remove_member",
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


# -- the members of one account (the customer area's users list) ------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """A user holding a role in one account."""

    user_id: int
    email: str
    role: str


class LastOwner(ServiceError):
    """A change would leave the account with no owner (nobody could manage it any more)."""

    def __init__(self, email: str) -> None:
        super().__init__(f"{email} is the account's only owner: make another member owner first")
        self.email = email


def list_members(connection: Connection, account_id: int) -> list[Member]:
    """The account's members with their roles, by email."""
    m, u = t.memberships, t.users
    rows = connection.execute(
        select(u.c.id, u.c.email, m.c.role)
        .join(m, m.c.user_id == u.c.id)
        .where(m.c.account_id == account_id)
        .order_by(u.c.email)
    )
    return [Member(row.id, row.email, row.role) for row in rows]


def find_user(connection: Connection, email: str) -> int | None:
    """The id of the user with this email (any case), or None."""
    found = connection.execute(
        select(t.users.c.id).where(t.users.c.email == check_email(email))
    ).scalar_one_or_none()
    return None if found is None else int(found)


def _member(connection: Connection, account_id: int, user_id: int) -> Member:
    for member in list_members(connection, account_id):
        if member.user_id == user_id:
            return member
    raise NotFound("member", user_id)


def _keep_an_owner(connection: Connection, account_id: int, leaving: Member) -> None:
    if leaving.role != Role.OWNER.value:
        return
    owners = [m for m in list_members(connection, account_id) if m.role == Role.OWNER.value]
    if len(owners) <= 1:
        raise LastOwner(leaving.email)


def change_member_role(
    connection: Connection,
    account_id: int,
    user_id: int,
    role: Role,
    *,
    actor: str,
    now: datetime,
) -> Member:
    """Give member ``user_id`` of the account ``role`` (audited ``role.set``); another
    account's user is :class:`NotFound`, and the only owner stays owner (:class:`LastOwner`)."""
    member = _member(connection, account_id, user_id)
    if role is not Role.OWNER:
        _keep_an_owner(connection, account_id, member)
    _set_membership(connection, user_id, account_id, role, actor, now, member.email)
    return Member(user_id, member.email, role.value)


def remove_member(
    connection: Connection, account_id: int, user_id: int, *, actor: str, now: datetime
) -> Member:
    """Withdraw member ``user_id``'s role in the account (the user stays, with their other
    accounts; audited ``role.removed``); the only owner is not removed (:class:`LastOwner`)."""
    member = _member(connection, account_id, user_id)
    _keep_an_owner(connection, account_id, member)
    m = t.memberships
    connection.execute(delete(m).where(m.c.user_id == user_id, m.c.account_id == account_id))
    record(connection, account_id, actor, "role.removed", {"email": member.email}, now)
    return member
