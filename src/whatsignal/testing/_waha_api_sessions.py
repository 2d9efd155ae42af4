"""FakeWaha's session endpoints: list, create, read, update, delete, start/stop/restart/logout
and ``me``, answering with WAHA's ``SessionInfo``/``SessionDTO`` shapes."""

from __future__ import annotations

from quart import Response, request
from quart_trio import QuartTrio

from whatsignal.testing._waha_edge import Edge, Reject, empty_response
from whatsignal.testing._waha_payloads import (
    bad_request,
    new_message_key,
    not_found,
    unprocessable,
)
from whatsignal.testing._waha_webhooks import config_problems

__all__ = ["add_session_routes"]


def add_session_routes(app: QuartTrio, edge: Edge) -> None:
    """Register ``/api/sessions...`` on ``app``."""
    fake = edge.fake

    @app.route("/api/sessions", methods=["GET"], strict_slashes=False)
    async def list_sessions() -> Response:
        everything = request.args.get("all", "false").lower() in ("true", "1")
        infos = [
            fake.session(name).info(fake.engine_of(name))
            for name in fake.session_names()
            if everything or fake.session(name).status != "STOPPED"
        ]
        return edge.respond("GET", "/api/sessions", 200, infos)

    @app.route("/api/sessions", methods=["POST"], strict_slashes=False)
    async def create_session() -> Response:
        body = await edge.body()
        edge.validate("POST", "/api/sessions", body)
        _check_config(body)
        name = body.get("name") or f"session_{new_message_key('WEBJS')[:16].lower()}"
        if not isinstance(name, str):
            raise Reject(400, bad_request(["name must be a string"]))
        start = body.get("start", True)
        if not isinstance(start, bool):
            raise Reject(400, bad_request(["start must be a boolean value"]))
        try:
            session = fake.create_session(name, config=body.get("config") or {}, start=start)
        except ValueError as exc:
            raise Reject(422, unprocessable(str(exc))) from None
        return edge.respond("POST", "/api/sessions", 201, session.dto())

    @app.route("/api/sessions/<name>", methods=["GET"])
    async def get_session(name: str) -> Response:
        edge.known(name)
        return edge.respond(
            "GET", "/api/sessions/{session}", 200, fake.session(name).info(fake.engine_of(name))
        )

    @app.route("/api/sessions/<name>", methods=["PUT"])
    async def update_session(name: str) -> Response:
        edge.known(name)
        body = await edge.body()
        edge.validate("PUT", "/api/sessions/{session}", body)
        _check_config(body)
        session = fake.update_session(name, body.get("config") or {})
        return edge.respond("PUT", "/api/sessions/{session}", 200, session.dto())

    @app.route("/api/sessions/<name>", methods=["DELETE"])
    async def delete_session(name: str) -> Response:
        fake.delete_session(name)
        return empty_response(200)

    @app.route("/api/sessions/<name>/<action>", methods=["POST"])
    async def session_action(name: str, action: str) -> Response:
        actions = {
            "start": fake.start_session,
            "stop": fake.stop_session,
            "restart": fake.restart_session,
            "logout": fake.logout_session,
        }
        if action not in actions:
            raise Reject(404, not_found(f"Cannot POST /api/sessions/{name}/{action}"))
        edge.known(name)
        session = actions[action](name)
        return edge.respond("POST", f"/api/sessions/{{session}}/{action}", 201, session.dto())

    @app.route("/api/sessions/<name>/me", methods=["GET"])
    async def session_me(name: str) -> Response:
        edge.known(name)
        me = fake.session(name).me
        return (
            edge.respond("GET", "/api/sessions/{session}/me", 200, me)
            if me
            else empty_response(200)
        )


def _check_config(body: dict[str, object]) -> None:
    """400 for a config the fake could not deliver events with (ValidationPipe's answer)."""
    problems = config_problems(body.get("config"))
    if problems:
        raise Reject(400, bad_request(problems))
