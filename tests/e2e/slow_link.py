"""A receive websocket behind a slow network path, for ordering tests.

What signal-cli-rest-api writes to the socket (frames, and the pong to a ping) reaches the
bridge ``delay`` seconds later, in the order it was written: one TCP stream, so a late frame
never lets a later pong overtake it. signal-cli-rest-api's pongs are written by its websocket
library, and so are the simulator's (hypercorn answers pings itself), so the delay is put
between the socket and the bridge's receiver, through the bridge's ``websocket_connect``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import attrs
import trio

from whatsignal.actors.receiver import Connect, MessageSource, open_websocket

__all__ = ["slow_link"]


@attrs.define
class _SlowSocket:
    arrivals: trio.MemoryReceiveChannel[tuple[float, Any]]
    ws: MessageSource
    delay: float

    async def get_message(self) -> Any:
        arrived, message = await self.arrivals.receive()
        await trio.sleep_until(arrived + self.delay)
        return message

    async def ping(self, payload: bytes | None = None) -> None:
        await self.ws.ping(payload)
        await trio.sleep(self.delay)


def slow_link(delay: float) -> Connect:
    """A ``websocket_connect`` whose sockets deliver everything ``delay`` seconds late."""

    @asynccontextmanager
    async def connect(url: str) -> AsyncIterator[MessageSource]:
        async with open_websocket(url) as ws, trio.open_nursery() as nursery:
            send, receive = trio.open_memory_channel[tuple[float, Any]](math.inf)

            async def pump() -> None:
                while True:
                    message = await ws.get_message()
                    send.send_nowait((trio.current_time(), message))

            nursery.start_soon(pump)
            yield _SlowSocket(receive, ws, delay)
            nursery.cancel_scope.cancel()

    connection: Callable[[str], AbstractAsyncContextManager[MessageSource]] = connect
    return connection
