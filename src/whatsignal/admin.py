"""The operator's side of a running bridge: readiness, status, metrics, dead letters, and
lifting a signal-cli rate limit. The HTTP layer serves it (:class:`whatsignal.web.app.AdminApi`);
nothing here is reachable without the admin token, except readiness.

Nothing shown here carries message content or a full phone number: queues of bridge numbers
and the numbers of the send gates are masked to their last four digits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import attrs
import trio

from whatsignal import log as wlog
from whatsignal.clients import SignalClient, WahaClient
from whatsignal.errors import ClientError
from whatsignal.metrics import CONTENT_TYPE_LATEST, Metrics
from whatsignal.relay.upstreams import SignalUpstream
from whatsignal.storage import Journal, JournalRow
from whatsignal.web.app import Readiness

__all__ = ["Admin", "describe", "queue_label"]

log = logging.getLogger("whatsignal.admin")


class Snapshot(Protocol):
    """The registry's view of its pollers and receivers."""

    def snapshot(self) -> dict[str, Any]: ...


class Doorbells(Protocol):
    def ring_all(self) -> None: ...


def queue_label(queue: str) -> str:
    """A queue as status pages and metrics show it: sessions by name (bounded by the
    configuration), Signal queues with the bridge number masked to its last four digits."""
    return queue if not queue.startswith("signal:") else "signal:" + queue[-4:]


def describe(row: JournalRow) -> dict[str, Any]:
    """A dead letter as the admin API shows it: no message content, masked ids."""
    return {
        "id": row.id,
        "source": row.source,
        "kind": row.kind,
        "queue": row.queue if row.source == "whatsapp" else wlog.phone(row.queue.partition(":")[2]),
        "chat": wlog.chat(row.chat),
        "attempts": row.attempts,
        "received_at": row.received_at,
        "last_error": wlog.mask_text(row.last_error or ""),
    }


@attrs.define(eq=False, kw_only=True)
class Admin:
    """Args:
    registry: the status page's view of pollers and receivers.
    sessions: each WAHA session's last known status (the session monitor's), if one runs.
    doorbells: rung when an operator makes rows due again.
    """

    version: str
    journal: Journal
    waha: WahaClient
    signal: SignalClient
    gates: SignalUpstream
    registry: Snapshot
    sessions: Mapping[str, str]
    doorbells: Doorbells
    metrics_registry: Metrics
    check_timeout: float = 3.0

    async def readiness(self) -> Readiness:
        """Whether WAHA and signal-cli answer (each within ``check_timeout``)."""
        checks: dict[str, str] = {}
        with trio.move_on_after(self.check_timeout):
            try:
                await self.waha.server_version()
                checks["whatsapp"] = "ok"
            except ClientError as error:
                checks["whatsapp"] = f"unavailable: {type(error).__name__}"
        checks.setdefault("whatsapp", "timeout")
        with trio.move_on_after(self.check_timeout):
            try:
                ok = await self.signal.health()
                checks["signal"] = "ok" if ok else "unhealthy"
            except ClientError as error:
                checks["signal"] = f"unavailable: {type(error).__name__}"
        checks.setdefault("signal", "timeout")
        return Readiness(all(v == "ok" for v in checks.values()), checks)

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
            "sessions": dict(self.sessions),
            **self.registry.snapshot(),
            "queues": queues,
            "signal": gates,
        }

    async def metrics(self) -> tuple[bytes, str]:
        """The Prometheus page. Scraped often: reads only the pending rows."""
        pending: dict[str, int] = {}
        for queue, n in (await self.journal.pending_by_queue()).items():
            name = queue_label(queue)
            pending[name] = pending.get(name, 0) + n
        gauge = self.metrics_registry.pending
        gauge.clear()
        for name, n in pending.items():
            gauge.labels(name).set(n)
        return self.metrics_registry.render(), CONTENT_TYPE_LATEST

    async def dead_letters(self) -> list[dict[str, Any]]:
        return [describe(row) for row in await self.journal.dead_letters()]

    async def retry_dead_letter(self, row_id: int) -> bool:
        """Make a dead row pending again; False if there is no such dead row."""
        if not await self.journal.resurrect(row_id):
            return False
        self.doorbells.ring_all()  # whichever queue the row is in looks again
        return True

    async def solve_rate_limit(self, captcha: str, number: str | None) -> dict[str, Any]:
        """Send a solved captcha for each paused number (or just ``number``); what was waiting
        for the pause goes at once."""
        solved: list[str] = []
        failed: dict[str, str] = {}
        for gate in self.gates.gates():
            if not gate.challenge_tokens or number not in (None, gate.number):
                continue
            label = wlog.phone(gate.number)
            try:
                await self.signal.rate_limit_challenge(
                    gate.number, challenge_token=gate.challenge_tokens[0], captcha=captcha
                )
            except ClientError as error:
                failed[label] = str(error)
                continue
            gate.lift()
            solved.append(label)
        if solved:
            await self.journal.retry_now()
            self.doorbells.ring_all()
        return {"solved": solved, "failed": failed}
