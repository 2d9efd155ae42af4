"""The websocket to signal-cli, as the receiver's reader sees it: what it needs of a
connection, and how one is opened (trio-websocket; tests inject their own)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import trio_websocket

__all__ = ["Connect", "MessageSource", "open_websocket"]


class MessageSource(Protocol):
    """What the websocket reader needs of a connection (trio-websocket's, or a test double)."""

    async def get_message(self) -> str | bytes: ...

    async def ping(self, payload: bytes | None = None) -> None: ...


Connect = Callable[[str], AbstractAsyncContextManager[MessageSource]]


@asynccontextmanager
async def open_websocket(url: str) -> AsyncIterator[MessageSource]:
    """Connect with trio-websocket; a large queue so a burst never stalls the socket."""
    async with trio_websocket.open_websocket_url(
        url, message_queue_size=1024, connect_timeout=10, disconnect_timeout=2
    ) as ws:
        yield ws
