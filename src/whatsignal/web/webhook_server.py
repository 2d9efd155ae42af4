"""WebhookServer: the bridge's HTTP actor.

It serves the quart-trio app of :mod:`whatsignal.web.app` (webhooks, health, metrics, admin)
through the serving helper the simulators use too (:mod:`whatsignal._serve`), so every server
in the project starts, reports its address and drains the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import trio

from whatsignal._serve import serve_app

if TYPE_CHECKING:
    from whatsignal.web.admission import Admission

__all__ = ["WebhookServer"]


@attrs.define(eq=False, kw_only=True)
class WebhookServer:
    """Serves the bridge's app until stopped.

    ``run`` reports the bound URLs once the socket listens. When ``stopping`` is set, it stops
    accepting and gives requests in flight ``grace`` seconds; cancellation is the hard stop.
    ``read_timeout`` (``server.readTimeoutSec``) and ``idle_timeout``
    (``server.idleTimeoutSec``) are hypercorn's ``read_timeout`` and ``keep_alive_timeout``.
    ``admission``, when given, samples the backlog the app's admission control reads for as
    long as the server serves.
    """

    app: Any
    host: str
    port: int
    stopping: trio.Event
    grace: float = 5.0
    read_timeout: int | None = None
    idle_timeout: float = 75.0
    admission: Admission | None = None

    async def run(
        self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            if self.admission is not None:
                nursery.start_soon(self.admission.watch)
            await serve_app(
                self.app,
                host=self.host,
                port=self.port,
                shutdown_trigger=self.stopping.wait,
                graceful_timeout=self.grace,
                read_timeout=self.read_timeout,
                keep_alive_timeout=self.idle_timeout,
                task_status=task_status,
            )
            nursery.cancel_scope.cancel(reason="the server stopped")
