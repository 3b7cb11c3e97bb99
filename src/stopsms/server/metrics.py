"""``/metrics`` in the Prometheus text format.

Read from the database at each scrape (one grouped count per family, on indexed columns):
``stopsms_messages`` by status, ``stopsms_optouts_total`` by source (``keyword``: the STOP
replies), ``stopsms_queue_depth`` (messages pending or held, waiting to leave). Measured in
the process: ``stopsms_http_request_duration_seconds`` by method, route template and status
(the template, ``/v1/messages/{message_id}``, never the id: bounded label values).

Each server has a registry of its own (not the library's global one), so two servers in one
process (the tests) do not collide.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stopsms.app import App
from stopsms.store import tables as t

__all__ = ["CONTENT_TYPE", "LatencyMiddleware", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Outbox(Collector):
    def __init__(self, app: App) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        m, o = t.messages, t.optouts
        with self._app.reader() as connection:
            by_status = connection.execute(
                select(m.c.status, func.count()).group_by(m.c.status)
            ).all()
            by_source = connection.execute(
                select(o.c.source, func.count()).group_by(o.c.source)
            ).all()
        messages = GaugeMetricFamily(
            "stopsms_messages", "Messages in the outbox, by status", labels=["status"]
        )
        depth = 0
        for status, count in by_status:
            messages.add_metric([status], count)
            if status in ("pending", "held"):
                depth += count
        yield messages
        optouts = GaugeMetricFamily(
            "stopsms_optouts_total",
            "Opt-outs recorded, by source (keyword: STOP replies)",
            labels=["source"],
        )
        for source, count in by_source:
            optouts.add_metric([source], count)
        yield optouts
        yield GaugeMetricFamily(
            "stopsms_queue_depth", "Messages waiting to leave (pending or held)", value=depth
        )


class Metrics:
    """The server's registry: the outbox read at scrape, request latency measured."""

    def __init__(self, app: App) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Outbox(app))
        self.latency = Histogram(
            "stopsms_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class LatencyMiddleware:
    """Observe each HTTP request's duration (a pure ASGI middleware: no extra task per
    request, unlike Starlette's ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.latency.labels(scope["method"], _template(scope), str(status[0])).observe(
                time.perf_counter() - started
            )


def _template(scope: Scope) -> str:
    """The route's template, ``/v1/messages/{message_id}``, rebuilt from the request's path
    and its path parameters (whatever the router's internals); ``unmatched`` when no route
    took the request, so a scan of random paths cannot grow the label set."""
    if "route" not in scope and "endpoint" not in scope:
        return "unmatched"
    segments = str(scope.get("path", "")).split("/")
    for name, value in dict(scope.get("path_params") or {}).items():
        segments = [f"{{{name}}}" if part == str(value) else part for part in segments]
    return "/".join(segments)
