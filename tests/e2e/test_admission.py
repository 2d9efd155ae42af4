"""Admission control: over ``server.maxPendingBacklog`` WAHA is told to wait, nothing is lost."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import httpx
import trio
from bridge_harness import SECRET, envelope_key, world
from e2e_tools import push_line

from whatsignal.testing import Fault
from whatsignal.web.admission import Admission

PUSH_TOKEN = "push-token-0123456789"
CHAT = "+4917000000041"
ALICE_UUID = "9d2a0c8e-0000-4000-8000-000000000041"


async def test_over_the_backlog_bound_waha_waits_and_every_message_arrives_once(
    tmp_path: Path,
) -> None:
    """Signal is slow (0.4 s a send, one chat), so the backlog passes its bound of 3 while
    webhooks keep coming: WAHA's webhooks get 503 with Retry-After and are delivered when WAHA
    retries; a Signal envelope on the push path (which has no retries) is taken all the same."""
    extra = {"server": {"maxPendingBacklog": 3}, "signal": {"webhookToken": PUSH_TOKEN}}
    slow = [Fault(path="/v2/send", count=None, latency=0.4)]
    retries = {"webhook_retry_attempts": 600, "webhook_retry_delay": 0.05}
    async with world(tmp_path, extra=extra, signal_faults=slow, waha_options=retries) as w:
        # The backlog is sampled every 0.25 s: messages keep coming until WAHA is told to wait.
        count = 0
        with trio.fail_after(30):
            while not any(d.status == 503 for d in w.waha.deliveries):
                body = f"message {count}"
                w.waha.inject_message("personal", from_=CHAT, body=body, notify_name="Dan")
                count += 1
                await trio.sleep(0.05)

        # The reply below goes to Dan's chat: the latest one forwarded to Signal (a reply
        # routed before any was would be told there is no chat yet).
        await w.until(lambda: len(w.to_signal()) >= 1)
        # What WAHA was told: 503 and when to retry (a direct, correctly signed post).
        raw = json.dumps(w.waha.events[-1]).encode()
        signature = hmac.new(SECRET.encode(), raw, hashlib.sha512).hexdigest()
        line = push_line("taken at once", 1_900_000_000_041, uuid=ALICE_UUID)
        async with httpx.AsyncClient(base_url=w.bridge.url) as client:
            refused = await client.post(
                "/webhook/whatsapp", content=raw, headers={"X-Webhook-Hmac": signature}
            )
            push = await client.post(f"/webhook/signal?token={PUSH_TOKEN}", json=line)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "2"
        assert "maxPendingBacklog" in refused.json()["error"]
        # The push path is never refused: its envelope is journaled while WAHA waits.
        assert push.status_code == 200
        assert await w.row_done(envelope_key(line["params"]), timeout=60) == ["done"]

        await w.settled(timeout=60)
    assert count > 4  # the bound was passed
    texts = [m.message for m in w.to_signal()]
    assert sorted(texts) == sorted(f"Dan: message {i}" for i in range(count))  # each once
    assert [c["text"] for c in w.whatsapp_calls("/api/sendText")] == ["taken at once"]


async def test_without_a_bound_nothing_is_refused_and_nothing_is_sampled() -> None:
    async def pending() -> int:
        raise AssertionError("no bound: the backlog is never read")

    admission = Admission(bound=0, pending=pending)
    admission.backlog = 10**6
    assert admission.refuse() is None
    await admission.watch()  # returns at once
