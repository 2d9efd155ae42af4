"""FakeWaha's HTTP app: WAHA's API under ``/api`` and the control API under ``/_sim``.

Handlers are thin: parse and validate at the edge (NestJS-style 400s from the spec), find the
session (404, or 422 when it is not WORKING after ``not_working_wait``), record the call, and
ask the :class:`~whatsignal.testing._waha_model.WahaModel` for state and payloads. This module
builds the app, authenticates and answers refusals; the endpoints live in one module per
concern (``_waha_api_sessions``, ``_waha_api_messages``, ``_waha_api_media``,
``_waha_api_directory``, ``_waha_control``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from quart import Response, request
from quart_trio import QuartTrio

from whatsignal.testing._waha_api_auth import add_auth_routes, register_pairing_control
from whatsignal.testing._waha_api_directory import add_directory_routes
from whatsignal.testing._waha_api_media import add_media_routes
from whatsignal.testing._waha_api_messages import add_message_routes
from whatsignal.testing._waha_api_sessions import add_session_routes
from whatsignal.testing._waha_control import BadInput, register_control
from whatsignal.testing._waha_edge import Edge, Reject, empty_response, json_response
from whatsignal.testing._waha_model import WahaModel
from whatsignal.testing._waha_payloads import environment, unauthorized
from whatsignal.testing._waha_polls import add_poll_routes, register_poll_control
from whatsignal.testing.contract import ContractViolation

__all__ = ["build_app"]

Handler = Callable[..., Awaitable[Any]]


def build_app(fake: WahaModel) -> QuartTrio:
    """The quart-trio app serving ``fake``."""
    """The quart-trio app serving ``fake``."""
    app = QuartTrio("whatsignal.testing.waha")
    # WAHA accepts JSON bodies up to 50 MB (base64 media); quart's default is 16 MB.
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep WAHA's field order
    control_routes: list[dict[str, str]] = []

    def control(path: str, method: str, description: str) -> Callable[[Handler], Handler]:
        control_routes.append({"method": method, "path": path, "description": description})
        return app.route(path, methods=[method], endpoint=f"sim {method} {path}")

    @app.errorhandler(Reject)
    async def _rejected(exc: Reject) -> Response:
        body = exc.body
        return json_response(body, exc.status) if body is not None else empty_response(exc.status)

    @app.errorhandler(413)
    async def _too_large(_: Exception) -> Response:
        # Express's body parser past its limit, as Nest answers it; the same on /_sim.
        if request.path.startswith("/_sim"):
            return json_response({"error": "the body is over the fake's size limit"}, 413)
        return json_response({"message": "request entity too large", "statusCode": 413}, 413)

    @app.errorhandler(ContractViolation)
    async def _violated(exc: ContractViolation) -> Response:
        if str(exc) not in fake.violations:
            fake.violations.append(str(exc))
        return json_response(
            {"statusCode": 500, "message": f"simulator contract violation: {exc}"}, 500
        )

    @app.before_request
    async def _authenticate() -> Response | None:
        if fake.api_key is None or not request.path.startswith("/api/"):
            return None
        # The header wins over the query parameter when both are present (WAHA's strategy).
        given = request.headers.get("X-Api-Key")
        if given is None:
            given = request.args.get("x-api-key")
        if given != fake.api_key:
            return json_response(unauthorized(), 401)
        return None

    edge = Edge(fake)

    # Server ----------------------------------------------------------------------------------

    @app.route("/ping", methods=["GET"])
    async def ping() -> Response:
        return edge.respond("GET", "/ping", 200, {"message": "pong"})

    @app.route("/health", methods=["GET"])
    async def health() -> Response:
        return json_response({"status": "ok", "info": {}, "error": {}, "details": {}}, 200)

    @app.route("/api/server/version", methods=["GET"])
    @app.route("/api/version", methods=["GET"])
    async def version() -> Response:
        return edge.respond("GET", "/api/server/version", 200, environment(fake.engine))

    add_session_routes(app, edge)
    add_message_routes(app, edge)
    add_poll_routes(app, edge)
    add_media_routes(app, edge)
    add_directory_routes(app, edge)
    add_auth_routes(app, edge)
    register_control(app, fake, control, control_routes)
    register_pairing_control(fake, control, BadInput)
    register_poll_control(fake, control, BadInput)
    return app
