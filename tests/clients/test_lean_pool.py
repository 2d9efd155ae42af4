"""The upstream clients' connection pool (clients/_pool.py) over real sockets: connections are
reused, one the server closed is replaced rather than failing a send, the limits hold, and a
cancelled or failed request gives its connection's place back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import attrs
import httpx
import pytest
import trio
from client_helpers import RawRequests

from whatsignal.clients import open_http_client
from whatsignal.clients._http import request
from whatsignal.clients._pool import LeanPool, lean_transport
from whatsignal.errors import TransportError


@attrs.define(eq=False)
class Server:
    """A minimal HTTP/1.1 server: answers each request ``ok``, counts connections, and can
    close a connection after its answer (as a keep-alive timeout on the server would) or hold
    answers until released."""

    port: int = 0
    accepted: int = 0
    close_after_answer: bool = False
    hold: trio.Event | None = None
    waiting: int = 0

    async def holding(self, count: int) -> None:
        """Return once ``count`` requests wait for their answer."""
        while self.waiting < count:
            await trio.sleep(0.01)

    async def handle(self, stream: trio.SocketStream) -> None:
        self.accepted += 1
        requests = RawRequests(stream)
        async with stream:
            while await requests.next() is not None:
                if self.hold is not None:
                    self.waiting += 1
                    await self.hold.wait()
                    self.waiting -= 1
                await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                if self.close_after_answer:
                    return


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    served = Server()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, served.handle, 0, host="127.0.0.1"))
        served.port = listeners[0].socket.getsockname()[1]
        yield served
        nursery.cancel_scope.cancel()


def client(server: Server, **limits: int) -> tuple[httpx.AsyncClient, LeanPool]:
    lean = lean_transport(httpx.Limits(keepalive_expiry=30, **limits))
    assert lean is not None
    transport, pool = lean
    assert transport._pool is pool
    http = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}", transport=transport, timeout=5
    )
    return http, pool


async def test_sequential_requests_share_one_connection(server: Server) -> None:
    http, pool = client(server, max_connections=4, max_keepalive_connections=4)
    async with http:
        for _ in range(5):
            assert (await http.post("/send", content=b"x")).text == "ok"
        assert server.accepted == 1
        assert pool.idle_connections == 1


async def test_a_connection_the_server_closed_is_replaced_not_an_error(server: Server) -> None:
    server.close_after_answer = True
    http, pool = client(server, max_connections=2, max_keepalive_connections=2)
    async with http:
        for _ in range(3):
            assert (await http.post("/send", content=b"x")).text == "ok"
            await trio.sleep(0.05)  # the server's close reaches the idle connection
        assert server.accepted == 3
        assert pool.open_connections <= 1


async def test_busy_connections_make_a_request_wait_then_time_out(server: Server) -> None:
    server.hold = trio.Event()
    http, pool = client(server, max_connections=2, max_keepalive_connections=2)
    answers: list[str] = []

    async def send() -> None:
        answers.append((await http.post("/send", content=b"x")).text)

    async with http:
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(send)
            await server.holding(2)
            assert server.accepted == 2  # the third waits for a connection, opens none
            with pytest.raises(httpx.PoolTimeout):
                await http.post("/send", content=b"x", timeout=httpx.Timeout(5, pool=0.05))
            server.hold.set()
        assert answers == ["ok"] * 3
        assert server.accepted == 2
        assert pool.open_connections == 2


async def test_no_more_than_max_keepalive_stay_idle(server: Server) -> None:
    server.hold = trio.Event()
    http, pool = client(server, max_connections=4, max_keepalive_connections=1)
    async with http:
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(http.post, "/send")
            await server.holding(4)
            server.hold.set()
        assert pool.idle_connections == 1
        assert pool.open_connections == 1


async def test_a_cancelled_request_gives_its_place_back(server: Server) -> None:
    server.hold = trio.Event()
    http, pool = client(server, max_connections=1, max_keepalive_connections=1)
    async with http:
        with trio.move_on_after(0.1):
            await http.post("/send", content=b"x")
        assert pool.open_connections == 0
        server.hold.set()
        assert (await http.post("/send", content=b"x")).text == "ok"


async def test_an_idle_connection_past_its_expiry_is_not_reused(server: Server) -> None:
    lean = lean_transport(httpx.Limits(max_connections=2, keepalive_expiry=0))
    assert lean is not None
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}", transport=lean[0]
    ) as http:
        await http.get("/")
        await trio.sleep(0.01)
        await http.get("/")
    assert server.accepted == 2


async def test_a_refused_connection_is_a_transport_error_and_frees_its_place() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        async with open_http_client(f"http://127.0.0.1:{port}", timeout=2) as http:
            for _ in range(70):  # more than the pool's 64 connections
                with pytest.raises(TransportError, match="ConnectError"):
                    await request(http, "GET", "/v1/about", operation="signal-cli about")


async def test_a_proxy_in_the_environment_keeps_httpx_own_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    assert lean_transport(httpx.Limits()) is None
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.delenv("http_proxy", raising=False)
    assert lean_transport(httpx.Limits()) is not None


async def test_the_closed_pool_refuses_requests_and_closes_what_comes_back(server: Server) -> None:
    http, pool = client(server, max_connections=2, max_keepalive_connections=2)
    await http.get("/")
    await http.aclose()
    assert pool.open_connections == 0
    with pytest.raises(RuntimeError):
        await http.get("/")
