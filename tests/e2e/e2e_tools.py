"""Helpers shared by the end-to-end scenario tests (on top of :mod:`bridge_harness`).

WhatsApp people, signed webhook posts, a probabilistic
fault and a bridge factory with an admin token. Kept apart from ``bridge_harness`` so the
harness stays small.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Callable
from typing import Any

import attrs
import httpx
from bridge_harness import ALICE_PHONE, BRIDGE, SECRET, World

from whatsignal.config import Config
from whatsignal.service import Bridge
from whatsignal.testing import Fault
from whatsignal.testing.signal_cli import SentMessage

# WhatsApp contacts writing to the bridged accounts (not Signal users).
WA_ALICE = "+4917000000001"
WA_BOB = "+4917000000002"
WA_CAROL = "+4917000000003"
WA_DAN = "+4917000000004"


def chat_of(number: str) -> str:
    """The WhatsApp direct chat id of an E.164 number."""
    return number.lstrip("+") + "@c.us"


def signal_texts(w: World, recipient: str | None = None) -> list[str]:
    """Texts the bridge sent through ``/v2/send`` (to ``recipient`` only, when given)."""
    return [m.message for m in w.signal.messages if recipient is None or recipient in m.recipients]


def sent_to_signal(w: World, text: str) -> SentMessage:
    """The one Signal message with exactly this text."""
    found = [m for m in w.signal.messages if m.message == text]
    assert len(found) == 1, f"{text!r} sent {len(found)} times"
    return found[0]


def send_texts(w: World) -> list[dict[str, Any]]:
    """Accepted ``POST /api/sendText`` bodies, in order."""
    return w.whatsapp_calls("/api/sendText")


async def forward(
    w: World,
    session: str,
    *,
    from_: str,
    body: str,
    name: str,
    chat_id: str | None = None,
    group: str | None = None,
) -> tuple[dict[str, Any], SentMessage]:
    """Inject a WhatsApp message and wait until the bridge has forwarded it to Signal.

    Returns the WAHA payload and the Signal message it became.
    """
    payload = w.waha.inject_message(
        session, from_=from_, body=body, notify_name=name, chat_id=chat_id
    )
    text = f"{name} in {group}: {body}" if group else f"{name}: {body}"
    await w.until(lambda: text in signal_texts(w))
    return payload, sent_to_signal(w, text)


def sign(raw: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha512).hexdigest()


async def post_webhook(
    w: World,
    body: bytes | dict[str, Any],
    *,
    signature: str | None = "auto",
    path: str = "/webhook/whatsapp",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a WAHA-style webhook to the bridge, signed with the test secret by default."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if signature == "auto":
        all_headers["X-Webhook-Hmac"] = sign(raw)
    elif signature is not None:
        all_headers["X-Webhook-Hmac"] = signature
    async with httpx.AsyncClient(base_url=w.bridge.url, timeout=10) as client:
        return await client.post(path, content=raw, headers=all_headers)


async def get(w: World, path: str, *, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=w.bridge.url, timeout=10) as client:
        return await client.get(path, headers=headers)


async def post(w: World, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=w.bridge.url, timeout=10) as client:
        return await client.post(path, headers=headers, **kwargs)


def with_admin_token(token: str) -> Callable[[Config], Bridge]:
    """A bridge factory whose configuration carries ``WHATSIGNAL_ADMIN_TOKEN``."""

    def factory(config: Config) -> Bridge:
        secrets = attrs.evolve(config.secrets, admin_token=token)
        return Bridge(attrs.evolve(config, secrets=secrets))

    return factory


@attrs.define
class Flaky(Fault):
    """A fault that hits a random share (``rate``) of the matching calls, seeded for repeatability.

    ``count`` stays None (the fault never runs out); ``hits`` counts the failures answered.
    """

    rate: float = 0.3
    seed: int = 0
    _rng: random.Random = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def matches(self, method: str, path: str) -> bool:
        return super().matches(method, path) and self._rng.random() < self.rate


def webhook_acknowledged(w: World, payload: dict[str, Any]) -> bool:
    """Whether the bridge answered 2xx to a webhook carrying this WAHA payload."""
    event_ids = {e["id"] for e in w.waha.events if e.get("payload", {}).get("id") == payload["id"]}
    return any(d.ok and d.event_id in event_ids for d in w.waha.deliveries)


def push_line(
    text: str, stamp: int, *, number: str = ALICE_PHONE, uuid: str, **fields: Any
) -> dict[str, Any]:
    """signal-cli's JSON-RPC ``receive`` notification as RECEIVE_WEBHOOK_URL posts it: a text
    from ``number`` (``uuid``) sent at ``stamp``; ``fields``: more of the envelope's fields
    (``dataMessage`` replaces the plain one)."""
    envelope = {
        "source": number,
        "sourceNumber": number,
        "sourceUuid": uuid,
        "sourceDevice": 1,
        "timestamp": stamp,
        "dataMessage": {"timestamp": stamp, "message": text},
        **fields,
    }
    return {
        "jsonrpc": "2.0",
        "method": "receive",
        "params": {"envelope": envelope, "account": BRIDGE},
    }


def server_stamped_line(text: str, timestamp: int, **fields: Any) -> dict[str, Any]:
    """Alice's text as signal-cli pushes it, stamped by the server when she sent it
    (``fields``: more of the envelope's, as :func:`push_line` takes them)."""
    return push_line(
        text,
        timestamp,
        uuid="0b1c2d3e-0000-4000-8000-000000000001",
        sourceName="Me",
        serverReceivedTimestamp=timestamp,
        serverDeliveredTimestamp=timestamp,
        **fields,
    )
