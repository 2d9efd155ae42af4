"""FakeWaha's message endpoints: sends (text, media, reaction, seen, typing), edits, deletes,
the chat history and pregenerated message ids.

Every accepted send is recorded in ``sent`` and echoed as a ``message.any`` event with
``source: api``, as WAHA does for messages sent through its API.

A pre-generated ``id`` (``GET /api/{session}/new-message-id``, then ``id`` in ``sendText``) is
honoured by the engines that support it, GOWS and NOWEB: the message and the answer carry it,
and a second send with an id the chat already shows is the same message, shown once, as
WhatsApp shows it (the call is still recorded in ``sent``). WEBJS and WPP ignore it and give
each send a fresh id.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from whatsignal.testing._common import Recorded
from whatsignal.testing._waha_edge import Edge, Reject, empty_response, json_response
from whatsignal.testing._waha_payloads import (
    ID_ENGINES,
    bad_request,
    new_message_key,
    now_ms,
    send_response,
    serialize_id,
)
from whatsignal.testing._waha_state import me_for

__all__ = ["add_message_routes"]

Handler = Callable[..., Awaitable[Any]]

# Media send endpoints -> WEBJS message type of the echoed message.
_MEDIA_SENDS = {
    "sendImage": "image",
    "sendFile": "document",
    "sendVoice": "ptt",
    "sendVideo": "video",
}


def add_message_routes(app: QuartTrio, edge: Edge) -> None:
    """Register the send, edit, delete and chat-message endpoints on ``app``."""
    fake = edge.fake

    @app.route("/api/<name>/chats/<chat_id>/messages", methods=["GET"])
    async def chat_messages(name: str, chat_id: str) -> Response:
        edge.known(name)
        args = request.args
        limit = args.get("limit")
        if limit is None:
            raise Reject(
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
        return json_response(page, 200)

    @app.route("/api/<name>/new-message-id", methods=["GET"])
    async def new_message_id(name: str) -> Response:
        edge.known(name)
        return edge.respond(
            "GET",
            "/api/{session}/new-message-id",
            200,
            {"id": new_message_key(fake.engine_of(name))},
        )

    @app.route("/api/sendText", methods=["POST"])
    async def send_text() -> Response:
        body = await edge.accept("POST", "/api/sendText")
        session, chat, text = str(body["session"]), str(body["chatId"]), str(body["text"])
        engine = fake.engine_of(session)
        given = body.get("id")
        key = str(given) if given and engine in ID_ENGINES else new_message_key(engine)
        reply_to = edge.reply_to(body)
        if fake.message(serialize_id(True, chat, key)) is None:
            edge.echo(session, chat, key, text, None, reply_to)
        return json_response(
            send_response(
                engine,
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
            body = await edge.accept("POST", path)
            session, chat = str(body["session"]), str(body["chatId"])
            file = body["file"]
            if not isinstance(file, dict):  # reached only with contract checks off
                raise Reject(400, bad_request(["file must be an object"]))
            engine = fake.engine_of(session)
            key = new_message_key(engine)
            mimetype = str(file.get("mimetype") or "application/octet-stream")
            if file.get("data") is not None:
                try:
                    data = base64.b64decode(str(file["data"]), validate=True)
                except ValueError:
                    raise Reject(400, bad_request(["file.data must be base64 encoded"])) from None
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
            reply_to = edge.reply_to(body)
            edge.echo(session, chat, key, caption, media, reply_to)
            return json_response(
                send_response(
                    engine,
                    key=key,
                    chat_id=chat,
                    me_id=me_for(session)["id"],
                    body=caption,
                    ts=now_ms() // 1000,
                    kind=kind,
                    reply_to=reply_to,
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
        await edge.accept("PUT", "/api/reaction")
        return edge.respond("PUT", "/api/reaction", 200, {})

    @app.route("/api/sendSeen", methods=["POST"])
    async def send_seen() -> Response:
        await edge.accept("POST", "/api/sendSeen")
        return edge.respond("POST", "/api/sendSeen", 201, {})

    @app.route("/api/startTyping", methods=["POST"])
    async def start_typing() -> Response:
        await edge.accept("POST", "/api/startTyping")
        return empty_response(201)

    @app.route("/api/stopTyping", methods=["POST"])
    async def stop_typing() -> Response:
        await edge.accept("POST", "/api/stopTyping")
        return empty_response(201)

    @app.route("/api/<name>/presence/<chat_id>/subscribe", methods=["POST"])
    async def subscribe_presence(name: str, chat_id: str) -> Response:
        await edge.working(name)
        fake.sent.append(Recorded("POST", request.path, None, trio.current_time()))
        fake.presence_subscriptions.add((name, chat_id))
        return empty_response(201)

    message_path = "/api/{session}/chats/{chatId}/messages/{messageId}"

    @app.route("/api/<name>/chats/<chat_id>/messages/<message_id>", methods=["PUT"])
    async def edit_message(name: str, chat_id: str, message_id: str) -> Response:
        body = await edge.accept("PUT", message_path, session_in_path=name)
        stored = fake.message(message_id)
        if stored is not None:
            fake.remember({**stored, "body": body["text"]})
        return json_response({}, 200)

    @app.route("/api/<name>/chats/<chat_id>/messages/<message_id>", methods=["DELETE"])
    async def delete_message(name: str, chat_id: str, message_id: str) -> Response:
        await edge.working(name)
        fake.sent.append(Recorded("DELETE", request.path, None, trio.current_time()))
        fake.forget(message_id)
        return empty_response(200)
