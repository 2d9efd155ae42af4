"""A Signal rate limit pauses the bridge number; solving the captcha resumes it at once."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio
from bridge_harness import world

CAPTCHA = "signalcaptcha://signal-hcaptcha.solved-token"
URL = "/admin/signal/rate-limit-challenge"


async def _challenge_pending(client: httpx.AsyncClient) -> None:
    """Wait until /session/status reports a pending rate-limit challenge."""
    with trio.fail_after(10):
        while True:
            gates = (await client.get("/session/status")).json()["signal"]
            if any(g["rate_limit_challenge_pending"] for g in gates.values()):
                return
            await trio.sleep(0.02)


async def test_solving_the_challenge_resumes_sends_at_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w, httpx.AsyncClient(base_url=w.bridge.url) as client:
        w.signal.rate_limit(count=50, challenge_tokens=["tok-1"])
        w.waha.inject_message("personal", from_="+4917000000071", body="are you there?")
        await _challenge_pending(client)
        assert w.to_signal() == []  # paused for a minute by default, nothing resent yet
        answer = await client.post(URL, json={"captcha": CAPTCHA})
        assert answer.status_code == 200
        assert len(answer.json()["solved"]) == 1
        await w.until(lambda: len(w.to_signal()) == 1, timeout=5)  # not after the minute
        assert w.to_signal()[0].message.endswith("are you there?")
        assert w.signal.solved_challenges == ["tok-1"]
        assert (await client.post(URL, json={"captcha": CAPTCHA})).status_code == 404


async def test_a_wrong_captcha_keeps_the_pause(tmp_path: Path) -> None:
    async with world(tmp_path) as w, httpx.AsyncClient(base_url=w.bridge.url) as client:
        w.signal.rate_limit(count=50, challenge_tokens=["tok-2"])
        w.waha.inject_message("personal", from_="+4917000000072", body="hello")
        await _challenge_pending(client)
        answer = await client.post(URL, json={"captcha": "signalcaptcha://"})
        assert answer.status_code == 502
        assert "invalid captcha" in str(answer.json()["failed"])
        await trio.sleep(0.3)
        assert w.to_signal() == []  # still paused
        assert w.signal.solved_challenges == []
        await _challenge_pending(client)  # and still reported
