"""The server ``bench_unsubscribe`` starts under uvicorn: the unsubscribe router and a bare page.

``create()`` (a uvicorn ``--factory``) reads the database and public URL from the environment
(``STOPSMS_DATABASE_URL``, ``STOPSMS_PUBLIC_URL``). The router's rate limit is raised out of
reach (every request of the benchmark comes from one address) but still counts each POST.
``GET /bare`` answers a fixed small page with the same headers: the ceiling of the stack.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from stopsms.app import App
from stopsms.web.security import RateLimiter, security_headers
from stopsms.web.unsubscribe import make_router

_BARE = "<!doctype html><html lang=en><title>ok</title><p>ok</p></html>"


def create() -> FastAPI:
    server = FastAPI()
    server.state.stopsms = App()
    server.include_router(make_router(limiter=RateLimiter(limit=10**9)))

    @server.get("/bare", response_class=HTMLResponse)
    def bare() -> HTMLResponse:
        return HTMLResponse(_BARE, headers=security_headers())

    return server
