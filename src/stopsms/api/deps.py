"""The dependencies every ``/v1`` route stands on: the App, the principal, its role.

The server keeps the process's :class:`~stopsms.app.App` at ``request.app.state.stopsms``
(and the rate-limit buckets beside it, :func:`install_limits`). :func:`principal` turns
``Authorization: Bearer <key>`` into a :class:`~stopsms.services.access.keys.Principal` through
the application layer (:func:`stopsms.app.principals.principal_of_key`): no key is 401
``missing_api_key``, a wrong or revoked one 401 ``invalid_api_key`` (the same answer for both
kinds of wrong), an exhausted bucket 429 ``rate_limited``. The ``/v1`` router requires it for
every route it holds, so a new route cannot forget it; :data:`Viewer`, :data:`Editor` and
:data:`Owner` add the role a route needs (403 ``forbidden`` below it: the account is the
caller's own, so saying so reveals nothing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from stopsms.api.limits import Limits, TokenBuckets
from stopsms.api.problems import Problem
from stopsms.app import App
from stopsms.app.principals import VerifiedKeys, principal_of_key
from stopsms.clock import Clock, SystemClock
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role

__all__ = [
    "AppDep",
    "ClockDep",
    "Editor",
    "Owner",
    "Viewer",
    "application",
    "application_of",
    "clock",
    "forget_key",
    "install_limits",
    "principal",
]

_BEARER = HTTPBearer(
    auto_error=False,
    description="An API key (`stopsms apikeys create`): `Authorization: Bearer ssk_…`.",
)


@dataclass(frozen=True, slots=True)
class _Buckets:
    by_key: TokenBuckets
    by_ip: TokenBuckets


def install_limits(server: FastAPI, limits: Limits, clock: Clock | None = None) -> None:
    """Give ``server`` its rate-limit buckets (see :mod:`stopsms.api.limits`), the clock
    its routes read the time from (the system's unless a test gives one) and its cache of
    verified keys (:class:`~stopsms.app.principals.VerifiedKeys`)."""
    server.state.stopsms_clock = clock if clock is not None else SystemClock()
    server.state.stopsms_keys = VerifiedKeys()
    server.state.stopsms_limits = _Buckets(
        TokenBuckets(limits.per_key, limits.key_burst),
        TokenBuckets(limits.per_ip, limits.ip_burst),
    )


async def application(request: Request) -> App:
    """The process's App, kept by the server (async: no thread hop for a field read)."""
    return application_of(request.app.state)


def application_of(state: State) -> App:
    """The process's App in the server's ``state``."""
    app: App = state.stopsms
    return app


async def clock(request: Request) -> Clock:
    """The clock the routes read the time from (async: no thread hop)."""
    found: Clock = request.app.state.stopsms_clock
    return found


def _limited(buckets: TokenBuckets, name: object) -> None:
    wait = buckets.wait(name)
    if wait > 0:
        raise Problem(
            429,
            "rate_limited",
            "too many requests; retry after the time in Retry-After",
            headers={"Retry-After": TokenBuckets.retry_after(wait)},
        )


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Principal:
    """Who the request acts as (see the module)."""
    state = request.app.state
    buckets: _Buckets = state.stopsms_limits
    _limited(buckets.by_ip, request.client.host if request.client else "")
    unauthorised = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise Problem(
            401,
            "missing_api_key",
            "this request needs an API key: Authorization: Bearer <key>",
            headers=unauthorised,
        )
    key, now = credentials.credentials, state.stopsms_clock.now()
    verified: VerifiedKeys = state.stopsms_keys
    found = verified.get(key, now)
    if found is None:  # not verified lately: the database's read, on a worker thread
        app = application_of(state)
        found = await run_in_threadpool(principal_of_key, app, key, now)
        if found is None:
            raise Problem(
                401, "invalid_api_key", "the API key is unknown or revoked", headers=unauthorised
            )
        verified.put(key, found, now)
    _limited(buckets.by_key, found.key_id)
    return found


def forget_key(request: Request, key_id: int) -> None:
    """Refuse the key ``key_id`` from now on in this server (revoked through it)."""
    verified: VerifiedKeys = request.app.state.stopsms_keys
    verified.forget(key_id)


def _role(needed: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.role.allows(needed):
            raise Problem(
                403,
                "forbidden",
                f"this needs the {needed.value} role in the account; the key's is {who.role.value}",
            )
        return who

    return check


Viewer = Annotated[Principal, Depends(_role(Role.VIEWER))]
Editor = Annotated[Principal, Depends(_role(Role.EDITOR))]
Owner = Annotated[Principal, Depends(_role(Role.OWNER))]
AppDep = Annotated[App, Depends(application)]
ClockDep = Annotated[Clock, Depends(clock)]
