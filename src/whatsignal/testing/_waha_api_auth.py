"""FakeWaha's pairing endpoints (``GET /api/{session}/auth/qr``,
``POST /api/{session}/auth/request-code``) and the control routes that play the phone: log a
session out as WhatsApp does, and complete a pairing.

As upstream (devlikeapro/waha ``src/api/auth.controller.ts`` and ``src/nestjs/pipes/
SessionPipe.ts``): the QR is served only to a session in SCAN_QR_CODE (``QRCodeSessionPipe``
waits for that status as a send waits for WORKING, then 422 with ``expected:
["SCAN_QR_CODE"]``); ``format=image`` answers ``image/png``, or ``Base64File`` JSON when the
client accepts ``application/json``; ``format=raw`` answers ``{value}``. ``request-code`` does
not check the status in the controller: the engine fails outside pairing and the controller
rethrows it as a plain ``Error``, which WAHA answers 500. The QR value changes every
``qr_refresh`` seconds (WhatsApp rotates it about every 20 s).
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from whatsignal.testing._waha_control import Control
from whatsignal.testing._waha_edge import Edge, Reject, json_response
from whatsignal.testing._waha_model import WahaModel
from whatsignal.testing._waha_payloads import bad_request, now_ms

__all__ = ["add_auth_routes", "qr_png", "register_pairing_control"]

SCAN = "SCAN_QR_CODE"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTVWXYZ123456789"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def qr_png(value: str) -> bytes:
    """A small valid PNG standing in for a QR code; its ``tEXt`` chunk holds ``value`` (so two
    rotations are two different images)."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"tEXt", b"qr\x00" + value.encode())
        + _chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + _chunk(b"IEND", b"")
    )


def qr_value(fake: WahaModel, name: str) -> str:
    """The session's QR value now: it changes every ``qr_refresh`` seconds."""
    session = fake.session(name)
    rotation = max(0, now_ms() - session.last_ms) // int(fake.qr_refresh * 1000)
    return f"2@{name}.{session.last_ms}.{rotation}"


def pairing_code(name: str, digits: str) -> str:
    seed = hashlib.sha256(f"{name}:{digits}".encode()).digest()
    letters = "".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in seed[:8])
    return f"{letters[:4]}-{letters[4:]}"


def _not_scanning(name: str, status: str) -> dict[str, Any]:
    return {
        "error": "Session status is not as expected. Try again later or restart the session",
        "session": name,
        "status": status,
        "expected": [SCAN],
    }


def add_auth_routes(app: QuartTrio, edge: Edge) -> None:
    """Register ``/api/{session}/auth/qr`` and ``/auth/request-code`` on ``app``."""
    fake = edge.fake

    @app.route("/api/<name>/auth/qr", methods=["GET"])
    async def get_qr(name: str) -> Response:
        edge.known(name)
        form = request.args.get("format", "image")
        if form not in ("image", "raw"):
            raise Reject(
                400, bad_request(["format must be one of the following values: image, raw"])
            )
        session = fake.session(name)
        with trio.move_on_after(fake.not_working_wait):
            while session.status != SCAN:
                await session.changed.wait()
        if session.status != SCAN:
            raise Reject(422, _not_scanning(name, session.status))
        value = qr_value(fake, name)
        fake.qr_served.append((name, value))
        path = "/api/{session}/auth/qr"
        if form == "raw":
            return edge.respond("GET", path, 200, {"value": value})
        png = qr_png(value)
        if "application/json" in request.headers.get("Accept", ""):
            data = base64.b64encode(png).decode()
            return edge.respond("GET", path, 200, {"mimetype": "image/png", "data": data})
        return Response(png, status=200, mimetype="image/png")

    @app.route("/api/<name>/auth/request-code", methods=["POST"])
    async def request_code(name: str) -> Response:
        edge.known(name)
        body = await edge.body()
        edge.validate("POST", "/api/{session}/auth/request-code", body)
        phone = body.get("phoneNumber")
        if not isinstance(phone, str) or not phone:
            raise Reject(400, bad_request(["phoneNumber should not be empty"]))
        session = fake.session(name)
        if session.status != SCAN:
            message = f"Failed to request code: session is {session.status}"
            return json_response(
                {"statusCode": 500, "exception": {"message": message, "name": "Error"}}, 500
            )
        digits = "".join(ch for ch in phone if ch.isdigit())
        code = pairing_code(name, digits)
        fake.pairing_codes.append((name, digits, code))
        return edge.respond("POST", "/api/{session}/auth/request-code", 201, {"code": code})


def register_pairing_control(fake: WahaModel, control: Control, bad_input: type[Exception]) -> None:
    """``/_sim/sessions/logout`` (WhatsApp logged the device out) and ``/_sim/sessions/pair``
    (the QR was scanned, or the pairing code typed in)."""

    async def _name() -> str:
        data = await request.get_json(force=True, silent=True)
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or not fake.has_session(name):
            raise bad_input("'name' must name a session")
        return name

    @control(
        "/_sim/sessions/logout",
        "POST",
        "WhatsApp logs the session out: {name}; it drops its pairing and comes back at "
        "SCAN_QR_CODE (STOPPED, STARTING, SCAN_QR_CODE)",
    )
    async def logout() -> Response:
        session = fake.logout_session(await _name())
        return json_response(session.info(fake.engine_of(session.name)), 200)

    @control(
        "/_sim/sessions/pair",
        "POST",
        "complete the pairing of a session in SCAN_QR_CODE: {name}; it goes WORKING",
    )
    async def pair() -> Response:
        name = await _name()
        if fake.session(name).status != SCAN:
            raise bad_input(f"session {name!r} is {fake.session(name).status}, not {SCAN}")
        session = fake.set_session_status(name, "WORKING")
        return json_response(session.info(fake.engine_of(name)), 200)
