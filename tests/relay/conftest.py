"""Fixtures of the relay unit tests: fake upstreams behind the real clients, a running in-memory
store, a wall clock the test moves, and the relay parts built on them as the bridge builds them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
from relay_fakes import SIGNAL_URL, WAHA_URL, FakeSignal, FakeWaha, WallClock
from relay_helpers import KnownEngines

from whatsignal.clients import SignalClient, WahaClient, open_http_client
from whatsignal.metrics import Metrics
from whatsignal.relay import (
    Names,
    Notices,
    SignalUpstream,
    ToSignal,
    ToWhatsApp,
    Upstreams,
    WhatsAppUpstream,
)
from whatsignal.relay.identities import Identities
from whatsignal.relay.portals import PortalKeeper
from whatsignal.storage import SqliteStore


@pytest.fixture
def fake_waha() -> FakeWaha:
    """The WAHA behind :func:`waha_client`; script its answers, read what it was sent."""
    return FakeWaha()


@pytest.fixture
def fake_signal() -> FakeSignal:
    """The signal-cli-rest-api behind :func:`signal_client`."""
    return FakeSignal()


@pytest.fixture
async def waha_client(fake_waha: FakeWaha) -> AsyncIterator[WahaClient]:
    """The real WAHA client, talking to :func:`fake_waha` through an httpx MockTransport."""
    transport = fake_waha.upstream.transport()
    async with open_http_client(WAHA_URL, timeout=5, api_key="k", transport=transport) as http:
        yield WahaClient(http)


@pytest.fixture
async def signal_client(fake_signal: FakeSignal) -> AsyncIterator[SignalClient]:
    """The real signal-cli client, talking to :func:`fake_signal`."""
    transport = fake_signal.upstream.transport()
    async with open_http_client(SIGNAL_URL, timeout=5, transport=transport) as http:
        yield SignalClient(http)


@pytest.fixture
async def store(nursery: trio.Nursery) -> SqliteStore:
    """A running SqliteStore in memory (the nursery fixture runs it until the test ends)."""
    running: SqliteStore = await nursery.start(SqliteStore(":memory:").run)
    return running


@pytest.fixture
def clock() -> WallClock:
    """The relay's wall clock; ``clock.advance(s)`` moves it."""
    return WallClock()


@pytest.fixture
def metrics() -> Metrics:
    """A fresh metrics registry (the bridge keeps one per Bridge)."""
    return Metrics()


@pytest.fixture
def upstreams(waha_client: WahaClient, signal_client: SignalClient, metrics: Metrics) -> Upstreams:
    """The guarded upstreams, with the bridge's default breakers and rate-limit pause."""
    return Upstreams(
        whatsapp=WhatsAppUpstream(client=waha_client),
        signal=SignalUpstream(client=signal_client, metrics=metrics),
    )


@pytest.fixture
def names(store: SqliteStore, waha_client: WahaClient, clock: WallClock) -> Names:
    """Names with a one-hour contact and a two-hour group TTL."""
    identities = Identities(store=store, lids=waha_client.lids, clock=clock)
    return Names(
        store=store,
        waha=waha_client,
        clock=clock,
        identities=identities,
        contact_ttl=3600.0,
        group_ttl=7200.0,
    )


@pytest.fixture
def to_signal(
    upstreams: Upstreams, names: Names, store: SqliteStore, metrics: Metrics, clock: WallClock
) -> ToSignal:
    """WhatsApp -> Signal as the bridge builds it (default media policy)."""
    keeper = PortalKeeper(
        store=store,
        groups=upstreams.signal.client.group_api,
        notices=Notices(signal=upstreams.signal.client),
        clock=clock,
    )
    return ToSignal(
        upstreams=upstreams,
        names=names,
        store=store,
        metrics=metrics,
        clock=clock,
        portals=keeper,
    )


@pytest.fixture
def engines() -> KnownEngines:
    return KnownEngines()


@pytest.fixture
def to_whatsapp(
    upstreams: Upstreams,
    store: SqliteStore,
    engines: KnownEngines,
    metrics: Metrics,
    clock: WallClock,
) -> ToWhatsApp:
    """Signal -> WhatsApp as the bridge builds it (default media policy, link previews on)."""
    return ToWhatsApp(
        upstreams=upstreams,
        store=store,
        engines=engines,
        metrics=metrics,
        clock=clock,
        notices=Notices(signal=upstreams.signal.client),
    )
