"""A Signal rate limit pauses the bridge number; solving the captcha resumes it at once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import trio
from bridge_harness import BRIDGE, World, message_key, wait_for, world

CAPTCHA = "signalcaptcha://signal-hcaptcha.solved-token"
URL = "/admin/signal/rate-limit-challenge"


async def _challenge_pending(client: httpx.AsyncClient) -> None:
    """Wait until /session/status reports a pending rate-limit challenge."""

    async def pending() -> bool:
        gates = (await client.get("/session/status")).json()["signal"]
        return any(g["rate_limit_challenge_pending"] for g in gates.values())

    await wait_for(pending, interval=0.02)


async def test_solving_the_challenge_resumes_sends_at_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w, httpx.AsyncClient(base_url=w.bridge.url) as client:
        w.signal.rate_limit(count=50, challenge_tokens=["tok-1"])
        msg = w.waha.inject_message("personal", from_="+4917000000071", body="are you there?")
        await _challenge_pending(client)
        assert w.to_signal() == []  # paused for a minute by default, nothing resent yet
        answer = await client.post(URL, json={"captcha": CAPTCHA})
        assert answer.status_code == 200
        assert len(answer.json()["solved"]) == 1
        # Not after the minute: the row is done well within the default pause.
        assert await w.row_done(message_key("personal", msg), timeout=5) == ["done"]
        assert [m.message for m in w.to_signal()] == ["+4917000000071: are you there?"]
        assert w.signal.solved_challenges == ["tok-1"]
        assert (await client.post(URL, json={"captcha": CAPTCHA})).status_code == 404


async def _waiting_row_retries_at(w: World, key: str) -> float:
    """When the worker will next try the pending row ``key`` (unix time)."""
    rows = [r for r in await w.parts.store.pending_heads("personal") if r.key == key]
    assert len(rows) == 1, f"{key} is not pending"
    return rows[0].next_attempt_at


async def test_a_wrong_captcha_keeps_the_pause(tmp_path: Path) -> None:
    async with world(tmp_path) as w, httpx.AsyncClient(base_url=w.bridge.url) as client:
        w.signal.rate_limit(count=50, challenge_tokens=["tok-2"])
        msg = w.waha.inject_message("personal", from_="+4917000000072", body="hello")
        key = message_key("personal", msg)
        await _challenge_pending(client)
        (gate,) = [g for g in w.parts.upstreams.signal.gates() if g.number == BRIDGE]
        paused_until = gate.paused_until
        answer = await client.post(URL, json={"captcha": "signalcaptcha://"})
        assert answer.status_code == 502
        assert "invalid captcha" in str(answer.json()["failed"])
        # The answer comes after the bridge acted on the captcha, so the pause is already
        # kept or lifted: kept, and the message's row waits for it (the default pause is a
        # minute), so nothing can be sent meanwhile.
        assert gate.paused_until == paused_until > trio.current_time() + 30
        assert await _waiting_row_retries_at(w, key) > time.time() + 30
        assert w.to_signal() == []  # still paused
        assert w.signal.solved_challenges == []
        await _challenge_pending(client)  # and still reported
        # The message was kept, not dropped: the right captcha sends it, once.
        assert (await client.post(URL, json={"captcha": CAPTCHA})).status_code == 200
        assert await w.row_done(key, timeout=5) == ["done"]
        assert [m.message for m in w.to_signal()] == ["+4917000000072: hello"]
