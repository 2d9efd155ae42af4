"""An in-process world for end-to-end tests: FakeWaha, FakeSignal and a real Bridge.

Everything talks real HTTP on 127.0.0.1 with random ports; only the clock and the upstream
phones are simulated. ``World`` holds the three and offers the waits the tests need.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio

from whatsignal.config import Config, config_from_mapping
from whatsignal.service import Bridge, Parts, Tuning
from whatsignal.testing import FakeSignal, FakeWaha, Fault

BRIDGE = "+15550000001"
ALICE_PHONE = "+15551110001"  # the person reading WhatsApp in Signal (personal session)
BOB_PHONE = "+15552220002"  # a second person (business session)
SECRET = "w" * 40
API_KEY = "test-api-key"


def make_config(
    tmp_path: Path,
    waha_url: str,
    signal_url: str,
    *,
    channels: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> Config:
    data: dict[str, Any] = {
        "whatsapp": {"api_base_url": waha_url, "timeout_ms": 5000},
        "signal": {
            "rpc_url": signal_url,
            "intermediaryPhoneNumber": BRIDGE,
            "pollTimeoutSec": 1,
            "pollIntervalSec": 1,
            "httpTimeoutSec": 15,
        },
        "channels": channels
        or [
            {"whatsappSessionName": "personal", "signalDestinationPhoneNumber": ALICE_PHONE},
            {"whatsappSessionName": "business", "signalDestinationPhoneNumber": BOB_PHONE},
        ],
        "database": {"path": str(tmp_path / "bridge.db")},
        "retry": {"initialBackoffMs": 10, "maxBackoffMs": 200, "maxAttempts": 3},
        "server": {"host": "127.0.0.1", "port": 0, "shutdownGraceSec": 5},
    }
    for section, values in (extra or {}).items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    env = {
        "WHATSIGNAL_ENV": "development",
        "WHATSAPP_API_KEY": API_KEY,
        "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET": SECRET,
    }
    return config_from_mapping(data, env=env)


@attrs.define(eq=False)
class World:
    waha: FakeWaha
    signal: FakeSignal
    bridge: Bridge
    nursery: trio.Nursery

    def to_signal(self) -> list[Any]:
        """Messages the bridge sent to Signal (decoded /v2/send calls), in order."""
        return list(self.signal.messages)

    def whatsapp_calls(self, path: str) -> list[dict[str, Any]]:
        return [r.body for r in self.waha.sent if r.path == path]

    async def until(self, check: Callable[[], bool], *, timeout: float = 10.0) -> None:
        """Wait until ``check()`` holds (polling every 10 ms), or fail the test."""
        with trio.fail_after(timeout):
            while not check():
                await trio.sleep(0.01)

    @property
    def parts(self) -> Parts:
        """The running bridge's parts (store, registry, doorbells, names, upstreams)."""
        assert self.bridge.parts is not None
        return self.bridge.parts


@asynccontextmanager
async def world(
    tmp_path: Path,
    *,
    signal_mode: str = "json-rpc",
    channels: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    sessions: tuple[str, ...] = ("personal", "business"),
    waha_options: dict[str, Any] | None = None,
    signal_options: dict[str, Any] | None = None,
    bridge_factory: Callable[[Config], Bridge] | None = None,
    tuning: Tuning | None = None,
    signal_faults: Sequence[Fault] = (),
    before_bridge: Callable[[FakeWaha, FakeSignal], None] | None = None,
) -> AsyncIterator[World]:
    waha = FakeWaha(
        api_key=API_KEY,
        sessions=sessions,
        webhook_hmac_key=SECRET,
        webhook_retry_attempts=20,
        webhook_retry_delay=0.05,
        status_step=0.01,
        **(waha_options or {}),
    )
    signal = FakeSignal(
        mode=signal_mode,  # type: ignore[arg-type]
        **{"numbers": (BRIDGE,), "receive_time_scale": 0.05, **(signal_options or {})},
    )
    for fault in signal_faults:
        signal.add_fault(fault)
    async with trio.open_nursery() as nursery:
        waha_url: str = await nursery.start(waha.run)
        signal_url: str = await nursery.start(signal.run)
        if before_bridge is not None:
            before_bridge(waha, signal)
        config = make_config(tmp_path, waha_url, signal_url, channels=channels, extra=extra)
        make = bridge_factory or partial(Bridge, tuning=tuning or Tuning())
        bridge = make(config)
        await nursery.start(bridge.run)
        waha.webhook_url = f"{bridge.url}/webhook/whatsapp"
        w = World(waha, signal, bridge, nursery)
        with trio.fail_after(10):
            await bridge.receiving()
        try:
            yield w
        finally:
            nursery.cancel_scope.cancel()


def token() -> str:
    return secrets.token_hex(8)
