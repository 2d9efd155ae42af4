"""Pieces both simulators share: the served-app actor base and the sent-request log; fault
injection (:mod:`._faults`) is re-exported from here.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import httpx
import trio

from whatsignal._serve import base_url, serve_app
from whatsignal.testing._faults import (
    ASGIApp,
    Fault,
    FaultInjector,
    finite,
    header_problem,
)

__all__ = [
    "ASGIApp",
    "Fault",
    "FaultInjector",
    "Recorded",
    "SimulatorBase",
    "finite",
    "header_problem",
    "http_url",
]

log = logging.getLogger("whatsignal.testing")


def http_url(value: Any) -> httpx.URL | None:
    """``value`` as an absolute http(s) URL with a host, or None when it is none."""
    if not isinstance(value, str):
        return None
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, ValueError):  # ValueError: lone surrogates in the URL
        return None
    return url if url.scheme in ("http", "https") and url.host else None


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


def since_index(raw: str | None) -> int:
    """The ``?since=N`` of ``GET /_sim/sent``: skip the first N records (a poller that keeps
    count fetches only what is new); absent, negative or not a number: 0."""
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0
