"""The Signal receiver reconnects at once after a drop and backs off only when failures repeat."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import trio
import trio.testing
import trio_websocket

from whatsignal.actors.controller import control_channel
from whatsignal.actors.doorbells import Doorbells
from whatsignal.actors.receiver import MessageSource, ReceiverSettings, SignalReceiver
from whatsignal.actors.session_table import SessionTable
from whatsignal.channels import ChannelMap
from whatsignal.clients import SignalClient
from whatsignal.intake import Intake, signal_queue
from whatsignal.metrics import Metrics
from whatsignal.relay import Decision, Notices, PortalKeeper, Router
from whatsignal.relay.mutes import MuteBook
from whatsignal.reliability import Backoff
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
        return [m[0] for m in moves]

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


async def test_a_pushed_envelope_the_reader_also_took_goes_without_settling(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With both paths on, the settle waits only for what the push path alone brought: once
    the websocket has handed out an envelope too, everything older it had is journaled."""
    # Pushed at t=0: an envelope (key sig:2) and a newer one (sig:3); the reader takes sig:2.
    journal = RoutingJournal([_envelope_row(2, 200, 0.0), _envelope_row(3, 300, 0.0)])
    router = Undecided(unknown_until=0.0)
    receiver = attrs.evolve(
        _receiver(None, Metrics()), journal=journal, router=router, clock=trio.current_time
    )
    receiver.settings = attrs.evolve(receiver.settings, settle=0.25)
    receiver._read_here["sig:2"] = 0.0
    with trio.move_on_after(1):
        await receiver._route_loop()
    # sig:2 went at once; sig:3, pushed only, after the settle.
    assert [(row_id, t) for row_id, _, _, t in journal.moved] == [(2, 0.0), (3, 0.25)]
    assert receiver._read_here == {}


async def test_an_older_pushed_envelope_still_settling_holds_back_newer_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = RoutingJournal([_envelope_row(1, 100, 0.0), _envelope_row(2, 200, 0.0)])
    router = Undecided(unknown_until=0.0)
    receiver = attrs.evolve(
        _receiver(None, Metrics()), journal=journal, router=router, clock=trio.current_time
    )
    receiver.settings = attrs.evolve(receiver.settings, settle=0.25)
    receiver._read_here["sig:2"] = 0.0  # the newer one came over the websocket too
    with trio.move_on_after(1):
        await receiver._route_loop()
    assert [stamp for stamp, _ in router.decided] == [100, 200]
    assert [t for _, _, _, t in journal.moved] == [0.25, 0.25]


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


async def test_the_reader_notes_what_it_journaled_or_found_journaled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from whatsignal.intake import Outcome

    frames = [json.loads(_envelope_row(n, n * 100, 0.0).payload) for n in (1, 2, 3)]
    frames.append({"envelope": "not an envelope"})
    outcomes = [Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.IGNORED, Outcome.IGNORED]
    base = _receiver(None, Metrics())
    receiver = attrs.evolve(
        base, intake=StubIntake(outcomes), router=NoLearning(), clock=lambda: 7.0
    )
    receiver.settings = attrs.evolve(receiver.settings, settle=0.25)
    send, receive = trio.open_memory_channel[Any](10)
    for frame in frames:
        send.send_nowait(frame)
    with trio.move_on_after(1):
        await receiver._journal(receive)
    keys = list(receiver._read_here)
    assert len(keys) == 2 and all(k.endswith((":100", ":200")) for k in keys)
    assert set(receiver._read_here.values()) == {7.0}


async def test_old_notes_are_forgotten(autojump_clock: trio.testing.MockClock) -> None:
    journal = RoutingJournal([])
    receiver = attrs.evolve(_receiver(None, Metrics()), journal=journal, clock=trio.current_time)
    receiver.settings = attrs.evolve(receiver.settings, settle=0.25, batch_max=2)
    receiver._read_here.update({"a": -20.0, "b": -15.0, "c": -1.0})
    with trio.move_on_after(1):
        await receiver._route_loop()
    assert receiver._read_here == {"c": -1.0}
