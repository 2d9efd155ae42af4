"""A connection pool for the upstream clients that looks at one idle connection per request.

httpcore's own pool, on every request and again on every response close, walks all of its
connections and asks each idle one whether it has expired, which for HTTP/1.1 is a ``poll()``
of its socket (a server-side close would make it readable). With the senders' lanes keeping a
dozen or more keep-alive connections to the same upstream, that walk was the largest single
cost of a bridged message (issue 16's profile: 17% of the trio thread).

:class:`LeanPool` keeps the idle connections of each origin on a stack instead. A request takes
the most recently used one and checks only that one (expired, or closed by the server: it is
closed and the next one tried); a response, once closed, puts its connection back on top. The
limits are httpx's: at most ``max_connections`` open, at most ``max_keepalive`` kept idle, idle
ones older than ``keepalive_expiry`` closed, and a request that finds every connection busy
waits for one up to the pool timeout (``httpx.PoolTimeout``). Connecting, HTTP/1.1 and TLS are
httpcore's (:class:`httpcore.AsyncHTTPConnection`), and the transport around the pool is
httpx's, so timeouts and the mapping of errors to httpx's exceptions are unchanged.

A connection the server closed while it sat idle is replaced, never an error for the caller:
the check before reuse finds it readable (or closed) and a fresh one is opened.
"""

from __future__ import annotations

import math
import ssl
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httpx
import trio

__all__ = ["LeanPool", "lean_transport"]

_Key = tuple[bytes, bytes, int]


class LeanPool:
    """The pool (see the module docstring); speaks httpcore's request interface, so that
    :class:`httpx.AsyncHTTPTransport` can use it in place of its own."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None,
        max_connections: int,
        max_keepalive: int,
        keepalive_expiry: float | None,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._max_keepalive = max_keepalive
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[_Key, list[httpcore.AsyncHTTPConnection]] = {}
        self._open = 0
        self._freed = trio.lowlevel.ParkingLot()
        self._closed = False

    @property
    def open_connections(self) -> int:
        """Connections open now (idle or in use)."""
        return self._open

    @property
    def idle_connections(self) -> int:
        """Connections kept alive for reuse now."""
        return sum(len(stack) for stack in self._idle.values())

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        url = request.url
        key = (url.scheme, url.host, url.port or (443 if url.scheme == b"https" else 80))
        timeouts = request.extensions.get("timeout", {})
        while True:
            connection = await self._checkout(key, request.url.origin, wait=timeouts.get("pool"))
            answered = False
            try:
                response = await connection.handle_async_request(request)
                answered = True
            except httpcore.ConnectionNotAvailable:
                pass  # it stopped being usable between the check and the request: next one
            finally:
                if not answered:
                    await self._checkin(key, connection)
            if answered:
                return httpcore.Response(
                    status=response.status,
                    headers=response.headers,
                    content=_Released(response.stream, self, key, connection),
                    extensions=response.extensions,
                )

    async def _checkout(
        self, key: _Key, origin: httpcore.Origin, *, wait: float | None
    ) -> httpcore.AsyncHTTPConnection:
        with trio.move_on_after(math.inf if wait is None else wait):
            while True:
                if self._closed:
                    raise RuntimeError("the connection pool is closed")
                stack = self._idle.get(key)
                while stack:
                    connection = stack.pop()
                    if connection.is_closed() or connection.has_expired():
                        await self._drop(connection)
                        continue
                    return connection
                if self._open < self._max_connections:
                    self._open += 1
                    return httpcore.AsyncHTTPConnection(
                        origin=origin,
                        ssl_context=self._ssl_context,
                        keepalive_expiry=self._keepalive_expiry,
                    )
                spare = next((s for s in self._idle.values() if s), None)
                if spare:  # an idle connection to another origin makes room
                    await self._drop(spare.pop())
                    continue
                await self._freed.park()
        raise httpcore.PoolTimeout("no connection became free within the pool timeout")

    async def _checkin(self, key: _Key, connection: httpcore.AsyncHTTPConnection) -> None:
        stack = self._idle.setdefault(key, [])
        if (
            not self._closed
            and connection.is_idle()
            and not connection.is_closed()
            and self.idle_connections < self._max_keepalive
        ):
            stack.append(connection)
            self._freed.unpark()
        else:
            await self._drop(connection)

    async def _drop(self, connection: httpcore.AsyncHTTPConnection) -> None:
        self._open -= 1
        self._freed.unpark()
        with trio.CancelScope(shield=True):
            await connection.aclose()

    async def aclose(self) -> None:
        self._closed = True
        idle = [c for stack in self._idle.values() for c in stack]
        self._idle.clear()
        for connection in idle:
            await self._drop(connection)
        self._freed.unpark_all()

    async def __aenter__(self) -> LeanPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Released:
    """A response body that gives its connection back to the pool once closed."""

    def __init__(
        self, stream: Any, pool: LeanPool, key: _Key, connection: httpcore.AsyncHTTPConnection
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._key = key
        self._connection: httpcore.AsyncHTTPConnection | None = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        try:
            if hasattr(self._stream, "aclose"):
                await self._stream.aclose()
        finally:
            connection, self._connection = self._connection, None
            if connection is not None:
                await self._pool._checkin(self._key, connection)


def lean_transport(limits: httpx.Limits) -> tuple[httpx.AsyncHTTPTransport, LeanPool] | None:
    """httpx's transport on a :class:`LeanPool` with ``limits``, and that pool; None (httpx's
    own transport then, which honours them) when the environment names a proxy."""
    if urllib.request.getproxies():
        return None
    most = limits.max_connections or 1000
    kept = limits.max_keepalive_connections
    pool = LeanPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=most,
        max_keepalive=most if kept is None else min(kept, most),
        keepalive_expiry=limits.keepalive_expiry,
    )
    transport = httpx.AsyncHTTPTransport()
    transport._pool = pool  # type: ignore[assignment]  # same interface, see the class
    return transport, pool
