"""Answers sent before the request's body was read whole: ``Connection: close``, then a short drain.

The app answers some requests without reading their body: a body over
``server.webhookMaxBytes`` (413, decided from ``Content-Length``), a wrong push-path token or
admin token (401), an address over the failed-authentication limit (429). On a keep-alive
connection that leaves the rest of the body in flight, and hypercorn (0.18, h11) cannot start the
next request cycle while the client is still sending the old one; worse, quart-trio cancels the
request task when hypercorn reports the stream closed, which cuts off hypercorn's own close of
the connection half way, so the connection stays open and the client's next request on it is
never answered.

:class:`EarlyReply` fixes both from the ASGI side, without touching either library:

* such a response carries ``Connection: close``, so the client sends its next request on a new
  connection (httpx, aiohttp and WAHA's axios all honour it);
* its end is held back until the client has sent its body (quart-trio reads and discards it
  meanwhile; nothing is kept beyond ``server.webhookMaxBytes``), at most ``linger`` seconds. A
  server that closes a socket with unread data makes the kernel answer with a reset, and a client
  still uploading would then see a broken connection instead of the 413 (the "lingering close"
  of nginx and Apache). The status line and the body are already on the wire: the answer itself
  is never delayed, only the end of the exchange.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs
import trio

if TYPE_CHECKING:
    from hypercorn.typing import (
        ASGIFramework,
        ASGIReceiveCallable,
        ASGIReceiveEvent,
        ASGISendCallable,
        ASGISendEvent,
        Scope,
    )

__all__ = ["EarlyReply"]


def _has_body(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"transfer-encoding":
            return True
        if name.lower() == b"content-length":
            return value.strip() not in (b"0", b"")
    return False


@attrs.define(eq=False)
class _Exchange:
    """One request's progress: whether its body was received whole, whether we close."""

    received: trio.Event
    closing: bool = False


@attrs.define(eq=False)
class EarlyReply:
    """ASGI middleware: ``Connection: close`` (and a bounded drain) for answers given before
    the request's body arrived whole. See the module docstring.

    Args:
        app: the ASGI app (quart-trio's ``asgi_app``).
        linger: how long the end of such an answer waits for the rest of the body, in seconds.
    """

    app: ASGIFramework
    linger: float = 5.0

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(trio.Event())
        if not _has_body(scope["headers"]):
            exchange.received.set()

        async def tracked_receive() -> ASGIReceiveEvent:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                exchange.received.set()
            return message

        async def guarded_send(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start" and not exchange.received.is_set():
                exchange.closing = True
                message = {
                    **message,
                    "headers": [*message.get("headers", ()), (b"connection", b"close")],
                }
            elif (
                message["type"] == "http.response.body"
                and not message.get("more_body", False)
                and exchange.closing
            ):
                with trio.move_on_after(self.linger):
                    await exchange.received.wait()
            await send(message)

        await self.app(scope, tracked_receive, guarded_send)
