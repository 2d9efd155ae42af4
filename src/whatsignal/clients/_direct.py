"""Plain requests handed straight to the connection pool, past httpx's client.

Almost every request the bridge makes is one small JSON body to a fixed path (a ``sendText``,
a ``/v2/send``, a receipt) whose answer is read whole. For those, :class:`httpx.AsyncClient`
does work the bridge never uses: merging a base URL into a parsed :class:`httpx.URL`, a
request object whose headers are looked up one by one, an auth flow, a redirect loop, a cookie
jar that builds a ``urllib`` request per answer, and a transport that turns all of it into
httpcore's request again. Under load that was about a tenth of the event loop's time (issue
16's profile), more than the relay logic itself.

:class:`Direct` builds httpcore's request itself, from what the client was opened with (the
origin, the path prefix, the default headers, the timeouts), and hands it to the same
:class:`~whatsignal.clients._pool.LeanPool` the client's transport uses, so both paths share
the connections. It takes only what it can send exactly as httpx would: a path of URL-safe
ASCII, a JSON body or none, no query and no streamed body (those, and every client opened
on another transport, a test's or httpx's own under a proxy, take the client's path). Its
JSON is httpx's encoding (compact, UTF-8, no NaN); redirects are answers, never followed, as
on the client's path; no ``Accept-Encoding`` is sent, so answers come unencoded.

Failures come back as httpcore's exceptions, whose class names are httpx's (``ConnectError``,
``ReadTimeout``, ...), so :func:`~whatsignal.clients._http.transport_error` words both alike.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs
import httpcore
import httpx
import trio

__all__ = ["NO_ANSWER", "Direct"]

NO_ANSWER = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)
"""httpcore's exceptions for "no HTTP answer" (httpx maps the same to ``RequestError``)."""

_PLAIN_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*")
"""A path httpx would send unchanged: URL-safe ASCII, already percent-encoded, no query."""

_JSON_HEADERS = ((b"Content-Type", b"application/json"),)


@attrs.frozen
class Direct:
    """The direct path of one upstream client (see the module docstring).

    Attributes:
        pool: the client's connection pool (httpcore's request interface).
        scheme, host, port: the upstream's origin, as httpcore takes it.
        prefix: the base URL's path without its trailing slash (request paths follow it).
        headers: what every request carries: ``Host``, then the client's default headers.
        timeout: the client's timeouts, as httpcore's ``timeout`` extension.
    """

    pool: Any
    scheme: bytes
    host: bytes
    port: int | None
    prefix: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    timeout: dict[str, float | None]

    @classmethod
    def for_client(
        cls, pool: Any, base_url: str, headers: dict[str, str], timeout: httpx.Timeout
    ) -> Direct:
        """The direct path of a client opened on ``base_url`` with these defaults."""
        base = httpx.URL(base_url)
        return cls(
            pool=pool,
            scheme=base.raw_scheme,
            host=base.raw_host,
            port=base.port,
            prefix=base.raw_path.rstrip(b"/"),
            headers=(
                (b"Host", base.netloc),
                *((k.encode("ascii"), v.encode("latin-1")) for k, v in headers.items()),
            ),
            timeout=timeout.as_dict(),
        )

    def takes(self, path: str) -> bool:
        """Whether ``path`` (relative to the base URL) can go the direct way."""
        return _PLAIN_PATH.fullmatch(path) is not None

    async def send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        request_timeout: httpx.Timeout | None = None,
        accept: str | None = None,
    ) -> httpx.Response:
        """Send one request and read its answer whole (any status).

        Raises:
            one of :data:`NO_ANSWER`: no HTTP answer, or the answer broke off.
        """
        headers = list(self.headers)
        if accept is not None:
            headers = [(k, v) for k, v in headers if k.lower() != b"accept"]
            headers.append((b"Accept", accept.encode("latin-1")))
        content = b""
        if json_body is not None:
            content = json.dumps(
                json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
            headers.extend(_JSON_HEADERS)
        if content or method in ("POST", "PUT", "PATCH"):
            headers.append((b"Content-Length", str(len(content)).encode("ascii")))
        timeouts = self.timeout if request_timeout is None else request_timeout.as_dict()
        request = httpcore.Request(
            method.encode("ascii"),
            httpcore.URL(
                scheme=self.scheme,
                host=self.host,
                port=self.port,
                target=self.prefix + path.encode("ascii"),
            ),
            headers=headers,
            content=content,
            extensions={"timeout": timeouts},
        )
        answer = await self.pool.handle_async_request(request)
        try:
            data = await answer.aread()
        finally:
            with trio.CancelScope(shield=True):  # the connection goes back (or is closed)
                await answer.aclose()
        return httpx.Response(answer.status, headers=answer.headers, content=data)
