"""WAHA's session steering and pairing: start, stop and log out a session, its QR code, and
a pairing code (``shared/contracts/waha.openapi.json``, tags Sessions and Pairing).

Wire facts this module encodes:

- ``GET /api/{session}/auth/qr?format=image`` answers ``image/png`` by default, and the
  ``Base64File`` JSON ``{mimetype, data}`` when asked with ``Accept: application/json``; WAHA
  answers it only while the session is SCAN_QR_CODE (it waits a little for that status, then
  answers 422 with ``expected: ["SCAN_QR_CODE"]``), and 404 while no QR was generated yet;
- ``POST /api/{session}/auth/request-code {phoneNumber}`` takes the number as digits only
  (``12132132130``) and answers ``{code}`` (``ABCD-ABCD``); outside pairing the engine fails
  and WAHA answers 500.
"""

from __future__ import annotations

import httpx

from whatsignal.clients._http import expect_dict, malformed, parse_json, path_segment, request

__all__ = ["WahaPairing"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class WahaPairing:
    """Session steering and pairing, through the client's ``_http`` (see ``WahaClient``)."""

    _http: httpx.AsyncClient

    async def _session_action(self, name: str, action: str) -> None:
        await request(
            self._http,
            "POST",
            f"/api/sessions/{path_segment(name)}/{action}",
            operation=f"WAHA {action} session",
        )

    async def start_session(self, name: str) -> None:
        """``POST /api/sessions/{name}/start``."""
        await self._session_action(name, "start")

    async def stop_session(self, name: str) -> None:
        """``POST /api/sessions/{name}/stop`` (keeps the pairing)."""
        await self._session_action(name, "stop")

    async def qr_image(self, name: str) -> bytes:
        """The session's current QR code as a PNG.

        Raises:
            ApiError: 422 (the session is not SCAN_QR_CODE), 404 (no QR yet), or an answer
                that is no PNG.
        """
        op = "WAHA get QR"
        response = await request(
            self._http,
            "GET",
            f"/api/{path_segment(name)}/auth/qr",
            operation=op,
            params={"format": "image"},
            accept="image/png",  # the client's default (JSON) would get Base64File JSON
        )
        if not response.content.startswith(PNG_MAGIC):
            raise malformed(op, response, "not a PNG image")
        return response.content

    async def request_code(self, name: str, phone: str) -> str:
        """Ask WAHA for a pairing code for ``phone`` (``+4917…`` or digits); returns the code."""
        op = "WAHA request pairing code"
        digits = "".join(ch for ch in phone if ch.isdigit())
        response = await request(
            self._http,
            "POST",
            f"/api/{path_segment(name)}/auth/request-code",
            operation=op,
            json_body={"phoneNumber": digits},
        )
        body = expect_dict(op, response, parse_json(op, response))
        code = body.get("code")
        if not isinstance(code, str) or not code:
            raise malformed(op, response, "no pairing code in the answer")
        return code
