"""The operator's side of a running bridge, as the HTTP layer serves it
(:class:`whatsignal.web.app.AdminApi`): what the bridge shows of itself (readiness, status,
metrics: :mod:`whatsignal.status_board`) and what an operator may do (list and retry dead
letters, lift a signal-cli rate limit). Nothing here is reachable without the admin token,
except readiness.

Nothing shown here carries message content or a full phone number.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import attrs

from whatsignal import log as wlog
from whatsignal.actors.alerts import stopped_by_user
from whatsignal.clients import SessionInfo, SignalClient
from whatsignal.errors import ClientError
from whatsignal.relay.upstreams import SignalUpstream
from whatsignal.status_board import StatusBoard, queue_label
from whatsignal.storage import Alerts, Journal, JournalRow
from whatsignal.web.app import Readiness

__all__ = ["Admin", "describe", "queue_label"]  # queue_label: kept importable from here

log = logging.getLogger("whatsignal.admin")


class Doorbells(Protocol):
    def ring_all(self) -> None: ...


class WahaSessions(Protocol):
    """The session steering the admin API offers (:class:`~whatsignal.clients.WahaClient`)."""

    async def restart_session(self, name: str) -> None: ...

    async def get_session(self, name: str) -> SessionInfo: ...

    async def qr_image(self, name: str) -> bytes: ...


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
    board: readiness, the status page and the metrics page.
    doorbells: rung when an operator makes rows due again.
    waha: restarts a session, and shows its QR code to pair it.
    alerts: ``stopped-by-user:<session>``, which a restart forgets (as ``/restart`` does).
    """

    board: StatusBoard
    journal: Journal
    signal: SignalClient
    gates: SignalUpstream
    doorbells: Doorbells
    waha: WahaSessions
    alerts: Alerts

    async def readiness(self) -> Readiness:
        return await self.board.readiness()

    async def status(self) -> dict[str, Any]:
        return await self.board.status()

    async def metrics(self) -> tuple[bytes, str]:
        return await self.board.metrics_page()

    async def dead_letters(self) -> list[dict[str, Any]]:
        return [describe(row) for row in await self.journal.dead_letters()]

    async def retry_dead_letter(self, row_id: int) -> bool:
        """Make a dead row pending again; False if there is no such dead row."""
        if not await self.journal.resurrect(row_id):
            return False
        self.doorbells.ring_all()  # whichever queue the row is in looks again
        return True

    async def restart_session(self, name: str) -> str:
        """Restart ``name`` in WAHA; the state WAHA reports right after (usually STARTING).

        Raises:
            ClientError: WAHA refused (404: no such session) or did not answer.
        """
        await self.alerts.clear_alert(stopped_by_user(name))  # its STOPPED alerts again
        await self.waha.restart_session(name)
        log.info("session restarted by an operator", extra={"event": "admin.restart"})
        return (await self.waha.get_session(name)).status

    async def session_qr(self, name: str) -> bytes:
        """``name``'s QR code as a PNG (only while it waits for a scan: WAHA's 422 else)."""
        return await self.waha.qr_image(name)

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
