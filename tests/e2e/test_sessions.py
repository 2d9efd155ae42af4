"""WAHA sessions end to end: replies that wait for their session, status events out of order,
the cap on discovered sessions, the discovery flags, and nothing kept per session name once a
session is gone.

The bridge runs against FakeWaha's session lifecycle (create, stop, start, delete, each
announced by ``session.status`` webhooks, which FakeWaha can deliver out of order or twice).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bridge_harness import ALICE_PHONE, envelope_key, world
from e2e_tools import WA_ALICE, WA_BOB, chat_of, forward, send_texts
from session_tools import (
    STAR_CHANNELS,
    delivered_notices,
    monitor_caught_up,
    sessions_shown,
    status_events_answered,
    waiting_notices,
)

from whatsignal.relay.notices import replies_delivered, replies_wait

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
