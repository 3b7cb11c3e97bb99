"""The HTTP API, ``/v1``: one small router module per resource, on shared dependencies.

- :mod:`.deps`: the App, the principal (``Authorization: Bearer``), roles, rate limits;
- :mod:`.problems`: every error as an RFC 9457 problem with a stable ``code``;
- :mod:`.limits`: token buckets per key and per IP;
- resources: :mod:`.messages`, :mod:`.compliance` (preview, window), :mod:`.account`
  (settings and API keys), :mod:`.contacts` (contacts, lists, imports, consent, erasure),
  :mod:`.jobs`, :mod:`.campaigns`, :mod:`.optouts`, :mod:`.senders` (senders, domains),
  :mod:`.credits` (replies, credits, transfers), :mod:`.webhooks` (endpoints, deliveries).

:func:`v1_router` gathers the resources under ``/v1`` with the principal required for every
route it holds, so a new resource is one module added to :data:`RESOURCES`. The server
(:mod:`stopsms.server`) mounts it and calls :func:`install`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from stopsms.api import (
    account,
    campaigns,
    compliance,
    contacts,
    credits,
    jobs,
    messages,
    optouts,
    senders,
    webhooks,
)
from stopsms.api.deps import install_limits, principal
from stopsms.api.limits import Limits
from stopsms.api.problems import install as install_problems
from stopsms.clock import Clock

__all__ = ["RESOURCES", "Limits", "install", "v1_router"]

#: The resource routers under ``/v1``.
RESOURCES: tuple[APIRouter, ...] = (
    messages.router,
    compliance.router,
    account.router,
    contacts.router,
    jobs.router,
    campaigns.router,
    optouts.router,
    senders.router,
    credits.router,
    webhooks.router,
)


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
