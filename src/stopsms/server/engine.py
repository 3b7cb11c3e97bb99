"""The sending engine inside ``stopsms serve``: :func:`~stopsms.engine.sending.run_worker` on
a thread of its own, with its own event loop.

On its own thread the engine's dispatcher and inbound handler never wait behind a request
(nor a request behind them); they share the process's database (one SQLite file, WAL). Stopping
sets the worker's stop event from the server's thread and joins: the bind is closed, messages
on the wire are answered or reconciled as in ``stopsms worker``.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from stopsms.app import App
from stopsms.clock import SystemClock
from stopsms.engine.sending import run_worker
from stopsms.providers.base import Provider, ProviderError

__all__ = ["EngineThread"]

_LOG = logging.getLogger("stopsms.server.engine")


class EngineThread:
    """Run the worker loop until :meth:`stop`; ``error`` holds why it stopped early."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._provider: Provider | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self.error: str | None = None

    @property
    def bound(self) -> bool:
        """Whether the provider's bind is up (False before it is, or after it failed)."""
        return self.error is None and bool(getattr(self._provider, "bound", False))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Build the provider (raises when none is configured) and start the loop's thread."""
        self._provider = self._app.provider()
        self._thread = threading.Thread(target=self._run, name="stopsms-engine", daemon=True)
        self._thread.start()
        self._started.wait(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except ProviderError as error:
            self.error = str(error)
            _LOG.error("engine stopped: %s", error)
        except Exception as error:  # reported, never a silent dead thread
            self.error = f"{type(error).__name__}: {error}"
            _LOG.exception("engine failed")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        assert self._provider is not None
        await run_worker(
            self._app.database,
            self._provider,
            SystemClock(),
            self._stop,
            on_event=lambda line: _LOG.info("%s", line),
            max_parts=self._app.max_parts,
            public_url=self._app.settings.public_url,
            webhooks_allow_private=self._app.settings.webhooks_allow_private,
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to stop and wait for it (the bind closed, in-flight reconciled)."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            thread.join(timeout)
