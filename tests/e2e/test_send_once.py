"""Sends shown once: a reply WAHA carried out but answered too late (or never) is not shown
twice on engines that take a pre-generated id (GOWS, NOWEB); on WEBJS it is at least once, and
a slow WAHA is retried with backoff while the chat's other direction keeps flowing.

WAHA is made slower than the bridge's timeout (1 s here) with a fault that carries the send
out before it delays or loses the answer (``Fault.carry_out``).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import trio
from bridge_harness import (
    ALICE_PHONE,
    API_KEY,
    BRIDGE,
    SECRET,
    envelope_key,
    make_config,
    row_done,
    wait_for,
    world,
)
from e2e_tools import WA_ALICE, chat_of, forward, send_texts, signal_texts

from whatsignal.service import Bridge
from whatsignal.storage import SqliteStore
from whatsignal.testing import FakeSignal, FakeWaha, Fault

CHAT = chat_of(WA_ALICE)
TIMEOUT = {"whatsapp": {"timeout_ms": 1000}}
"""The bridge gives WAHA 1 s; the faults below make it take longer."""


def shown(waha: FakeWaha, text: str) -> int:
    """How often the WhatsApp chat shows ``text`` as sent by the account."""
    return sum(1 for m in waha.history("personal", CHAT, from_me=True) if m["body"] == text)


def attempts(waha: FakeWaha, text: str) -> list[dict[str, Any]]:
    return [c.body for c in waha.sent if c.path == "/api/sendText" and c.body["text"] == text]


async def mapped_id(store: SqliteStore, item: dict[str, Any]) -> str:
    mapping = await store.mapping_by_signal_timestamp(BRIDGE, item["envelope"]["timestamp"])
    assert mapping is not None
    return mapping.whatsapp_id


@pytest.mark.parametrize("engine", ["GOWS", "NOWEB"])
async def test_a_reply_waha_sent_too_slowly_is_shown_once_with_one_id(
    tmp_path: Path, engine: str
) -> None:
    options = {"session_engines": {"personal": engine}}
    async with world(tmp_path, extra=TIMEOUT, waha_options=options) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        # Two attempts are carried out, each answered after the bridge gave up on it.
        w.waha.add_fault(Fault("/api/sendText", count=2, carry_out=True, latency=1.5))
        reply = w.signal.inject_envelope(ALICE_PHONE, message="on my way")
        assert await w.envelopes_done(reply, timeout=20) == ["done"]
        tries = attempts(w.waha, "on my way")
        assert len(tries) == 3
        ident = tries[0]["id"]
        assert ident and all(t["id"] == ident for t in tries)
        assert shown(w.waha, "on my way") == 1
        assert await mapped_id(w.parts.store, reply) == f"true_{CHAT}_{ident}"


async def test_without_the_session_api_the_engine_comes_from_the_webhooks(
    tmp_path: Path,
) -> None:
    """``whatsapp.sessionApiEnabled: false``: the bridge never lists sessions, so it learns
    that the session runs GOWS from the webhooks themselves, and a reply takes its id."""
    extra = {**TIMEOUT, "whatsapp": {**TIMEOUT["whatsapp"], "sessionApiEnabled": False}}
    options = {"session_engines": {"personal": "GOWS"}}
    async with world(tmp_path, extra=extra, waha_options=options) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        w.waha.add_fault(Fault("/api/sendText", count=1, carry_out=True, latency=1.5))
        reply = w.signal.inject_envelope(ALICE_PHONE, message="see you")
        assert await w.envelopes_done(reply, timeout=20) == ["done"]
        first, again = attempts(w.waha, "see you")
        assert first["id"] and again["id"] == first["id"]
        assert shown(w.waha, "see you") == 1


async def test_the_mapping_comes_from_the_id_when_the_answer_is_lost_or_empty(
    tmp_path: Path,
) -> None:
    options = {"session_engines": {"personal": "GOWS"}}
    async with world(tmp_path, extra=TIMEOUT, waha_options=options) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        # The first answer is lost (connection cut after the send), the second is empty.
        w.waha.add_fault(Fault("/api/sendText", count=1, carry_out=True, drop=True))
        w.waha.add_fault(Fault("/api/sendText", count=1, carry_out=True, status=201))
        reply = w.signal.inject_envelope(ALICE_PHONE, message="see you")
        assert await w.envelopes_done(reply, timeout=20) == ["done"]
        ident = attempts(w.waha, "see you")[0]["id"]
        assert shown(w.waha, "see you") == 1
        message_id = f"true_{CHAT}_{ident}"
        assert await mapped_id(w.parts.store, reply) == message_id
        # A reaction in Signal to that reply reaches the right WhatsApp message.
        react = w.signal.inject_envelope(
            ALICE_PHONE,
            reaction="👍",
            reaction_target=reply["envelope"]["timestamp"],
            reaction_author=ALICE_PHONE,
        )
        assert await w.envelopes_done(react) == ["done"]
        assert w.whatsapp_calls("/api/reaction") == [
            {"session": "personal", "messageId": message_id, "reaction": "👍"}
        ]


async def _bridge(tmp_path: Path, waha: FakeWaha, signal: FakeSignal) -> Bridge:
    channels = [{"whatsappSessionName": "personal", "signalDestinationPhoneNumber": ALICE_PHONE}]
    config = make_config(tmp_path, waha.url, signal.url, channels=channels, extra=TIMEOUT)
    return Bridge(config)


async def _until_receiving(bridge: Bridge, waha: FakeWaha) -> None:
    await wait_for(lambda: bridge.parts is not None)
    waha.webhook_url = f"{bridge.url}/webhook/whatsapp"
    with trio.fail_after(10):
        await bridge.receiving()


@pytest.mark.parametrize("carried_out", [True, False], ids=["after-the-send", "before-the-send"])
async def test_a_crash_mid_send_then_a_restart_sends_one_message_with_the_stored_id(
    tmp_path: Path, carried_out: bool
) -> None:
    """Killed while the send is in flight, after WAHA carried it out (before the mapping) or
    before it reached WAHA (after the id was stored): the next run sends it with that id."""
    waha = FakeWaha(
        api_key=API_KEY,
        sessions=("personal",),
        session_engines={"personal": "NOWEB"},
        webhook_hmac_key=SECRET,
        webhook_retry_delay=0.05,
        status_step=0.01,
    )
    signal = FakeSignal(mode="json-rpc", numbers=(BRIDGE,))
    async with trio.open_nursery() as nursery:
        await nursery.start(waha.run)
        await nursery.start(signal.run)
        first = await _bridge(tmp_path, waha, signal)
        crash = trio.CancelScope()

        async def run_first() -> None:
            with crash:
                await first.run()

        nursery.start_soon(run_first)
        await _until_receiving(first, waha)
        waha.inject_message("personal", from_=WA_ALICE, body="hi", notify_name="Alice")
        await wait_for(lambda: bool(signal.messages))
        fault = Fault("/api/sendText", carry_out=carried_out, latency=30)
        waha.add_fault(fault)
        reply = signal.inject_envelope(ALICE_PHONE, message="crash test")
        await wait_for(lambda: fault.hits == 1)
        assert first.parts is not None
        stored = await first.parts.store.send_parts(envelope_key(reply))
        crash.cancel(reason="the bridge is killed mid-send")
        await wait_for(lambda: first.parts is None or crash.cancelled_caught, timeout=5)
        ident = stored[0].message_id  # the text is part 0 of a message without files
        assert ident is not None
        assert shown(waha, "crash test") == (1 if carried_out else 0)

        waha.injector.clear()
        second = await _bridge(tmp_path, waha, signal)
        nursery.start_soon(second.run)
        await _until_receiving(second, waha)
        assert second.parts is not None
        assert await row_done(second.parts.store, envelope_key(reply)) == ["done"]
        assert [t["id"] for t in attempts(waha, "crash test")] == [ident] * (
            2 if carried_out else 1
        )
        assert shown(waha, "crash test") == 1
        assert await mapped_id(second.parts.store, reply) == f"true_{CHAT}_{ident}"
        assert await second.parts.store.send_parts(envelope_key(reply)) == {}
        nursery.cancel_scope.cancel()


async def test_webjs_is_at_least_once_retried_with_backoff_and_the_chat_flows_meanwhile(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, extra=TIMEOUT) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        w.waha.add_fault(Fault("/api/sendText", count=None, carry_out=True, latency=1.5))
        reply = w.signal.inject_envelope(ALICE_PHONE, message="slow one")
        await w.until(lambda: len(attempts(w.waha, "slow one")) == 3, timeout=20)
        # WEBJS takes no id: nothing is asked of new-message-id, and each attempt shows.
        assert all("id" not in t for t in attempts(w.waha, "slow one"))
        assert shown(w.waha, "slow one") == 3
        # Each attempt took the bridge's timeout (1 s); the next waited at least as long.
        times = [c.at for c in w.waha.sent if c.path == "/api/sendText"]
        assert all(later - earlier >= 1.9 for earlier, later in itertools.pairwise(times))
        # Meanwhile WhatsApp -> Signal in the same chat is not held back by the stuck reply.
        await forward(w, "personal", from_=WA_ALICE, body="still there?", name="Alice")
        assert await w.row_state(envelope_key(reply)) == "pending"
        w.waha.injector.clear()
        assert await w.envelopes_done(reply, timeout=20) == ["done"]
        assert signal_texts(w) == ["Alice: hi", "Alice: still there?"]
        assert len(send_texts(w)) >= 4
