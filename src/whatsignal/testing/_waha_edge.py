"""The request side every FakeWaha handler shares: parse, validate, find the session, record.

WAHA (NestJS) answers malformed input with a 400 listing the problems, an unknown session with
404, and a session that is not WORKING (after waiting ``not_working_wait`` for a STARTING one)
with 422. :class:`Edge` does those steps for the route modules, bound to one
:class:`~whatsignal.testing._waha_model.WahaModel`; a refusal is raised as :class:`Reject`
and answered by the app's error handler.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio
from quart import Response, jsonify, request

from whatsignal.testing._common import Recorded
from whatsignal.testing._json import JsonError, loads
from whatsignal.testing._waha_model import WahaModel
from whatsignal.testing._waha_payloads import (
    bad_request,
    bare_key,
    incoming_message,
    not_found,
    now_ms,
    session_not_working,
)
from whatsignal.testing._waha_state import me_for
from whatsignal.testing.contract import waha_contract

__all__ = ["Edge", "Reject", "empty_response", "json_response"]


class Reject(Exception):
    """Answer ``status`` with ``body`` (raised from helpers, turned into a response)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def json_response(body: Any, status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def empty_response(status: int) -> Response:
    return Response(b"", status=status)


def _required_missing(method: str, path: str, body: dict[str, Any]) -> list[str]:
    """Cheap check (contracts off): top-level required fields of the operation's schema."""
    spec = waha_contract().spec
    op = spec["paths"][path][method.lower()]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return [
        f"{name} should not be empty" for name in schema.get("required", []) if name not in body
    ]


@attrs.define(eq=False)
class Edge:
    """The shared steps of FakeWaha's handlers, for the request being served."""

    fake: WahaModel

    async def body(self) -> dict[str, Any]:
        """The JSON body as Express and ``JSON.parse`` read it (see :mod:`._json`, ``node``)."""
        raw = await request.get_data(as_text=False)
        if not raw.strip():
            return {}
        try:
            data = loads(raw, dialect="node")
        except JsonError as exc:
            raise Reject(400, bad_request(f"Unexpected token in JSON: {exc}")) from None
        if not isinstance(data, dict):
            raise Reject(400, bad_request("body must be a JSON object"))
        return data

    def validate(self, method: str, path: str, body: dict[str, Any]) -> None:
        checker = self.fake.checker
        problems = (
            checker.request_problems(method, path, body)
            if checker is not None
            else _required_missing(method, path, body)
        )
        if problems:
            raise Reject(400, bad_request(problems))

    def respond(self, method: str, path: str, status: int, body: Any) -> Response:
        checker = self.fake.checker
        if checker is not None:
            checker.check_response(method, path, status, body)
        return json_response(body, status)

    def known(self, name: str) -> None:
        if not self.fake.has_session(name):
            raise Reject(404, not_found("Session not found"))

    async def working(self, name: str) -> None:
        self.known(name)
        session = await self.fake.wait_working(name)
        if session.status != "WORKING":
            raise Reject(422, session_not_working(name, session.status))
        session.activity = now_ms()

    async def accept(
        self, method: str, path: str, *, session_in_path: str | None = None
    ) -> dict[str, Any]:
        """Parse, validate, require a WORKING session and record one bridge call."""
        body = await self.body()
        if session_in_path is None:
            body.setdefault("session", "default")  # deviation session-default
        self.validate(method, path, body)
        if not isinstance(body.get("reply_to", ""), str | None):
            # Only with contract checks off (the spec says string): WAHA's validation's 400.
            raise Reject(400, bad_request(["reply_to must be a string"]))
        name = session_in_path if session_in_path is not None else str(body["session"])
        await self.working(name)
        self.fake.sent.append(Recorded(method, request.path, body, trio.current_time()))
        return body

    @staticmethod
    def reply_to(body: dict[str, Any]) -> str | None:
        """The ``reply_to`` of an accepted send body (:meth:`accept` checked its type)."""
        value = body.get("reply_to")
        return value if isinstance(value, str) else None

    def echo(
        self,
        session: str,
        chat_id: str,
        key: str,
        text: str,
        media: dict[str, Any] | None,
        reply_to: str | None,
    ) -> None:
        """Remember an API send and announce it as ``message.any`` (``source: api``)."""
        payload = incoming_message(
            key=key,
            chat_id=chat_id,
            me_id=me_for(session)["id"],
            from_me=True,
            body=text,
            ts=now_ms() // 1000,
            participant=None,
            notify_name=None,
            media=media,
            reply_to={"id": bare_key(reply_to), "hasMedia": False} if reply_to else None,
            source="api",
        )
        self.fake.remember(payload, session)
        self.fake.emit("message.any", session, payload)

    def query_session(self) -> str:
        name = request.args.get("session") or "default"
        return name
