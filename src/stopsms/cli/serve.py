"""``stopsms serve``: the HTTP API on uvicorn, and on SQLite the sending engine beside it.

On the embedded default (SQLite) one process serves the API and runs the engine (dispatch,
STOP replies, receipts, schedules) against ``STOPSMS_PROVIDER_URL``, so one command serves a
small shop. On PostgreSQL ``serve`` runs no engine (``stopsms worker`` runs apart, as many as
wanted) unless ``--with-worker``. In production (``STOPSMS_ENV=production``) a missing
``STOPSMS_SECRET_KEY`` is one line at start. uvicorn runs on uvloop and httptools without
access log (:data:`stopsms.server.UVICORN_OPTIONS`); the heap alive once started is frozen
out of the garbage collector's full passes (:func:`stopsms.server.freeze_heap`).
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from stopsms.cli.console import console, handles_errors
from stopsms.cli.context import application

__all__ = ["serve"]


@handles_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")
    ] = 8000,
    with_worker: Annotated[
        bool,
        typer.Option(
            "--with-worker", help="Run the sending engine here on PostgreSQL too (SQLite: always)."
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (/v1, /docs, /healthz, /readyz, /metrics)."""
    import uvicorn

    from stopsms.server import UVICORN_OPTIONS, create_server

    app = application()
    engine = with_worker or app.database.backend == "sqlite"
    server = create_server(app, engine=engine, freeze=True)
    where = "with the sending engine" if engine else "without engine (workers run apart)"
    console.print(f"stopsms serve: the API {where}; the address follows")
    # The engine's events (bind, STOPs, campaigns) as lines beside uvicorn's.
    logging.basicConfig(level=logging.INFO, format="%(levelname)-9s %(message)s")
    uvicorn.run(server, host=host, port=port, log_level="info", **UVICORN_OPTIONS)
