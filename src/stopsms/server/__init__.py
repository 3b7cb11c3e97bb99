"""The server: the composition root of ``stopsms serve``.

:func:`create_server` builds one FastAPI application around the process's
:class:`~stopsms.app.App` (kept at ``request.app.state.stopsms``): the ``/v1`` API
(:mod:`stopsms.api`), ``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json`` and ``/docs``.
Its lifespan starts the sending engine in the same process when asked
(:class:`~stopsms.server.engine.EngineThread`: the default on SQLite, so one command serves a
small shop; on PostgreSQL workers run apart unless ``serve --with-worker``) and stops it on
shutdown. Other interfaces' routers (the hosted unsubscribe page, the web) are mounted here.
"""

from stopsms.server.app import (
    UVICORN_OPTIONS,
    NoSecretKey,
    check_startable,
    create_server,
    freeze_heap,
)

__all__ = ["UVICORN_OPTIONS", "NoSecretKey", "check_startable", "create_server", "freeze_heap"]
