"""Fault injection, shared by both simulators: an ASGI middleware in front of the simulator's
quart app, so a fault looks to the bridge exactly as it would from a real service: an HTTP
error status with the service's error body, added latency, a connection that dies in the
middle of a response, or a call carried out whose answer comes late or never.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import attrs
import trio

from whatsignal.testing._json import JsonError, dumps

__all__ = [
    "ASGIApp",
    "DroppedConnection",
    "Fault",
    "FaultInjector",
    "finite",
    "header_problem",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class DroppedConnection(Exception):
    """Raised inside the server to cut a response short (the client sees the connection die)."""


# RFC 9110 token characters (a header name) and what a header value may hold on the wire.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
# Framing headers the fake writes itself: a second, different copy breaks the response.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


def finite(value: Any) -> bool:
    """Whether ``value`` is a real number a timer can wait for (not NaN, infinite or huge)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def header_problem(name: Any, value: Any) -> str | None:
    """Why ``name: value`` cannot go out as an HTTP header (None: it can)."""
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        return f"header name {name!r:.40} is not an HTTP token"
    if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
        return f"header {name} must be a string of printable ASCII characters"
    if value != value.strip(" \t"):
        return f"header {name} must not start or end with whitespace"
    return None


@attrs.define
class Fault:
    """One injected fault.

    ``path`` is a glob over the request path (``/api/sendText``, ``/v2/send``, ``/v1/receive/*``);
    ``method`` is an HTTP method or ``*``. The fault applies to the next ``count`` matching
    calls (``None``: until reset). ``latency`` seconds are added first; then, if ``drop``, the
    connection is cut mid-response; else if ``status``, that status and ``body`` (JSON) are
    answered instead of calling the endpoint.

    With ``carry_out`` the endpoint is called first and does its work (a send is recorded and
    shown in the chat); only its answer is faulted: it goes out after ``latency`` seconds, or
    is replaced by ``status``/``body``, or is lost (``drop``). That is an upstream that did
    the work but whose answer came too late or never.
    """

    path: str
    method: str = "*"
    count: int | None = 1
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = attrs.Factory(dict)
    latency: float = 0.0
    drop: bool = False
    carry_out: bool = False
    hits: int = 0

    def __attrs_post_init__(self) -> None:
        problem = self.problem()
        if problem is not None:
            raise ValueError(problem)

    def problem(self) -> str | None:
        """Why this fault cannot be served (None: it can); checked when it is created."""
        if self.status is not None and not 200 <= self.status <= 599:
            return "'status' must be a final HTTP status, 200 to 599"
        if self.status in (204, 304) and self.body is not None:
            return f"a {self.status} answer has no body"
        if not finite(self.latency) or self.latency < 0:
            return "'latency' must be a finite, non-negative number of seconds"
        if self.body is not None:
            try:
                dumps(self.body)
            except JsonError as exc:
                return f"'body' must be JSON: {exc}"
        for name, value in self.headers.items():
            problem = header_problem(name, value)
            if problem is None and name.lower() in _FRAMING:
                problem = f"header {name} is set by the fake itself"
            if problem is not None:
                return problem
        return None

    def body_bytes(self) -> bytes:
        """The JSON body this fault answers with (empty without one)."""
        return b"" if self.body is None else dumps(self.body).encode()

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
        known = {
            "path",
            "method",
            "count",
            "status",
            "body",
            "headers",
            "latency",
            "drop",
            "carry_out",
        }
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {sorted(unknown)}; known: {sorted(known)}")
        path = data.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError("'path' is required: a glob over the request path, e.g. '/v2/send'")
        count = data.get("count", 1)
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 0
        ):
            raise ValueError("'count' must be a non-negative integer or null (until reset)")
        status = data.get("status")
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599
        ):
            raise ValueError("'status' must be a final HTTP status code, 200 to 599")
        latency = data.get("latency", 0.0)
        if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
            raise ValueError("'latency' must be a non-negative number of seconds")
        drop = data.get("drop", False)
        if not isinstance(drop, bool):
            raise ValueError("'drop' must be a boolean")
        if status is None and not drop and not latency:
            raise ValueError("a fault needs at least one of 'status', 'drop' or 'latency'")
        carry_out = data.get("carry_out", False)
        if not isinstance(carry_out, bool):
            raise ValueError("'carry_out' must be a boolean")
        headers = data.get("headers", {})
        if not isinstance(headers, dict):
            raise ValueError("'headers' must be an object")
        method = data.get("method", "*")
        if not isinstance(method, str):
            raise ValueError("'method' must be an HTTP method or '*'")
        return cls(
            path=path,
            method=method,
            count=count,
            status=status,
            body=data.get("body"),
            headers=dict(headers),
            latency=float(latency),
            drop=drop,
            carry_out=carry_out,
        )

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


_DRAIN_SECONDS = 30.0
"""How long the rest of a request body is waited for after the answer is ready."""


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"transfer-encoding" or (
            name.lower() == b"content-length" and value.strip() not in (b"", b"0")
        ):
            return True
    return False


@attrs.define(eq=False)
class _RequestBody:
    """Tracks whether a request's body was read to its end, and reads the rest if not.

    A handler that answers before the body has arrived in full (``POST /_sim/reset`` with a
    large one, a fault, an early refusal) makes hypercorn close the connection after the
    answer, without a ``Connection: close`` the client could see, so the client's next request
    on that keep-alive connection fails or hangs. Reading and discarding the rest before the
    answer ends, as Go's and Node's servers do, keeps the connection usable.
    """

    upstream: Receive
    complete: trio.Event = attrs.Factory(trio.Event)

    async def receive(self) -> Message:
        message = await self.upstream()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.complete.set()
        return message

    async def drain(self) -> None:
        """Read what is left of the body (the app's own reader may be reading it too)."""
        if self.complete.is_set():
            return

        async def pull() -> None:
            while not self.complete.is_set():
                await self.receive()

        with trio.move_on_after(_DRAIN_SECONDS):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pull)
                await self.complete.wait()
                nursery.cancel_scope.cancel()


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
        if scope["type"] != "http" or not _has_body(scope):
            await self._serve(scope, receive, send)
            return
        body = _RequestBody(receive)

        async def send_after_reading(message: Message) -> None:
            if message["type"] == "http.response.start":
                await body.drain()
            await send(message)

        await self._serve(scope, body.receive, send_after_reading)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET") if scope["type"] == "http" else "WEBSOCKET"
        fault = self.take(method, scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.carry_out and scope["type"] == "http":
            answer = await self._carry_out(scope, receive)
            if fault.latency:
                await trio.sleep(fault.latency)
            if fault.drop or fault.status is not None:
                await self._fault_answer(fault, method, scope["path"], send)
                return
            for message in answer:
                await send(message)
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
        if fault.drop or fault.status is not None:
            await self._fault_answer(fault, method, scope["path"], send)
            return
        await self.app(scope, receive, send)

    async def _carry_out(self, scope: Scope, receive: Receive) -> list[Message]:
        """Call the endpoint and keep its answer (the messages it would send) for later."""
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)
        return answer

    @staticmethod
    async def _fault_answer(fault: Fault, method: str, path: str, send: Send) -> None:
        """Cut the connection mid-response (``drop``) or answer the fault's status."""
        if fault.drop:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"partial":', "more_body": True})
            raise DroppedConnection(f"fault: dropped connection on {method} {path}")
        body = fault.body_bytes()
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode(), v.encode()) for k, v in fault.headers.items()]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
