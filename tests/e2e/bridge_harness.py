"""An in-process world for end-to-end tests: FakeWaha, FakeSignal and a real Bridge.

Everything talks real HTTP on 127.0.0.1 with random ports; only the clock and the upstream
phones are simulated. ``World`` holds the three and offers the waits the tests need.

Tests wait for facts, never for time. A positive outcome is awaited with :meth:`World.until`;
before asserting that something did *not* happen, a test waits on a barrier that proves the
bridge is done with the event in question:

* :meth:`World.row_done` - the event's journal row (by natural key) is done or dead;
* :meth:`World.envelopes_done` - the same for envelopes injected into FakeSignal;
* :meth:`World.settled` - WAHA had a 2xx for every webhook it sent, the given envelopes are
  journaled, and nothing in the journal is pending;
* a later message in the same ordering lane (one WhatsApp chat) that has arrived.

A 4xx answered by an edge before journaling needs no wait: the journal has no row for the key.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio

from whatsignal.config import Config, config_from_mapping
from whatsignal.intake import signal_key
from whatsignal.serde import parse_signal_received
from whatsignal.service import Bridge, Parts, Tuning
from whatsignal.storage import SqliteStore
from whatsignal.testing import FakeSignal, FakeWaha, Fault

BRIDGE = "+15550000001"
ALICE_PHONE = "+15551110001"  # the person reading WhatsApp in Signal (personal session)
BOB_PHONE = "+15552220002"  # a second person (business session)
SECRET = "w" * 40
WAIT = 30.0
"""How long a test waits for a state by default: a state that holds takes well under a second
alone, and much longer only on a machine busy with other runs (10 s there made tests flaky)."""
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


Check = Callable[[], bool | Awaitable[bool]]
"""A condition to wait for: a plain predicate, or one that has to ask the bridge (async)."""


async def wait_for(check: Check, *, timeout: float = WAIT, interval: float = 0.01) -> None:
    """Wait until ``check()`` holds, polling every ``interval`` seconds, or fail the test.

    The one polling loop of the e2e tests: every wait for a fact goes through here.
    """
    with trio.fail_after(timeout):
        while True:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await trio.sleep(interval)  # polling interval of a wait for a fact, not a barrier


def message_key(session: str, payload: dict[str, Any]) -> str:
    """The natural journal key of a WhatsApp ``message`` (``wa:<session>:msg:<id>``)."""
    return f"wa:{session}:msg:{payload['id']}"


def envelope_key(item: dict[str, Any]) -> str:
    """The natural journal key of a received Signal item (what ``inject_envelope`` returns,
    or a JSON-RPC ``params``): ``sig:<account>:<sourceUuid or source>:<timestamp>``."""
    return signal_key(parse_signal_received(item))


async def row_state(store: SqliteStore, key: str) -> str | None:
    """The state of the journal row with natural key ``key``: ``"pending"``, ``"done"``,
    ``"dead"``, or None when there is no such row."""
    return await store.state_of(key)


async def row_done(store: SqliteStore, *keys: str, timeout: float = WAIT) -> list[str]:
    """Wait until each row ``keys`` names exists and is no longer pending; their states.

    Fact waited for: the bridge is finished with these events. A ``done`` row committed after
    its sends (and the mappings they made), so everything it sends has been received by the
    simulators; and no second row can exist for its key, so a redelivery sends nothing more.
    A ``dead`` row is buried *before* its notice goes out: to see the notice, wait for it, or
    for a later row in the same chat (the chat's lane is held until the notice is sent).
    """
    states: dict[str, str] = {}

    async def finished() -> bool:
        for key in keys:
            if key not in states:
                state = await row_state(store, key)
                if state is None or state == "pending":
                    return False
                states[key] = state
        return True

    await wait_for(finished, timeout=timeout)
    return [states[key] for key in keys]


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

    async def until(self, check: Check, *, timeout: float = WAIT) -> None:
        """Wait until ``check()`` holds (polling every 10 ms; it may be async), or fail."""
        await wait_for(check, timeout=timeout)

    async def row_state(self, key: str) -> str | None:
        """The state of the journal row with natural key ``key`` (see :func:`row_state`)."""
        return await row_state(self.parts.store, key)

    async def row_done(self, *keys: str, timeout: float = WAIT) -> list[str]:
        """Wait until the journal rows ``keys`` are done or dead; their states, in order.

        See :func:`row_done` for what that proves (and what it does not, for a dead row).
        """
        return await row_done(self.parts.store, *keys, timeout=timeout)

    async def envelopes_done(self, *items: dict[str, Any], timeout: float = WAIT) -> list[str]:
        """Wait until the rows of these injected Signal envelopes are done or dead (see
        :meth:`row_done`); their states, in order.

        Only for envelopes the bridge journals (data messages, edits, read receipts): typing
        indicators and delivery receipts never get a row, so waiting for one fails the test.
        """
        return await self.row_done(*(envelope_key(item) for item in items), timeout=timeout)

    def unanswered_webhooks(self) -> set[str]:
        """Ids of WAHA events sent to a subscribed webhook and not yet answered with a 2xx."""
        answered = {d.event_id for d in self.waha.deliveries if d.ok}
        return {
            e["id"]
            for e in self.waha.events
            if e["id"] not in answered
            and any(t.wants(e["event"]) for t in self.waha.targets(e["session"]))
        }

    async def settled(self, *envelopes: dict[str, Any], timeout: float = WAIT) -> None:
        """Wait until the bridge has nothing left to do with what the test injected.

        Facts waited for, in this order: WAHA had a 2xx for every event it sent to the bridge
        (a 2xx comes after the row is journaled); each of ``envelopes`` (injected into
        FakeSignal) has its journal row; and then no journal row is pending. After that the
        bridge sends nothing until something new arrives.

        Signal envelopes have no delivery receipt the test could see, so the ones that matter
        must be named. Events the test built quietly and posted itself (FakeWaha had no webhook
        URL then) are never answered to WAHA: do not use this wait after those.
        """
        store = self.parts.store
        keys = [envelope_key(item) for item in envelopes]

        async def idle() -> bool:
            if self.unanswered_webhooks():
                return False
            for key in keys:
                if not await store.has_key(key):
                    return False
            return await store.pending_count() == 0

        await wait_for(idle, timeout=timeout)

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
    retries: dict[str, Any] = {"webhook_retry_attempts": 20, "webhook_retry_delay": 0.05}
    waha = FakeWaha(
        api_key=API_KEY,
        sessions=sessions,
        webhook_hmac_key=SECRET,
        status_step=0.01,
        **{**retries, **(waha_options or {})},
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
