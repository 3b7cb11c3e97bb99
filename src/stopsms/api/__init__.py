"""The HTTP API, ``/v1``: one small router module per resource, on shared dependencies.

- :mod:`.deps`: the App, the principal (``Authorization: Bearer``), roles, rate limits;
- :mod:`.problems`: every error as an RFC 9457 problem with a stable ``code``;
- :mod:`.limits`: token buckets per key and per IP;
- resources: :mod:`.messages`, :mod:`.compliance` (preview, window), :mod:`.account`
  (settings and API keys).

:func:`v1_router` gathers the resources under ``/v1`` with the principal required for every
route it holds, so a new resource is one module added to :data:`RESOURCES`. The server
(:mod:`stopsms.server`) mounts it and calls :func:`install`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from stopsms.api import account, compliance, messages
from stopsms.api.deps import install_limits, principal
from stopsms.api.limits import Limits
from stopsms.api.problems import install as install_problems
from stopsms.clock import Clock

__all__ = ["RESOURCES", "Limits", "install", "v1_router"]

#: The resource routers under ``/v1`` (contacts, campaigns, opt-outs, webhooks, jobs: next).
RESOURCES: tuple[APIRouter, ...] = (messages.router, compliance.router, account.router)


def v1_router() -> APIRouter:
    """Every ``/v1`` route, each behind :func:`~stopsms.api.deps.principal`."""
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(principal)])
    for resource in RESOURCES:
        v1.include_router(resource)
    return v1


def install(server: FastAPI, limits: Limits, clock: Clock | None = None) -> None:
    """Mount ``/v1`` on ``server``, answer its errors as problems, give it its limits."""
    install_problems(server)
    install_limits(server, limits, clock)
    server.include_router(v1_router())
