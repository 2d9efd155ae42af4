"""FakeWaha's mutable state: sessions with their status history, and stored media files."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

import attrs
import trio

from whatsignal.testing._json import utf8
from whatsignal.testing._waha_payloads import now_ms

__all__ = ["STATUSES", "Session", "StoredFile", "default_status_data", "me_for"]

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
    digits = int.from_bytes(hashlib.sha256(utf8(name)).digest()[:8], "big") % 10**7
    return {"id": f"49151{digits:07d}@c.us", "pushName": name}


def default_status_data(status: str) -> dict[str, Any] | None:
    """A sample ``WASessionStatusBody.data`` for ``status``: null except for the passkey steps.

    PASSKEY_REQUIRED carries WebAuthn request options (what ``navigator.credentials.get``
    takes), PASSKEY_CONFIRMATION_REQUIRED the code to compare with the phone's (docs
    how-to/events §session.status).
    """
    if status == "PASSKEY_REQUIRED":
        return {
            "challenge": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
            "timeout": 60000,
            "rpId": "web.whatsapp.com",
            "allowCredentials": [
                {
                    "id": base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("="),
                    "type": "public-key",
                    "transports": ["internal", "hybrid"],
                }
            ],
            "userVerification": "required",
        }
    if status == "PASSKEY_CONFIRMATION_REQUIRED":
        return {"code": f"{secrets.randbelow(10**4):04d}"}
    return None


@attrs.define(eq=False)
class Session:
    """One WAHA session: its status (with the last transitions), config and account.

    ``paired`` says whether the session holds WhatsApp auth data: a paired session that starts
    reaches WORKING, an unpaired one stops at SCAN_QR_CODE until someone "scans" (a control call
    that sets WORKING). ``changed`` is replaced by a fresh event on every status change, so a
    waiting send can sleep until something happens. ``pending`` is the cancel scope of a
    scheduled transition (STARTING -> WORKING), cancelled by stop/logout/explicit changes.

    ``history`` holds the last three ``(status, ms)`` points, oldest first, as
    ``WASessionStatusBody.statuses`` lists them; ``data`` is the current status's extra
    information (``WASessionStatusBody.data``: the passkey challenge or code, or null).

    Timestamps: WAHA stamps a status change with ``Date.now()``, so two changes in the same
    millisecond can carry the same timestamp there. Here every point is at least one
    millisecond after the previous one of the same session (a tie is moved forward by 1 ms),
    so a test can always order a session's events by ``timestamp``. A session deleted and
    created again under the same name is a new session and starts from the wall clock.
    """

    name: str
    status: str
    paired: bool = True
    config: dict[str, Any] = attrs.Factory(dict)
    history: list[tuple[str, int]] = attrs.Factory(list)
    data: dict[str, Any] | None = None
    changed: trio.Event = attrs.Factory(trio.Event)
    pending: trio.CancelScope | None = None
    activity: int | None = None

    def __attrs_post_init__(self) -> None:
        if not self.history:
            self.history.append((self.status, now_ms()))

    @property
    def me(self) -> dict[str, Any] | None:
        return me_for(self.name) if self.paired and self.status == "WORKING" else None

    @property
    def last_ms(self) -> int:
        """The timestamp (ms) of the current status."""
        return self.history[-1][1]

    def set(self, status: str, data: dict[str, Any] | None = None) -> int:
        """Move to ``status`` now; returns the change's timestamp (ms, strictly increasing)."""
        ms = max(now_ms(), self.last_ms + 1)
        self.status = status
        self.data = data
        self.history.append((status, ms))
        del self.history[:-3]
        self.changed.set()
        self.changed = trio.Event()
        return ms

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
        """``WASessionStatusBody``: ``name``, ``status``, the last three ``statuses`` (oldest
        first, the current one last, as the docs' example) and ``data`` (null for most)."""
        return {
            "name": self.name,
            "status": self.status,
            "statuses": [{"status": s, "timestamp": t} for s, t in self.history],
            "data": self.data,
        }


@attrs.frozen
class StoredFile:
    """A media file served under ``/api/files/{session}/{name}`` until ``expires`` (trio time)."""

    data: bytes
    mimetype: str
    expires: float
