"""A real edge for the web tests: the app over the real Intake and an in-memory SqliteStore.

Only the admin side is canned (its pages are not what these tests look at), except ``/metrics``,
which is the intake's real registry, so a test can see which labels a request created.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import attrs
import trio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart_trio import QuartTrio

from whatsignal.channels import ChannelMap, Route
from whatsignal.intake import Intake
from whatsignal.metrics import Metrics
from whatsignal.storage import InboundEvent, SqliteStore
from whatsignal.web.app import Readiness, WebSettings, create_app

SECRET = "s" * 40
TOKEN = "p" * 40
ADMIN = "a" * 40
BRIDGE = "+4915100000001"
ME = "+4915100000002"


@attrs.define(eq=False)
class Bells:
    rung: list[str] = attrs.Factory(list)

    def ring(self, queue: str) -> None:
        self.rung.append(queue)

    def fresh(self, events: Sequence[InboundEvent], ids: Sequence[int | None]) -> None:
        # handing rows over wakes the owner like a ring
        self.rung += [e.queue for e, i in zip(events, ids, strict=True) if i is not None]


@attrs.define(eq=False)
class MetricsAdmin:
    """The admin operations, canned except for the real metrics page."""

    counters: Metrics

    async def readiness(self) -> Readiness:
        return Readiness(True, {})

    async def status(self) -> dict[str, Any]:
        return {}

    async def dead_letters(self) -> list[dict[str, Any]]:
        return []

    async def retry_dead_letter(self, row_id: int) -> bool:
        return False

    async def solve_rate_limit(self, captcha: str, number: str | None) -> dict[str, Any]:
        return {"solved": ["****0001"], "failed": {}}

    async def metrics(self) -> tuple[bytes, str]:
        return generate_latest(self.counters.registry), CONTENT_TYPE_LATEST


@attrs.frozen
class RealEdge:
    app: QuartTrio
    store: SqliteStore
    metrics: Metrics
    bells: Bells


async def start_edge(nursery: trio.Nursery, **overrides: Any) -> RealEdge:
    """The bridge's app over a running in-memory store (run by ``nursery``)."""
    store: SqliteStore = await nursery.start(SqliteStore(":memory:").run)
    metrics, bells = Metrics(), Bells()
    intake = Intake(
        store=store,
        channels=ChannelMap({"default": Route("default", ME, BRIDGE)}),
        doorbells=bells,
        metrics=metrics,
        clock=lambda: 1_700_000_000.0,
    )
    options: dict[str, Any] = {
        "version": "test",
        "clock": lambda: 1_700_000_000.0,
        "webhook_secret": SECRET,
        "max_body_bytes": 1024 * 1024,
        "signal_webhook_token": TOKEN,
        "admin_token": ADMIN,
    }
    options.update(overrides)
    app = create_app(WebSettings(**options), intake, MetricsAdmin(metrics))
    return RealEdge(app=app, store=store, metrics=metrics, bells=bells)


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
    return {"X-Webhook-Hmac": digest, "X-Webhook-Hmac-Algorithm": "sha512"}


def envelope(event: str, payload: Any, *, session: str = "default", id: str = "evt_1") -> bytes:
    return json.dumps({"id": id, "event": event, "session": session, "payload": payload}).encode()


def message(id: str, body: str = "hi") -> dict[str, Any]:
    return {"id": id, "from": "491701234567@c.us", "fromMe": False, "body": body}


def push(envelope_body: dict[str, Any]) -> bytes:
    """A signal-cli JSON-RPC ``receive`` notification for the bridge number."""
    params = {"account": BRIDGE, "envelope": envelope_body}
    return json.dumps({"jsonrpc": "2.0", "method": "receive", "params": params}).encode()


def data_message(timestamp: int, text: str = "hello") -> dict[str, Any]:
    return {
        "source": ME,
        "sourceNumber": ME,
        "timestamp": timestamp,
        "dataMessage": {"timestamp": timestamp, "message": text},
    }
