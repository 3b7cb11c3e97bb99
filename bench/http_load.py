"""A lean HTTP/1.1 load client for the server benchmarks: keep-alive connections on asyncio.

httpx spent more CPU per request than the server it measured (``bench api``, 2026-12-04: the
bare endpoint read 108/s through httpx with 32 connections, its pool polling each of them per
request), so the ceiling it printed was the client's. This one writes a request and reads the
answer by its ``Content-Length``, nothing else: what the benchmarks send and what uvicorn
answers (no chunked bodies, no redirects, no TLS).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType

__all__ = ["Connection", "Pool"]


class Connection:
    """One keep-alive connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send one request; (status, body) of its answer."""
        lines = [f"{method} {path} HTTP/1.1", "Host: bench", f"Content-Length: {len(body)}"]
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        length = None
        for field in fields:
            name, _, value = field.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise ValueError(f"an answer without Content-Length: {status_line}")
        return int(status_line.split(" ", 2)[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


class Pool:
    """``size`` connections; :meth:`request` waits for a free one (an open loop's queue)."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.connections: list[Connection] = []
        self._free: asyncio.Queue[Connection] = asyncio.Queue()

    async def __aenter__(self) -> Pool:
        for _ in range(self.size):
            connection = await Connection.open(self.host, self.port)
            self.connections.append(connection)
            self._free.put_nowait(connection)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for connection in self.connections:
            connection.close()

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        connection = await self._free.get()
        try:
            return await connection.request(method, path, body, headers)
        finally:
            self._free.put_nowait(connection)
