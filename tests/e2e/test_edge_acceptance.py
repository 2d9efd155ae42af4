"""The edge hardening's acceptance, end to end: the real bridge over real HTTP, both simulators.

- correctly signed webhooks nested 1,000 and 100,000 levels deep, or carrying a 5,000-digit
  integer, are 400s with a reason; a non-ASCII ``X-Webhook-Hmac`` is a 401; none is a 5xx, and
  the bridge still bridges the next message;
- 60 webhooks with a wrong signature from one address with ``rateLimitPerMinute: 20`` meet 429s
  (with ``Retry-After``), never a 5xx; correctly signed webhooks from that same address right
  after are accepted and reach Signal.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from bridge_harness import ALICE_PHONE, World, world
from e2e_tools import WA_ALICE, forward, post_webhook, sign, signal_texts


def _signed_headers(raw: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Webhook-Hmac": sign(raw)}


def _wrapped(payload: bytes) -> bytes:
    """A WAHA ``message`` envelope whose payload is ``payload`` (raw JSON text)."""
    return b'{"event":"message","session":"personal","payload":' + payload + b"}"


HOSTILE = {
    "1,000 levels": _wrapped(b"[" * 1000 + b"]" * 1000),
    "100,000 levels": _wrapped(b"[" * 100_000 + b"]" * 100_000),
    "5,000 digits": _wrapped(b'{"timestamp":' + b"9" * 5000 + b"}"),
}


async def _bridged(w: World, body: str) -> None:
    """A message from Alice's WhatsApp contact reaches Signal."""
    _, sent = await forward(w, "personal", from_=WA_ALICE, body=body, name="Alice")
    assert list(sent.recipients) == [ALICE_PHONE]


async def test_deep_huge_and_non_ascii_signed_webhooks_are_4xx_and_the_bridge_still_bridges(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        async with httpx.AsyncClient(base_url=w.bridge.url, timeout=30) as client:
            for name, raw in HOSTILE.items():
                answer = await client.post(
                    "/webhook/whatsapp", content=raw, headers=_signed_headers(raw)
                )
                assert answer.status_code == 400, name
                reason = answer.json()["error"]
                assert "nested deeper" in reason or "number of 5000" in reason, name
            raw = _wrapped(b"{}")
            non_ascii = await client.post(
                "/webhook/whatsapp",
                content=raw,
                headers=[
                    (b"Content-Type", b"application/json"),
                    (b"X-Webhook-Hmac", "ä".encode() * 32),  # UTF-8 bytes on the wire
                ],
            )
            assert non_ascii.status_code == 401
        await _bridged(w, "still here")
        assert signal_texts(w) == ["Alice: still here"]


async def test_failed_signatures_meet_429_and_signed_webhooks_still_cross(tmp_path: Path) -> None:
    async with world(tmp_path, extra={"server": {"rateLimitPerMinute": 20}}) as w:
        statuses: list[int] = []
        retry_after: set[str] = set()
        for _ in range(60):
            answer = await post_webhook(w, _wrapped(b"{}"), signature="0" * 64)
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                retry_after.add(answer.headers["Retry-After"])
        assert set(statuses) == {401, 429}
        assert statuses[:20] == [401] * 20  # the budget is spent first
        assert statuses.count(429) >= 30
        assert retry_after and all(int(value) > 0 for value in retry_after)
        # The same address (WAHA's webhooks come from it too) is never refused when signed.
        await _bridged(w, "first after the storm")
        await _bridged(w, "second after the storm")
        assert signal_texts(w) == ["Alice: first after the storm", "Alice: second after the storm"]
