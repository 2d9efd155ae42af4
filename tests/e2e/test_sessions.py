"""WAHA sessions end to end: replies that wait for their session, status events out of order,
the cap on discovered sessions, the discovery flags, and nothing kept per session name once a
session is gone.

The bridge runs against FakeWaha's session lifecycle (create, stop, start, delete, each
announced by ``session.status`` webhooks, which FakeWaha can deliver out of order or twice).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from bridge_harness import ALICE_PHONE, BRIDGE, World, envelope_key, message_key, world
from e2e_tools import (
    WA_ALICE,
    WA_BOB,
    WA_CAROL,
    chat_of,
    forward,
    send_texts,
    signal_texts,
    webhook_acknowledged,
)
from session_tools import (
    STAR_CHANNELS,
    census,
    delivered_notices,
    metrics_text,
    monitor_caught_up,
    sessions_shown,
    spy,
    status_events_answered,
    waiting_notices,
)

from whatsignal.relay.notices import replies_delivered, replies_wait
from whatsignal.testing import FakeSignal, FakeWaha, Fault

# ---- 1. replies wait for their session -----------------------------------------------------


@pytest.mark.parametrize(
    ("stopped", "running"),
    [("sales", "personal"), ("personal", "sales")],
    ids=["discovered-session-stops", "configured-session-stops"],
)
async def test_replies_wait_for_a_stopped_session_and_go_once_it_works(
    tmp_path: Path, stopped: str, running: str
) -> None:
    """Replies to a chat of a STOPPED session wait for it, never go to another session's chat,
    and go in order, exactly once, when it works again; one notice per outage says they wait,
    one more how many went. WhatsApp's messages still reach Signal meanwhile."""
    contact = {"personal": (WA_ALICE, "Alice"), "sales": (WA_BOB, "Bob")}
    async with world(tmp_path, channels=STAR_CHANNELS, sessions=("personal", "sales")) as w:
        table, registry, store = w.parts.sessions, w.parts.registry, w.parts.store
        await w.until(lambda: registry.running() == ["personal", "sales"])
        # The running session's chat is the older one; the stopped session's is the latest.
        number, name = contact[running]
        _, older = await forward(w, running, from_=number, body="older chat", name=name)
        number, name = contact[stopped]
        latest_payload, latest = await forward(w, stopped, from_=number, body="latest", name=name)
        stopped_chat = chat_of(number)

        w.waha.stop_session(stopped)
        await w.until(lambda: table.status(stopped) == "STOPPED")
        # Unquoted: the latest chat is in the stopped session; the reply waits for it (it must
        # not fall back to the older chat of the running session).
        first = w.signal.inject_envelope(ALICE_PHONE, message="first, unquoted")
        await w.until(lambda: len(waiting_notices(w)) == 1)
        assert waiting_notices(w) == [replies_wait(stopped, "STOPPED", 1)]
        second = w.signal.inject_envelope(
            ALICE_PHONE, message="second, quoted", quote_timestamp=latest.timestamp
        )

        async def both_wait() -> bool:  # routed to the stopped session's queue, held there
            return await store.pending_count(stopped, source="signal") == 2

        await w.until(both_wait)
        # Meanwhile WhatsApp still reaches Signal (from the running session, and a webhook WAHA
        # delivers late for the stopped one), and a reply to the running session's chat goes.
        for session in (running, stopped):
            number, name = contact[session]
            await forward(w, session, from_=number, body=f"meanwhile in {session}", name=name)
        other = w.signal.inject_envelope(
            ALICE_PHONE, message="to the running one", quote_timestamp=older.timestamp
        )
        assert await w.envelopes_done(other) == ["done"]
        assert [c["text"] for c in send_texts(w)] == ["to the running one"]
        assert await w.row_state(envelope_key(first)) == "pending"
        assert await w.row_state(envelope_key(second)) == "pending"

        w.waha.start_session(stopped)
        await w.until(lambda: len(delivered_notices(w)) == 1)
        assert delivered_notices(w) == [replies_delivered(stopped, 2, 0)]
        assert await w.envelopes_done(first, second) == ["done", "done"]
        waited = [c for c in send_texts(w) if c["text"] != "to the running one"]
        assert [(c["session"], c["chatId"], c["text"]) for c in waited] == [
            (stopped, stopped_chat, "first, unquoted"),
            (stopped, stopped_chat, "second, quoted"),
        ]
        assert waited[1]["reply_to"] == latest_payload["id"]

        # A second outage: one more notice, one more "delivered".
        w.waha.stop_session(stopped)
        await w.until(lambda: table.status(stopped) == "STOPPED")
        third = w.signal.inject_envelope(
            ALICE_PHONE, message="third, quoted", quote_timestamp=latest.timestamp
        )
        await w.until(lambda: len(waiting_notices(w)) == 2)
        w.waha.start_session(stopped)
        await w.until(lambda: len(delivered_notices(w)) == 2)
        await w.settled(first, second, other, third)
        # Everything is done: nothing more can be sent. Each reply went once, to its chat.
        assert [(c["session"], c["text"]) for c in send_texts(w)] == [
            (running, "to the running one"),
            (stopped, "first, unquoted"),
            (stopped, "second, quoted"),
            (stopped, "third, quoted"),
        ]
        assert waiting_notices(w) == [
            replies_wait(stopped, "STOPPED", 1),
            replies_wait(stopped, "STOPPED", 1),
        ]
        assert delivered_notices(w) == [
            replies_delivered(stopped, 2, 0),
            replies_delivered(stopped, 1, 0),
        ]


# ---- 2. lifecycle events in WAHA's order, whatever order they arrive in ---------------------


@pytest.mark.parametrize("learned", ["listing", "webhooks"])
async def test_status_events_arriving_reversed_and_twice_leave_the_session_working(
    tmp_path: Path, learned: str
) -> None:
    """A stop and a start whose ``session.status`` webhooks arrive backwards (WORKING,
    STARTING, STOPPED), each of them twice: the bridge ends with the session WORKING and its
    poller running, as WAHA has it. ``learned``: how the bridge first knew the session (a
    listing, which makes it ask WAHA about the first event; or webhooks only, ordered by
    WAHA's timestamps)."""
    initial = ("personal", "sales") if learned == "listing" else ("personal",)
    extra = {"signal": {"sessionDiscoveryIntervalSec": 3600}}  # the first listing only
    async with world(
        tmp_path,
        channels=STAR_CHANNELS,
        sessions=initial,
        extra=extra,
        waha_options={"auto_pair": True},
    ) as w:
        table, registry = w.parts.sessions, w.parts.registry
        if learned == "webhooks":
            await monitor_caught_up(w)  # the first listing is over (it comes first)
            w.waha.create_session("sales")  # STARTING, then WORKING
        await w.until(lambda: table.status("sales") == "WORKING" and "sales" in registry.running())
        await monitor_caught_up(w)
        entry = table.entry("sales")
        assert entry is not None and entry.listed is (learned == "listing")

        w.waha.hold_deliveries(3, session="sales", event="session.status")
        w.waha.duplicate_deliveries(session="sales", event="session.status", count=3)
        w.waha.stop_session("sales")
        w.waha.start_session("sales")  # STARTING, then WORKING: the third is caught
        await w.until(lambda: status_events_answered(w, "sales"))
        await monitor_caught_up(w)

        # The scenario happened: three changes, delivered newest first, each one twice.
        changes = [
            e for e in w.waha.events if e["event"] == "session.status" and e["session"] == "sales"
        ][-3:]
        status_of = {e["id"]: e["payload"]["status"] for e in changes}
        arrived = [status_of[d.event_id] for d in w.waha.deliveries if d.event_id in status_of]
        assert list(dict.fromkeys(arrived)) == ["WORKING", "STARTING", "STOPPED"]
        assert sum(1 for d in w.waha.deliveries if d.event_id in status_of and d.lost) == 3

        assert table.status("sales") == "WORKING"
        assert "sales" in registry.running()
        shown = (await sessions_shown(w))["sales"]
        assert (shown["waha"], shown["worker"]) == ("WORKING", "running")
        # The poller works: a message goes out and a reply comes back through it at once.
        _, message = await forward(w, "sales", from_=WA_BOB, body="still there?", name="Bob")
        reply = w.signal.inject_envelope(
            ALICE_PHONE, message="yes", quote_timestamp=message.timestamp
        )
        assert await w.envelopes_done(reply) == ["done"]
        assert [(c["session"], c["text"]) for c in send_texts(w)] == [("sales", "yes")]
        assert waiting_notices(w) == []


# ---- 3. the cap on discovered sessions, and the flags ----------------------------------------


@pytest.mark.parametrize("frees", ["stop", "delete"])
@pytest.mark.parametrize("shows_up", ["listing", "status webhook", "message webhook"])
async def test_the_cap_holds_however_a_session_shows_up_and_its_messages_wait(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, shows_up: str, frees: str
) -> None:
    """``signal.maxConcurrentSessions: 1`` with two discovered sessions: the second is left
    out however it shows up (listed, announced by ``session.status``, or by a message), is
    shown so in /session/status and /metrics, and its messages wait in the journal until the
    first session stops or is deleted; then they reach Signal, once."""
    caplog.set_level(logging.INFO, logger="whatsignal")
    interval = 1 if shows_up == "listing" else 3600
    extra = {"signal": {"maxConcurrentSessions": 1, "sessionDiscoveryIntervalSec": interval}}
    async with world(
        tmp_path,
        channels=STAR_CHANNELS,
        sessions=("personal", "sales"),
        extra=extra,
        waha_options={"auto_pair": True},
    ) as w:
        table, registry = w.parts.sessions, w.parts.registry
        await w.until(lambda: "sales" in registry.running())
        await monitor_caught_up(w)  # the first listing is over: sales holds the one slot
        if shows_up != "status webhook":
            # Only the listing, or only a message, may tell the bridge about "support".
            w.waha.hold_deliveries(100, session="support", event="session.status")
        w.waha.create_session("support")  # STARTING, then WORKING

        def left_out() -> bool:
            entry = table.entry("support")
            return entry is not None and entry.left_out

        if shows_up != "message webhook":
            await w.until(lambda: left_out() and table.status("support") == "WORKING")
            entry = table.entry("support")
            assert entry is not None and entry.listed is (shows_up == "listing")
        waits = w.waha.inject_message("support", from_=WA_CAROL, body="me too", notify_name="C")
        await w.until(lambda: webhook_acknowledged(w, waits))  # journaled
        await w.until(left_out)
        if shows_up == "message webhook":
            assert table.status("support") is None  # nothing but the message told of it

        # The session that holds the slot still works; the left-out one has no poller.
        await forward(w, "sales", from_=WA_BOB, body="first come", name="Bob")
        assert registry.running() == ["personal", "sales"]
        assert registry.poller("support") is None
        assert await w.row_state(message_key("support", waits)) == "pending"
        assert signal_texts(w) == ["Bob: first come"]
        shown = await sessions_shown(w)
        assert shown["support"]["worker"] == "left out"
        assert shown["support"]["queue"] == 1
        assert (shown["sales"]["worker"], shown["personal"]["worker"]) == ("running", "running")
        assert STAR_SERVES_NOTHING not in caplog.text
        metrics = await metrics_text(w)
        assert 'whatsignal_workers{state="left out"} 1.0' in metrics
        assert 'whatsignal_workers{state="running"} 2.0' in metrics
        assert caplog.text.count("signal.maxConcurrentSessions (1) reached") == 1

        if frees == "stop":
            w.waha.stop_session("sales")
        else:
            w.waha.delete_session("sales")
        await w.until(lambda: "C: me too" in signal_texts(w))
        assert await w.row_done(message_key("support", waits)) == ["done"]
        assert signal_texts(w) == ["Bob: first come", "C: me too"]
        assert "support" in registry.running()
        shown = await sessions_shown(w)
        assert shown["support"]["worker"] == "running"
        assert table.slots_used() == 1
        if frees == "delete":
            await w.until(lambda: "sales" not in registry.running())
        metrics = await metrics_text(w)
        assert 'whatsignal_workers{state="left out"}' not in metrics


STAR_SERVES_NOTHING = "the '*' channel serves no session"


@pytest.mark.parametrize(
    "off",
    [{"signal": {"enableDynamicPolling": False}}, {"whatsapp": {"sessionApiEnabled": False}}],
    ids=["enableDynamicPolling-false", "sessionApiEnabled-false"],
)
async def test_without_discovery_exactly_the_configured_sessions_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, off: dict[str, dict[str, bool]]
) -> None:
    """Discovery off (either flag) with a ``"*"`` channel: only the configured session runs,
    a discovered session's messages are not forwarded however it shows up, and the start-up
    log says the ``"*"`` channel serves nothing. With ``sessionApiEnabled: false`` WAHA is
    never asked for its sessions."""
    caplog.set_level(logging.INFO, logger="whatsignal")
    listings: list[Fault] = []

    def watch_listings(waha: FakeWaha, _: FakeSignal) -> None:
        listings.extend(spy(waha, path) for path in ("/api/sessions", "/api/sessions/"))

    extra = {**off, "signal": {**off.get("signal", {}), "sessionDiscoveryIntervalSec": 1}}
    async with world(
        tmp_path,
        channels=STAR_CHANNELS,
        sessions=("personal", "sales"),
        extra=extra,
        waha_options={"auto_pair": True},
        before_bridge=watch_listings,
    ) as w:
        table, registry = w.parts.sessions, w.parts.registry
        assert caplog.text.count(STAR_SERVES_NOTHING) == 1
        # A discovered session shows up every way there is: listed, announced, with messages.
        w.waha.create_session("late")
        lost = [
            w.waha.inject_message(name, from_=WA_CAROL, body=f"in {name}", notify_name="C")
            for name in ("sales", "late")
        ]
        w.waha.stop_session("sales")
        w.waha.start_session("sales")
        await w.until(lambda: all(webhook_acknowledged(w, p) for p in lost))
        await w.until(lambda: status_events_answered(w, "sales"))
        await w.until(lambda: status_events_answered(w, "late"))
        await monitor_caught_up(w)
        # A later message of the configured session went through; the others wait unseen.
        await forward(w, "personal", from_=WA_ALICE, body="configured", name="Alice")
        assert signal_texts(w) == ["Alice: configured"]
        assert registry.running() == ["personal"]
        assert table.known() == ["personal"]
        pairs = zip(("sales", "late"), lost, strict=True)
        states = [await w.row_state(message_key(session, payload)) for session, payload in pairs]
        assert states == ["pending", "pending"]
        if "whatsapp" in off:
            assert [spied.hits for spied in listings] == [0, 0]  # WAHA was never asked
        else:
            assert sum(spied.hits for spied in listings) >= 1  # configured sessions' health
        shown = await sessions_shown(w)
        assert shown["personal"]["worker"] == "running"
        assert all(shown[name]["worker"] == "none" for name in ("sales", "late"))


@pytest.mark.parametrize(
    "path",
    ["/api/sessions", "/waha/v2/sessions"],
    ids=["served-by-fakewaha", "answered-by-a-stub"],
)
async def test_the_session_listing_uses_the_configured_path(tmp_path: Path, path: str) -> None:
    """``whatsapp.sessionApiPath`` is where the bridge lists WAHA's sessions (start-up check
    and discovery alike), never the default ``/api/sessions/``. FakeWaha serves its listing at
    ``/api/sessions`` with or without the slash only; another path is answered with
    FakeWaha's own listing through a stub in its fault layer."""
    spies: dict[str, Fault] = {}

    def serve(waha: FakeWaha, _: FakeSignal) -> None:
        if path != "/api/sessions":
            listing = [waha.session(n).info(waha.engine) for n in waha.session_names()]
            spies[path] = Fault(path=path, method="GET", count=None, status=200, body=listing)
            waha.add_fault(spies[path])
        else:
            spies[path] = spy(waha, path)
        spies["default"] = spy(waha, "/api/sessions/")

    extra = {"whatsapp": {"sessionApiPath": path}}
    async with world(
        tmp_path,
        channels=STAR_CHANNELS,
        sessions=("personal", "sales"),
        extra=extra,
        before_bridge=serve,
    ) as w:
        await w.until(lambda: w.parts.registry.running() == ["personal", "sales"])
        assert w.parts.sessions.entry("sales").listed  # type: ignore[union-attr]
        await w.until(lambda: spies[path].hits >= 2)  # the start-up check and discovery
        await forward(w, "sales", from_=WA_BOB, body="found", name="Bob")
        assert spies["default"].hits == 0


async def test_polling_disabled_makes_no_receive_connection_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``signal.pollingEnabled: false``: no connection to signal-cli's receive endpoint (no
    websocket, no long poll), and the start-up log warns that replies are not received."""
    caplog.set_level(logging.INFO, logger="whatsignal")
    receives: list[Fault] = []

    def watch_receive(_: FakeWaha, signal: FakeSignal) -> None:
        receives.append(spy(signal, "/v1/receive/*", method="*"))

    extra = {"signal": {"pollingEnabled": False}}
    async with world(tmp_path, extra=extra, before_bridge=watch_receive) as w:
        assert caplog.text.count("signal.pollingEnabled is false") == 1
        assert STAR_SERVES_NOTHING not in caplog.text
        await forward(w, "personal", from_=WA_ALICE, body="one way", name="Alice")
        reply = w.signal.inject_envelope(ALICE_PHONE, message="never received")
        assert w.signal.dropped == 1, reply  # nobody listened: signal-cli dropped it
        assert receives[0].hits == 0
        assert w.signal.sockets() == {}
        assert w.parts.registry.snapshot()["receivers"] == {}
        assert send_texts(w) == []


# ---- 4. nothing kept per session name once the session is gone ------------------------------

POLLER_TASK = "whatsignal.actors.registry.PollerRegistry._session.<locals>.incarnation"


CHURN_WAIT = 60.0
"""How long the churn test waits for each state (a few seconds alone; far more on a machine
busy with other test runs, which made the default 10 s flaky)."""


async def test_sessions_created_and_deleted_by_the_hundred_leave_nothing_behind(
    tmp_path: Path,
) -> None:
    """Rounds of 100 discovered sessions, created (each gets a poller), ten of them with a
    message and a reply, then deleted: after each round the pollers, the session table, the
    doorbells, the WAHA breakers, the cached names and the metrics' per-session series are back
    to the configured session, and the bridge runs as many tasks as after the first round."""
    extra = {"signal": {"maxConcurrentSessions": 1000, "sessionDiscoveryIntervalSec": 1}}
    async with world(
        tmp_path,
        channels=STAR_CHANNELS,
        sessions=("personal",),
        extra=extra,
        waha_options={"auto_pair": True},
    ) as w:
        # The first round: per-session series show on the metrics page while rows wait.
        await _create_use_delete(w, 0, slow_signal=True)
        # The stopped pollers' tasks end once their cancelled scopes unwind, and the
        # configured session's poller rests once idle: no poller task is left.
        await w.until(lambda: census(w)[POLLER_TASK] == 0, timeout=CHURN_WAIT)
        assert w.parts.registry.running() == ["personal"]
        baseline = census(w)
        for round_ in (1, 2, 3):
            await _create_use_delete(w, round_)
            await w.until(lambda: census(w) == baseline, timeout=CHURN_WAIT)
        assert len(send_texts(w)) == 40  # every reply went, once


async def _create_use_delete(w: World, round_: int, *, slow_signal: bool = False) -> None:
    """One round: 100 sessions created, ten of them used both ways, all deleted; returns once
    the bridge keeps nothing of them (the tasks may still be unwinding)."""
    parts = w.parts
    registry, table, doorbells = parts.registry, parts.sessions, parts.doorbells
    whatsapp = parts.upstreams.whatsapp
    names = [f"r{round_}-{i:03d}" for i in range(100)]
    for name in names:
        w.waha.create_session(name)  # STARTING, then WORKING
    await w.until(lambda: len(registry.running()) == 101, timeout=CHURN_WAIT)
    # Ten carry traffic both ways: cached names, mappings, breakers, pending rows.
    if slow_signal:
        w.signal.add_fault(Fault(path="/v2/send", count=10, latency=0.3))
    busy = names[:10]
    payloads = [
        w.waha.inject_message(name, from_=f"+4917{round_}00{i:05d}", body="hi", notify_name=name)
        for i, name in enumerate(busy)
    ]
    if slow_signal:

        async def series_shown() -> bool:
            text = await metrics_text(w)
            return all(f'queue="{name}"' in text for name in busy)

        await w.until(series_shown, timeout=CHURN_WAIT)
        assert census(w)[POLLER_TASK] > 0  # the busy sessions' pollers run (the name is right)
    keys = [message_key(name, p) for name, p in zip(busy, payloads, strict=True)]
    assert await w.row_done(*keys, timeout=CHURN_WAIT) == ["done"] * 10
    forwarded = {m.message.partition(":")[0]: m for m in w.signal.messages[-10:]}
    replies = [
        w.signal.inject_envelope(
            ALICE_PHONE, message=f"re {name}", quote_timestamp=forwarded[name].timestamp
        )
        for name in busy
    ]
    assert await w.envelopes_done(*replies, timeout=CHURN_WAIT) == ["done"] * 10
    assert whatsapp.sessions() >= set(busy)
    assert parts.names.sessions() >= set(busy)

    for name in names:
        w.waha.delete_session(name)  # STOPPED; then WAHA no longer knows it

    def back_to_configured() -> bool:
        return (
            registry.running() == ["personal"]
            and table.known() == ["personal"]
            and doorbells.queues() == {"personal", f"signal:{BRIDGE}"}
            and whatsapp.sessions() <= {"personal"}
            and parts.names.sessions() <= {"personal"}
        )

    await w.until(back_to_configured, timeout=CHURN_WAIT)
    text = await metrics_text(w)
    assert not any(name in text for name in names), "a gone session named in /metrics"
