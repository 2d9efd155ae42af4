"""A tiny webhook receiver for the FakeWaha tests: records every POST it is sent, in order of
arrival, and answers with the statuses a test queues (then 200).

It serves real HTTP on 127.0.0.1:0, as the bridge's webhook endpoint would, so the fake's
delivery tasks go through the same network path as in the end-to-end tests.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import httpx
import trio
from quart import Response, request
from quart_trio import QuartTrio

from whatsignal._serve import base_url, serve_app
from whatsignal.testing.waha import FakeWaha

__all__ = ["Receiver", "serve_receiver", "start_fake"]


@attrs.define(eq=False)
class Receiver:
    """Records every POST; answers the next status from ``statuses`` (then 200)."""

    url: str = ""
    requests: list[tuple[dict[str, str], bytes]] = attrs.Factory(list)
    statuses: list[int] = attrs.Factory(list)
    headers: dict[str, str] = attrs.Factory(dict)
    arrived: trio.Event = attrs.Factory(trio.Event)

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies received, in the order they arrived."""
        return [json.loads(raw) for _, raw in self.requests]

    def ids(self) -> list[str]:
        """The event ids received, in the order they arrived."""
        return [body["id"] for body in self.bodies()]

    async def wait_for(self, count: int) -> None:
        """Wait (at most 5 s) until ``count`` requests have arrived."""
        with trio.fail_after(5):
            while len(self.requests) < count:
                await self.arrived.wait()

    def build(self) -> QuartTrio:
        app = QuartTrio("receiver")

        @app.route("/hook", methods=["POST"])
        async def hook() -> Response:
            raw = await request.get_data()
            assert isinstance(raw, bytes)
            self.requests.append(({k.lower(): v for k, v in request.headers.items()}, raw))
            self.arrived.set()
            self.arrived = trio.Event()
            if self.statuses:
                return Response(b"", status=self.statuses.pop(0), headers=self.headers)
            return Response(b"", status=200)

        return app


async def serve_receiver(nursery: trio.Nursery) -> Receiver:
    """A :class:`Receiver` serving in ``nursery``; its ``url`` is set."""
    rec = Receiver()
    app = rec.build()
    binds: list[str] = await nursery.start(
        lambda task_status: serve_app(app, host="127.0.0.1", port=0, task_status=task_status)
    )
    rec.url = base_url(binds) + "/hook"
    return rec


async def start_fake(nursery: trio.Nursery, **kwargs: Any) -> tuple[FakeWaha, httpx.AsyncClient]:
    """A running FakeWaha with fast clocks (overridable) and a client for its base URL."""
    kwargs.setdefault("status_step", 0.01)
    kwargs.setdefault("webhook_retry_delay", 0.01)
    fake = FakeWaha(**kwargs)
    url: str = await nursery.start(fake.run)
    return fake, httpx.AsyncClient(base_url=url)
