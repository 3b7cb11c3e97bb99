"""Webhook delivery: claim due deliveries, POST them signed, record every attempt.

Runs inside ``stopsms worker`` (:func:`stopsms.engine.sending.run_worker` starts
:meth:`WebhookSender.run` beside the dispatcher) and can run in any number of processes: a
delivery is claimed with a lease (:func:`~stopsms.services.webhooks.deliveries.claim_due`),
so two workers never send the same one at once and a worker that dies leaves its deliveries
due again.

One loop: claim up to :attr:`WebhookSender.batch` due deliveries, POST them concurrently
(:attr:`WebhookSender.concurrency` lanes, 16 by default, each taking the next delivery when its
last one is answered), then record the outcomes in one transaction. Each lane has an
:class:`httpx.AsyncClient` of its own keeping its connections alive (at most
:data:`LANE_CONNECTIONS`, one per receiver it last posted to): httpx's pool looks at every
connection it holds (a ``poll`` each) to place each request, so one shared client of 16
connections spent 16 polls per request, and more CPU than the request itself under load
(``python -m bench webhooks``: figures in docs/webhooks.md).

Redirects are not followed (a 3xx is a failure: following one would reach a
host nobody checked). Before the requests of a batch, each endpoint's host is resolved again
and refused if it now points at a private address (:mod:`~stopsms.services.webhooks.targets`).
A 2xx answer delivers; anything else, a timeout (:attr:`WebhookSender.timeout`) or a refused
connection is a failed attempt, retried on the back-off of
:mod:`~stopsms.services.webhooks.deliveries`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import httpx

from stopsms.clock import Clock
from stopsms.engine.database_thread import DatabaseThread
from stopsms.errors import InvalidInput
from stopsms.services.webhooks.deliveries import Due, Outcome, claim_due, record_outcomes
from stopsms.services.webhooks.signing import headers
from stopsms.services.webhooks.targets import check_url

__all__ = ["LANE_CONNECTIONS", "WebhookSender", "WebhookStats"]

_log = logging.getLogger(__name__)

#: The longest error text kept per attempt.
_ERROR_CHARS = 300
#: Connections one lane keeps alive (to as many receivers: a lane posts one at a time).
LANE_CONNECTIONS = 4


@dataclass
class WebhookStats:
    """What a sender did since it started."""

    delivered: int = 0
    failed_attempts: int = 0
    disabled: int = 0


class WebhookSender:
    """Delivers due webhook deliveries until stopped (see the module doc)."""

    def __init__(
        self,
        thread: DatabaseThread,
        clock: Clock,
        *,
        allow_private: bool,
        concurrency: int = 16,
        batch: int = 256,
        timeout: float = 10.0,
        idle: float = 1.0,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.thread = thread
        self.clock = clock
        self.allow_private = allow_private
        self.concurrency = concurrency
        self.batch = batch
        self.timeout = timeout
        self.idle = idle
        self.on_event = on_event
        self.stats = WebhookStats()
        self._clients: list[httpx.AsyncClient] = []

    def _lanes(self) -> list[httpx.AsyncClient]:
        if not self._clients:
            self._clients = [
                httpx.AsyncClient(
                    timeout=self.timeout,
                    follow_redirects=False,
                    trust_env=False,  # no proxy from the environment: the checked host it is
                    limits=httpx.Limits(
                        max_connections=LANE_CONNECTIONS, max_keepalive_connections=LANE_CONNECTIONS
                    ),
                    headers={"user-agent": "stopsms-webhooks/1"},
                )
                for _ in range(max(1, self.concurrency))
            ]
        return self._clients

    async def close(self) -> None:
        """Close the HTTP connections, every lane's, even when cancelled midway.

        The worker cancels the sender at shutdown, maybe while it is here: a cancellation
        lands between two lanes (httpx shields each pool's own close), so it is held until
        the last lane is closed, then raised. Stopping at the first lane left the others'
        keep-alive sockets to the garbage collector (the suite once failed on two of them).
        """
        clients, self._clients = self._clients, []
        cancelled: asyncio.CancelledError | None = None
        for client in clients:
            try:
                await client.aclose()
            except asyncio.CancelledError as exc:
                cancelled = exc
        if cancelled is not None:
            raise cancelled

    async def run_once(self) -> int:
        """Claim and attempt one batch; returns how many deliveries were attempted."""
        now = self.clock.now()
        due = await self.thread.run(partial(claim_due, now=now, limit=self.batch))
        if not due:
            return 0
        refused = await self._recheck({d.url for d in due})
        attempted: list[Outcome | None] = [None] * len(due)
        waiting = iter(range(len(due)))

        async def lane(client: httpx.AsyncClient) -> None:
            for i in waiting:  # shared: each lane takes the next delivery when it is free
                attempted[i] = await self._attempt(client, due[i], refused.get(due[i].url))

        await asyncio.gather(*(lane(client) for client in self._lanes()[: len(due)]))
        outcomes = [outcome for outcome in attempted if outcome is not None]
        assert len(outcomes) == len(due)
        disabled = await self.thread.run(partial(record_outcomes, outcomes=outcomes))
        ok = sum(1 for o in outcomes if o.ok)
        self.stats.delivered += ok
        self.stats.failed_attempts += len(outcomes) - ok
        self.stats.disabled += len(disabled)
        if self.on_event is not None:
            for endpoint_id in disabled:
                self.on_event(f"webhook endpoint {endpoint_id} disabled after a day of failures")
        return len(due)

    async def _recheck(self, urls: set[str]) -> dict[str, str]:
        """Each URL's refusal now (DNS may have changed since creation), by URL."""
        if self.allow_private:
            return {}
        refused: dict[str, str] = {}
        for url in urls:
            try:
                await asyncio.to_thread(check_url, url, allow_private=False)
            except InvalidInput as exc:
                refused[url] = exc.reason
        return refused

    async def _attempt(
        self, client: httpx.AsyncClient, delivery: Due, refused: str | None
    ) -> Outcome:
        at = self.clock.now()
        started = time.perf_counter()

        def outcome(status: int | None, error: str | None) -> Outcome:
            latency = round((time.perf_counter() - started) * 1000)
            return Outcome(
                delivery.delivery_id,
                delivery.token,
                delivery.endpoint_id,
                at,
                latency,
                status,
                None if error is None else error[:_ERROR_CHARS],
            )

        if refused is not None:
            return outcome(None, f"not sent: {refused}")
        # Signed at the wall clock's time, whatever the engine's clock: receivers compare
        # webhook-timestamp with their own clock (5 minutes of tolerance).
        signed = headers(delivery.message_id, datetime.now(UTC), delivery.body, delivery.secrets)
        try:
            response = await client.post(delivery.url, content=delivery.body, headers=signed)
        except httpx.HTTPError as exc:
            return outcome(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if 200 <= response.status_code < 300:
            return outcome(response.status_code, None)
        return outcome(response.status_code, f"HTTP {response.status_code}")

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; sleeps :attr:`idle` seconds when nothing is due.

        A batch that fails (the database unreachable a moment) is logged and retried after
        :attr:`idle`: webhooks never stop the worker's sending; the claimed deliveries come
        back due when their lease ends.
        """
        try:
            while not stop.is_set():
                try:
                    attempted = await self.run_once()
                except Exception as exc:  # logged; the loop goes on
                    _log.warning("webhook deliveries: %s: %s", type(exc).__name__, exc)
                    attempted = 0
                if attempted == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.idle)
        finally:
            await self.close()
