"""FakeWaha's HTTP surface: WAHA's API under ``/api`` and the control API under ``/_sim``.

Handlers are thin: parse and validate at the edge (NestJS-style 400s from the spec), find the
session (404, or 422 when it is not WORKING after ``not_working_wait``), record the call, and
ask the :class:`~whatsignal.testing.waha.FakeWaha` for state and payloads.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio
from quart import Response, jsonify, request
from quart_trio import QuartTrio

from whatsignal.testing._common import Recorded
from whatsignal.testing._waha_payloads import (
    bad_request,
    bare_key,
    environment,
    file_not_found,
    incoming_message,
    new_message_key,
    not_found,
    now_ms,
    send_response,
    session_not_working,
    unauthorized,
    unprocessable,
)
from whatsignal.testing._waha_state import me_for
from whatsignal.testing.contract import ContractViolation, waha_contract

if TYPE_CHECKING:
    from whatsignal.testing.waha import FakeWaha

__all__ = ["build_app"]

Handler = Callable[..., Awaitable[Any]]

# Media send endpoints -> (spec path, WEBJS message type of the echoed message).
_MEDIA_SENDS = {
    "sendImage": "image",
    "sendFile": "document",
    "sendVoice": "ptt",
    "sendVideo": "video",
}


class _Reject(Exception):
    """Answer ``status`` with ``body`` (raised from helpers, turned into a response)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _json(body: Any, status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _empty(status: int) -> Response:
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


def build_app(fake: FakeWaha) -> QuartTrio:
    """The quart-trio app serving ``fake``."""
    app = QuartTrio("whatsignal.testing.waha")
    # WAHA accepts JSON bodies up to 50 MB (base64 media); quart's default is 16 MB.
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep WAHA's field order
    control_routes: list[dict[str, str]] = []

    def control(path: str, method: str, description: str) -> Callable[[Handler], Handler]:
        control_routes.append({"method": method, "path": path, "description": description})
        return app.route(path, methods=[method], endpoint=f"sim {method} {path}")

    @app.errorhandler(_Reject)
    async def _rejected(exc: _Reject) -> Response:
        return _json(exc.body, exc.status) if exc.body is not None else _empty(exc.status)

    @app.errorhandler(ContractViolation)
    async def _violated(exc: ContractViolation) -> Response:
        if str(exc) not in fake.violations:
            fake.violations.append(str(exc))
        return _json({"statusCode": 500, "message": f"simulator contract violation: {exc}"}, 500)

    @app.before_request
    async def _authenticate() -> Response | None:
        if fake.api_key is None or not request.path.startswith("/api/"):
            return None
        # The header wins over the query parameter when both are present (WAHA's strategy).
        given = request.headers.get("X-Api-Key")
        if given is None:
            given = request.args.get("x-api-key")
        if given != fake.api_key:
            return _json(unauthorized(), 401)
        return None

    # Helpers -------------------------------------------------------------------------------

    async def body_of() -> dict[str, Any]:
        raw = await request.get_data()
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise _Reject(400, bad_request(f"Unexpected token in JSON: {exc}")) from None
        if not isinstance(data, dict):
            raise _Reject(400, bad_request("body must be a JSON object"))
        return data

    def validate(method: str, path: str, body: dict[str, Any]) -> None:
        checker = fake.checker
        problems = (
            checker.request_problems(method, path, body)
            if checker is not None
            else _required_missing(method, path, body)
        )
        if problems:
            raise _Reject(400, bad_request(problems))

    def respond(method: str, path: str, status: int, body: Any) -> Response:
        checker = fake.checker
        if checker is not None:
            checker.check_response(method, path, status, body)
        return _json(body, status)

    def known(name: str) -> None:
        if not fake.has_session(name):
            raise _Reject(404, not_found("Session not found"))

    async def working(name: str) -> None:
        known(name)
        session = await fake.wait_working(name)
        if session.status != "WORKING":
            raise _Reject(422, session_not_working(name, session.status))
        session.activity = now_ms()

    async def accept(
        method: str, path: str, *, session_in_path: str | None = None
    ) -> dict[str, Any]:
        """Parse, validate, require a WORKING session and record one bridge call."""
        body = await body_of()
        if session_in_path is None:
            body.setdefault("session", "default")  # deviation session-default
        validate(method, path, body)
        name = session_in_path if session_in_path is not None else str(body["session"])
        await working(name)
        fake.sent.append(Recorded(method, request.path, body, trio.current_time()))
        return body

    def echo(
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
        fake.remember(payload, session)
        fake.emit("message.any", session, payload)

    def query_session() -> str:
        name = request.args.get("session") or "default"
        return name

    # Server --------------------------------------------------------------------------------

    @app.route("/ping", methods=["GET"])
    async def ping() -> Response:
        return respond("GET", "/ping", 200, {"message": "pong"})

    @app.route("/health", methods=["GET"])
    async def health() -> Response:
        return _json({"status": "ok", "info": {}, "error": {}, "details": {}}, 200)

    @app.route("/api/server/version", methods=["GET"])
    @app.route("/api/version", methods=["GET"])
    async def version() -> Response:
        return respond("GET", "/api/server/version", 200, environment(fake.engine))

    # Sessions ------------------------------------------------------------------------------

    @app.route("/api/sessions", methods=["GET"], strict_slashes=False)
    async def list_sessions() -> Response:
        everything = request.args.get("all", "false").lower() in ("true", "1")
        infos = [
            fake.session(name).info(fake.engine)
            for name in fake.session_names()
            if everything or fake.session(name).status != "STOPPED"
        ]
        return respond("GET", "/api/sessions", 200, infos)

    @app.route("/api/sessions", methods=["POST"], strict_slashes=False)
    async def create_session() -> Response:
        body = await body_of()
        validate("POST", "/api/sessions", body)
        name = str(body.get("name") or f"session_{new_message_key('WEBJS')[:16].lower()}")
        try:
            session = fake.create_session(
                name, config=body.get("config") or {}, start=body.get("start", True) is not False
            )
        except ValueError as exc:
            raise _Reject(422, unprocessable(str(exc))) from None
        return respond("POST", "/api/sessions", 201, session.dto())

    @app.route("/api/sessions/<name>", methods=["GET"])
    async def get_session(name: str) -> Response:
        known(name)
        return respond("GET", "/api/sessions/{session}", 200, fake.session(name).info(fake.engine))

    @app.route("/api/sessions/<name>", methods=["PUT"])
    async def update_session(name: str) -> Response:
        known(name)
        body = await body_of()
        validate("PUT", "/api/sessions/{session}", body)
        session = fake.update_session(name, body.get("config") or {})
        return respond("PUT", "/api/sessions/{session}", 200, session.dto())

    @app.route("/api/sessions/<name>", methods=["DELETE"])
    async def delete_session(name: str) -> Response:
        fake.delete_session(name)
        return _empty(200)

    @app.route("/api/sessions/<name>/<action>", methods=["POST"])
    async def session_action(name: str, action: str) -> Response:
        actions = {
            "start": fake.start_session,
            "stop": fake.stop_session,
            "restart": fake.restart_session,
            "logout": fake.logout_session,
        }
        if action not in actions:
            raise _Reject(404, not_found(f"Cannot POST /api/sessions/{name}/{action}"))
        known(name)
        session = actions[action](name)
        return respond("POST", f"/api/sessions/{{session}}/{action}", 201, session.dto())

    @app.route("/api/sessions/<name>/me", methods=["GET"])
    async def session_me(name: str) -> Response:
        known(name)
        me = fake.session(name).me
        return respond("GET", "/api/sessions/{session}/me", 200, me) if me else _empty(200)

    @app.route("/api/<name>/chats/<chat_id>/messages", methods=["GET"])
    async def chat_messages(name: str, chat_id: str) -> Response:
        known(name)
        args = request.args
        limit = args.get("limit")
        if limit is None:
            raise _Reject(
                400, bad_request(["limit must be a number conforming to the specified constraints"])
            )

        def number(key: str) -> float | None:
            value = args.get(key)
            return float(value) if value not in (None, "") else None

        from_me = args.get("filter.fromMe")
        messages = fake.history(
            name,
            chat_id,
            since=number("filter.timestamp.gte"),
            until=number("filter.timestamp.lte"),
            from_me=None if from_me is None else from_me.lower() == "true",
        )
        offset = int(args.get("offset") or 0)
        page = messages[offset : offset + int(float(limit))]
        return _json(page, 200)

    @app.route("/api/<name>/new-message-id", methods=["GET"])
    async def new_message_id(name: str) -> Response:
        known(name)
        return respond(
            "GET", "/api/{session}/new-message-id", 200, {"id": new_message_key(fake.engine)}
        )

    # Sends ---------------------------------------------------------------------------------

    @app.route("/api/sendText", methods=["POST"])
    async def send_text() -> Response:
        body = await accept("POST", "/api/sendText")
        session, chat, text = str(body["session"]), str(body["chatId"]), str(body["text"])
        key = str(body.get("id") or new_message_key(fake.engine))
        reply_to = body.get("reply_to")
        echo(session, chat, key, text, None, reply_to)
        return _json(
            send_response(
                fake.engine,
                key=key,
                chat_id=chat,
                me_id=me_for(session)["id"],
                body=text,
                ts=now_ms() // 1000,
                kind="chat",
                reply_to=reply_to,
            ),
            201,
        )

    def media_sender(endpoint: str, kind: str) -> Handler:
        path = f"/api/{endpoint}"

        async def send_media() -> Response:
            body = await accept("POST", path)
            session, chat = str(body["session"]), str(body["chatId"])
            file = body["file"]
            key = new_message_key(fake.engine)
            mimetype = str(file.get("mimetype") or "application/octet-stream")
            if file.get("data") is not None:
                try:
                    data = base64.b64decode(str(file["data"]), validate=True)
                except ValueError:
                    raise _Reject(400, bad_request(["file.data must be base64 encoded"])) from None
                url = fake.store_file(session, f"true_{chat}_{key}", data, mimetype)
            else:
                url = str(file.get("url"))
            media = {
                "url": url,
                "mimetype": mimetype,
                "filename": file.get("filename"),
                "error": None,
            }
            caption = str(body.get("caption") or "")
            echo(session, chat, key, caption, media, body.get("reply_to"))
            return _json(
                send_response(
                    fake.engine,
                    key=key,
                    chat_id=chat,
                    me_id=me_for(session)["id"],
                    body=caption,
                    ts=now_ms() // 1000,
                    kind=kind,
                    reply_to=body.get("reply_to"),
                ),
                201,
            )

        send_media.__name__ = f"send_{kind}"
        return send_media

    for endpoint, kind in _MEDIA_SENDS.items():
        app.route(f"/api/{endpoint}", methods=["POST"], endpoint=endpoint)(
            media_sender(endpoint, kind)
        )

    @app.route("/api/reaction", methods=["PUT"])
    async def reaction() -> Response:
        await accept("PUT", "/api/reaction")
        return respond("PUT", "/api/reaction", 200, {})

    @app.route("/api/sendSeen", methods=["POST"])
    async def send_seen() -> Response:
        await accept("POST", "/api/sendSeen")
        return respond("POST", "/api/sendSeen", 201, {})

    @app.route("/api/startTyping", methods=["POST"])
    async def start_typing() -> Response:
        await accept("POST", "/api/startTyping")
        return _empty(201)

    @app.route("/api/stopTyping", methods=["POST"])
    async def stop_typing() -> Response:
        await accept("POST", "/api/stopTyping")
        return _empty(201)

    message_path = "/api/{session}/chats/{chatId}/messages/{messageId}"

    @app.route("/api/<name>/chats/<chat_id>/messages/<message_id>", methods=["PUT"])
    async def edit_message(name: str, chat_id: str, message_id: str) -> Response:
        body = await accept("PUT", message_path, session_in_path=name)
        stored = fake.message(message_id)
        if stored is not None:
            fake.remember({**stored, "body": body["text"]})
        return _json({}, 200)

    @app.route("/api/<name>/chats/<chat_id>/messages/<message_id>", methods=["DELETE"])
    async def delete_message(name: str, chat_id: str, message_id: str) -> Response:
        await working(name)
        fake.sent.append(Recorded("DELETE", request.path, None, trio.current_time()))
        fake.forget(message_id)
        return _empty(200)

    @app.route("/api/<name>/media/convert/<target>", methods=["POST"])
    async def convert(name: str, target: str) -> Response:
        if target not in ("voice", "video"):
            raise _Reject(404, not_found(f"Cannot POST /api/{name}/media/convert/{target}"))
        known(name)
        body = await body_of()
        validate("POST", f"/api/{{session}}/media/convert/{target}", body)
        if body.get("data"):
            try:
                data = base64.b64decode(str(body["data"]), validate=True)
            except ValueError:
                raise _Reject(400, bad_request(["data must be base64 encoded"])) from None
        elif body.get("url"):
            assert fake._client is not None
            fetched = await fake._client.get(str(body["url"]))
            data = fetched.content
        else:
            raise _Reject(400, bad_request(["url or data should not be empty"]))
        mimetype = "audio/ogg; codecs=opus" if target == "voice" else "video/mp4"
        if "application/json" in request.headers.get("Accept", ""):
            return _json({"mimetype": mimetype, "data": base64.b64encode(data).decode()}, 201)
        return Response(data, status=201, content_type=mimetype)

    # Files ---------------------------------------------------------------------------------

    @app.route("/api/files/<name>/<filename>", methods=["GET"])
    async def get_file(name: str, filename: str) -> Response:
        found = fake.get_file(name, filename)
        if found is None:
            raise _Reject(404, file_not_found())
        return Response(found.data, status=200, content_type=found.mimetype)

    # Contacts and groups -------------------------------------------------------------------

    @app.route("/api/contacts/all", methods=["GET"])
    async def contacts_all() -> Response:
        name = query_session()
        await working(name)
        return _json(fake.directory.contacts(name), 200)

    @app.route("/api/contacts", methods=["GET"])
    async def contact() -> Response:
        name = query_session()
        contact_id = request.args.get("contactId")
        if not contact_id:
            raise _Reject(400, bad_request(["contactId should not be empty"]))
        await working(name)
        return _json(fake.directory.contact(name, contact_id), 200)

    @app.route("/api/contacts/profile-picture", methods=["GET"])
    async def profile_picture() -> Response:
        name = query_session()
        contact_id = request.args.get("contactId")
        if not contact_id:
            raise _Reject(400, bad_request(["contactId should not be empty"]))
        await working(name)
        return _json({"profilePictureURL": fake.directory.profile_picture(name, contact_id)}, 200)

    @app.route("/api/<name>/groups", methods=["GET"])
    async def groups(name: str) -> Response:
        await working(name)
        return _json(fake.directory.groups_listing(name), 200)  # deviation engine-native-groups

    @app.route("/api/<name>/groups/<group_id>", methods=["GET"])
    async def group(name: str, group_id: str) -> Response:
        await working(name)
        found = fake.directory.group(name, group_id)
        if found is None:
            raise _Reject(404, not_found("Group not found"))
        return _json(found, 200)

    # Control API ---------------------------------------------------------------------------
    from whatsignal.testing._waha_control import register_control

    register_control(app, fake, control, control_routes)
    return app
