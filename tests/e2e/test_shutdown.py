"""Graceful stop: work in flight finishes within the grace period; nothing is lost either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from bridge_harness import (
    ALICE_PHONE,
    API_KEY,
    BRIDGE,
    SECRET,
    envelope_key,
    make_config,
    message_key,
    row_done,
    wait_for,
)

from whatsignal.service import Bridge
from whatsignal.testing import FakeSignal, FakeWaha, Fault


async def _start(nursery: trio.Nursery, tmp_path: Path) -> tuple[FakeWaha, FakeSignal, str, str]:
    waha = FakeWaha(
        api_key=API_KEY,
        sessions=("personal",),
        webhook_hmac_key=SECRET,
        webhook_retry_delay=0.05,
        status_step=0.01,
    )
    signal = FakeSignal(mode="json-rpc", numbers=(BRIDGE,))
    waha_url: str = await nursery.start(waha.run)
    signal_url: str = await nursery.start(signal.run)
    return waha, signal, waha_url, signal_url


async def _run_until_stopped(bridge: Bridge, done: trio.Event) -> None:
    try:
        await bridge.run()
    finally:
        done.set()


async def _bridge(
    nursery: trio.Nursery, tmp_path: Path, waha_url: str, signal_url: str, done: trio.Event
) -> Bridge:
    config = make_config(
        tmp_path,
        waha_url,
        signal_url,
        channels=[{"whatsappSessionName": "personal", "signalDestinationPhoneNumber": ALICE_PHONE}],
    )
    bridge = Bridge(config)
    nursery.start_soon(_run_until_stopped, bridge, done)
    await wait_for(lambda: bridge.parts is not None)
    with trio.fail_after(10):
        await bridge.receiving()
    return bridge


def _send_texts(waha: FakeWaha) -> list[str]:
    return [c.body["text"] for c in waha.sent if c.path == "/api/sendText"]


async def _reply_in_flight(
    waha: FakeWaha, signal: FakeSignal, bridge: Bridge, *, latency: float, text: str
) -> dict[str, Any]:
    """A chat exists, and a Signal reply is being sent to WhatsApp, slowly (``latency``).

    Returns the reply's envelope, once its send has reached the (slow) WAHA.
    """
    waha.webhook_url = f"{bridge.url}/webhook/whatsapp"
    waha.inject_message("personal", from_="+4917000000051", body="hello")
    await wait_for(lambda: bool(signal.messages))
    waha.add_fault(Fault(path="/api/sendText", count=1, latency=latency))
    reply = signal.inject_envelope(ALICE_PHONE, message=text)
    await wait_for(lambda: any(f.hits for f in waha.injector.faults), interval=0.005)
    return reply


async def test_stop_lets_a_send_in_flight_finish(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        waha, signal, waha_url, signal_url = await _start(nursery, tmp_path)
        done = trio.Event()
        bridge = await _bridge(nursery, tmp_path, waha_url, signal_url, done)
        await _reply_in_flight(waha, signal, bridge, latency=0.5, text="slow reply")
        began = trio.current_time()
        bridge.stop(grace=5)
        with trio.fail_after(5):
            await done.wait()
        took = trio.current_time() - began
        assert _send_texts(waha) == ["slow reply"]
        assert 0.2 < took < 2.0  # waited for the send, not for the whole grace period

        # Started again on the same database, nothing is pending and nothing is sent twice.
        again = trio.Event()
        bridge2 = await _bridge(nursery, tmp_path, waha_url, signal_url, again)
        assert bridge2.parts is not None
        store = bridge2.parts.store
        # A later reply to the same chat: rows of one chat are handled in order, so once it
        # is done, a "slow reply" left pending by the stop would have been sent before it.
        later = signal.inject_envelope(ALICE_PHONE, message="after the restart")
        assert await row_done(store, envelope_key(later)) == ["done"]
        assert _send_texts(waha) == ["slow reply", "after the restart"]
        assert await store.pending_count() == 0
        nursery.cancel_scope.cancel()


async def test_stop_cancels_work_that_outlasts_the_grace_and_keeps_it_pending(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        waha, signal, waha_url, signal_url = await _start(nursery, tmp_path)
        done = trio.Event()
        bridge = await _bridge(nursery, tmp_path, waha_url, signal_url, done)
        stuck = await _reply_in_flight(waha, signal, bridge, latency=30, text="stuck reply")
        began = trio.current_time()
        bridge.stop(grace=0.3)
        with trio.fail_after(5):
            await done.wait()
        assert trio.current_time() - began < 1.5
        assert _send_texts(waha) == []  # the cancelled send never reached WAHA
        # The next run finds the row still pending and delivers it, once.
        waha.injector.clear()
        again = trio.Event()
        bridge2 = await _bridge(nursery, tmp_path, waha_url, signal_url, again)
        assert bridge2.parts is not None
        assert await row_done(bridge2.parts.store, envelope_key(stuck)) == ["done"]
        assert _send_texts(waha) == ["stuck reply"]
        nursery.cancel_scope.cancel()


async def test_messages_missed_while_stopped_are_caught_up_at_start(tmp_path: Path) -> None:
    """A bridge down for longer than WAHA's webhook retries still gets what arrived meanwhile:
    at start it reads the recent chats' history, and nothing is forwarded twice."""
    async with trio.open_nursery() as nursery:
        waha = FakeWaha(
            api_key=API_KEY,
            sessions=("personal",),
            webhook_hmac_key=SECRET,
            webhook_retry_attempts=1,
            webhook_retry_delay=0.01,
            status_step=0.01,
        )
        signal = FakeSignal(mode="json-rpc", numbers=(BRIDGE,))
        waha_url: str = await nursery.start(waha.run)
        signal_url: str = await nursery.start(signal.run)
        done = trio.Event()
        bridge = await _bridge(nursery, tmp_path, waha_url, signal_url, done)
        waha.webhook_url = f"{bridge.url}/webhook/whatsapp"
        waha.inject_message("personal", from_="+4917000000053", body="before", notify_name="Kai")
        await wait_for(lambda: bool(signal.messages))
        bridge.stop(grace=1)
        with trio.fail_after(5):
            await done.wait()

        missed = waha.inject_message(
            "personal", from_="+4917000000053", body="while you were away", notify_name="Kai"
        )
        # WAHA tries twice, nobody answers, and it gives up.
        await wait_for(
            lambda: len([d for d in waha.deliveries if d.event == "message" and d.error]) >= 2,
            timeout=5,
        )

        again = trio.Event()
        bridge2 = await _bridge(nursery, tmp_path, waha_url, signal_url, again)
        assert bridge2.parts is not None
        store = bridge2.parts.store
        # The catch-up reads the one chat oldest first: once the missed message (the newest)
        # is journaled and done, "before" was met again (a no-op by its key) and nothing
        # else is pending, so nothing more can be forwarded.
        assert await row_done(store, message_key("personal", missed)) == ["done"]
        assert await store.pending_count() == 0
        assert [m.message for m in signal.messages] == ["Kai: before", "Kai: while you were away"]
        nursery.cancel_scope.cancel()
