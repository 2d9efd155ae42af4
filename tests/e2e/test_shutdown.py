"""Graceful stop: work in flight finishes within the grace period; nothing is lost either way."""

from __future__ import annotations

from pathlib import Path

import trio
from bridge_harness import ALICE_PHONE, API_KEY, BRIDGE, SECRET, make_config

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
    with trio.fail_after(10):
        while bridge.parts is None:
            await trio.sleep(0.01)
        await bridge.receiving()
    return bridge


async def _reply_in_flight(
    waha: FakeWaha, signal: FakeSignal, bridge: Bridge, *, latency: float, text: str
) -> None:
    """A chat exists, and a Signal reply is being sent to WhatsApp, slowly (``latency``)."""
    waha.webhook_url = f"{bridge.url}/webhook/whatsapp"
    waha.inject_message("personal", from_="+4917000000051", body="hello")
    with trio.fail_after(10):
        while not signal.messages:
            await trio.sleep(0.01)
    waha.add_fault(Fault(path="/api/sendText", count=1, latency=latency))
    signal.inject_envelope(ALICE_PHONE, message=text)
    with trio.fail_after(10):
        while not any(f.hits for f in waha.injector.faults):
            await trio.sleep(0.005)


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
        assert [c.body["text"] for c in waha.sent if c.path == "/api/sendText"] == ["slow reply"]
        assert 0.2 < took < 2.0  # waited for the send, not for the whole grace period

        # Started again on the same database, nothing is pending and nothing is sent twice.
        again = trio.Event()
        bridge2 = await _bridge(nursery, tmp_path, waha_url, signal_url, again)
        await trio.sleep(0.3)
        assert [c.body["text"] for c in waha.sent if c.path == "/api/sendText"] == ["slow reply"]
        status = await bridge2.parts.store.pending_count()  # type: ignore[union-attr]
        assert status == 0
        nursery.cancel_scope.cancel()


async def test_stop_cancels_work_that_outlasts_the_grace_and_keeps_it_pending(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        waha, signal, waha_url, signal_url = await _start(nursery, tmp_path)
        done = trio.Event()
        bridge = await _bridge(nursery, tmp_path, waha_url, signal_url, done)
        await _reply_in_flight(waha, signal, bridge, latency=30, text="stuck reply")
        began = trio.current_time()
        bridge.stop(grace=0.3)
        with trio.fail_after(5):
            await done.wait()
        assert trio.current_time() - began < 1.5
        # The next run finds the row still pending and delivers it.
        waha.injector.clear()
        again = trio.Event()
        await _bridge(nursery, tmp_path, waha_url, signal_url, again)
        with trio.fail_after(10):
            while not [c for c in waha.sent if c.path == "/api/sendText"]:
                await trio.sleep(0.01)
        texts = [c.body["text"] for c in waha.sent if c.path == "/api/sendText"]
        assert texts == ["stuck reply"]
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
        with trio.fail_after(10):
            while not signal.messages:
                await trio.sleep(0.01)
        bridge.stop(grace=1)
        with trio.fail_after(5):
            await done.wait()

        missed = waha.inject_message(
            "personal", from_="+4917000000053", body="while you were away", notify_name="Kai"
        )
        assert missed["id"]
        with trio.fail_after(5):  # WAHA tries twice, nobody answers, and it gives up
            while len([d for d in waha.deliveries if d.event == "message" and d.error]) < 2:
                await trio.sleep(0.01)

        again = trio.Event()
        await _bridge(nursery, tmp_path, waha_url, signal_url, again)
        with trio.fail_after(10):
            while len(signal.messages) < 2:
                await trio.sleep(0.01)
        await trio.sleep(0.3)
        assert [m.message for m in signal.messages] == ["Kai: before", "Kai: while you were away"]
        nursery.cancel_scope.cancel()
