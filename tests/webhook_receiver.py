"""A webhook receiver for tests and benchmarks: real HTTP/1.1 over TCP, on its own thread.

Small on purpose (asyncio streams, keep-alive, ``Content-Length`` bodies): the benchmark
measures its ceiling in the same run, and the tests decide its answers (``answer``: a
function of the request's number, from 0, giving the status code), e.g. failing then
recovering. Every request is kept (``requests``) with its headers and body, so a test verifies
the signature with the ``standardwebhooks`` library exactly as a receiver would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Receiver", "Request", "receiver"]

_REASONS = {200: "OK", 204: "No Content", 500: "Internal Server Error", 503: "Unavailable"}


@dataclass(frozen=True, slots=True)
class Request:
    """One request received: path, headers (lower-case names), body, status answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int


class Receiver:
    """Answers POSTs with ``answer(n)`` (n: the request's number, from 0); keeps them all."""

    def __init__(self, answer: Callable[[int], int] | None = None, *, keep: bool = True) -> None:
        self.answer = answer or (lambda _n: 204)
        self.keep = keep
        self.requests: list[Request] = []
        self.count = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def connections(self) -> int:
        """Client connections open now (a closed one leaves once its handler saw the end)."""
        return len(self._writers)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                with self._lock:
                    number = self.count
                    self.count += 1
                status = self.answer(number)
                if self.keep:
                    with self._lock:
                        self.requests.append(Request(path, headers, body, status))
                reason = _REASONS.get(status, "Status")
                writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def start(self) -> Receiver:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def begin() -> None:
                self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()

            loop.run_until_complete(begin())
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="webhook-receiver", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def end() -> None:
            server.close()
            for writer in list(self._writers):
                writer.close()
            await server.wait_closed()
            for _ in range(100):  # the handlers see their connection closed and return
                if len(asyncio.all_tasks()) == 1:
                    break
                await asyncio.sleep(0.01)
            loop.stop()

        asyncio.run_coroutine_threadsafe(end(), loop)
        if self._thread is not None:
            self._thread.join(10)


@contextmanager
def receiver(
    answer: Callable[[int], int] | None = None, *, keep: bool = True
) -> Iterator[Receiver]:
    """A started :class:`Receiver`, stopped at the end."""
    started = Receiver(answer, keep=keep).start()
    try:
        yield started
    finally:
        started.stop()
