"""Reliability end to end: volume, upstream failures, rate limits, dead letters, poison rows.

Each scenario injects its failures into the simulators (HTTP faults with the upstream's own
error bodies) and checks what a user would see: every message arrives once, in order per chat,
or is reported as a dead letter that an admin can retry.
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any

import trio
from bridge_harness import ALICE_PHONE, BRIDGE, message_key, world
from e2e_tools import (
    WA_ALICE,
    WA_BOB,
    Flaky,
    chat_of,
    forward,
    get,
    post,
    send_texts,
    signal_texts,
    webhook_acknowledged,
    with_admin_token,
)

from whatsignal.service import Tuning
from whatsignal.storage import InboundEvent
from whatsignal.testing import Fault

ADMIN = "a" * 40
WAHA_400 = {"statusCode": 400, "message": "Bad Request: chatId is invalid", "error": "Bad Request"}


async def test_fifty_concurrent_messages_from_five_senders(tmp_path: Path) -> None:
    senders = [f"+49170000001{i}" for i in range(5)]
    async with world(tmp_path) as w:
        started = trio.current_time()

        async def chat(index: int, number: str) -> None:
            # One sender writes its messages one after another; the five write concurrently.
            for n in range(10):
                payload = w.waha.inject_message(
                    "personal", from_=number, body=f"m{n}", notify_name=f"S{index}"
                )
                await w.until(partial(webhook_acknowledged, w, payload))

        async with trio.open_nursery() as nursery:
            for index, number in enumerate(senders):
                nursery.start_soon(chat, index, number)
        await w.until(lambda: len(w.signal.messages) >= 50)
        elapsed = trio.current_time() - started
        await w.settled()  # every webhook answered and every row done: nothing more to send
        texts = signal_texts(w, ALICE_PHONE)
        assert len(texts) == 50
        assert len(set(texts)) == 50  # each exactly once
        for index in range(5):
            mine = [t for t in texts if t.startswith(f"S{index}: ")]
            assert mine == [f"S{index}: m{n}" for n in range(10)]  # order per chat kept
        assert elapsed / 50 < 0.1  # Go's budget: under 100 ms per message on average


async def test_waha_failing_30_percent_of_sends_loses_nothing(tmp_path: Path) -> None:
    # The test is about delivery and order, not the breaker's 15 s cool-down.
    async with world(tmp_path, tuning=Tuning(breaker_reset=0.05)) as w:
        _, alice_fwd = await forward(w, "personal", from_=WA_ALICE, body="a", name="Alice")
        _, bob_fwd = await forward(w, "personal", from_=WA_BOB, body="b", name="Bob")
        flaky = w.waha.add_fault(
            Flaky(path="/api/sendText", count=None, status=500, rate=0.3, seed=7)
        )
        replies = []
        for n in range(15):
            for fwd, who in ((bob_fwd, "bob"), (alice_fwd, "alice")):
                replies.append(
                    w.signal.inject_envelope(
                        ALICE_PHONE, message=f"to-{who}-{n}", quote_timestamp=fwd.timestamp
                    )
                )
            # Scenario pacing, not a barrier: signal-cli drops the frames a busy websocket
            # cannot take, and this test is about failing sends, not about lost frames.
            await trio.sleep(0.01)  # scenario: a busy socket drops frames
        await w.until(lambda: len(send_texts(w)) == 30)
        assert await w.envelopes_done(*replies) == ["done"] * 30
        assert flaky.hits >= 5  # the fault really hit
        by_chat: dict[str, list[str]] = {}
        for call in send_texts(w):
            by_chat.setdefault(call["chatId"], []).append(call["text"])
        assert by_chat[chat_of(WA_ALICE)] == [f"to-alice-{n}" for n in range(15)]
        assert by_chat[chat_of(WA_BOB)] == [f"to-bob-{n}" for n in range(15)]


async def test_signal_send_failing_twice_is_retried_and_arrives_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        fault = Fault(
            path="/v2/send", count=2, status=500, body={"error": "Failed to send message"}
        )
        w.signal.add_fault(fault)
        msg = w.waha.inject_message("personal", from_=WA_ALICE, body="persist", notify_name="Alice")
        assert await w.row_done(message_key("personal", msg)) == ["done"]
        assert fault.hits == 2
        assert signal_texts(w) == ["Alice: persist"]


async def test_signal_400_network_failure_is_transient(tmp_path: Path) -> None:
    async with world(tmp_path, extra={"retry": {"maxAttempts": 1}}) as w:
        # signal-cli answers 400 for a network failure: it must not use up the one attempt.
        body = {"error": 'Failed to send message: Network failure for "+15551110001"'}
        fault = Fault(path="/v2/send", count=3, status=400, body=body)
        w.signal.add_fault(fault)
        msg = w.waha.inject_message("personal", from_=WA_ALICE, body="later", notify_name="Alice")
        assert await w.row_done(message_key("personal", msg)) == ["done"]  # not dead
        assert fault.hits == 3
        assert signal_texts(w) == ["Alice: later"]  # once, and no dead-letter notice


async def _dead_letters(w: Any, token: str | None = None) -> list[dict[str, Any]]:
    response = await get(w, "/admin/dead-letters", token=token)
    assert response.status_code == 200
    letters: list[dict[str, Any]] = response.json()["dead_letters"]
    return letters


async def test_dead_letter_does_not_block_its_chat_and_can_be_retried(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        fault = w.waha.add_fault(Fault(path="/api/sendText", count=3, status=400, body=WAHA_400))
        one = w.signal.inject_envelope(ALICE_PHONE, message="secret words one")
        two = w.signal.inject_envelope(ALICE_PHONE, message="two")
        # "two" waits behind "one" in its chat: once it is done, "one" is dead and its notice
        # sent (a chat's lane is held until the notice has gone out).
        assert await w.envelopes_done(one, two) == ["dead", "done"]
        assert [c["text"] for c in send_texts(w)] == ["two"]  # the dead one did not block it
        assert fault.hits == 3  # retry.maxAttempts permanent failures, then dead

        notices = [t for t in signal_texts(w, ALICE_PHONE) if "could not be delivered" in t]
        assert len(notices) == 1
        assert "secret words" not in notices[0]

        letters = await _dead_letters(w)
        assert len(letters) == 1
        letter = letters[0]
        assert (letter["source"], letter["kind"], letter["attempts"]) == ("signal", "envelope", 3)
        assert f"#{letter['id']}" in notices[0]
        assert "secret words" not in json.dumps(letters)

        response = await post(w, f"/admin/dead-letters/{letter['id']}/retry")
        assert response.status_code == 200
        assert await w.envelopes_done(one) == ["done"]
        assert [(c["chatId"], c["text"]) for c in send_texts(w)] == [
            (chat_of(WA_ALICE), "two"),
            (chat_of(WA_ALICE), "secret words one"),
        ]
        assert len([t for t in signal_texts(w) if "could not be delivered" in t]) == 1
        assert await _dead_letters(w) == []
        assert (await post(w, f"/admin/dead-letters/{letter['id']}/retry")).status_code == 404


async def test_unregistered_signal_user_is_a_dead_letter(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        body = {"error": f'Failed to send message: Unregistered user "{ALICE_PHONE}"'}
        fault = Fault(path="/v2/send", count=3, status=400, body=body)
        w.signal.add_fault(fault)
        msg = w.waha.inject_message("personal", from_=WA_ALICE, body="hi", notify_name="Alice")
        key = message_key("personal", msg)
        assert await w.row_done(key) == ["dead"]
        letters = await _dead_letters(w)
        assert len(letters) == 1
        assert fault.hits == 3
        assert (letters[0]["source"], letters[0]["kind"]) == ("whatsapp", "message")
        assert letters[0]["chat"] != chat_of(WA_ALICE)  # masked
        await w.until(lambda: any("could not be delivered" in t for t in signal_texts(w)))
        assert "Alice: hi" not in signal_texts(w)
        # The notice goes to the user's own phone: it names the chat plainly, not masked.
        notice = next(t for t in signal_texts(w) if "could not be delivered" in t)
        assert f"a WhatsApp message from {WA_ALICE} could not be delivered" in notice

        retried = await post(w, f"/admin/dead-letters/{letters[0]['id']}/retry")
        assert retried.status_code == 200
        assert await w.row_done(key) == ["done"]
        assert signal_texts(w) == [notice, "Alice: hi"]  # delivered once, after the notice
        assert await _dead_letters(w) == []


async def test_admin_endpoints_need_the_token_when_one_is_set(tmp_path: Path) -> None:
    async with world(tmp_path, bridge_factory=with_admin_token(ADMIN)) as w:
        for path in ("/admin/dead-letters", "/session/status", "/metrics"):
            denied = await get(w, path)
            assert denied.status_code == 401, path
            assert denied.headers["WWW-Authenticate"].startswith("Bearer")
            assert (await get(w, path, token="wrong" * 8)).status_code == 401
            assert (await get(w, path, token=ADMIN)).status_code == 200
        assert (await post(w, "/admin/dead-letters/1/retry")).status_code == 401
        assert (await post(w, "/admin/dead-letters/1/retry", token=ADMIN)).status_code == 404


async def test_signal_rate_limit_pauses_the_number_then_resumes(tmp_path: Path) -> None:
    # signal-cli names no wait here; the default pause is 60 s.
    async with world(tmp_path, tuning=Tuning(rate_limit_pause=0.6)) as w:
        gates = w.parts.upstreams.signal
        w.signal.rate_limit(1, challenge_tokens=["tok-123"])
        w.waha.inject_message("personal", from_=WA_ALICE, body="one", notify_name="Alice")
        await w.until(lambda: any(g.paused_until > 0 for g in gates.gates()))
        limited_at = trio.current_time()
        status = (await get(w, "/session/status")).json()
        gate = status["signal"][BRIDGE[-4:]]
        assert gate["rate_limit_challenge_pending"] is True
        assert 0 < gate["paused_for_sec"] <= 0.6
        assert "tok-123" not in json.dumps(status)  # tokens are not shown on the status page

        # Another chat's message waits for the pause as well: the whole number is paused.
        w.waha.inject_message("personal", from_=WA_BOB, body="two", notify_name="Bob")
        await w.until(lambda: len(w.signal.messages) == 2)
        await w.settled()
        sends = [r for r in w.signal.sent if r.path == "/v2/send"]
        assert all(r.at >= limited_at + 0.5 for r in sends)
        assert sorted(signal_texts(w)) == ["Alice: one", "Bob: two"]
        status = (await get(w, "/session/status")).json()
        assert status["signal"][BRIDGE[-4:]]["paused_for_sec"] == 0
        assert status["signal"][BRIDGE[-4:]]["rate_limit_challenge_pending"] is False


async def test_poison_row_ends_dead_without_crashing_the_worker(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        store = w.parts.store
        poison = [
            InboundEvent(
                source="whatsapp",
                key=f"wa:personal:msg:poison-{n}",
                queue="personal",
                chat=chat,
                kind="message",
                payload=payload,
                received_at=time.time(),
            )
            for n, (chat, payload) in enumerate(
                [
                    ("1@c.us", b"not json at all"),
                    ("2@c.us", b'{"event": "message", "session": "personal", "payload": 7}'),
                    ("3@c.us", b"[" * 50_000),
                    ("4@c.us", b'{"event": "message", "session": "personal", "payload": {}}'),
                ]
            )
        ]
        await store.journal(poison)
        w.parts.doorbells.ring("personal")
        await w.until(lambda: len(_notices(w)) == 4)
        letters = await _dead_letters(w)
        assert sorted(letter["attempts"] for letter in letters) == [3, 3, 3, 3]
        assert w.bridge.metrics.restarts.labels("worker[personal]")._value.get() == 0
        # The worker is alive and well: a real message still crosses.
        await forward(w, "personal", from_=WA_ALICE, body="after", name="Alice")


def _notices(w: Any) -> list[str]:
    return [t for t in signal_texts(w) if "could not be delivered" in t]


async def test_poll_mode_bridges_both_ways(tmp_path: Path) -> None:
    async with world(tmp_path, signal_mode="normal") as w:
        registry = w.parts.registry
        assert [r["mode"] for r in registry.snapshot()["receivers"].values()] == ["poll"]
        msg, fwd = await forward(w, "personal", from_=WA_ALICE, body="polling", name="Alice")
        w.signal.inject_envelope(ALICE_PHONE, message="pong", quote_timestamp=fwd.timestamp)
        await w.until(lambda: len(send_texts(w)) == 1)
        assert send_texts(w)[0]["chatId"] == chat_of(WA_ALICE)
        assert send_texts(w)[0]["reply_to"] == msg["id"]
        assert w.signal.queued() == {}
