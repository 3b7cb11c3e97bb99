"""``stopsms users …`` and ``stopsms apikeys …``: who may act on which account.

Passwords are read from stdin (``--password-stdin``), never from an argument a process list
shows. An API key is printed once, at creation (``--json``: under ``key``); lists show its
prefix. Every change is written to the audit log with the acting ``cli:<login>``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from stopsms.app import results
from stopsms.cli.console import console, escape, fail, handles_errors, print_json
from stopsms.cli.context import account_name, application, transaction
from stopsms.cli.options import AccountOption, JsonOption
from stopsms.clock import SystemClock
from stopsms.services.access import keys, users
from stopsms.services.access.roles import parse_role

__all__ = ["apikeys_app", "users_app"]

users_app = typer.Typer(help="Users: email, password (argon2id), a role per account, admin.")
apikeys_app = typer.Typer(
    help="API keys: one account each, a role, shown once, stored as a hash, revocable."
)
_CLOCK = SystemClock()

RoleOption = Annotated[str, typer.Option("--role", help="owner, editor or viewer.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from stdin (one line).")
]


def _password(from_stdin: bool) -> str:
    if not from_stdin:
        fail("the password is read from stdin only: give --password-stdin")
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _when(value: object) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _show_user(user: users.User) -> None:
    roles = ", ".join(f"{name}: {role}" for name, role in user.roles.items()) or "no account"
    admin = " (admin)" if user.admin else ""
    console.print(f"user {escape(user.email)}{admin}: {escape(roles)}")


@users_app.command("create")
@handles_errors
def create_user(
    email: Annotated[str, typer.Argument(help="The user's email address (their login).")],
    password_stdin: PasswordStdin = False,
    account: Annotated[
        str | None, typer.Option("--account", help="Give the user a role in this account.")
    ] = None,
    role: RoleOption = "owner",
    admin: Annotated[bool, typer.Option("--admin", help="An installation admin.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Create a user (with a role in one account when --account is given)."""
    password = _password(password_stdin)
    parsed = parse_role(role)
    app = application()
    with transaction() as connection:
        user = users.create_user(
            connection,
            email,
            password,
            admin=admin,
            account=account,
            role=parsed,
            actor=app.actor,
            now=_CLOCK.now(),
        )
    if json_output:
        print_json(results.plain(user))
        return
    _show_user(user)


@users_app.command("list")
@handles_errors
def list_users(json_output: JsonOption = False) -> None:
    """Every user, their roles per account and whether they are an admin."""
    with application().reader() as connection:
        found = users.list_users(connection)
    if json_output:
        for user in found:
            print_json(results.plain(user))
        return
    table = Table("email", "admin", "roles", "created")
    for user in found:
        roles = ", ".join(f"{name}: {role}" for name, role in user.roles.items())
        table.add_row(
            escape(user.email), "yes" if user.admin else "", escape(roles), _when(user.created_at)
        )
    console.print(table)


@users_app.command("set-role")
@handles_errors
def set_role(
    email: Annotated[str, typer.Argument(help="The user's email address.")],
    role: Annotated[str, typer.Argument(help="owner, editor or viewer.")],
    account: AccountOption = None,
) -> None:
    """Give a user a role in an account (replacing the one they had there)."""
    parsed = parse_role(role)
    app = application()
    with transaction() as connection:
        user = users.set_role(
            connection, email, account_name(account), parsed, actor=app.actor, now=_CLOCK.now()
        )
    _show_user(user)


@users_app.command("reset-password")
@handles_errors
def reset_password(
    email: Annotated[str, typer.Argument(help="The user's email address.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Replace a user's password (read from stdin)."""
    password = _password(password_stdin)
    app = application()
    with transaction() as connection:
        users.reset_password(connection, email, password, actor=app.actor, now=_CLOCK.now())
    console.print(f"password of {escape(email)} replaced")


@apikeys_app.command("create")
@handles_errors
def create_key(
    name: Annotated[str, typer.Option("--name", help="A label: what or who uses the key.")],
    account: AccountOption = None,
    role: RoleOption = "editor",
    json_output: JsonOption = False,
) -> None:
    """Create an API key for an account; it is printed this once."""
    parsed = parse_role(role)
    app = application()
    with transaction() as connection:
        created = keys.create_key(
            connection,
            account_name(account),
            name,
            parsed,
            actor=app.actor,
            now=_CLOCK.now(),
        )
    if json_output:
        print_json({**results.plain(created.api_key), "key": created.key})
        return
    console.print(
        f"API key {created.api_key.id} ({escape(created.api_key.name)}, {parsed.value}) for"
        f" {escape(account_name(account))}; shown once, keep it now:"
    )
    sys.stdout.write(created.key + "\n")


@apikeys_app.command("list")
@handles_errors
def list_keys(account: AccountOption = None, json_output: JsonOption = False) -> None:
    """The account's keys: prefix, role, last use; revoked ones too."""
    with application().reader() as connection:
        found = keys.list_keys(connection, account_name(account))
    if json_output:
        for key in found:
            print_json(results.plain(key))
        return
    table = Table("id", "name", "role", "prefix", "created", "last used", "revoked")
    for key in found:
        table.add_row(
            str(key.id),
            escape(key.name),
            key.role,
            f"ssk_{key.prefix}_…",
            _when(key.created_at),
            _when(key.last_used_at),
            _when(key.revoked_at),
        )
    console.print(table)


@apikeys_app.command("revoke")
@handles_errors
def revoke_key(
    key_id: Annotated[
        int, typer.Argument(help="The key's id (apikeys list).", min=1, max=2**31 - 1)
    ],
    account: AccountOption = None,
) -> None:
    """Revoke one of the account's keys: it stops working at once."""
    app = application()
    with transaction() as connection:
        key = keys.revoke_key(
            connection, account_name(account), key_id, actor=app.actor, now=_CLOCK.now()
        )
    console.print(f"API key {key.id} ({escape(key.name)}) revoked")
