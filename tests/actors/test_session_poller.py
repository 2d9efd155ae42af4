"""The session poller: order per chat, retries, dead letters and the graceful stop.

Driven under ``autojump_clock`` with an in-memory journal and a scripted relay, so every
retry time is exact: the wall clock is trio's clock plus a fixed epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import pytest
import trio
import trio.testing

from whatsignal.actors.doorbells import Doorbells
from whatsignal.actors.session_poller import InFlight, RetryPolicy, SessionPoller
from whatsignal.errors import ApiError, StorageError, TransportError
from whatsignal.metrics import Metrics
from whatsignal.relay.upstreams import Deferred, UpstreamError
from whatsignal.reliability import Backoff, Failure
from whatsignal.storage import JournalRow, MessageMapping, PendingSnapshot

EPOCH = 1_700_000_000.0


def wall() -> float:
    return EPOCH + trio.current_time()


def journal_row(
    row_id: int, chat: str | None, *, source: str = "whatsapp", received_at: float = 0.0
) -> JournalRow:
    """A pending row of the session ``personal``, never tried."""
    return JournalRow(
        id=row_id,
        source=source,  # type: ignore[arg-type]
        key=f"k{row_id}",
        queue="personal",
        chat=chat,
        kind="message",
        payload=b"{}",
        received_at=received_at,
        state="pending",
        attempts=0,
        next_attempt_at=0.0,
        last_error=None,
    )


@attrs.define
class MemoryJournal:
    """The journal methods a poller uses, in memory, with the store's ordering rules."""

    rows: dict[int, JournalRow] = attrs.Factory(dict)
    completed: list[tuple[int, float]] = attrs.Factory(list)
    mappings: dict[int, list[MessageMapping]] = attrs.Factory(dict)
    snapshots: int = 0
    commit_takes: float = 0.0
    """Seconds a ``complete`` takes (a slow fsync)."""
    reads_after: int = 0
    after_read: Callable[[], None] | None = None
    """Runs once a snapshot was taken, before the poller gets it (something happening
    while the read is in flight)."""

    def add(
        self,
        row_id: int,
        chat: str | None,
        *,
        received_at: float | None = None,
        source: str = "whatsapp",
    ) -> None:
        at = wall() if received_at is None else received_at
        self.rows[row_id] = journal_row(row_id, chat, source=source, received_at=at)

    def state(self, row_id: int) -> tuple[str, int]:
        row = self.rows[row_id]
        return row.state, row.attempts

    async def pending_heads(self, queue: str, *, limit: int = 256) -> list[JournalRow]:
        heads: dict[str, JournalRow] = {}
        loose: list[JournalRow] = []
        for row in sorted(self.rows.values(), key=lambda r: r.id):
            if row.queue != queue or row.state != "pending":
                continue
            if row.chat is None:
                loose.append(row)
            else:
                heads.setdefault(f"{row.source}:{row.chat}", row)  # a lane: chat and direction
        return sorted([*heads.values(), *loose], key=lambda r: r.id)[:limit]

    async def pending_snapshot(self, queue: str, *, limit: int = 1024) -> PendingSnapshot:
        self.snapshots += 1
        pending = [r for r in self.rows.values() if r.queue == queue and r.state == "pending"]
        watermark = max(self.rows, default=0)
        if len(pending) < limit:
            snapshot = PendingSnapshot(sorted(pending, key=lambda r: r.id), True, watermark)
        else:
            heads = await self.pending_heads(queue, limit=limit)
            snapshot = PendingSnapshot(heads, False, watermark)
        if self.after_read is not None:
            self.after_read()
        return snapshot

    async def pending_after(self, queue: str, after: int, *, limit: int = 1024) -> PendingSnapshot:
        self.reads_after += 1
        pending = [r for r in self.rows.values() if r.queue == queue and r.state == "pending"]
        rows = sorted((r for r in pending if r.id > after), key=lambda r: r.id)
        watermark = max(self.rows, default=0)
        return PendingSnapshot(rows[:limit], len(rows) < limit, max(watermark, after))

    async def pending_count(self, queue: str | None = None, *, source: str | None = None) -> int:
        return sum(
            1
            for r in self.rows.values()
            if r.state == "pending" and queue in (None, r.queue) and source in (None, r.source)
        )

    async def complete(self, row_id: int, *, mappings: Sequence[MessageMapping] = ()) -> None:
        await trio.sleep(self.commit_takes)
        self.rows[row_id] = attrs.evolve(self.rows[row_id], state="done")
        self.completed.append((row_id, trio.current_time()))
        self.mappings[row_id] = list(mappings)

    async def retry_later(
        self, row_id: int, *, next_attempt_at: float, error: str, count_attempt: bool
    ) -> int:
        row = self.rows[row_id]
        attempts = row.attempts + (1 if count_attempt else 0)
        self.rows[row_id] = attrs.evolve(
            row, attempts=attempts, next_attempt_at=next_attempt_at, last_error=error
        )
        return attempts

    async def bury(self, row_id: int, *, error: str) -> None:
        self.rows[row_id] = attrs.evolve(self.rows[row_id], state="dead", last_error=error)


Outcome = Callable[[], None]


@attrs.define
class Statuses:
    """The session table, as far as a poller asks it."""

    now: dict[str, str] = attrs.Factory(dict)

    def status(self, session: str) -> str | None:
        return self.now.get(session)

    def working(self, session: str) -> bool:
        return self.now.get(session, "WORKING") == "WORKING"


@attrs.define
class ScriptedRelay:
    """Each call of a row takes ``duration`` seconds, then plays the next scripted outcome
    (nothing scripted: success)."""

    duration: float = 1.0
    script: dict[int, list[Outcome]] = attrs.Factory(dict)
    calls: list[tuple[int, float]] = attrs.Factory(list)
    dead_rows: list[int] = attrs.Factory(list)
    told: list[tuple[str, float, tuple[object, ...]]] = attrs.Factory(list)
    told_sessions: list[str] = attrs.Factory(list)
    results: dict[int, Sequence[MessageMapping]] = attrs.Factory(dict)

    async def handle(self, row: JournalRow) -> Sequence[MessageMapping]:
        self.calls.append((row.id, trio.current_time()))
        await trio.sleep(self.duration)
        outcomes = self.script.get(row.id)
        if outcomes:
            outcomes.pop(0)()
        return self.results.get(row.id, ())

    async def dead(self, row: JournalRow) -> None:
        self.dead_rows.append(row.id)

    async def session_down(self, session: str, status: str, waiting: int) -> None:
        self.told.append(("down", trio.current_time(), (status, waiting)))
        self.told_sessions.append(session)

    async def session_back(self, session: str, delivered: int, failed: int) -> None:
        self.told.append(("back", trio.current_time(), (delivered, failed)))
        self.told_sessions.append(session)

    def times(self, row_id: int) -> list[float]:
        return [t for r, t in self.calls if r == row_id]


def fails(failure: Failure, *, retry_after: float | None = None) -> Outcome:
    def outcome() -> None:
        error = ApiError("boom", status=500) if failure is not Failure.TRANSIENT else None
        raise UpstreamError(
            "waha", "personal", failure, error or TransportError("no answer"), retry_after
        )

    return outcome


def raises(error: Exception) -> Outcome:
    def outcome() -> None:
        raise error

    return outcome


@attrs.define
class Setup:
    journal: MemoryJournal
    relay: ScriptedRelay
    poller: SessionPoller
    doorbells: Doorbells
    in_flight: InFlight
    stopping: trio.Event
    metrics: Metrics
    statuses: Statuses


def setup(
    *,
    duration: float = 1.0,
    max_attempts: int = 3,
    max_age: float = 3600.0,
    concurrency: int = 16,
    rest_after: float = 2.0,
) -> Setup:
    journal, relay, doorbells = MemoryJournal(), ScriptedRelay(duration), Doorbells()
    in_flight, stopping, metrics, statuses = InFlight(), trio.Event(), Metrics(), Statuses()
    poller = SessionPoller(
        session="personal",
        journal=journal,  # type: ignore[arg-type]
        relay=relay,
        sessions=statuses,
        doorbell=doorbells.claim("personal"),
        retry=RetryPolicy(Backoff(initial=1, maximum=8, jitter=0), max_attempts, max_age),
        metrics=metrics,
        clock=wall,
        in_flight=in_flight,
        stopping=stopping,
        concurrency=concurrency,
        rest_after=rest_after,
    )
    return Setup(journal, relay, poller, doorbells, in_flight, stopping, metrics, statuses)


async def run_for(s: Setup, seconds: float) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(s.poller.run)
        s.doorbells.ring("personal")
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()


async def test_one_chat_runs_in_order_while_chats_run_side_by_side(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup()
    s.journal.add(1, "a@c.us")
    s.journal.add(2, "a@c.us")
    s.journal.add(3, "b@c.us")
    s.journal.add(4, None)  # chat-less rows are independent
    await run_for(s, 10)
    assert sorted(s.relay.calls) == [(1, 0.0), (2, 1.0), (3, 0.0), (4, 0.0)]
    assert [s.journal.state(n) for n in (1, 2, 3, 4)] == [("done", 0)] * 4


async def test_a_ring_wakes_an_idle_poller_at_once(autojump_clock: trio.testing.MockClock) -> None:
    s = setup()
    async with trio.open_nursery() as nursery:
        await nursery.start(s.poller.run)
        await trio.sleep(1.5)  # idle, not resting yet (rest_after is 2 s)
        s.journal.add(1, "a@c.us")
        s.doorbells.ring("personal")
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert s.relay.calls == [(1, 1.5)]


async def test_an_idle_poller_rests_and_a_ring_after_that_is_kept_for_its_registry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup()
    s.journal.add(1, "a@c.us")
    s.doorbells.ring("personal")
    await s.poller.run()  # handles its row, then returns once quiet for rest_after
    assert trio.current_time() == 1.0 + 2.0
    assert s.journal.state(1) == ("done", 0)
    assert s.doorbells.park("personal")  # no ring waits: the registry parks it
    s.doorbells.ring("personal")
    assert await s.doorbells.woken() == ["personal"]  # the registry starts it again


async def test_a_poller_does_not_rest_while_a_row_waits_for_its_retry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup()
    s.journal.add(1, "a@c.us")
    s.relay.script[1] = [fails(Failure.TRANSIENT)]
    s.doorbells.ring("personal")
    await s.poller.run()  # tries at 0, retries at 2 (1 s attempt + 1 s backoff), then rests
    assert s.relay.times(1) == [0.0, 2.0]
    assert trio.current_time() == 3.0 + 2.0


async def test_transient_failures_back_off_without_using_attempts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(max_attempts=1)  # one permanent failure would kill it; transient ones do not
    s.journal.add(1, "a@c.us")
    s.relay.script[1] = [fails(Failure.TRANSIENT)] * 3
    await run_for(s, 30)
    # each try takes 1 s, then waits 1, 2, 4 s (no jitter)
    assert s.relay.times(1) == [0.0, 2.0, 5.0, 10.0]
    assert s.journal.state(1) == ("done", 0)
    assert s.metrics.failures.labels("wa_to_signal", "transient")._value.get() == 3


async def test_permanent_failures_use_attempts_then_the_row_is_dead_and_told(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(max_attempts=3)
    s.journal.add(1, "a@c.us")
    s.journal.add(2, "a@c.us")
    s.relay.script[1] = [fails(Failure.PERMANENT)] * 5
    await run_for(s, 30)
    assert s.relay.times(1) == [0.0, 2.0, 5.0]  # backoff 1 s after the 1st, 2 s after the 2nd
    assert s.journal.state(1) == ("dead", 3)  # every attempt counted in the dead letter
    assert s.relay.dead_rows == [1]
    assert s.metrics.dead.labels("wa_to_signal")._value.get() == 1
    # The dead row no longer blocks its chat.
    assert s.relay.times(2) == [6.0]
    assert s.journal.state(2) == ("done", 0)


async def test_a_rate_limit_waits_the_pause_without_using_an_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(max_attempts=1)
    s.journal.add(1, "a@c.us")
    s.relay.script[1] = [fails(Failure.RATE_LIMITED, retry_after=30)]
    await run_for(s, 60)
    assert s.relay.times(1) == [0.0, 31.0]
    assert s.journal.state(1) == ("done", 0)


async def test_a_paused_upstream_defers_the_row_without_using_an_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(max_attempts=1)
    s.journal.add(1, "a@c.us")
    s.relay.script[1] = [raises(Deferred("breaker open", 7.0))]
    await run_for(s, 30)
    assert s.relay.times(1) == [0.0, 8.0]
    assert s.journal.state(1) == ("done", 0)


async def test_transient_failures_end_dead_after_the_maximum_age(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(max_age=3600.0)
    s.journal.add(1, "a@c.us", received_at=EPOCH - 3601)
    s.relay.script[1] = [fails(Failure.TRANSIENT)]
    await run_for(s, 30)
    assert s.relay.times(1) == [0.0]
    assert s.journal.state(1) == ("dead", 0)
    assert "retry.maxAgeHours" in (s.journal.rows[1].last_error or "")
    assert s.relay.dead_rows == [1]


async def test_a_poison_row_ends_dead_and_the_poller_lives_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(max_attempts=2)
    s.journal.add(1, "a@c.us")
    s.journal.add(2, "b@c.us")
    s.relay.script[1] = [raises(ValueError("payload is not an object"))] * 2
    await run_for(s, 30)
    assert s.journal.state(1) == ("dead", 2)
    assert "unhandleable: ValueError" in (s.journal.rows[1].last_error or "")
    assert s.journal.state(2) == ("done", 0)


async def test_a_failing_journal_crashes_the_poller_for_its_supervisor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup()
    s.journal.add(1, "a@c.us")
    s.relay.script[1] = [raises(StorageError("disk I/O error"))]
    with pytest.RaisesGroup(StorageError, flatten_subgroups=True):
        await run_for(s, 30)
    assert s.journal.state(1) == ("pending", 0)  # the row waits for the restarted poller


async def test_stopping_finishes_rows_in_hand_and_starts_no_new_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(duration=5.0)
    s.journal.add(1, "a@c.us")
    s.journal.add(2, "a@c.us")
    async with trio.open_nursery() as nursery:
        await nursery.start(s.poller.run)
        s.doorbells.ring("personal")
        await trio.sleep(1)
        assert s.in_flight.count == 1
        s.stopping.set()
        s.journal.add(3, "b@c.us")
        s.doorbells.ring("personal")
        await s.in_flight.idle()
        assert trio.current_time() == 5.0  # as soon as row 1 finished
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    assert [r for r, _ in s.relay.calls] == [1]
    assert [s.journal.state(n)[0] for n in (1, 2, 3)] == ["done", "pending", "pending"]


async def test_in_flight_is_idle_when_nothing_runs() -> None:
    in_flight = InFlight()
    with trio.fail_after(1):
        await in_flight.idle()
    with in_flight.one(), in_flight.one():
        assert in_flight.count == 2
    assert in_flight.count == 0
    with trio.fail_after(1):
        await in_flight.idle()


async def test_one_direction_of_a_chat_never_waits_for_the_other(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(duration=1.0)
    s.journal.add(1, "a@c.us", source="signal")
    s.journal.add(2, "a@c.us", source="signal")
    s.journal.add(3, "a@c.us")  # WhatsApp -> Signal, same chat
    s.relay.script[1] = [fails(Failure.TRANSIENT)] * 3  # WAHA is down for a while
    await run_for(s, 30)
    assert s.relay.times(3) == [0.0]  # not held back behind the failing reply
    assert s.relay.times(1) == [0.0, 2.0, 5.0, 10.0]
    assert s.relay.times(2) == [11.0]  # the replies keep their own order


async def test_replies_wait_for_their_session_and_go_when_it_works_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup()
    s.statuses.now["personal"] = "STOPPED"
    s.journal.add(1, "a@c.us", source="signal")
    s.journal.add(2, "b@c.us", source="signal")
    s.journal.add(3, "a@c.us")  # what WhatsApp sent still goes to Signal
    async with trio.open_nursery() as nursery:
        await nursery.start(s.poller.run)
        s.doorbells.ring("personal")
        await trio.sleep(60)
        assert [r for r, _ in s.relay.calls] == [3]  # no reply tried while STOPPED
        assert s.relay.told == [("down", 0.0, ("STOPPED", 2))]  # told once, with the count
        s.journal.add(4, "a@c.us", source="signal")  # another reply during the same outage
        s.doorbells.ring("personal")
        await trio.sleep(60)
        assert len(s.relay.told) == 1  # still the same outage: not told again
        s.statuses.now["personal"] = "WORKING"
        s.doorbells.ring("personal")  # the monitor rings when the status changes
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    assert sorted(s.relay.times(1) + s.relay.times(2)) == [120.0, 120.0]
    assert s.relay.times(4) == [121.0]  # after 1, in order
    assert s.relay.told[1] == ("back", 122.0, (3, 0))
    assert [s.journal.state(n) for n in (1, 2, 3, 4)] == [("done", 0)] * 4


async def test_a_reply_that_waits_longer_than_the_maximum_age_is_given_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(max_age=100.0)
    s.statuses.now["personal"] = "SCAN_QR_CODE"
    s.journal.add(1, "a@c.us", source="signal")
    await run_for(s, 200)
    assert s.relay.calls == []  # never sent to a session that could not take it
    assert s.journal.state(1) == ("dead", 0)
    assert "was not WORKING" in (s.journal.rows[1].last_error or "")
    assert s.relay.dead_rows == [1]


async def test_a_deferral_counts_against_the_maximum_age(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(max_age=60.0)
    s.journal.add(1, "a@c.us", received_at=EPOCH - 61)
    s.relay.script[1] = [raises(Deferred("breaker open", 7.0))]
    await run_for(s, 30)
    assert s.relay.times(1) == [0.0]
    assert s.journal.state(1) == ("dead", 0)
    assert s.metrics.handled.labels("wa_to_signal", "dead")._value.get() == 1


# What a failure leaves behind ---------------------------------------------------------------

SECRET = "the vault code is 4711"


@pytest.mark.parametrize(
    "error",
    [
        # a bug a payload triggers, quoting it (int("...") does)
        ValueError(f"invalid literal for int() with base 10: '{SECRET}' from +4915112345678"),
        # an upstream error made elsewhere than the clients, unreduced
        UpstreamError(
            "signal",
            "+4915100000001",
            Failure.PERMANENT,
            ApiError(f'send to +4915112345678 failed: "{SECRET}"', status=400),
        ),
    ],
)
async def test_an_error_text_is_reduced_before_it_is_stored_or_logged(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    s = setup(max_attempts=2)
    s.journal.add(1, "a@c.us")
    s.relay.script[1] = [raises(error), raises(error)]
    await run_for(s, 30)
    row = s.journal.rows[1]
    assert row.state == "dead"
    logged = [r.getMessage() for r in caplog.records]
    for kept in (row.last_error or "", s.poller.last_error or "", *logged):
        assert SECRET not in kept
        assert "4915112345678" not in kept
    assert "***5678" in (row.last_error or "")


async def test_a_lone_surrogate_in_an_error_text_cannot_fail_its_storing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(max_attempts=1)
    s.journal.add(1, "a@c.us")
    s.relay.script[1] = [raises(RuntimeError("half a pair \ud83d"))]
    await run_for(s, 5)
    assert s.journal.rows[1].last_error == "unhandleable: RuntimeError: half a pair \ufffd"


# Mutation-testing gaps (docs/testing.md) ----------------------------------------------------


async def test_the_outage_notices_name_the_session_and_count_only_its_replies(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The 'replies wait' and 'works again' notices count this session's replies: one that
    failed for good is told as failed; a WhatsApp message that died meanwhile, or a reply
    waiting for another session, is not counted (nor holds the notice back)."""
    s = setup(max_attempts=1)
    s.statuses.now["personal"] = "STOPPED"
    s.journal.add(1, "a@c.us", source="signal")
    s.journal.add(2, "b@c.us", source="signal")
    s.journal.add(3, "c@c.us")  # WhatsApp -> Signal: goes while the session is down, and dies
    s.journal.add(9, "z@c.us", source="signal")
    s.journal.rows[9] = attrs.evolve(s.journal.rows[9], queue="business")
    s.relay.script[2] = [fails(Failure.PERMANENT)]
    s.relay.script[3] = [fails(Failure.PERMANENT)]
    async with trio.open_nursery() as nursery:
        await nursery.start(s.poller.run)
        s.doorbells.ring("personal")
        await trio.sleep(60)
        assert s.relay.dead_rows == [3]
        s.statuses.now["personal"] = "WORKING"
        s.doorbells.ring("personal")
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    assert s.relay.told == [("down", 0.0, ("STOPPED", 2)), ("back", 61.0, (1, 1))]
    assert s.relay.told_sessions == ["personal", "personal"]


async def test_a_delivered_row_is_completed_with_its_mappings(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup()
    s.journal.add(1, "a@c.us")
    mapping = MessageMapping(
        session="personal",
        whatsapp_id="false_a@c.us_X",
        chat_id="a@c.us",
        bridge_number="+15550000001",
        destination="+15551110001",
        signal_timestamp=1,
        direction="wa_to_signal",
        created_at=EPOCH,
        sender_name="A",
    )
    s.relay.results[1] = [mapping]
    await run_for(s, 10)
    assert s.journal.mappings[1] == [mapping]  # quotes, reactions and edits find it later


async def test_each_failure_leaves_its_error_and_time_on_the_row(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(max_attempts=2)
    s.journal.add(1, "a@c.us")
    s.relay.script[1] = [fails(Failure.TRANSIENT)]
    s.journal.add(2, "b@c.us")
    s.relay.script[2] = [fails(Failure.PERMANENT), fails(Failure.PERMANENT)]
    async with trio.open_nursery() as nursery:
        await nursery.start(s.poller.run)
        s.doorbells.ring("personal")
        await trio.sleep(1.5)  # both failed once at 1 s
        assert s.journal.rows[1].last_error == "waha: no answer"
        assert s.journal.rows[1].next_attempt_at == wall() - 0.5 + 1  # its backoff: 1 s
        assert s.journal.rows[2].last_error == "waha: boom"
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert s.journal.state(2) == ("dead", 2)
    assert s.journal.rows[2].next_attempt_at == EPOCH + 3.0  # the last attempt's time
