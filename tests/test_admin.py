"""Admin: what an operator sees and can do on a running bridge.

Covers readiness (WAHA and signal-cli, each within the check timeout; the storage's health
check on a real database file that is deleted, replaced or cannot be written, logged once and
run at most once per interval), the status page (journal
queues with bridge numbers masked, send gates by their last four digits, breaker, pause and
pending challenge, never a challenge token), the metrics page (pending rows per masked queue),
dead letters (no content, masked numbers), retrying one, and solving a signal-cli rate-limit
challenge. The journal is a real in-memory SqliteStore; WAHA and signal-cli are
``httpx.MockTransport`` handlers behind the real clients; the send gates are the real
SignalUpstream's.
"""

from __future__ import annotations

import inspect
import itertools
import json
import logging
import os
import shutil
import stat
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing

from whatsignal.actors.session_table import SessionTable
from whatsignal.admin import Admin
from whatsignal.clients import SignalClient, WahaClient, open_http_client
from whatsignal.errors import StorageError
from whatsignal.metrics import CONTENT_TYPE_LATEST, Metrics
from whatsignal.relay.upstreams import SignalUpstream
from whatsignal.status_board import StatusBoard
from whatsignal.storage import InboundEvent, SqliteStore
from whatsignal.web.app import Readiness

BRIDGE = "+4915100000001"
BRIDGE_2 = "+4915100000009"
BRIDGE_3 = "+4915100000005"
ME = "+4915100000002"
CAPTCHA = "signalcaptcha://signal-hcaptcha.5fad97ac-7d06-4e44-b18a-b950b20148ff.challenge.P1_eyJ"

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]
HANG = "hang"
_keys = itertools.count(1)


@attrs.define(eq=False)
class Upstream:
    """A scripted WAHA or signal-cli: an answer per path, every request recorded."""

    answers: dict[str, Answer | str] = attrs.Factory(dict)
    requests: list[httpx.Request] = attrs.Factory(list)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.get(request.url.path)
        if answer == HANG:
            await trio.sleep_forever()
        if answer is None:
            raise AssertionError(f"unexpected {request.method} {request.url.raw_path!r}")
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        assert isinstance(answer, httpx.Response)
        return answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


@attrs.define(eq=False)
class RecordingDoorbells:
    rung: list[str] = attrs.Factory(list)

    def ring(self, queue: str) -> None:
        self.rung.append(queue)

    def fresh(self, events: Sequence[InboundEvent], ids: Sequence[int | None]) -> None:
        # handing rows over wakes the owner like a ring
        self.rung += [e.queue for e, i in zip(events, ids, strict=True) if i is not None]

    def ring_all(self) -> None:
        self.rung.append("*")


@attrs.define(eq=False)
class Poller:
    busy: set[str] = attrs.Factory(set)
    last_activity: float | None = 1_700_000_100.0
    last_error: str | None = "waha: Session status is not as expected"


@attrs.define(eq=False)
class Registry:
    """The registry as the status page sees it: "personal" has a poller that crashed once."""

    def snapshot(self) -> dict[str, Any]:
        return {
            "workers": {"personal": {"in_flight": 0}},
            "receivers": {"*********0001": {"mode": "websocket", "connected": True}},
        }

    def running(self) -> list[str]:
        return ["personal"]

    def poller(self, session: str) -> Poller | None:
        return Poller() if session == "personal" else None

    def crashes(self, session: str) -> tuple[int, bool]:
        return (1, False) if session == "personal" else (0, False)


def _table() -> SessionTable:
    table = SessionTable(
        configured=frozenset({"personal"}), serves=lambda s: True, discover=True, cap=0
    )
    table.observe("personal", "WORKING", now=0)
    table.observe("business", "SCAN_QR_CODE", now=0)  # left out: the cap is 0
    return table


@attrs.define(eq=False, kw_only=True)
class Operator:
    """An Admin over a running store, with the upstreams and doorbells a test inspects."""

    admin: Admin
    store: SqliteStore
    waha: Upstream
    signal: Upstream
    gates: SignalUpstream
    doorbells: RecordingDoorbells

    async def journal(
        self, queue: str, n: int = 1, *, source: str = "whatsapp", chat: str | None = None
    ) -> list[int]:
        """Journal ``n`` rows into ``queue``; their ids."""
        rows = [
            InboundEvent(
                source=source,  # type: ignore[arg-type]
                key=f"{queue}:{next(_keys)}",
                queue=queue,
                chat=chat,
                kind="envelope" if source == "signal" else "message",
                payload=b'{"message": "the secret plans"}',
                received_at=1_700_000_000.0 + i,
            )
            for i in range(n)
        ]
        ids = await self.store.journal(rows)
        assert None not in ids
        return [i for i in ids if i is not None]


@pytest.fixture
async def operator(nursery: trio.Nursery) -> AsyncIterator[Operator]:
    store: SqliteStore = await nursery.start(SqliteStore(":memory:").run)
    waha, signal = Upstream(), Upstream()
    async with (
        open_http_client(
            "http://waha:3000", timeout=5, api_key="k", transport=waha.transport()
        ) as waha_http,
        open_http_client("http://signal:8080", timeout=5, transport=signal.transport()) as sig_http,
    ):
        signal_client = SignalClient(sig_http)
        metrics = Metrics()
        gates = SignalUpstream(client=signal_client, metrics=metrics)
        doorbells = RecordingDoorbells()
        board = StatusBoard(
            version="9.9.9",
            journal=store,
            waha=WahaClient(waha_http),
            signal=signal_client,
            gates=gates,
            registry=Registry(),
            table=_table(),
            metrics=metrics,
            clock=lambda: 1_700_000_200.0,
        )
        admin = Admin(
            board=board,
            journal=store,
            signal=signal_client,
            gates=gates,
            doorbells=doorbells,
            waha=WahaClient(waha_http),
            alerts=store,
        )
        yield Operator(
            admin=admin, store=store, waha=waha, signal=signal, gates=gates, doorbells=doorbells
        )


WAHA_VERSION = httpx.Response(
    200, json={"version": "2025.6.1", "engine": "NOWEB", "tier": "CORE", "browser": None}
)


# Readiness ------------------------------------------------------------------------------------


async def test_ready_when_both_upstreams_answer(operator: Operator) -> None:
    operator.waha.answers["/api/server/version"] = WAHA_VERSION
    operator.signal.answers["/v1/health"] = httpx.Response(204)

    ready = await operator.admin.readiness()
    assert ready == Readiness(
        True,
        {
            "storage": "ok",
            "whatsapp": "ok",
            "signal": "ok",
            "sessions": {"business": "SCAN_QR_CODE"},  # left out and waiting for a human
        },
    )
    assert ready.state == "degraded"


@pytest.mark.parametrize(
    ("waha", "signal", "checks"),
    [
        pytest.param(
            httpx.Response(500, json={"statusCode": 500, "message": "boom"}),
            httpx.Response(204),
            {"whatsapp": "unavailable: ApiError", "signal": "ok"},
            id="waha error answer",
        ),
        pytest.param(
            httpx.ConnectError("refused"),
            httpx.Response(204),
            {"whatsapp": "unavailable: TransportError", "signal": "ok"},
            id="waha unreachable",
        ),
        pytest.param(
            WAHA_VERSION,
            httpx.Response(503, json={"error": "starting"}),
            {"whatsapp": "ok", "signal": "unhealthy"},
            id="signal error answer",
        ),
        pytest.param(
            WAHA_VERSION,
            httpx.ConnectError("refused"),
            {"whatsapp": "ok", "signal": "unhealthy"},
            id="signal unreachable",
        ),
    ],
)
async def test_an_upstream_away_is_degraded_but_ready(
    operator: Operator, waha: Answer, signal: Answer, checks: dict[str, str]
) -> None:
    operator.waha.answers["/api/server/version"] = waha
    operator.signal.answers["/v1/health"] = signal

    readiness = await operator.admin.readiness()

    assert readiness.ready  # what arrives is journaled and waits for them
    assert readiness.state == "degraded"
    assert {k: readiness.checks[k] for k in checks} == checks


@pytest.mark.parametrize(
    ("waha", "signal", "checks", "seconds"),
    [
        (HANG, httpx.Response(204), {"whatsapp": "timeout", "signal": "ok"}, 3.0),
        (WAHA_VERSION, HANG, {"whatsapp": "ok", "signal": "timeout"}, 3.0),
        # The checks run side by side: readiness never takes much more than one timeout.
        (HANG, HANG, {"whatsapp": "timeout", "signal": "timeout"}, 3.0),
    ],
)
async def test_an_upstream_that_does_not_answer_times_out_within_the_check_timeout(
    operator: Operator,
    autojump_clock: trio.testing.MockClock,
    waha: Answer | str,
    signal: Answer | str,
    checks: dict[str, str],
    seconds: float,
) -> None:
    operator.waha.answers["/api/server/version"] = waha
    operator.signal.answers["/v1/health"] = signal
    # The database thread is real time; the autojump clock would time it out: an instant one.
    board = attrs.evolve(operator.admin.board, journal=InstantJournal())
    start = trio.current_time()

    readiness = await board.readiness()

    assert readiness.ready
    assert {k: readiness.checks[k] for k in checks} == checks
    assert trio.current_time() - start == seconds  # check_timeout (3 s)


class InstantJournal:
    async def check_health(self) -> None:
        return None


async def test_a_failing_storage_is_the_one_thing_that_makes_the_bridge_unready(
    operator: Operator,
) -> None:
    operator.waha.answers["/api/server/version"] = WAHA_VERSION
    operator.signal.answers["/v1/health"] = httpx.Response(204)

    class BrokenJournal:
        async def check_health(self) -> None:
            raise StorageError("database transaction failed: disk I/O error")

    readiness = await attrs.evolve(operator.admin.board, journal=BrokenJournal()).readiness()

    assert not readiness.ready
    assert readiness.state == "unavailable"
    assert readiness.checks["storage"] == "failing: database transaction failed: disk I/O error"


async def test_a_storage_that_does_not_answer_is_unready_within_the_check_timeout(
    operator: Operator, autojump_clock: trio.testing.MockClock
) -> None:
    operator.waha.answers["/api/server/version"] = WAHA_VERSION
    operator.signal.answers["/v1/health"] = httpx.Response(204)

    class WedgedJournal:
        async def check_health(self) -> None:
            await trio.sleep_forever()  # a disk that hangs every write

    board = attrs.evolve(operator.admin.board, journal=WedgedJournal())
    start = trio.current_time()
    readiness = await board.readiness()

    assert trio.current_time() - start == 3.0
    assert not readiness.ready
    assert readiness.checks["storage"] == "failing: timeout: no write within 3 s"


# Readiness of a real database file ------------------------------------------------------------


@attrs.define(eq=False)
class FileBoard:
    """A status board over a store on a real file, with upstreams that answer."""

    board: StatusBoard
    store: SqliteStore
    path: Path


@pytest.fixture
async def file_board(operator: Operator, tmp_path: Path, nursery: trio.Nursery) -> FileBoard:
    operator.waha.answers["/api/server/version"] = WAHA_VERSION
    operator.signal.answers["/v1/health"] = httpx.Response(204)
    path = tmp_path / "bridge.db"
    store: SqliteStore = await nursery.start(SqliteStore(str(path)).run)
    board = attrs.evolve(operator.admin.board, journal=store, storage_interval=0.0)
    assert (await board.readiness()).checks["storage"] == "ok"
    return FileBoard(board, store, path)


def _replace(path: Path) -> None:
    shutil.copyfile(path, path.with_suffix(".restored"))
    os.replace(path.with_suffix(".restored"), path)


async def _cannot_write(board: FileBoard) -> None:
    # What a full disk, or a file system remounted read-only, does to the writer's connection.
    await _writer_pragma(board, "PRAGMA query_only = ON")


async def _writer_pragma(board: FileBoard, pragma: str) -> None:
    db = board.store._db
    assert db is not None
    await db.writer.call(lambda conn: conn.execute(pragma), write=False)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(lambda b: b.path.unlink(), "deleted or moved", id="deleted"),
        pytest.param(lambda b: _replace(b.path), "replaced", id="replaced"),
        pytest.param(_cannot_write, "readonly database", id="cannot write"),
        pytest.param(
            lambda b: b.path.chmod(stat.S_IRUSR),
            "no longer writable",
            id="read-only file",
            marks=pytest.mark.skipif(
                os.geteuid() == 0,
                reason="root may write a file whatever its mode: a chmod changes nothing to "
                "detect as root ('cannot write' covers a store that cannot write)",
            ),
        ),
    ],
)
async def test_a_database_file_gone_replaced_or_unwritable_makes_the_bridge_unready(
    file_board: FileBoard, damage: Callable[[FileBoard], Any], reason: str
) -> None:
    result = damage(file_board)
    if inspect.isawaitable(result):
        await result
    try:
        readiness = await file_board.board.readiness()
    finally:
        if file_board.path.exists():  # let the test's clean-up remove the file
            file_board.path.chmod(stat.S_IRUSR | stat.S_IWUSR)

    assert not readiness.ready  # the web app answers 503
    assert readiness.state == "unavailable"
    assert readiness.checks["storage"].startswith("failing: ")
    assert reason in readiness.checks["storage"]
    assert str(file_board.path) not in readiness.checks["storage"]  # /readyz is public
    assert readiness.checks["whatsapp"] == readiness.checks["signal"] == "ok"


async def test_a_failing_storage_is_logged_once_and_its_recovery_once(
    file_board: FileBoard, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="whatsignal.status")
    await _cannot_write(file_board)
    for _ in range(3):
        assert not (await file_board.board.readiness()).ready
    await _writer_pragma(file_board, "PRAGMA query_only = OFF")
    for _ in range(2):
        assert (await file_board.board.readiness()).ready

    records = [r for r in caplog.records if r.name == "whatsignal.status"]
    assert [r.levelno for r in records] == [logging.ERROR, logging.INFO]
    assert "readonly database" in records[0].getMessage()


async def test_the_storage_check_writes_at_most_once_per_interval(
    operator: Operator, autojump_clock: trio.testing.MockClock
) -> None:
    operator.waha.answers["/api/server/version"] = WAHA_VERSION
    operator.signal.answers["/v1/health"] = httpx.Response(204)

    @attrs.define
    class CountingJournal:
        checks: int = 0
        broken: bool = False

        async def check_health(self) -> None:
            self.checks += 1
            await trio.sleep(0.5)  # a slow disk: scrapes arriving meanwhile share this check
            if self.broken:
                raise StorageError("the database file was deleted")

    journal = CountingJournal()
    board = attrs.evolve(operator.admin.board, journal=journal, storage_interval=10.0)
    async with trio.open_nursery() as nursery:  # a burst of scrapes at once
        for _ in range(5):
            nursery.start_soon(board.readiness)
    assert journal.checks == 1
    await trio.sleep(9.0)
    journal.broken = True
    assert (await board.readiness()).ready  # remembered: no second write yet
    assert journal.checks == 1
    await trio.sleep(1.0)
    readiness = await board.readiness()  # the interval is over: the next scrape checks
    assert journal.checks == 2
    assert readiness.checks["storage"] == "failing: the database file was deleted"


# Status ---------------------------------------------------------------------------------------


async def test_status_counts_queues_with_bridge_numbers_masked(operator: Operator) -> None:
    personal = await operator.journal("personal", 3, chat="4917000000003@c.us")
    await operator.store.complete(personal[0])
    signal_rows = await operator.journal(f"signal:{BRIDGE}", 2, source="signal")
    await operator.store.bury(signal_rows[0], error=f"send to {ME} failed")

    status = await operator.admin.status()

    assert status["queues"] == {
        "personal": {"pending": 2, "done": 1},
        "signal:0001": {"pending": 1, "dead": 1},
    }
    assert status["version"] == "9.9.9"
    assert status["sessions"] == {
        "business": {
            "waha": "SCAN_QR_CODE",
            "worker": "left out",
            "queue": 0,
            "oldest_pending_sec": None,
            "last_activity": None,
            "worker_restarts": 0,
            "session_restarts": 0,
            "last_error": None,
        },
        "personal": {
            "waha": "WORKING",
            "worker": "running",
            "queue": 2,
            "oldest_pending_sec": 199.0,  # the oldest pending row arrived at ...000.0 + 1
            "last_activity": 1_700_000_100.0,
            "worker_restarts": 1,
            "session_restarts": 0,
            "last_error": "waha: Session status is not as expected",
        },
    }
    assert status["workers"] == {"personal": {"in_flight": 0}}
    assert status["receivers"] == {"*********0001": {"mode": "websocket", "connected": True}}
    assert BRIDGE.lstrip("+") not in json.dumps(status)


async def test_status_shows_send_gates_by_last_four_digits_and_never_a_token(
    operator: Operator,
) -> None:
    now = trio.current_time()
    operator.gates.gate(BRIDGE).pause(now, 30, ["tok-0b5e2c1d-secret"])
    broken = operator.gates.gate(BRIDGE_2)
    for _ in range(broken.breaker.failure_threshold):
        broken.breaker.record_failure(now)

    status = await operator.admin.status()

    assert status["signal"] == {
        "0001": {
            "breaker": "closed",
            "paused_for_sec": pytest.approx(30, abs=1),
            "rate_limit_challenge_pending": True,
        },
        "0009": {"breaker": "open", "paused_for_sec": 0.0, "rate_limit_challenge_pending": False},
    }
    page = json.dumps(status)
    assert "tok-0b5e2c1d-secret" not in page
    assert "4915100000001" not in page
    assert "4915100000009" not in page


async def test_status_adds_up_queues_whose_masked_labels_coincide(operator: Operator) -> None:
    await operator.journal("signal:+4915100000001", 2, source="signal")
    await operator.journal("signal:+4915200000001", 1, source="signal")

    status = await operator.admin.status()

    assert status["queues"] == {"signal:0001": {"pending": 3}}


# Metrics --------------------------------------------------------------------------------------


def _pending_lines(page: bytes) -> list[str]:
    return [
        line
        for line in page.decode().splitlines()
        if line.startswith("whatsignal_journal_pending{")
    ]


async def test_metrics_show_pending_rows_per_queue_with_numbers_masked(operator: Operator) -> None:
    await operator.journal("personal", 2, chat="4917000000003@c.us")
    await operator.journal(f"signal:{BRIDGE}", 1, source="signal")
    await operator.journal("signal:+4915200000001", 2, source="signal")  # same last four digits

    page, content_type = await operator.admin.metrics()

    assert content_type == CONTENT_TYPE_LATEST
    assert sorted(_pending_lines(page)) == [
        'whatsignal_journal_pending{queue="personal"} 2.0',
        'whatsignal_journal_pending{queue="signal:0001"} 3.0',
    ]
    assert b"4915100000001" not in page
    assert b"4915200000001" not in page


async def test_a_queue_with_nothing_pending_leaves_the_metrics(operator: Operator) -> None:
    rows = await operator.journal("personal", 2, chat="4917000000003@c.us")
    await operator.journal("business", 1, chat="4917000000004@c.us")
    first, _ = await operator.admin.metrics()
    for row in rows:
        await operator.store.complete(row)

    second, _ = await operator.admin.metrics()

    assert 'whatsignal_journal_pending{queue="personal"} 2.0' in _pending_lines(first)
    assert _pending_lines(second) == ['whatsignal_journal_pending{queue="business"} 1.0']


# Dead letters ---------------------------------------------------------------------------------


async def test_dead_letters_show_no_content_and_only_masked_numbers(operator: Operator) -> None:
    (signal_row,) = await operator.journal(f"signal:{BRIDGE}", source="signal")
    await operator.store.bury(signal_row, error=f"send to {ME} failed: unregistered user")
    (wa_row,) = await operator.journal("personal", chat="4917000000003@c.us")
    await operator.store.bury(wa_row, error="WAHA sendText failed: HTTP 400")

    letters = await operator.admin.dead_letters()

    assert letters == [
        {
            "id": signal_row,
            "source": "signal",
            "kind": "envelope",
            "queue": "+*********0001",
            "chat": "-",
            "attempts": 0,
            "received_at": 1_700_000_000.0,
            "last_error": "send to +*********0002 failed: unregistered user",
        },
        {
            "id": wa_row,
            "source": "whatsapp",
            "kind": "message",
            "queue": "personal",
            "chat": "*********0003@c.us",
            "attempts": 0,
            "received_at": 1_700_000_000.0,
            "last_error": "WAHA sendText failed: HTTP 400",
        },
    ]
    assert "secret plans" not in json.dumps(letters)


async def test_retrying_a_dead_letter_makes_it_pending_and_rings_every_doorbell(
    operator: Operator,
) -> None:
    (row,) = await operator.journal("personal", chat="4917000000003@c.us")
    await operator.store.bury(row, error="WAHA sendText failed: HTTP 400")

    assert await operator.admin.retry_dead_letter(row) is True

    assert operator.doorbells.rung == ["*"]
    assert await operator.admin.dead_letters() == []
    assert [r.id for r in await operator.store.pending_heads("personal")] == [row]


async def test_retrying_a_row_that_is_not_dead_changes_nothing(operator: Operator) -> None:
    (pending,) = await operator.journal("personal", chat="4917000000003@c.us")

    assert await operator.admin.retry_dead_letter(pending) is False
    assert await operator.admin.retry_dead_letter(pending + 100) is False

    assert operator.doorbells.rung == []


# Rate-limit challenges ------------------------------------------------------------------------


def _challenge_path(number: str) -> str:
    return f"/v1/accounts/{number}/rate-limit-challenge"


def _challenges(upstream: Upstream) -> list[tuple[str, Any]]:
    """The challenges sent: (raw path, JSON body)."""
    return [(r.url.raw_path.decode(), json.loads(r.content)) for r in upstream.requests]


async def _waiting_row(operator: Operator) -> int:
    """A row that waits for the pause to end (far in the future)."""
    (row,) = await operator.journal("personal", chat="4917000000003@c.us")
    await operator.store.retry_later(
        row, next_attempt_at=1e12, error="signal rate limit pause", count_attempt=False
    )
    return row


async def _next_attempt(operator: Operator, row: int) -> float:
    (head,) = [r for r in await operator.store.pending_heads("personal") if r.id == row]
    return head.next_attempt_at


async def test_solving_the_challenge_lifts_every_paused_number_and_what_waited_goes_now(
    operator: Operator,
) -> None:
    now = trio.current_time()
    operator.gates.gate(BRIDGE).pause(now, 60, ["tok-a"])
    operator.gates.gate(BRIDGE_2).pause(now, 60, ["tok-b", "tok-b2"])
    operator.gates.gate(BRIDGE_3)  # sending normally
    for number in (BRIDGE, BRIDGE_2, BRIDGE_3):
        operator.signal.answers[_challenge_path(number)] = httpx.Response(204)
    row = await _waiting_row(operator)

    result = await operator.admin.solve_rate_limit(CAPTCHA, None)

    assert result == {"solved": ["+*********0001", "+*********0009"], "failed": {}}
    assert _challenges(operator.signal) == [
        (
            "/v1/accounts/%2B4915100000001/rate-limit-challenge",
            {"challenge_token": "tok-a", "captcha": CAPTCHA},
        ),
        (
            "/v1/accounts/%2B4915100000009/rate-limit-challenge",
            {"challenge_token": "tok-b", "captcha": CAPTCHA},
        ),
    ]
    assert [(g.paused_until, g.challenge_tokens) for g in operator.gates.gates()] == [(0.0, ())] * 3
    assert await _next_attempt(operator, row) == 0
    assert operator.doorbells.rung == ["*"]


async def test_solving_for_one_number_leaves_the_others_paused(operator: Operator) -> None:
    now = trio.current_time()
    operator.gates.gate(BRIDGE).pause(now, 60, ["tok-a"])
    operator.gates.gate(BRIDGE_2).pause(now, 60, ["tok-b"])
    operator.signal.answers[_challenge_path(BRIDGE_2)] = httpx.Response(204)

    result = await operator.admin.solve_rate_limit(CAPTCHA, BRIDGE_2)

    assert result == {"solved": ["+*********0009"], "failed": {}}
    assert [path for path, _ in _challenges(operator.signal)] == [
        "/v1/accounts/%2B4915100000009/rate-limit-challenge"
    ]
    assert operator.gates.gate(BRIDGE).challenge_tokens == ("tok-a",)
    assert operator.gates.gate(BRIDGE).paused_until > trio.current_time()
    assert operator.gates.gate(BRIDGE_2).paused_until == 0.0


async def test_a_failed_challenge_is_reported_and_the_number_stays_paused(
    operator: Operator,
) -> None:
    gate = operator.gates.gate(BRIDGE)
    gate.pause(trio.current_time(), 60, ["tok-a"])
    operator.signal.answers[_challenge_path(BRIDGE)] = httpx.Response(
        400, json={"error": f"Invalid captcha given for {BRIDGE}"}
    )
    row = await _waiting_row(operator)

    result = await operator.admin.solve_rate_limit(CAPTCHA, None)

    assert result == {
        "solved": [],
        "failed": {
            "+*********0001": "signal-cli rate-limit challenge failed: HTTP 400: "
            "Invalid captcha given for +***0001"
        },
    }
    assert gate.challenge_tokens == ("tok-a",)
    assert gate.paused_until > trio.current_time()
    assert await _next_attempt(operator, row) == 1e12  # still waits for the pause
    assert operator.doorbells.rung == []


async def test_one_failed_challenge_does_not_stop_the_others(operator: Operator) -> None:
    now = trio.current_time()
    operator.gates.gate(BRIDGE).pause(now, 60, ["tok-a"])
    operator.gates.gate(BRIDGE_2).pause(now, 60, ["tok-b"])
    operator.signal.answers[_challenge_path(BRIDGE)] = httpx.ConnectError("refused")
    operator.signal.answers[_challenge_path(BRIDGE_2)] = httpx.Response(204)
    row = await _waiting_row(operator)

    result = await operator.admin.solve_rate_limit(CAPTCHA, None)

    assert result["solved"] == ["+*********0009"]
    assert list(result["failed"]) == ["+*********0001"]
    assert operator.gates.gate(BRIDGE).challenge_tokens == ("tok-a",)
    assert await _next_attempt(operator, row) == 0
    assert operator.doorbells.rung == ["*"]


async def test_with_no_challenge_pending_solving_sends_nothing(operator: Operator) -> None:
    # A 429 without a challenge token (signal-cli #881) pauses, but there is nothing to solve.
    operator.gates.gate(BRIDGE).pause(trio.current_time(), 60, [])
    row = await _waiting_row(operator)

    result = await operator.admin.solve_rate_limit(CAPTCHA, None)

    assert result == {"solved": [], "failed": {}}
    assert operator.signal.requests == []
    assert await _next_attempt(operator, row) == 1e12
    assert operator.doorbells.rung == []
