"""What the intake journals, under which key, and what it refuses or ignores.

The first part checks rows and keys alone (no store). The second runs the intake against a real
in-memory SqliteStore: ``session.status`` changes go to the session monitor's inbox without
blocking and are never journaled; what was journaled before is recognised; doorbells ring once
per queue per batch and only for new rows; rows are stamped with the injected clock; and an
unparseable Signal item costs only itself. The last part holds events to the dedupe horizon: a
replay whose journal row was pruned is ignored, while anything younger than the horizon still
finds its key (WAHA's retries, the catch-up's history, Signal's pushed envelopes).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import attrs
import pytest
import trio

from whatsignal.actors.path_merge import PushLedger
from whatsignal.actors.scheduler import Scheduler, dedupe_horizon
from whatsignal.channels import ChannelMap, Route
from whatsignal.errors import PayloadError, StorageError
from whatsignal.intake import PUSH, Intake, Outcome, StatusEvent
from whatsignal.metrics import Metrics
from whatsignal.models.waha import WahaEvent
from whatsignal.serde import parse_waha_event
from whatsignal.storage import InboundEvent, SqliteStore


class _NoBells:
    def ring(self, queue: str) -> None:
        raise AssertionError("whatsapp_event() rings nobody")

    def fresh(self, events: Sequence[InboundEvent], ids: Sequence[int | None]) -> None:
        raise AssertionError("whatsapp_event() hands nothing over")


def _intake() -> Intake:
    return Intake(
        store=None,  # type: ignore[arg-type]  # whatsapp_event() does not touch the store
        channels=ChannelMap({"default": Route("default", "+15550000002", "+15550000001")}),
        doorbells=_NoBells(),
        metrics=Metrics(),
        clock=lambda: 1_700_000_000.0,
    )


def _row(event: str, payload: dict[str, Any], session: str = "default") -> InboundEvent | str:
    raw = json.dumps({"event": event, "session": session, "payload": payload}).encode()
    return _intake().whatsapp_event(parse_waha_event(raw), raw)


MSG = {"id": "false_1@c.us_A", "from": "1@c.us", "fromMe": False, "body": "hi"}


def test_message_and_message_any_share_one_key() -> None:
    one, two = _row("message", MSG), _row("message.any", MSG)
    assert isinstance(one, InboundEvent)
    assert isinstance(two, InboundEvent)
    assert one.key == two.key == "wa:default:msg:false_1@c.us_A"
    assert (one.queue, one.chat, one.kind) == ("default", "1@c.us", "message")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({**MSG, "fromMe": True}, "own message"),
        ({**MSG, "from": "status@broadcast"}, "status or newsletter"),
        ({**MSG, "from": "123@newsletter"}, "status or newsletter"),
        ({**MSG, "body": "  "}, "empty system message"),
    ],
)
def test_ignored_messages(payload: dict[str, Any], reason: str) -> None:
    assert _row("message", payload) == reason


def test_a_location_or_contact_card_is_not_empty() -> None:
    located = {**MSG, "body": "", "location": {"latitude": "1", "longitude": "2", "live": False}}
    assert isinstance(_row("message", located), InboundEvent)
    assert isinstance(_row("message", {**MSG, "body": "", "vCards": ["BEGIN:VCARD"]}), InboundEvent)


def test_unconfigured_sessions_and_unknown_events_are_ignored() -> None:
    assert _row("message", MSG, session="other") == "session has no channel"
    assert _row("chat.archive", {}) == "event 'chat.archive' is not bridged"


def test_acks_by_level_or_by_name() -> None:
    by_level = _row("message.ack", {"id": "true_1@c.us_B", "ack": 3})
    by_name = _row("message.ack", {"id": "true_1@c.us_B", "ackName": "read"})
    assert isinstance(by_level, InboundEvent)
    assert isinstance(by_name, InboundEvent)
    assert by_level.key == by_name.key == "wa:default:ack:true_1@c.us_B:3:"
    with pytest.raises(PayloadError, match="neither ack nor a known ackName"):
        _row("message.ack", {"id": "true_1@c.us_B", "ackName": "SOMETHING"})


def test_revoked_needs_the_revoked_id() -> None:
    with pytest.raises(PayloadError, match="revokedMessageId"):
        _row("message.revoked", {"after": {"from": "1@c.us"}})
    row = _row("message.revoked", {"revokedMessageId": "A", "after": {"from": "1@c.us"}})
    assert isinstance(row, InboundEvent)
    assert (row.key, row.chat) == ("wa:default:revoked:A", "1@c.us")


def test_revoking_an_own_message_is_ignored() -> None:
    own = _row("message.revoked", {"revokedMessageId": "A", "after": {"fromMe": True}})
    assert own == "own revoke"


def test_edits_are_keyed_by_the_edit_action_and_own_edits_are_ignored() -> None:
    edit = {"id": "false_1@c.us_E1", "from": "1@c.us", "body": "new", "editedMessageId": "A"}
    row = _row("message.edited", edit)
    assert isinstance(row, InboundEvent)
    assert (row.key, row.chat, row.kind) == (
        "wa:default:edit:false_1@c.us_E1",
        "1@c.us",
        "message.edited",
    )
    assert _row("message.edited", {**edit, "fromMe": True}) == "own edit"


def test_reactions_are_keyed_by_their_id_in_the_reactors_chat() -> None:
    reaction = {
        "id": "false_1@c.us_R1",
        "from": "1@c.us",
        "fromMe": False,
        "to": "15550000001@c.us",
        "reaction": {"text": "👍", "messageId": "true_1@c.us_A"},
    }
    row = _row("message.reaction", reaction)
    assert isinstance(row, InboundEvent)
    assert (row.key, row.chat, row.kind) == (
        "wa:default:reaction:false_1@c.us_R1",
        "1@c.us",
        "message.reaction",
    )
    assert _row("message.reaction", {**reaction, "fromMe": True}) == "own reaction"


# Against a running store ---------------------------------------------------------------------

BRIDGE = "+4915100000001"
BRIDGE_2 = "+4915100000009"
ME = "+4915100000002"
ME_UUID = "5d1c8a0e-7f62-4c1b-9a43-2f0e6b8d1a11"
CHANNELS = ChannelMap(
    {"default": Route("default", ME, BRIDGE), "second": Route("second", ME, BRIDGE_2)}
)


@attrs.define(eq=False)
class RecordingDoorbells:
    rung: list[str] = attrs.Factory(list)

    def ring(self, queue: str) -> None:
        self.rung.append(queue)

    def fresh(self, events: Sequence[InboundEvent], ids: Sequence[int | None]) -> None:
        # handing rows over wakes the owner like a ring
        self.rung += [e.queue for e, i in zip(events, ids, strict=True) if i is not None]


@attrs.define(eq=False, kw_only=True)
class Edge:
    """An intake over a running store, with the monitor's inbox and the doorbells to inspect."""

    intake: Intake
    store: SqliteStore
    doorbells: RecordingDoorbells
    metrics: Metrics
    inbox: trio.MemoryReceiveChannel[tuple[str, str]]
    now: list[float]

    def counted(self, source: str, event: str, result: str) -> float:
        value: float = self.metrics.webhooks.labels(source, event, result)._value.get()
        return value


@pytest.fixture
async def edge(nursery: trio.Nursery) -> AsyncIterator[Edge]:
    store: SqliteStore = await nursery.start(SqliteStore(":memory:").run)
    send, receive = trio.open_memory_channel[tuple[str, str]](1)
    now = [1_700_000_123.5]
    doorbells, metrics = RecordingDoorbells(), Metrics()
    with send, receive:
        intake = Intake(
            store=store,
            channels=CHANNELS,
            doorbells=doorbells,
            metrics=metrics,
            clock=lambda: now[0],
            session_status=send,
        )
        yield Edge(
            intake=intake,
            store=store,
            doorbells=doorbells,
            metrics=metrics,
            inbox=receive,
            now=now,
        )


def webhook(
    event: str, payload: dict[str, Any], session: str = "default"
) -> tuple[WahaEvent, bytes]:
    raw = json.dumps(
        {
            "id": "evt_01jzq9b3v3f1k0m6x7y8z9a0bc",
            "timestamp": 1_700_000_123_000,
            "event": event,
            "session": session,
            "engine": "NOWEB",
            "payload": payload,
        }
    ).encode()
    return parse_waha_event(raw), raw


def session_status(status: str, session: str = "default") -> tuple[WahaEvent, bytes]:
    return webhook(
        "session.status",
        {
            "name": session,
            "status": status,
            "statuses": [{"status": status, "timestamp": 1_700_000_123_000}],
        },
        session,
    )


# session.status ------------------------------------------------------------------------------


async def test_a_session_status_change_goes_to_the_monitor_and_not_the_journal(edge: Edge) -> None:
    assert await edge.intake.whatsapp(*session_status("SCAN_QR_CODE")) is Outcome.ACCEPTED

    assert edge.inbox.receive_nowait() == StatusEvent(
        "default", "SCAN_QR_CODE", 1_700_000_123_000, "NOWEB"
    )
    assert await edge.store.pending_count() == 0
    assert edge.doorbells.rung == []
    assert edge.counted("whatsapp", "session.status", "accepted") == 1


async def test_a_status_change_carries_when_waha_says_it_happened(edge: Edge) -> None:
    history = [
        {"status": "STARTING", "timestamp": 1_700_000_100_000},
        {"status": "WORKING", "timestamp": 1_700_000_200_000},
        {"status": "STARTING", "timestamp": 1_700_000_300_000},
    ]
    event, raw = webhook(
        "session.status", {"name": "default", "status": "WORKING", "statuses": history}, "default"
    )
    await edge.intake.whatsapp(event, raw)
    # The latest time it entered its current status, from the payload's history.
    assert edge.inbox.receive_nowait() == StatusEvent(
        "default", "WORKING", 1_700_000_200_000, "NOWEB"
    )
    # No history (WAHA's own docs example): the envelope's time; no name: the envelope's session.
    event, raw = webhook("session.status", {"status": "FAILED"}, "default")
    await edge.intake.whatsapp(event, raw)
    assert edge.inbox.receive_nowait() == StatusEvent("default", "FAILED", event.timestamp, "NOWEB")


async def test_the_engine_a_webhook_names_is_told_to_the_monitor_once(edge: Edge) -> None:
    """So that a send on GOWS or NOWEB takes a pre-generated id even when the bridge never
    lists sessions (``whatsapp.sessionApiEnabled: false``)."""
    first = {**MSG, "id": "false_1@c.us_B"}
    assert await edge.intake.whatsapp(*webhook("message", first)) is Outcome.ACCEPTED
    assert edge.inbox.receive_nowait() == StatusEvent("default", None, engine="NOWEB")
    await edge.intake.whatsapp(*webhook("message", {**MSG, "id": "false_1@c.us_C"}))
    with pytest.raises(trio.WouldBlock):
        edge.inbox.receive_nowait()  # told once


async def test_an_engine_the_full_inbox_could_not_take_is_told_with_the_next_webhook(
    edge: Edge,
) -> None:
    await edge.intake.whatsapp(*session_status("STARTING"))  # fills the inbox (size 1)
    await edge.intake.whatsapp(*webhook("message", {**MSG, "id": "false_1@c.us_D"}))
    assert edge.inbox.receive_nowait().status == "STARTING"
    with pytest.raises(trio.WouldBlock):
        edge.inbox.receive_nowait()
    await edge.intake.whatsapp(*webhook("message", {**MSG, "id": "false_1@c.us_E"}))
    assert edge.inbox.receive_nowait() == StatusEvent("default", None, engine="NOWEB")


async def test_a_full_monitor_inbox_drops_the_change_without_blocking(edge: Edge) -> None:
    with trio.fail_after(1):
        first = await edge.intake.whatsapp(*session_status("STARTING"))
        second = await edge.intake.whatsapp(*session_status("WORKING"))

    assert first is second is Outcome.ACCEPTED
    assert edge.inbox.receive_nowait() == StatusEvent(
        "default", "STARTING", 1_700_000_123_000, "NOWEB"
    )
    with pytest.raises(trio.WouldBlock):
        edge.inbox.receive_nowait()  # the monitor's next listing catches up on WORKING
    assert await edge.store.pending_count() == 0


async def test_without_a_monitor_session_status_is_ignored(edge: Edge) -> None:
    no_monitor = attrs.evolve(edge.intake, session_status=None)

    assert await no_monitor.whatsapp(*session_status("FAILED")) is Outcome.IGNORED

    assert await edge.store.pending_count() == 0
    assert edge.counted("whatsapp", "session.status", "ignored") == 1


async def test_session_status_of_a_session_without_a_channel_is_ignored(edge: Edge) -> None:
    outcome = await edge.intake.whatsapp(*session_status("WORKING", session="stranger"))

    assert outcome is Outcome.IGNORED
    with pytest.raises(trio.WouldBlock):
        edge.inbox.receive_nowait()
    assert await edge.store.pending_count() == 0


# WhatsApp events -----------------------------------------------------------------------------

CAROL_SAYS_HI = {
    "id": "false_4917000000003@c.us_3EB0C767D26A1D2E5F",
    "timestamp": 1_700_000_120,
    "from": "4917000000003@c.us",
    "fromMe": False,
    "to": "15550000001@c.us",
    "body": "hi",
    "hasMedia": False,
}


async def test_a_new_whatsapp_message_is_journaled_once_and_rings_its_session(edge: Edge) -> None:
    event, raw = webhook("message", CAROL_SAYS_HI)

    assert await edge.intake.whatsapp(event, raw) is Outcome.ACCEPTED
    edge.now[0] += 60  # WAHA sends message.any for the same message a minute later
    assert await edge.intake.whatsapp(*webhook("message.any", CAROL_SAYS_HI)) is Outcome.DUPLICATE

    (row,) = await edge.store.pending_heads("default")
    assert (row.key, row.chat, row.kind) == (
        "wa:default:msg:false_4917000000003@c.us_3EB0C767D26A1D2E5F",
        "4917000000003@c.us",
        "message",
    )
    assert row.payload == raw
    assert row.received_at == 1_700_000_123.5  # the injected clock, at the first delivery
    assert edge.doorbells.rung == ["default"]
    assert edge.counted("whatsapp", "message", "accepted") == 1
    assert edge.counted("whatsapp", "message.any", "duplicate") == 1


async def test_an_ignored_whatsapp_event_is_not_journaled_and_rings_nobody(edge: Edge) -> None:
    own = {**CAROL_SAYS_HI, "fromMe": True}

    assert await edge.intake.whatsapp(*webhook("message", own)) is Outcome.IGNORED

    assert await edge.store.pending_count() == 0
    assert edge.doorbells.rung == []
    assert edge.counted("whatsapp", "message", "ignored") == 1


async def test_already_journaled_recognises_a_redelivery_under_any_event_name(edge: Edge) -> None:
    message, message_any = webhook("message", CAROL_SAYS_HI), webhook("message.any", CAROL_SAYS_HI)
    assert await edge.intake.already_journaled(*message) is False

    await edge.intake.whatsapp(*message)

    assert await edge.intake.already_journaled(*message) is True
    assert await edge.intake.already_journaled(*message_any) is True
    # The same message id seen by another bridged account is its own row.
    assert (
        await edge.intake.already_journaled(*webhook("message", CAROL_SAYS_HI, "second")) is False
    )
    # An event the intake ignores was never journaled.
    own = webhook("message", {**CAROL_SAYS_HI, "fromMe": True})
    assert await edge.intake.already_journaled(*own) is False


# Signal batches ------------------------------------------------------------------------------


def envelope(account: str, stamp: int, message: str = "hi", **content: Any) -> dict[str, Any]:
    """A received item as signal-cli 0.14 prints it."""
    env: dict[str, Any] = {
        "source": ME,
        "sourceNumber": ME,
        "sourceUuid": ME_UUID,
        "sourceName": "Me",
        "sourceDevice": 1,
        "timestamp": stamp,
        "serverReceivedTimestamp": stamp + 37,
        "serverDeliveredTimestamp": stamp + 52,
    }
    env.update(content or {"dataMessage": {"timestamp": stamp, "message": message}})
    return {"envelope": env, "account": account}


async def test_a_signal_batch_rings_each_queue_once_and_only_for_new_rows(edge: Edge) -> None:
    a1, a2, a3 = (envelope(BRIDGE, 1_700_000_000_000 + i) for i in range(3))
    b1 = envelope(BRIDGE_2, 1_700_000_000_000)

    first = await edge.intake.signal([a1, a2, b1], via="websocket")
    rung_first = list(edge.doorbells.rung)
    again = await edge.intake.signal([a1, b1], via="webhook")  # the push path, late
    rung_again = list(edge.doorbells.rung)
    mixed = await edge.intake.signal([a1, a3], via="webhook")

    assert first == [Outcome.ACCEPTED] * 3
    assert rung_first == [f"signal:{BRIDGE}", f"signal:{BRIDGE_2}"]
    assert again == [Outcome.DUPLICATE] * 2
    assert rung_again == rung_first
    assert mixed == [Outcome.DUPLICATE, Outcome.ACCEPTED]
    assert edge.doorbells.rung == [*rung_first, f"signal:{BRIDGE}"]
    assert await edge.store.pending_count(f"signal:{BRIDGE}") == 3
    assert edge.counted("signal", "webhook", "duplicate") == 3


async def test_pushed_rows_are_numbered_in_push_order_and_only_while_journaled_by_the_push(
    edge: Edge,
) -> None:
    """The receiver routes a pushed row only once its websocket has caught up with that push:
    the intake numbers each push it journals (before the write), and takes the number back
    when the push found the row journaled already or the write failed."""
    ledger = PushLedger()
    intake = attrs.evolve(edge.intake, pushes=ledger)
    a1, a2, a3, a4 = (envelope(BRIDGE, 1_700_000_000_000 + i) for i in range(4))
    keys = [f"sig:{BRIDGE}:{ME_UUID}:{1_700_000_000_000 + i}" for i in range(4)]

    await intake.signal([a1], via="websocket")  # the websocket's rows are not numbered
    assert (ledger.total(BRIDGE), ledger.seq(BRIDGE, keys[0])) == (0, None)
    outcomes = await intake.signal([a1, a2, a3], via=PUSH)
    assert outcomes == [Outcome.DUPLICATE, Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert [ledger.seq(BRIDGE, k) for k in keys[:3]] == [None, 2, 3]
    parsed = ledger.parsed(BRIDGE, keys[1])
    assert parsed is not None and parsed.envelope.timestamp == 1_700_000_000_001

    class Broken:
        async def journal(self, rows: list[InboundEvent]) -> list[int | None]:
            raise StorageError("disk full")

    with pytest.raises(StorageError):
        await attrs.evolve(intake, store=Broken()).signal([a4], via=PUSH)
    assert ledger.seq(BRIDGE, keys[3]) is None  # not journaled: nothing to wait for
    ledger.done(BRIDGE, keys[1])
    assert (ledger.seq(BRIDGE, keys[1]), ledger.total(BRIDGE)) == (None, 4)


async def test_a_signal_row_carries_the_envelope_under_its_natural_key(edge: Edge) -> None:
    item = envelope(BRIDGE, 1_700_000_000_777, "see you")

    await edge.intake.signal([item], via="websocket")

    (row,) = await edge.store.pending_heads(f"signal:{BRIDGE}")
    assert row.key == f"sig:{BRIDGE}:{ME_UUID}:1700000000777"
    assert (row.source, row.chat, row.kind) == ("signal", None, "envelope")
    assert json.loads(row.payload) == item
    assert row.received_at == 1_700_000_123.5


async def test_an_unparseable_signal_item_costs_only_itself(edge: Edge) -> None:
    good = [envelope(BRIDGE, 1_700_000_000_000 + i) for i in range(2)]
    broken = {"envelope": {"source": ME, "timestamp": "yesterday"}, "account": BRIDGE}

    outcomes = await edge.intake.signal([good[0], broken, "not an object", good[1]], via="poll")

    assert outcomes == [Outcome.ACCEPTED, Outcome.IGNORED, Outcome.IGNORED, Outcome.ACCEPTED]
    assert await edge.store.pending_count(f"signal:{BRIDGE}") == 2
    assert edge.counted("signal", "poll", "malformed") == 2
    assert edge.counted("signal", "poll", "accepted") == 2
    assert edge.doorbells.rung == [f"signal:{BRIDGE}"]


def _receipt(kind: str) -> dict[str, Any]:
    return {
        "receiptMessage": {
            "when": 1_700_000_000_500,
            "isDelivery": kind == "delivery",
            "isRead": kind == "read",
            "isViewed": False,
            "timestamps": [1_699_999_999_000],
        }
    }


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(envelope("+4915100000077", 1_700_000_000_000), id="not a bridge number"),
        pytest.param(
            envelope(BRIDGE, 1_700_000_000_000, typingMessage={"action": "STARTED"}), id="typing"
        ),
        pytest.param(envelope(BRIDGE, 1_700_000_000_000, **_receipt("delivery")), id="delivered"),
        pytest.param(
            envelope(BRIDGE, 1_700_000_000_000, syncMessage={"readMessages": []}), id="sync"
        ),
    ],
)
async def test_signal_items_with_nothing_to_bridge_are_not_journaled(
    edge: Edge, item: dict[str, Any]
) -> None:
    assert await edge.intake.signal([item], via="websocket") == [Outcome.IGNORED]

    assert await edge.store.pending_count() == 0
    assert edge.doorbells.rung == []


async def test_a_read_receipt_is_journaled(edge: Edge) -> None:
    item = envelope(BRIDGE, 1_700_000_000_000, **_receipt("read"))

    assert await edge.intake.signal([item], via="websocket") == [Outcome.ACCEPTED]
    assert edge.doorbells.rung == [f"signal:{BRIDGE}"]


# The dedupe horizon ---------------------------------------------------------------------------

DAY = 86400.0
RETENTION = 30 * DAY
HORIZON = dedupe_horizon(RETENTION)
SENT = 1_700_000_000.0  # when WAHA stamped the event (unix seconds)


def signed_message(
    stamp_ms: float | None, payload_stamp: Any = None, message_id: str = "false_1@c.us_A"
) -> tuple[WahaEvent, bytes]:
    """A ``message`` webhook whose signed envelope says ``stamp_ms`` (None: no envelope time,
    as the catch-up after a start builds them) and whose payload says ``payload_stamp``."""
    payload = {**CAROL_SAYS_HI, "id": message_id, "timestamp": payload_stamp}
    body: dict[str, Any] = {"event": "message", "session": "default", "payload": payload}
    if stamp_ms is not None:
        body["timestamp"] = stamp_ms
    raw = json.dumps(body).encode()
    return parse_waha_event(raw), raw


@pytest.fixture
async def guarded(nursery: trio.Nursery) -> AsyncIterator[Edge]:
    """An intake held to the horizon of a 30-day retention, over a store on the same clock."""
    now = [SENT]
    store: SqliteStore = await nursery.start(SqliteStore(":memory:", clock=lambda: now[0]).run)
    doorbells, metrics = RecordingDoorbells(), Metrics()
    send, receive = trio.open_memory_channel[tuple[str, str]](1)
    with send, receive:
        intake = Intake(
            store=store,
            channels=CHANNELS,
            doorbells=doorbells,
            metrics=metrics,
            clock=lambda: now[0],
            horizon=HORIZON,
        )
        yield Edge(
            intake=intake, store=store, doorbells=doorbells, metrics=metrics, inbox=receive, now=now
        )


def test_the_horizon_stays_a_margin_short_of_every_retention() -> None:
    for days in (1, 2, 7, 30, 365, 3650):  # the range of retentionDays
        retention = days * DAY
        horizon = dedupe_horizon(retention)
        assert horizon <= retention - 3600  # at least an hour of margin for clock skew ...
        assert horizon <= retention * 0.9  # ... and a tenth of the retention
        assert horizon >= 0.75 * DAY  # still far beyond WAHA's webhook retries
    assert HORIZON == 27 * DAY


async def test_a_replay_after_the_row_was_pruned_is_ignored_not_forwarded_again(
    guarded: Edge,
) -> None:
    event, raw = signed_message(SENT * 1000)
    assert await guarded.intake.whatsapp(event, raw) is Outcome.ACCEPTED
    (row,) = await guarded.store.pending_heads("default")
    await guarded.store.complete(row.id)
    # The scheduler's retention pass, a day after the row's key could be pruned.
    guarded.now[0] = SENT + RETENTION + DAY
    scheduler = Scheduler(
        store=guarded.store,
        clock=lambda: guarded.now[0],
        relay=None,  # type: ignore[arg-type]  # prune_once() tells nobody
        running=None,  # type: ignore[arg-type]
        metrics=guarded.metrics,
        retention=RETENTION,
        interval=DAY,
        max_age=DAY,
    )
    assert await scheduler.prune_once() == 1
    assert not await guarded.store.has_key(row.key)

    # The same signed body again: without the horizon it would be a new row, forwarded twice.
    assert await guarded.intake.whatsapp(event, raw) is Outcome.IGNORED

    assert await guarded.store.pending_count() == 0
    assert guarded.doorbells.rung == ["default"]  # the first delivery only
    assert guarded.counted("whatsapp", "message", "stale") == 1


async def test_up_to_the_horizon_the_key_is_still_there_to_dedupe_a_replay(guarded: Edge) -> None:
    event, raw = signed_message(SENT * 1000)
    await guarded.intake.whatsapp(event, raw)
    (row,) = await guarded.store.pending_heads("default")
    await guarded.store.complete(row.id)
    guarded.now[0] = SENT + HORIZON  # the oldest replay the intake still takes to the journal
    await guarded.store.prune(
        done_before=guarded.now[0] - RETENTION, mappings_before=guarded.now[0] - RETENTION
    )

    assert await guarded.intake.whatsapp(event, raw) is Outcome.DUPLICATE
    guarded.now[0] += 1
    assert await guarded.intake.whatsapp(event, raw) is Outcome.IGNORED


async def test_a_waha_retry_of_a_fresh_event_is_never_refused(guarded: Edge) -> None:
    event, raw = signed_message(SENT * 1000)
    guarded.now[0] = SENT + 30  # WAHA's default retries end after 15 x 2 s
    assert await guarded.intake.whatsapp(event, raw) is Outcome.ACCEPTED
    guarded.now[0] = SENT + 2 * DAY  # even days of exponential retries
    assert await guarded.intake.whatsapp(event, raw) is Outcome.DUPLICATE


async def test_the_signed_envelope_time_decides_not_the_payloads(guarded: Edge) -> None:
    guarded.now[0] = SENT + 28 * DAY
    # A fresh event about an old message (the payload's time is the message's): taken.
    fresh_event = signed_message(guarded.now[0] * 1000, payload_stamp=SENT)
    assert await guarded.intake.whatsapp(*fresh_event) is Outcome.ACCEPTED
    # A stale signed envelope is refused whatever the payload claims.
    stale = signed_message(SENT * 1000, payload_stamp=int(guarded.now[0]), message_id="B")
    assert await guarded.intake.whatsapp(*stale) is Outcome.IGNORED


@pytest.mark.parametrize(
    ("payload_stamp", "outcome"),
    [
        pytest.param(SENT + 1 * DAY, Outcome.ACCEPTED, id="seconds, within"),
        pytest.param(str(int(SENT + 1 * DAY)), Outcome.ACCEPTED, id="a numeric string"),
        pytest.param((SENT + 1 * DAY) * 1000, Outcome.ACCEPTED, id="milliseconds"),
        pytest.param(SENT, Outcome.IGNORED, id="beyond the horizon"),
        pytest.param(None, Outcome.ACCEPTED, id="no time at all"),
        pytest.param("yesterday", Outcome.ACCEPTED, id="no readable time"),
    ],
)
async def test_the_catch_up_is_judged_by_the_messages_own_time(
    guarded: Edge, payload_stamp: Any, outcome: Outcome
) -> None:
    guarded.now[0] = SENT + 28 * DAY
    # The catch-up after a start journals WAHA's history without an envelope time.
    event = WahaEvent(
        event="message",
        session="default",
        payload={**CAROL_SAYS_HI, "timestamp": payload_stamp},
    )
    assert await guarded.intake.whatsapp(event, b"{}") is outcome


async def test_without_a_horizon_nothing_is_judged_by_age(edge: Edge) -> None:
    event, raw = signed_message(1000.0)  # 1970

    assert await edge.intake.whatsapp(event, raw) is Outcome.ACCEPTED


async def test_a_pushed_envelope_older_than_the_horizon_is_ignored(guarded: Edge) -> None:
    guarded.now[0] = SENT + 28 * DAY
    old = envelope(BRIDGE, int(SENT * 1000))
    recent = envelope(BRIDGE, int((SENT + 2 * DAY) * 1000))

    pushed = await guarded.intake.signal([old, recent], via="push")

    assert pushed == [Outcome.IGNORED, Outcome.ACCEPTED]
    assert guarded.counted("signal", "push", "stale") == 1
    # The websocket and the long poll hand each envelope out once: nothing to replay there.
    assert await guarded.intake.signal([old], via="websocket") == [Outcome.ACCEPTED]


async def test_a_pushed_envelope_is_aged_by_the_signal_servers_clock(guarded: Edge) -> None:
    guarded.now[0] = SENT + 28 * DAY
    # The sender's phone clock is a month behind; the server received it an hour ago.
    behind = envelope(BRIDGE, int(SENT * 1000))
    behind["envelope"]["serverReceivedTimestamp"] = int((guarded.now[0] - 3600) * 1000)

    assert await guarded.intake.signal([behind], via="push") == [Outcome.ACCEPTED]


VOTE = {
    "vote": {
        "id": "false_1@c.us_V1",
        "from": "1@c.us",
        "to": "me@c.us",
        "fromMe": False,
        "selectedOptions": ["Pizza"],
        "timestamp": 1692861427,
    },
    "poll": {"id": "false_1@c.us_P1", "from": "1@c.us", "to": "me@c.us", "fromMe": False},
}


def test_a_vote_is_keyed_by_its_vote_message_and_time_and_own_votes_are_not_journaled() -> None:
    row = _row("poll.vote", VOTE)
    assert isinstance(row, InboundEvent)
    assert row.key == "wa:default:vote:false_1@c.us_V1:1692861427"
    assert (row.queue, row.chat, row.kind) == ("default", "1@c.us", "poll.vote")
    failed = _row("poll.vote.failed", VOTE)
    assert isinstance(failed, InboundEvent)
    assert failed.key == "wa:default:vote-failed:false_1@c.us_V1:1692861427"
    assert failed.kind == "poll.vote.failed"
    own = {**VOTE, "vote": {**VOTE["vote"], "fromMe": True}}
    assert _row("poll.vote", own) == "own vote"


async def test_an_ignored_signal_item_does_not_cost_the_rest_of_its_batch(edge: Edge) -> None:
    typing = envelope(BRIDGE, 1_700_000_000_000, typingMessage={"action": "STARTED"})
    message = envelope(BRIDGE, 1_700_000_000_001)

    outcomes = await edge.intake.signal([typing, message], via="websocket")

    assert outcomes == [Outcome.IGNORED, Outcome.ACCEPTED]
    assert await edge.store.pending_count(f"signal:{BRIDGE}") == 1
    assert edge.counted("signal", "websocket", "ignored") == 1


def test_a_renamed_whatsapp_group_is_keyed_by_the_group_and_the_time_of_the_change() -> None:
    group = "120363000000000001@g.us"
    change = {"group": {"id": group, "subject": "Family"}, "timestamp": 17}
    renamed = _row("group.v2.update", change)
    assert isinstance(renamed, InboundEvent)
    assert (renamed.key, renamed.queue, renamed.chat, renamed.kind) == (
        f"wa:default:group:{group}:17",
        "default",
        group,
        "group.v2.update",
    )
    other = "group change other than a new subject"
    assert _row("group.v2.update", {"group": {"id": group, "participants": []}}) == other
    assert _row("group.v2.update", {"group": {"subject": "Family"}}) == other
