"""The Signal receiver reconnects at once after a drop and backs off only when failures repeat."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing
import trio_websocket

from whatsignal.actors.controller import control_channel
from whatsignal.actors.doorbells import Doorbells, Look
from whatsignal.actors.receiver import MessageSource, ReceiverSettings, SignalReceiver
from whatsignal.actors.session_table import SessionTable
from whatsignal.channels import ChannelMap
from whatsignal.clients import SignalClient
from whatsignal.intake import Intake, Outcome, signal_key, signal_queue
from whatsignal.metrics import Metrics
from whatsignal.relay import Decision, Notices, PortalKeeper, Router
from whatsignal.relay.mutes import MuteBook
from whatsignal.reliability import Backoff
from whatsignal.serde import parse_signal_received
from whatsignal.storage import JournalRow, SqliteStore

NUMBER = "+15550000001"


class ScriptedSocket:
    """A websocket that yields some frames, then drops (or stays open forever)."""

    def __init__(self, frames: list[str], *, drop_after: float | None) -> None:
        self.frames = frames
        self.drop_after = drop_after
        self.pings = 0

    async def get_message(self) -> str:
        if self.frames:
            return self.frames.pop(0)
        if self.drop_after is None:
            await trio.sleep_forever()
        await trio.sleep(self.drop_after)
        raise trio_websocket.ConnectionClosed(trio_websocket.CloseReason(1006, "gone"))

    async def ping(self, payload: bytes | None = None) -> None:
        self.pings += 1


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no HTTP expected: {request.url}")


def _receiver(
    connect: Any, metrics: Metrics, *, http_handler: Any = _unreachable, mode: Any = "websocket"
) -> SignalReceiver:
    """A receiver whose collaborators are not needed by its readers alone."""
    http = httpx.AsyncClient(
        base_url="http://signal:8080", transport=httpx.MockTransport(http_handler)
    )
    signal = SignalClient(http)
    store = SqliteStore(":memory:")  # never started: the reader does not journal
    channels = ChannelMap({})
    doorbells = Doorbells()
    clock = lambda: 1_700_000_000.0  # noqa: E731
    return SignalReceiver(
        number=NUMBER,
        mode=mode,
        signal=signal,
        intake=Intake(
            store=store, channels=channels, doorbells=doorbells, metrics=metrics, clock=clock
        ),
        journal=store,
        router=Router(
            store=store,
            signal=signal,
            channels=channels,
            sessions=SessionTable(
                configured=frozenset(), serves=channels.configured, discover=False, cap=0
            ),
            metrics=metrics,
            clock=clock,
            portals=PortalKeeper(
                store=store, groups=signal.group_api, notices=Notices(signal=signal), clock=clock
            ),
            mutes=MuteBook(store=store, clock=clock),
        ),
        notices=Notices(signal=signal),
        control=control_channel()[0],
        doorbell=doorbells.claim(signal_queue(NUMBER)),
        ring=doorbells,
        metrics=metrics,
        clock=clock,
        settings=ReceiverSettings(
            connect=connect, reconnect=Backoff(initial=1, maximum=8, jitter=0), ping_interval=20
        ),
    )


async def test_first_reconnect_after_a_drop_is_immediate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[float] = []
    urls: list[str] = []

    @asynccontextmanager
    async def connect(url: str) -> AsyncIterator[MessageSource]:
        attempts.append(trio.current_time())
        urls.append(url)
        n = len(attempts)
        if n == 1:
            yield ScriptedSocket(['{"envelope": {}, "account": "+1"}'], drop_after=5)
        elif n in (2, 3, 4):
            raise OSError("connection refused")
        else:
            yield ScriptedSocket([], drop_after=None)

    metrics = Metrics()
    receiver = _receiver(connect, metrics)
    sink, source = trio.open_memory_channel[Any](10)
    with trio.move_on_after(100):
        await receiver._read_websocket(sink)
    # t=0 connect, drop at t=5 -> immediate retry at 5; it fails -> 1 s, fails -> 2 s,
    # fails -> 4 s, then the fifth attempt connects and stays up.
    assert attempts == [0, 5, 6, 8, 12]
    assert urls[0] == "ws://signal:8080/v1/receive/%2B15550000001"
    assert source.receive_nowait() == '{"envelope": {}, "account": "+1"}'
    dropped = metrics.receiver_connects.labels("websocket", "dropped")._value.get()
    assert dropped == 4


async def test_backoff_is_capped_and_resets_after_a_good_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[float] = []

    @asynccontextmanager
    async def connect(url: str) -> AsyncIterator[MessageSource]:
        attempts.append(trio.current_time())
        if len(attempts) == 7:
            yield ScriptedSocket(["{}"], drop_after=1)
        else:
            raise OSError("refused")
        yield ScriptedSocket([], drop_after=None)  # pragma: no cover - unreachable

    receiver = _receiver(connect, Metrics())
    sink, _source = trio.open_memory_channel[Any](10)
    with trio.move_on_after(60):
        await receiver._read_websocket(sink)
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    # 0 (first), then 1, 2, 4, 8, 8 (capped), connect #7 succeeds and drops 1 s later,
    # then the next attempt is immediate again.
    assert gaps[:6] == [0, 1, 2, 4, 8, 8]
    assert gaps[6] == 1
    assert gaps[7] == 1  # after the immediate retry failed, backoff starts from the bottom


async def test_a_silent_connection_is_noticed_by_ping_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[float] = []

    class Unanswered(ScriptedSocket):
        async def ping(self, payload: bytes | None = None) -> None:
            await trio.sleep_forever()  # no pong ever comes

    @asynccontextmanager
    async def connect(url: str) -> AsyncIterator[MessageSource]:
        attempts.append(trio.current_time())
        yield Unanswered([], drop_after=None)

    receiver = _receiver(connect, Metrics())
    sink, _source = trio.open_memory_channel[Any](10)
    with trio.move_on_after(35):
        await receiver._read_websocket(sink)
    # ping at 20 s, no pong within 10 s -> reconnect at 30 s.
    assert attempts == [0, 30]


async def test_long_polling_reports_started_after_the_first_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    item = {"envelope": {"source": "+15550000002", "timestamp": 1}, "account": NUMBER}
    answers: list[Any] = [503, 503, [], [item]]
    asked: list[float] = []

    def signal_cli(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/receive/+15550000001"
        asked.append(trio.current_time())
        answer = answers.pop(0) if answers else []
        if isinstance(answer, int):
            return httpx.Response(answer, json={"error": "busy"})
        return httpx.Response(200, json=answer)

    receiver = _receiver(None, Metrics(), http_handler=signal_cli, mode="poll")
    sink, source = trio.open_memory_channel[Any](10)
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver._poll, sink)
        started_at = trio.current_time()
        assert receiver.connected
        got = await source.receive()
        nursery.cancel_scope.cancel()
    # Two failures back off 1 s, then 2 s; the first answer (empty) is the start; an empty
    # answer waits poll_interval (1 s) before the next poll.
    assert asked[:4] == [0, 1, 3, 4]
    assert started_at == 3
    assert got == item


async def test_the_websocket_reader_reports_started_once_connected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[float] = []

    @asynccontextmanager
    async def connect(url: str) -> AsyncIterator[MessageSource]:
        attempts.append(trio.current_time())
        if len(attempts) < 3:
            raise OSError("signal-cli is starting")
        yield ScriptedSocket([], drop_after=None)

    receiver = _receiver(connect, Metrics())
    sink, _source = trio.open_memory_channel[Any](10)
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver._read_websocket, sink)
        assert trio.current_time() == 1  # after two refusals: immediate, then 1 s
        assert receiver.connected
        nursery.cancel_scope.cancel()
    assert not receiver.connected


MOVED_ID = 1000


@attrs.define
class RoutingJournal:
    """The journal as the routing loop uses it: the Signal queue's rows, and where they went."""

    rows: list[JournalRow] = attrs.Factory(list)
    moved: list[tuple[int, str, str | None, float]] = attrs.Factory(list)
    completed: list[int] = attrs.Factory(list)

    async def pending_heads(self, queue: str, *, limit: int = 256) -> list[JournalRow]:
        return [r for r in self.rows if r.queue == queue][:limit]

    async def requeue_many(self, moves: list[tuple[int, str, str | None]]) -> list[int]:
        for row_id, queue, chat in moves:
            self.moved.append((row_id, queue, chat, trio.current_time()))
        self.rows = [r for r in self.rows if r.id not in {m[0] for m in moves}]
        # Renumbered after everything journaled so far, in routing order.
        return [MOVED_ID + len(self.moved) - len(moves) + i for i in range(1, len(moves) + 1)]

    async def complete(self, row_id: int, **_: Any) -> None:
        self.completed.append(row_id)
        self.rows = [r for r in self.rows if r.id != row_id]

    async def bury(self, row_id: int, *, error: str) -> None:  # pragma: no cover - not here
        raise AssertionError(error)


@attrs.define
class Undecided:
    """A router that cannot tell who sent the first envelopes for a while."""

    unknown_until: float
    decided: list[tuple[int, float]] = attrs.Factory(list)

    async def decide(self, item: Any) -> Decision:
        if trio.current_time() < self.unknown_until:
            return Decision(ignore="sender not known yet", retry_after=5.0)
        self.decided.append((item.envelope.timestamp, trio.current_time()))
        return Decision(session="personal", chat="1@c.us")


def _envelope_row(row_id: int, stamp: int, received_at: float) -> JournalRow:
    payload = {
        "envelope": {
            "source": "+15550000002",
            "timestamp": stamp,
            "dataMessage": {"timestamp": stamp, "message": "hi"},
        },
        "account": NUMBER,
    }
    return JournalRow(
        id=row_id,
        source="signal",
        key=f"sig:{row_id}",
        queue=signal_queue(NUMBER),
        chat=None,
        kind="envelope",
        payload=json.dumps(payload).encode(),
        received_at=received_at,
        state="pending",
        attempts=0,
        next_attempt_at=0.0,
        last_error=None,
    )


async def test_an_envelope_whose_sender_cannot_be_told_yet_waits_in_its_place(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = RoutingJournal([_envelope_row(1, 100, 0.0), _envelope_row(2, 200, 0.0)])
    router = Undecided(unknown_until=12.0)
    receiver = attrs.evolve(
        _receiver(None, Metrics()), journal=journal, router=router, clock=trio.current_time
    )
    with trio.move_on_after(30):
        await receiver._route_loop()
    # Asked again every 5 s; once it can be told, both go, in order, nothing was dropped.
    assert [stamp for stamp, _ in router.decided] == [100, 200]
    assert [t for _, _, _, t in journal.moved] == [15.0, 15.0]
    assert journal.completed == []


async def test_routed_rows_are_handed_to_their_session_as_moved_with_nothing_to_read_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = RoutingJournal([_envelope_row(1, 200, 0.0), _envelope_row(2, 100, 0.0)])
    doorbells = Doorbells()
    personal = doorbells.claim("personal")
    receiver = attrs.evolve(
        _receiver(None, Metrics()),
        journal=journal,
        router=Undecided(unknown_until=0.0),
        ring=doorbells,
        clock=trio.current_time,
    )
    with trio.move_on_after(1):
        await receiver._route_loop()
    look, handed = personal.take()
    assert look is Look.NOTHING  # its poller need not read the journal for them
    # In envelope order, renumbered, in the session's queue and the chat routing chose.
    assert [(r.id, r.key, r.queue, r.chat) for r in handed] == [
        (MOVED_ID + 1, "sig:2", "personal", "1@c.us"),
        (MOVED_ID + 2, "sig:1", "personal", "1@c.us"),
    ]


async def test_after_ten_minutes_an_undecidable_envelope_is_settled_as_it_is(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = RoutingJournal([_envelope_row(1, 100, -601.0)])
    router = Undecided(unknown_until=1e9)
    receiver = attrs.evolve(
        _receiver(None, Metrics()), journal=journal, router=router, clock=trio.current_time
    )
    with trio.move_on_after(1):
        await receiver._route_loop()
    assert journal.completed == [1]  # not routed, not left waiting for ever


def _pushed(receiver: SignalReceiver, row_id: int, stamp: int) -> JournalRow:
    """A row signal-cli pushed: noted in the receiver's ledger as the intake does."""
    row = _envelope_row(row_id, stamp, 0.0)
    item = parse_signal_received(json.loads(row.payload))
    row = attrs.evolve(row, key=signal_key(item))
    receiver.pushes.note(row.key, item)
    return row


async def test_a_pushed_row_waits_for_the_websocket_and_nothing_overtakes_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A pushed envelope goes only once the websocket has delivered what it held before that
    push; a newer row the websocket brought waits behind it."""
    receiver = attrs.evolve(
        _receiver(None, Metrics()), router=Undecided(unknown_until=0.0), clock=trio.current_time
    )
    journal = RoutingJournal([_pushed(receiver, 1, 100), _envelope_row(2, 200, 0.0)])
    receiver.journal = journal
    receiver.connected = True
    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver._route_loop)
        await trio.sleep(5)
        assert journal.moved == []  # the websocket is connected and has not caught up
        # The websocket's copy of the pushed envelope is journaled: it has passed that push.
        key = journal.rows[0].key
        receiver._socket.read += 1
        receiver._socket.journaled_batch(
            1, [receiver.pushes.parsed(NUMBER, key)], [Outcome.DUPLICATE]
        )
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert [(row_id, t) for row_id, _, _, t in journal.moved] == [(1, 5.0), (2, 5.0)]
    assert receiver.pushes.seq(NUMBER, key) is None  # forgotten once routed


async def test_pushed_rows_go_at_once_when_no_websocket_can_bring_anything_older(
    autojump_clock: trio.testing.MockClock,
) -> None:
    receiver = attrs.evolve(
        _receiver(None, Metrics()), router=Undecided(unknown_until=0.0), clock=trio.current_time
    )
    journal = RoutingJournal([_pushed(receiver, 2, 200), _pushed(receiver, 1, 100)])
    receiver.journal = journal
    receiver.connected = False
    with trio.move_on_after(1):
        await receiver._route_loop()
    assert [(row_id, t) for row_id, _, _, t in journal.moved] == [(1, 0.0), (2, 0.0)]


async def test_a_barrier_waits_for_the_pong_and_for_what_was_read_before_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    receiver = _receiver(None, Metrics())
    progress = receiver._socket
    _pushed(receiver, 1, 100)
    _pushed(receiver, 2, 200)
    pongs: list[float] = []

    async def ping() -> None:
        await trio.sleep(0.5)  # the round trip
        progress.read += 3  # frames the socket carried before its pong
        pongs.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(progress.barriers, ping, 10.0)
        await trio.sleep(1)
        assert pongs == [] and progress.passed == 0  # nobody asked
        progress.want()
        await trio.sleep(1)
        assert pongs == [1.5] and progress.passed == 0  # 3 frames read, none journaled
        progress.journaled_batch(2, [], [])
        await trio.sleep(1)
        assert progress.passed == 0
        progress.journaled_batch(1, [None], [Outcome.IGNORED])
        await trio.sleep(1)
        assert progress.passed == 2  # every push noted before the ping
        nursery.cancel_scope.cancel()


async def test_a_barrier_whose_pong_never_comes_ends_the_socket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    receiver = _receiver(None, Metrics())
    receiver._socket.want()
    with pytest.raises(trio.TooSlowError):
        await receiver._socket.barriers(trio.sleep_forever, 10.0)
    assert trio.current_time() == 10.0


async def test_the_reader_moves_the_mark_past_pushes_it_journaled_too(
    autojump_clock: trio.testing.MockClock,
) -> None:
    frames = [json.loads(_envelope_row(n, n * 100, 0.0).payload) for n in (1, 2, 3)]
    frames.append({"envelope": "not an envelope"})
    outcomes = [Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.IGNORED, Outcome.IGNORED]
    base = _receiver(None, Metrics())
    receiver = attrs.evolve(base, intake=StubIntake(outcomes), router=NoLearning())
    for frame in frames[:3]:
        item = parse_signal_received(frame)
        receiver.pushes.note(signal_key(item), item)
    receiver.pushes.note("sig:other", parse_signal_received(frames[0]))  # pushed later
    send, receive = trio.open_memory_channel[Any](10)
    for frame in frames:
        send.send_nowait(frame)
    receiver._socket.read = 4
    with trio.move_on_after(1):
        await receiver._journal(receive)
    # Journaled (or found journaled) by the reader: pushes 1 and 2; the ignored 3 says nothing.
    assert receiver._socket.passed == 2
    assert receiver._socket.journaled == 4
    assert receiver._socket.mark(live=True) == 2
    assert receiver._socket.mark(live=False) == 4  # nothing more can come from it


@attrs.define
class StubIntake:
    """Journals nothing: answers each batch with the outcomes it is given."""

    outcomes: list[Any]

    async def signal(self, items: list[Any], *, via: str) -> list[Any]:
        return self.outcomes[: len(items)]


@attrs.define
class NoLearning:
    async def learn(self, items: list[Any]) -> None:
        return None
