"""The admin API's session steering: ``POST /admin/sessions/{name}/restart`` and the QR code
to pair a session, ``GET /admin/sessions/{name}/qr`` (a PNG), both behind the admin token.

WAHA's answers become the operator's: a session WAHA does not know is 404, one that shows no
QR code because it is not waiting for a scan is 409 (WAHA's 422, with the state it is in), and
WAHA not answering is 502. A name that cannot be a session is 400 before WAHA is asked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from quart import Response, jsonify
from quart_trio import QuartTrio

from whatsignal.errors import ApiError, ClientError

__all__ = ["SessionAdmin", "add_session_routes"]

SESSION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SessionAdmin(Protocol):
    """What the routes ask of the bridge (:class:`whatsignal.admin.Admin`)."""

    async def restart_session(self, name: str) -> str:
        """Restart ``name`` in WAHA; the state it is in afterwards."""
        ...

    async def session_qr(self, name: str) -> bytes:
        """``name``'s QR code now, as a PNG."""
        ...


def _error(status: int, reason: str, **extra: Any) -> Response:
    response = jsonify({"error": reason, **extra})
    response.status_code = status
    return response


def _upstream(error: ClientError, name: str) -> Response:
    if isinstance(error, ApiError) and error.status == 404:
        return _error(404, f"WAHA knows no session {name!r}")
    if isinstance(error, ApiError) and error.status == 422:
        return _error(409, f"session {name!r} is not waiting for a QR scan (SCAN_QR_CODE)")
    return _error(502, f"WAHA did not do it: {error}")


def add_session_routes(
    app: QuartTrio, admin: SessionAdmin, denied: Callable[[], Response | None]
) -> None:
    """Register the session routes on ``app``; ``denied`` is the admin token check."""

    @app.post("/admin/sessions/<name>/restart")
    async def restart_session(name: str) -> Response:
        if (refused := denied()) is not None:
            return refused
        if not SESSION_NAME.fullmatch(name):
            return _error(400, "a session name is 1-64 letters, digits, '-' or '_'")
        try:
            status = await admin.restart_session(name)
        except ClientError as error:
            return _upstream(error, name)
        return jsonify({"session": name, "restarted": True, "status": status})

    @app.get("/admin/sessions/<name>/qr")
    async def session_qr(name: str) -> Response:
        if (refused := denied()) is not None:
            return refused
        if not SESSION_NAME.fullmatch(name):
            return _error(400, "a session name is 1-64 letters, digits, '-' or '_'")
        try:
            png = await admin.session_qr(name)
        except ClientError as error:
            return _upstream(error, name)
        return Response(png, content_type="image/png", headers={"Cache-Control": "no-store"})
