"""What a running bridge shows of itself: readiness, the status page, the metrics page.

Composed at request time from the parts that own each fact: the session table (WAHA states,
slots), the registry (pollers, their crashes, receivers), each poller (last activity, last
error), the journal (queue depth, oldest pending row) and the send gates. Nothing here is
stored twice, so nothing here can drift.

Nothing shown carries message content or a full phone number: queues of bridge numbers and the
numbers of the send gates are masked to their last four digits. Session names come from the
configuration or from WAHA, bounded by ``signal.maxConcurrentSessions``, so they are fit for
metric labels.

Readiness is scraped often, so its storage check (a durable write, and a look at whether the
database file is still the one the store opened) runs at most once per ``storage_interval``
and is remembered in between; the three checks run side by side, each within
``check_timeout``. A storage check that starts failing is logged once as an error (and once
more when it recovers), however often readiness is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import attrs
import trio

from whatsignal.actors.session_table import SessionTable, WorkerState
from whatsignal.clients import SignalClient, WahaClient
from whatsignal.clock import Clock
from whatsignal.errors import ClientError, StorageError
from whatsignal.metrics import CONTENT_TYPE_LATEST, Metrics
from whatsignal.relay.upstreams import SignalUpstream
from whatsignal.storage import Health, Journal
from whatsignal.web.app import Readiness

__all__ = ["BoardStore", "StatusBoard", "queue_label"]

log = logging.getLogger("whatsignal.status")

STORAGE_OK = "ok"


class BoardStore(Journal, Health, Protocol):
    """The journal (queues, pending rows) and the store's health check."""


class PollerView(Protocol):
    @property
    def busy(self) -> set[str]: ...

    @property
    def last_activity(self) -> float | None: ...

    @property
    def last_error(self) -> str | None: ...


class RegistryView(Protocol):
    """The registry's view of its pollers and receivers."""

    def snapshot(self) -> dict[str, Any]: ...

    def running(self) -> Sequence[str]: ...

    def poller(self, session: str) -> PollerView | None: ...

    def crashes(self, session: str) -> tuple[int, bool]: ...


def queue_label(queue: str) -> str:
    """A queue as status pages and metrics show it: sessions by name (bounded by the
    configuration), Signal queues with the bridge number masked to its last four digits."""
    return queue if not queue.startswith("signal:") else "signal:" + queue[-4:]


@attrs.define(eq=False, kw_only=True)
class StatusBoard:
    """Readiness, the status page and the metrics page of one bridge."""

    version: str
    journal: BoardStore
    waha: WahaClient
    signal: SignalClient
    gates: SignalUpstream
    registry: RegistryView
    table: SessionTable
    metrics: Metrics
    clock: Clock
    check_timeout: float = 3.0
    storage_interval: float = 10.0
    _storage: tuple[float, str] | None = attrs.field(init=False, default=None)
    _storage_lock: trio.Lock = attrs.field(init=False, factory=trio.Lock)
    _reported: str = attrs.field(init=False, default=STORAGE_OK)

    async def readiness(self) -> Readiness:
        """Whether the bridge can take work: its storage can write, to the file it opened.
        WAHA, signal-cli and the sessions are shown as well, and make the answer
        ``degraded``, not unready: while they are away, what arrives is journaled and waits
        for them."""
        checks: dict[str, Any] = {}
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._check_storage, checks)
            nursery.start_soon(self._check_whatsapp, checks)
            nursery.start_soon(self._check_signal, checks)
        degraded = {
            e.name: e.status or "unknown"
            for e in self.table.entries()
            if e.status not in (None, "WORKING") or e.left_out
        }
        if degraded:
            checks["sessions"] = degraded
        # The order of the keys stays the same whichever check finished first.
        order = ("storage", "whatsapp", "signal", "sessions")
        checks = {key: checks[key] for key in order if key in checks}
        return Readiness(checks["storage"] == STORAGE_OK, checks)

    async def _check_storage(self, checks: dict[str, Any]) -> None:
        async with self._storage_lock:  # concurrent probes share one check
            cached = self._storage
            if cached is None or trio.current_time() - cached[0] >= self.storage_interval:
                result = f"failing: timeout: no write within {self.check_timeout:g} s"
                with trio.move_on_after(self.check_timeout):
                    try:
                        await self.journal.check_health()
                        result = STORAGE_OK
                    except StorageError as error:
                        result = f"failing: {error}"
                cached = self._storage = (trio.current_time(), result)
                self._report(result)
        checks["storage"] = cached[1]

    def _report(self, result: str) -> None:
        """Log a change of the storage check once: the first failure (or a different one) as
        an error, the recovery as info."""
        if result == self._reported:
            return
        if result == STORAGE_OK:
            log.info("storage check ok again: the database can be written")
        else:
            log.error("storage check %s; readiness answers 503", result)
        self._reported = result

    async def _check_whatsapp(self, checks: dict[str, Any]) -> None:
        checks["whatsapp"] = "timeout"
        with trio.move_on_after(self.check_timeout):
            try:
                await self.waha.server_version()
                checks["whatsapp"] = "ok"
            except ClientError as error:
                checks["whatsapp"] = f"unavailable: {type(error).__name__}"

    async def _check_signal(self, checks: dict[str, Any]) -> None:
        checks["signal"] = "timeout"
        with trio.move_on_after(self.check_timeout):
            try:
                ok = await self.signal.health()
                checks["signal"] = "ok" if ok else "unhealthy"
            except ClientError as error:
                checks["signal"] = f"unavailable: {type(error).__name__}"

    async def status(self) -> dict[str, Any]:
        """Sessions, pollers, receivers, journal queues and the send gates."""
        counts = await self.journal.state_counts()
        queues: dict[str, dict[str, int]] = {}
        for (queue, state), n in counts.items():
            # Two bridge numbers may share their last four digits, hence one label: add up.
            bucket = queues.setdefault(queue_label(queue), {})
            bucket[state] = bucket.get(state, 0) + n
        now = trio.current_time()
        gates = {
            g.number[-4:]: {
                "breaker": g.breaker.state.value,
                "paused_for_sec": max(0.0, g.paused_until - now),
                "rate_limit_challenge_pending": bool(g.challenge_tokens),
            }
            for g in self.gates.gates()
        }
        return {
            "version": self.version,
            "sessions": await self.sessions(),
            **self.registry.snapshot(),
            "queues": queues,
            "signal": gates,
        }

    async def sessions(self) -> dict[str, dict[str, Any]]:
        """Per session: WAHA's state, the poller's, the queue and what happened last."""
        stats = await self.journal.pending_stats()
        wall = self.clock()
        running = set(self.registry.running())
        names = {e.name for e in self.table.entries()} | running
        names |= {q for q in stats if not q.startswith("signal:")}
        found: dict[str, dict[str, Any]] = {}
        for name in sorted(names):
            entry = self.table.entry(name)
            poller = self.registry.poller(name)
            crashes, restarting = self.registry.crashes(name)
            worker = self.table.worker_state(name, name in running)
            depth, oldest = stats.get(name, (0, wall))
            found[name] = {
                "waha": entry.status if entry is not None else None,
                "worker": "restarting" if restarting else worker.value,
                "queue": depth,
                "oldest_pending_sec": round(max(0.0, wall - oldest), 3) if depth else None,
                "last_activity": poller.last_activity if poller is not None else None,
                "worker_restarts": crashes,
                "session_restarts": entry.restarts if entry is not None else 0,
                "last_error": poller.last_error if poller is not None else None,
            }
        return found

    async def metrics_page(self) -> tuple[bytes, str]:
        """The Prometheus page. Scraped often: reads only the pending rows."""
        m = self.metrics
        stats = await self.journal.pending_stats()
        wall = self.clock()
        pending: dict[str, tuple[int, float]] = {}
        for queue, (n, oldest) in stats.items():
            name = queue_label(queue)
            count, first = pending.get(name, (0, oldest))
            pending[name] = (count + n, min(first, oldest))
        m.pending.clear()
        m.oldest_pending.clear()
        for name, (n, oldest) in pending.items():
            m.pending.labels(name).set(n)
            m.oldest_pending.labels(name).set(max(0.0, wall - oldest))
        m.sessions.clear()
        by_status: dict[str, int] = {}
        for entry in self.table.entries():
            status = entry.status or "unknown"
            by_status[status] = by_status.get(status, 0) + 1
        for status, n in by_status.items():
            m.sessions.labels(status).set(n)
        running = set(self.registry.running())
        m.workers.clear()
        states: dict[str, int] = {}
        for name in running | {e.name for e in self.table.entries()}:
            worker = self.table.worker_state(name, name in running)
            if worker is not WorkerState.NONE:
                # As the status page says: a poller that crashed waits to be restarted.
                label = "restarting" if self.registry.crashes(name)[1] else worker.value
                states[label] = states.get(label, 0) + 1
        for label, n in states.items():
            m.workers.labels(label).set(n)
        receivers = self.registry.snapshot()["receivers"].values()
        m.receivers.clear()
        m.receivers.labels("connected").set(sum(1 for r in receivers if r["connected"]))
        m.receivers.labels("disconnected").set(sum(1 for r in receivers if not r["connected"]))
        return m.render(), CONTENT_TYPE_LATEST
