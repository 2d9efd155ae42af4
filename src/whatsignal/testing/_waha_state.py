"""FakeWaha's mutable state: sessions with their status history, and stored media files."""

from __future__ import annotations

import hashlib
from typing import Any

import attrs
import trio

from whatsignal.testing._waha_payloads import now_ms

__all__ = ["STATUSES", "Session", "StoredFile", "me_for"]

STATUSES = (
    "STOPPED",
    "STARTING",
    "SCAN_QR_CODE",
    "PASSKEY_REQUIRED",
    "PASSKEY_CONFIRMATION_REQUIRED",
    "WORKING",
    "FAILED",
)


def me_for(name: str) -> dict[str, Any]:
    """A stable, fake account for session ``name`` (``MeInfo``): ``49151xxxxxxx@c.us``."""
    digits = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % 10**7
    return {"id": f"49151{digits:07d}@c.us", "pushName": name}


@attrs.define(eq=False)
class Session:
    """One WAHA session: its status (with the last transitions), config and account.

    ``paired`` says whether the session holds WhatsApp auth data: a paired session that starts
    reaches WORKING, an unpaired one stops at SCAN_QR_CODE until someone "scans" (a control call
    that sets WORKING). ``changed`` is replaced by a fresh event on every status change, so a
    waiting send can sleep until something happens. ``pending`` is the cancel scope of a
    scheduled transition (STARTING -> WORKING), cancelled by stop/logout/explicit changes.
    """

    name: str
    status: str
    paired: bool = True
    config: dict[str, Any] = attrs.Factory(dict)
    history: list[tuple[str, int]] = attrs.Factory(list)
    changed: trio.Event = attrs.Factory(trio.Event)
    pending: trio.CancelScope | None = None
    activity: int | None = None

    def __attrs_post_init__(self) -> None:
        if not self.history:
            self.history.append((self.status, now_ms()))

    @property
    def me(self) -> dict[str, Any] | None:
        return me_for(self.name) if self.paired and self.status == "WORKING" else None

    def set(self, status: str) -> None:
        self.status = status
        self.history.append((status, now_ms()))
        del self.history[:-3]
        self.changed.set()
        self.changed = trio.Event()

    def cancel_pending(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None

    def dto(self) -> dict[str, Any]:
        """``SessionDTO``: what start/stop/restart/logout/create/update answer."""
        return {"name": self.name, "status": self.status, "config": self.config}

    def info(self, engine: str) -> dict[str, Any]:
        """``SessionInfo`` as ``GET /api/sessions`` lists it (plus the docs' ``engine`` object)."""
        out: dict[str, Any] = {"name": self.name, "status": self.status, "config": self.config}
        me = self.me
        if me is not None:
            out["me"] = me
        out["presence"] = {}
        out["timestamps"] = {"activity": self.activity}
        out["engine"] = {"engine": engine}
        return out

    def status_payload(self) -> dict[str, Any]:
        """``WASessionStatusBody``: the ``session.status`` payload with the last 3 statuses."""
        return {
            "name": self.name,
            "status": self.status,
            "statuses": [{"status": s, "timestamp": t} for s, t in self.history],
        }


@attrs.frozen
class StoredFile:
    """A media file served under ``/api/files/{session}/{name}`` until ``expires`` (trio time)."""

    data: bytes
    mimetype: str
    expires: float
