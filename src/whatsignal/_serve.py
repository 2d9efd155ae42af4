"""Serve an ASGI app (quart-trio) with hypercorn's trio worker.

One function, used by the bridge's own HTTP server and by the simulators in
:mod:`whatsignal.testing`, so that every server in the project starts, reports its address
and drains the same way. It lives at the top of the package, beside the bridge rather than in
it, because the simulators must not import the bridge's runtime (``whatsignal.web`` and
below): this module depends on hypercorn and trio only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

__all__ = ["base_url", "serve_app"]


def _hypercorn_config(
    host: str,
    port: int,
    graceful_timeout: float,
    websocket_ping_interval: float | None,
    read_timeout: int | None = None,
    keep_alive_timeout: float = 75.0,
) -> HypercornConfig:
    config = HypercornConfig()
    # IPv6 literals need brackets in a bind string.
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.graceful_timeout = graceful_timeout
    # Hypercorn logs each request and its own start-up lines; our access logging (if any) is
    # done by the app itself, with masking, so hypercorn's loggers stay quiet.
    config.accesslog = None
    config.errorlog = logging.getLogger("whatsignal.http.hypercorn")
    config.keep_alive_timeout = keep_alive_timeout
    # Closes a connection whose client sent nothing for this long, the time its request is
    # handled included (hypercorn reads on while the app works); None: never.
    config.read_timeout = read_timeout
    # Server-initiated websocket pings (ASGI has no ping message; hypercorn sends them).
    config.websocket_ping_interval = websocket_ping_interval
    return config


async def serve_app(
    app: Any,
    *,
    host: str,
    port: int,
    shutdown_trigger: Callable[[], Awaitable[Any]] | None = None,
    graceful_timeout: float = 5.0,
    websocket_ping_interval: float | None = None,
    read_timeout: int | None = None,
    keep_alive_timeout: float = 75.0,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown_trigger`` returns (graceful) or the caller cancels.

    Reports the bound URLs (``["http://127.0.0.1:54321"]``) through ``task_status`` once the
    socket listens, so ``port=0`` is usable in tests.

    ``read_timeout``: a connection whose client sends nothing for this long is closed, also
    while its request is being handled (None: never); ``keep_alive_timeout``: an idle
    keep-alive connection is closed after this long.

    Resource handling:
        When ``shutdown_trigger`` returns, hypercorn stops accepting connections and gives
        requests in flight ``graceful_timeout`` seconds to finish. Cancellation is the hard stop.
    """
    config = _hypercorn_config(
        host, port, graceful_timeout, websocket_ping_interval, read_timeout, keep_alive_timeout
    )
    await serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)


def base_url(binds: list[str]) -> str:
    """The URL a client on this machine should use for the first bind.

    A wildcard bind (``0.0.0.0`` / ``::``) is not a destination, so it is replaced by loopback.
    """
    url = binds[0]
    return url.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://[::1]:")
