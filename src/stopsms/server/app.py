""":func:`create_server`: the FastAPI application of ``stopsms serve`` (see the package)."""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from stopsms import __version__, api, web
from stopsms.api.limits import Limits
from stopsms.app import App, NoProvider
from stopsms.clock import Clock
from stopsms.config import Settings
from stopsms.domain.errors import StopsmsError
from stopsms.jobs.runner import start_in_process
from stopsms.server.engine import EngineThread
from stopsms.server.metrics import CONTENT_TYPE, LatencyMiddleware, Metrics
from stopsms.store.database import is_current

__all__ = ["UVICORN_OPTIONS", "NoSecretKey", "check_startable", "create_server", "freeze_heap"]

#: How ``stopsms serve`` runs uvicorn (and ``python -m bench api`` too, so the figures are the
#: server's): uvloop's event loop and httptools' parser (both C), no access log (a line per
#: request, formatted and written under the GIL). Keep-alive held 120 s for API clients that
#: reuse connections.
UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "access_log": False,
    "timeout_keep_alive": 120,
}

_LOG = logging.getLogger("stopsms.server")


def freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's sight (``gc.freeze``).

    A served process starts with some 150,000 objects the collector tracks (FastAPI's routes
    and models, SQLAlchemy's tables, the libraries' modules), all long-lived, that a full
    collection walks every time: the benchmark's server at 500 requests/s (``python -m bench
    api``'s) saw gen-2 collections of 94–214 ms, the whole process stopped, its slowest
    requests exactly those (2026-12-05, load 1.8–5.5). Frozen after start-up, the same
    collections took 9–62 ms, all but one under 35 ms (docs/api.md). The trade-off: garbage
    among the frozen objects is never collected, and there is none worth having at start-up.
    """
    gc.collect()
    gc.freeze()


class NoSecretKey(StopsmsError):
    """Production mode without a secret key."""


def check_startable(settings: Settings) -> None:
    """Refuse to serve in production without a secret key (it signs sessions and forms)."""
    if settings.production and not settings.secret_key:
        raise NoSecretKey(
            "STOPSMS_ENV=production needs STOPSMS_SECRET_KEY (at least 32 characters, e.g."
            " python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


def create_server(
    app: App,
    *,
    engine: bool = False,
    limits: Limits | None = None,
    clock: Clock | None = None,
    freeze: bool = False,
) -> FastAPI:
    """The server around ``app``; ``engine``: run the sending engine in this process;
    ``limits``: the rate limits (:class:`~stopsms.api.limits.Limits`' defaults); ``clock``:
    the time the routes read (the system's); ``freeze``: :func:`freeze_heap` once started
    (``stopsms serve``: the process is the server's alone; not in tests, which build many
    servers in one process), unfrozen at shutdown."""
    check_startable(app.settings)
    runner = EngineThread(app) if engine else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        jobs = None
        if runner is not None:
            try:
                runner.start()
            except NoProvider as error:
                _LOG.warning("no engine: %s; messages wait in the outbox", error)
            # Background jobs (imports, sends, exports) run here on SQLite; on PostgreSQL
            # start_in_process runs nothing (`stopsms jobs worker` does).
            jobs = start_in_process(app)
        if freeze:
            freeze_heap()
        try:
            yield
        finally:
            if freeze:
                gc.unfreeze()
            if jobs is not None:
                await asyncio.to_thread(jobs.stop)
            if runner is not None:
                runner.stop()
            app.close()

    server = FastAPI(
        title="stopsms",
        version=__version__,
        description="SMS that are compliant by construction: STOP mention, legal hours, "
        "instant opt-out. Every error is an RFC 9457 problem with a stable `code`.",
        lifespan=lifespan,
    )
    server.state.stopsms = app
    api.install(server, limits or Limits(), clock)
    for router in web.ROUTERS:
        server.include_router(router)
    metrics = Metrics(app)
    server.add_middleware(LatencyMiddleware, metrics=metrics)

    @server.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @server.get("/readyz", tags=["health"], responses={503: {"description": "Not ready"}})
    def readyz(request: Request) -> Response:
        """Ready: the database reachable and at this version's schema; the provider bound
        when this process runs the engine."""
        checks: dict[str, Any] = {}
        try:
            checks["database"] = "ok" if is_current(app.database.engine) else "behind"
        except (StopsmsError, SQLAlchemyError) as error:
            checks["database"] = f"unreachable: {error}"
        if runner is not None:
            if runner.bound:
                checks["provider"] = "bound"
            elif runner.error is not None:
                checks["provider"] = f"failed: {runner.error}"
            else:
                checks["provider"] = "not bound" if runner.running else "not configured"
        ready = checks["database"] == "ok" and checks.get("provider") in (
            None,
            "bound",
            "not configured",
        )
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    @server.get("/metrics", tags=["health"], response_class=Response)
    def metrics_text(request: Request) -> Response:
        """Prometheus text: messages by status, opt-outs, queue depth, request latency.

        With ``STOPSMS_METRICS_TOKEN`` set, only ``Authorization: Bearer <token>`` (compared in
        constant time) reads it; in production without a token it is not served at all."""
        token = app.settings.metrics_token
        if token is None and app.settings.production:
            return _metrics_problem(
                403,
                "metrics_token_required",
                "Set STOPSMS_METRICS_TOKEN to serve /metrics in production; the scraper then"
                " sends it as Authorization: Bearer <token>.",
            )
        if token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), token.encode()
            ):
                return _metrics_problem(
                    401,
                    "unauthenticated",
                    "/metrics needs Authorization: Bearer <STOPSMS_METRICS_TOKEN>.",
                )
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return server


def _metrics_problem(status: int, code: str, detail: str) -> JSONResponse:
    body = {
        "type": f"urn:stopsms:problem:{code}",
        "title": "Unauthorized" if status == 401 else "Forbidden",
        "status": status,
        "detail": detail,
        "code": code,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status, headers=headers, media_type="application/problem+json")
