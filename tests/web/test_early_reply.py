"""Answers given before the body arrived, on a real server (hypercorn via ``serve_app``).

After a 413 (or a 401 decided without the body) on a keep-alive connection, the client's next
request is answered: the early answer says ``Connection: close`` and the client reconnects.
Before the fix, hypercorn could not start the next cycle and the next request on the connection
was never answered. A 413 still comes before the body is read: the server answers a request
that announces 50 MB after the first kilobyte.

The middleware is also driven alone, with a stub ASGI app, for what a server rarely shows: a
client that never finishes its body (the end waits ``linger`` seconds, not forever), and
scopes that are not HTTP.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from edge_world import ADMIN, RealEdge, envelope, message, signed, start_edge

from whatsignal._serve import base_url, serve_app
from whatsignal.web.early_reply import EarlyReply

BIG = b"{" + b" " * (4 * 1024 * 1024) + b"}"


@pytest.fixture
async def served(nursery: trio.Nursery) -> tuple[RealEdge, str]:
    """The edge served by hypercorn on a free port (the nursery fixture stops it)."""
    edge = await start_edge(nursery, max_body_bytes=64 * 1024)
    binds = await nursery.start(partial(serve_app, edge.app, host="127.0.0.1", port=0))
    return edge, base_url(binds)


def _one_connection(url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=10)


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/webhook/whatsapp", signed(BIG), 413),
        ("/webhook/signal?token=wrong", {}, 401),
        ("/admin/signal/rate-limit-challenge", {"Authorization": "Bearer wrong"}, 401),
        ("/admin/signal/rate-limit-challenge", {"Authorization": f"Bearer {ADMIN}"}, 413),
    ],
)
async def test_the_next_request_on_the_connection_is_answered(
    served: tuple[RealEdge, str], path: str, headers: dict[str, str], status: int
) -> None:
    edge, url = served
    async with _one_connection(url) as client:
        for n in range(3):
            refused = await client.post(path, content=BIG, headers=headers)
            assert refused.status_code == status
            assert refused.headers["connection"] == "close"
            body = envelope("message", message(f"false_1@c.us_{n}"), id=f"evt_{n}")
            with trio.fail_after(10):
                answer = await client.post("/webhook/whatsapp", content=body, headers=signed(body))
            assert answer.status_code == 200
            # A request whose body was read keeps its connection.
            assert answer.headers.get("connection") != "close"
    assert await edge.store.pending_count() == 3


async def test_a_413_comes_before_the_body_is_read(served: tuple[RealEdge, str]) -> None:
    _, url = served
    host, port = url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        head = (
            "POST /webhook/whatsapp HTTP/1.1\r\n"
            f"Host: {host}\r\n"
            "Content-Type: application/json\r\n"
            "X-Webhook-Hmac: 00\r\n"
            "Content-Length: 50000000\r\n\r\n"
        )
        await stream.send_all(head.encode() + b"{" + b" " * 1024)
        received = b""
        with trio.fail_after(5):  # the other 49.9 MB are never sent
            while b"\r\n\r\n" not in received:
                received += await stream.receive_some(65536)
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 "
    assert b"connection: close" in rest.lower()


# The middleware alone ------------------------------------------------------------------------


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/", "headers": headers}


async def _early_app(scope: Any, receive: Any, send: Any) -> None:
    """Answers at once, never reading the body."""
    await send({"type": "http.response.start", "status": 413, "headers": []})
    await send({"type": "http.response.body", "body": b"no", "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def test_the_end_of_an_early_answer_waits_at_most_linger_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sent: list[tuple[float, dict[str, Any]]] = []

    async def receive() -> dict[str, Any]:
        await trio.sleep_forever()  # a client that stalls half way through its body
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append((trio.current_time(), message))

    start = trio.current_time()
    await EarlyReply(_early_app, linger=5.0)(_scope([(b"content-length", b"100")]), receive, send)
    (at_start, begin), (at_body, _), (at_end, end) = sent
    assert (b"connection", b"close") in begin["headers"]
    assert at_start == at_body == start
    assert at_end == start + 5.0
    assert end == {"type": "http.response.body", "body": b"", "more_body": False}


@pytest.mark.parametrize(
    ("headers", "closes"),
    [
        ([], False),
        ([(b"content-length", b"0")], False),
        ([(b"Content-Length", b"12")], True),
        ([(b"transfer-encoding", b"chunked")], True),
    ],
)
async def test_only_a_request_with_an_unread_body_is_closed(
    headers: list[tuple[bytes, bytes]], closes: bool
) -> None:
    messages: list[dict[str, Any]] = []
    bodies = [
        {"type": "http.request", "body": b"x", "more_body": True},
        {"type": "http.request", "body": b"y", "more_body": False},
    ]

    async def receive() -> dict[str, Any]:
        return bodies.pop(0)

    async def reading_app(scope: Any, receive: Any, send: Any) -> None:
        if closes:  # answer half way, then read the rest (as quart-trio does meanwhile)
            await send({"type": "http.response.start", "status": 401, "headers": []})
            assert (await receive())["more_body"]
            assert not (await receive())["more_body"]
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await _early_app(scope, receive, send)

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    with trio.fail_after(1):
        await EarlyReply(reading_app)(_scope(headers), receive, send)
    assert ((b"connection", b"close") in messages[0]["headers"]) is closes


async def test_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def never(*_: Any) -> Any:
        raise AssertionError

    await EarlyReply(app)({"type": "lifespan"}, never, never)
    assert seen == ["lifespan"]
