"""Pieces both simulators share: fault injection, the served-app actor base, sent-request log.

Fault injection is an ASGI middleware in front of the simulator's quart app, so a fault looks to
the bridge exactly as it would from a real service: an HTTP error status with the service's error
body, added latency, or a connection that dies in the middle of a response.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import attrs
import trio

from whatsignal._serve import base_url, serve_app

__all__ = ["Fault", "FaultInjector", "Recorded", "SimulatorBase"]

log = logging.getLogger("whatsignal.testing")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class DroppedConnection(Exception):
    """Raised inside the server to cut a response short (the client sees the connection die)."""


@attrs.define
class Fault:
    """One injected fault.

    ``path`` is a glob over the request path (``/api/sendText``, ``/v2/send``, ``/v1/receive/*``);
    ``method`` is an HTTP method or ``*``. The fault applies to the next ``count`` matching
    calls (``None``: until reset). ``latency`` seconds are added first; then, if ``drop``, the
    connection is cut mid-response; else if ``status``, that status and ``body`` (JSON) are
    answered instead of calling the endpoint.
    """

    path: str
    method: str = "*"
    count: int | None = 1
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = attrs.Factory(dict)
    latency: float = 0.0
    drop: bool = False
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path)

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """Build from the ``POST /_sim/faults`` body; raises ``ValueError`` with a reason."""
        if not isinstance(data, dict):
            raise ValueError("fault must be a JSON object")
        known = {"path", "method", "count", "status", "body", "headers", "latency", "drop"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {sorted(unknown)}; known: {sorted(known)}")
        path = data.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError("'path' is required: a glob over the request path, e.g. '/v2/send'")
        count = data.get("count", 1)
        if count is not None and (not isinstance(count, int) or count < 0):
            raise ValueError("'count' must be a non-negative integer or null (until reset)")
        status = data.get("status")
        if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
            raise ValueError("'status' must be an HTTP status code")
        latency = data.get("latency", 0.0)
        if not isinstance(latency, int | float) or latency < 0:
            raise ValueError("'latency' must be a non-negative number of seconds")
        drop = data.get("drop", False)
        if not isinstance(drop, bool):
            raise ValueError("'drop' must be a boolean")
        if status is None and not drop and not latency:
            raise ValueError("a fault needs at least one of 'status', 'drop' or 'latency'")
        headers = data.get("headers", {})
        if not isinstance(headers, dict):
            raise ValueError("'headers' must be an object")
        return cls(
            path=path,
            method=str(data.get("method", "*")),
            count=count,
            status=status,
            body=data.get("body"),
            headers={str(k): str(v) for k, v in headers.items()},
            latency=float(latency),
            drop=drop,
        )

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define(eq=False)
class FaultInjector:
    """ASGI middleware applying :class:`Fault` rules before the wrapped app sees a request.

    Control routes (``/_sim/...``) are never faulted, so a test can always reset.
    """

    app: ASGIApp
    faults: list[Fault] = attrs.Factory(list)

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first live fault matching this request, with its count used up by one."""
        if path.startswith("/_sim"):
            return None
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.count is not None:
                    fault.count -= 1
                fault.hits += 1
                return fault
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET") if scope["type"] == "http" else "WEBSOCKET"
        fault = self.take(method, scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.latency:
            await trio.sleep(fault.latency)
        if scope["type"] == "websocket":
            if fault.drop or fault.status is not None:
                # Refuse the handshake: the client sees a failed connect.
                await send({"type": "websocket.close", "code": 1011})
                return
            await self.app(scope, receive, send)
            return
        if fault.drop:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"partial":', "more_body": True})
            raise DroppedConnection(f"fault: dropped connection on {method} {scope['path']}")
        if fault.status is not None:
            import json

            body = b"" if fault.body is None else json.dumps(fault.body).encode()
            headers = [(b"content-type", b"application/json")]
            headers += [(k.lower().encode(), v.encode()) for k, v in fault.headers.items()]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": fault.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


@attrs.frozen
class Recorded:
    """A request the bridge made to a simulator: the endpoint, its body, and when (trio time)."""

    method: str
    path: str
    body: Any
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "body": self.body, "at": self.at}


@attrs.define(eq=False, kw_only=True)
class SimulatorBase:
    """An actor serving one simulator app.

    Subclasses build their quart app in :meth:`build_app` and may start background work (webhook
    deliveries, websocket pushes) in ``self.nursery``, which lives exactly as long as ``run``.

    ``await nursery.start(fake.run)`` returns the base URL (``http://127.0.0.1:PORT``).
    """

    host: str = "127.0.0.1"
    port: int = 0
    websocket_ping_interval: float | None = None
    url: str = attrs.field(init=False, default="")
    injector: FaultInjector = attrs.field(init=False)
    _nursery: trio.Nursery | None = attrs.field(init=False, default=None)

    def build_app(self) -> ASGIApp:
        raise NotImplementedError

    @property
    def nursery(self) -> trio.Nursery:
        if self._nursery is None:
            raise RuntimeError(
                "the simulator is not running; start it with nursery.start(fake.run)"
            )
        return self._nursery

    async def run(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        self.injector = FaultInjector(self.build_app())
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                binds: list[str] = await nursery.start(
                    lambda task_status: serve_app(
                        self.injector,
                        host=self.host,
                        port=self.port,
                        graceful_timeout=0.5,
                        websocket_ping_interval=self.websocket_ping_interval,
                        task_status=task_status,
                    )
                )
                self.url = base_url(binds)
                task_status.started(self.url)
                await trio.sleep_forever()
            finally:
                self._nursery = None
                nursery.cancel_scope.cancel(reason="simulator stopped")
