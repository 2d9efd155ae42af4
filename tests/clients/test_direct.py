"""The direct path of the upstream clients (clients/_direct.py) over real sockets: a plain JSON
request reaches the upstream as httpx's client would send it, its answers and failures become
the same results and errors, and anything it does not take still goes through the client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import attrs
import httpx
import pytest
import trio
from client_helpers import RawRequests

from whatsignal.clients._direct import Direct
from whatsignal.clients._http import UpstreamHttp, _through_client, open_http_client, request
from whatsignal.errors import ApiError, TransportError


@attrs.frozen
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@attrs.define(eq=False)
class Upstream:
    """Records every request whole; answers with ``status``/``answer``, or holds answers."""

    port: int = 0
    seen: list[Seen] = attrs.Factory(list)
    status: int = 200
    answer: bytes = b'{"timestamp": 1}'
    content_type: bytes = b"application/json"
    hold: trio.Event | None = None
    connections: int = 0

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        requests = RawRequests(stream)
        async with stream:
            while (request := await requests.next()) is not None:
                first, headers, body = request
                method, target, _ = first.split(" ")
                self.seen.append(Seen(method, target, headers, body))
                if self.hold is not None:
                    await self.hold.wait()
                reason = b"OK" if self.status < 400 else b"Error"
                await stream.send_all(
                    b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
                    % (self.status, reason, self.content_type, len(self.answer), self.answer)
                )


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    served = Upstream()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, served.handle, 0, host="127.0.0.1"))
        served.port = listeners[0].socket.getsockname()[1]
        yield served
        nursery.cancel_scope.cancel()


def only_direct(http: httpx.AsyncClient) -> Direct:
    assert isinstance(http, UpstreamHttp)
    assert http.direct is not None
    return http.direct


async def test_a_json_send_reaches_the_upstream_as_httpx_would_send_it(upstream: Upstream) -> None:
    base = f"http://127.0.0.1:{upstream.port}/prefix/"
    body = {"text": "héllo \ud800 ✓", "chatId": "123@c.us", "n": [1, 2.5, None, True]}
    async with open_http_client(base, timeout=5, api_key="secret") as http:
        only_direct(http)
        response = await request(http, "POST", "/api/sendText", operation="op", json_body=body)
        assert response.json() == {"timestamp": 1}
        await _through_client(
            http,
            "POST",
            "/api/sendText",
            operation="op",
            json_body=body,
            params=None,
            request_timeout=None,
            accept=None,
            stream=None,
        )
    direct, client = upstream.seen
    assert direct.method == client.method == "POST"
    assert direct.target == client.target == "/prefix/api/sendText"
    # The client's path sends the text as it is; the direct path after clean_strings (the
    # lone surrogate becomes U+FFFD), as request() does for the client's path too.
    assert direct.body == client.body.replace(b"\\ud800", "\ufffd".encode())
    assert b"\\u" not in direct.body and "héllo".encode() in direct.body
    ignored = {"accept-encoding", "connection"}  # httpx's own defaults, not needed here
    assert direct.headers == {k: v for k, v in client.headers.items() if k not in ignored}
    assert direct.headers["x-api-key"] == "secret"
    assert direct.headers["host"] == f"127.0.0.1:{upstream.port}"
    assert direct.headers["content-type"] == "application/json"
    assert upstream.connections == 1  # both paths share the pool's connection


async def test_content_length_is_sent_as_httpx_sends_it(upstream: Upstream) -> None:
    async with open_http_client(f"http://127.0.0.1:{upstream.port}", timeout=5) as http:
        await request(http, "GET", "/v1/about", operation="op")
        await request(http, "POST", "/v1/typing", operation="op")
        await request(http, "DELETE", "/v1/typing", operation="op", json_body={"a": 1})
    get, post, delete = upstream.seen
    assert "content-length" not in get.headers
    assert post.headers["content-length"] == "0" and post.body == b""
    assert delete.body == b'{"a":1}' and delete.headers["content-length"] == "7"


async def test_an_error_answer_is_an_api_error_with_the_upstreams_words(
    upstream: Upstream,
) -> None:
    upstream.status = 400
    upstream.answer = b'{"error": "Invalid group id"}'
    async with open_http_client(f"http://127.0.0.1:{upstream.port}", timeout=5) as http:
        with pytest.raises(ApiError, match="HTTP 400: Invalid group id") as caught:
            await request(http, "POST", "/v2/send", operation="signal-cli send", json_body={})
    assert caught.value.status == 400


async def test_a_redirect_is_not_followed(upstream: Upstream) -> None:
    upstream.status = 302
    async with open_http_client(f"http://127.0.0.1:{upstream.port}", timeout=5) as http:
        with pytest.raises(ApiError, match="HTTP 302"):
            await request(http, "GET", "/v1/about", operation="op")
    assert len(upstream.seen) == 1


async def test_the_answer_text_follows_its_charset(upstream: Upstream) -> None:
    upstream.content_type = b"text/plain; charset=latin-1"
    upstream.answer = "caf\xe9".encode("latin-1")
    async with open_http_client(f"http://127.0.0.1:{upstream.port}", timeout=5) as http:
        response = await request(http, "GET", "/v1/about", operation="op", accept="text/plain")
    assert response.text == "café"
    assert upstream.seen[0].headers["accept"] == "text/plain"


async def test_a_slow_answer_is_a_read_timeout_and_gives_its_connection_back(
    upstream: Upstream,
) -> None:
    upstream.hold = trio.Event()
    async with open_http_client(f"http://127.0.0.1:{upstream.port}", timeout=5) as http:
        direct = only_direct(http)
        with pytest.raises(TransportError, match=r"op: no answer \(ReadTimeout"):
            await request(
                http, "GET", "/v1/receive", operation="op", request_timeout=httpx.Timeout(0.2)
            )
        assert direct.pool.open_connections == 0
        with trio.move_on_after(0.2) as scope:
            await request(http, "GET", "/v1/receive", operation="op")
        assert scope.cancelled_caught
        assert direct.pool.open_connections == 0  # cancelled mid-answer: closed, not leaked
        upstream.hold.set()
        assert (await request(http, "GET", "/v1/about", operation="op")).json() == {"timestamp": 1}


async def test_what_the_direct_path_does_not_take_goes_through_the_client(
    upstream: Upstream,
) -> None:
    async with open_http_client(f"http://127.0.0.1:{upstream.port}", timeout=5) as http:
        direct = only_direct(http)
        assert direct.takes("/api/s%40c.us/chats/1%402/messages")
        assert not direct.takes("/a b") and not direct.takes("/a?b=1") and not direct.takes("x")
        await request(http, "GET", "/v1/groups", operation="op", params={"q": "a b"})
        await request(http, "GET", "/v1/a b", operation="op")
    assert [s.target for s in upstream.seen] == ["/v1/groups?q=a+b", "/v1/a%20b"]
    assert all(s.headers["accept-encoding"] for s in upstream.seen)  # httpx's client sent them


async def test_a_client_on_a_given_transport_has_no_direct_path() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"ok": True}))
    async with open_http_client("http://up", timeout=5, transport=transport) as http:
        assert isinstance(http, UpstreamHttp) and http.direct is None
        assert (await request(http, "POST", "/x", operation="op", json_body={})).json() == {
            "ok": True
        }
