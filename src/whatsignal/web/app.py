"""The bridge's HTTP surface (quart-trio).

Handlers do no slow work: they verify, parse at the edge, make one bounded call into the intake
(which journals with group commit), and answer. The app never starts background tasks; the actor
tree owns all of those.

Status codes of ``POST /webhook/whatsapp`` (WAHA retries anything that is not 2xx):
    200  journaled, a redelivery, or deliberately ignored (unknown event, session without channel)
    400  malformed body (the reason is in the answer; the body is never logged)
    401  HMAC signature missing or wrong (when a secret is set), or timestamp outside the window
    413  body larger than ``server.webhookMaxBytes`` (refused before it is read whole)
    429  the client's address failed authentication too often (``Retry-After`` says how long)
    503  the journal write failed, or the backlog is over ``server.maxPendingBacklog``
         (with ``Retry-After``, see :mod:`whatsignal.web.admission`): WAHA will retry,
         nothing is lost

Every body is parsed with :func:`whatsignal.serde.parse_json` (bounded depth and numbers), and
every secret a request supplies is compared as bytes in constant time, so no input reaches a
500. Failed authentication is counted per client address (:mod:`whatsignal.web.auth_limit`);
an answer given before the body was read closes the connection (:mod:`whatsignal.web.early_reply`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import trio
from quart import Response, jsonify, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from whatsignal.errors import PayloadError
from whatsignal.serde import parse_json
from whatsignal.web.admin_sessions import SessionAdmin, add_session_routes
from whatsignal.web.auth_limit import AuthLimiter, parse_networks
from whatsignal.web.early_reply import EarlyReply
from whatsignal.web.signal_push import SignalPush
from whatsignal.web.whatsapp_hook import (
    PATH,
    Answer,
    FastWebhook,
    WhatsAppHook,
    same_secret,
    signature_ok,
)

if TYPE_CHECKING:
    from whatsignal.clock import Clock
    from whatsignal.intake import Outcome
    from whatsignal.models.waha import WahaEvent
    from whatsignal.web.admission import Admission

__all__ = [
    "AdminApi",
    "Readiness",
    "WebSettings",
    "WebhookIntake",
    "create_app",
    "same_secret",
    "signature_ok",
]

log = logging.getLogger("whatsignal.http")


@attrs.frozen
class Readiness:
    """Whether the bridge can take work (``ready``), and what each part says (``checks``:
    ``"ok"`` or why not; sessions that are not WORKING as a name -> status map)."""

    ready: bool
    checks: dict[str, Any]

    @property
    def state(self) -> str:
        """``ok``, ``degraded`` (ready, but something is away) or ``unavailable``."""
        if not self.ready:
            return "unavailable"
        return "ok" if all(v == "ok" for v in self.checks.values()) else "degraded"


class WebhookIntake(Protocol):
    """What the webhook handlers hand their events to (the intake)."""

    async def whatsapp(self, event: WahaEvent, raw: bytes) -> Outcome: ...

    async def signal(self, raw_items: Sequence[Any], *, via: str) -> list[Outcome]: ...

    async def already_journaled(self, event: WahaEvent, raw: bytes) -> bool: ...


class AdminApi(SessionAdmin, Protocol):
    """The operator's side of the bridge (:class:`whatsignal.admin.Admin`)."""

    async def readiness(self) -> Readiness: ...

    async def status(self) -> dict[str, Any]: ...

    async def dead_letters(self) -> list[dict[str, Any]]: ...

    async def retry_dead_letter(self, row_id: int) -> bool: ...

    async def solve_rate_limit(self, captcha: str, number: str | None) -> dict[str, Any]: ...

    async def metrics(self) -> tuple[bytes, str]: ...


@attrs.frozen(kw_only=True)
class WebSettings:
    """The edge settings the HTTP handlers enforce (``server.*``, secrets).

    Args:
        max_skew_sec: how far ``X-Webhook-Timestamp`` may be from ``clock`` (None: unchecked).
        admin_open: development mode without an admin token: the admin endpoints are open.
        rate_limit_per_minute: failed authentications an address may have in a minute.
        rate_limit_cleanup_sec: how often the limiter forgets addresses that have calmed down.
        trusted_proxies: CIDRs of reverse proxies whose ``X-Forwarded-For`` is believed.
        monotonic: the limiter's clock (trio's, which tests move).
    """

    version: str
    clock: Clock
    webhook_secret: str | None = None
    max_body_bytes: int = 5 * 1024 * 1024
    max_skew_sec: float | None = None
    signal_webhook_token: str | None = None
    admin_token: str | None = None
    admin_open: bool = False
    rate_limit_per_minute: int = 100
    rate_limit_cleanup_sec: float = 300.0
    trusted_proxies: tuple[str, ...] = ()
    monotonic: Callable[[], float] = trio.current_time


def _answer(answer: Answer) -> Response:
    response = jsonify(answer.body)
    response.status_code = answer.status
    response.headers.update(answer.headers)
    return response


def _error(status: int, reason: str, **extra: Any) -> Response:
    response = jsonify({"error": reason, **extra})
    response.status_code = status
    return response


def create_app(
    settings: WebSettings,
    intake: WebhookIntake,
    admin: AdminApi,
    admission: Admission | None = None,
) -> QuartTrio:
    """Build the quart-trio app serving the bridge's endpoints (``admission``: whether WAHA's
    webhooks are taken now; without it, always)."""
    app = QuartTrio("whatsignal")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    limiter = AuthLimiter(
        per_minute=settings.rate_limit_per_minute,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        cleanup_sec=settings.rate_limit_cleanup_sec,
        now=settings.monotonic,
    )
    hook = WhatsAppHook(settings=settings, intake=intake, limiter=limiter, admission=admission)
    push = SignalPush(token=settings.signal_webhook_token, intake=intake)
    # WAHA's webhooks and signal-cli's pushes skip quart (see whatsapp_hook); an answer given
    # before the body was read closes the connection (see early_reply).
    fast = FastWebhook(app.asgi_app, hook, push)
    app.asgi_app = EarlyReply(fast)  # type: ignore[method-assign]

    def peer_and_forwarded() -> tuple[str | None, list[str]]:
        # The connection's peer, straight from the ASGI scope (quart's remote_addr passes
        # through a Remote-Addr header, a name a client can send too).
        peer = (request.scope.get("client") or (None,))[0]
        return peer, request.headers.getlist("X-Forwarded-For")

    def unauthenticated(reason: str, *, warn: str | None = None, **headers: str) -> Response:
        """401 with ``reason``, or 429 once the address failed too often (the hook's rule)."""
        return _answer(
            hook.unauthenticated(reason, *peer_and_forwarded(), warn=warn, headers=headers)
        )

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        code = error.code or 500
        reasons = {
            413: f"body larger than {settings.max_body_bytes} bytes (server.webhookMaxBytes)"
        }
        return _error(code, reasons.get(code, error.name.lower()))

    @app.after_request
    async def security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/healthz")
    async def healthz() -> Any:
        """Liveness: the process serves HTTP. Never depends on upstreams."""
        return jsonify({"status": "alive", "version": settings.version})

    async def health() -> Response:
        """Readiness: 200 while the bridge can take work (its storage answers), with
        ``degraded`` and the reasons when WAHA, signal-cli or a session is away; 503 only
        when the bridge itself cannot journal."""
        result = await admin.readiness()
        body = jsonify({"status": result.state, "checks": result.checks})
        body.status_code = 200 if result.ready else 503
        return body

    app.add_url_rule("/health", "health", health, methods=["GET"])
    app.add_url_rule("/readyz", "readyz", health, methods=["GET"])

    @app.post(PATH)
    async def webhook_whatsapp() -> Response:
        """What the raw handler passes on: no signature, a body over the limit or chunked."""
        if settings.webhook_secret and not request.headers.get("X-Webhook-Hmac"):
            return unauthenticated(  # decided without reading the body
                "signature verification failed (X-Webhook-Hmac missing)",
                warn="webhook rejected: no HMAC signature",
            )
        raw = await request.get_data(cache=False, as_text=False)
        assert isinstance(raw, bytes)
        return _answer(await hook.handle(raw, request.headers.get, *peer_and_forwarded()))

    @app.post("/webhook/signal")
    async def webhook_signal() -> Response:
        token = request.args.get("token", "")
        if not settings.signal_webhook_token:
            return unauthenticated("the push path is disabled: set signal.webhookToken")
        if not push.admits(token):
            return unauthenticated("missing or wrong token")
        raw = await request.get_data(cache=False, as_text=False)
        assert isinstance(raw, bytes)
        return _answer(await push.handle(raw))

    def admin_denied() -> Response | None:
        if settings.admin_open and not settings.admin_token:
            return None
        supplied = request.headers.get("Authorization", "")
        scheme, _, token = supplied.partition(" ")
        if (
            settings.admin_token
            and scheme.lower() == "bearer"
            and same_secret(token.strip(), settings.admin_token)
        ):
            return None
        return unauthenticated(
            "admin token required (Authorization: Bearer ...)",
            **{"WWW-Authenticate": 'Bearer realm="whatsignal"'},
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        if (denied := admin_denied()) is not None:
            return denied
        body, content_type = await admin.metrics()
        return Response(body, content_type=content_type)

    @app.get("/session/status")
    async def session_status() -> Response:
        if (denied := admin_denied()) is not None:
            return denied
        return jsonify(await admin.status())

    @app.get("/admin/dead-letters")
    async def dead_letters() -> Response:
        if (denied := admin_denied()) is not None:
            return denied
        return jsonify({"dead_letters": await admin.dead_letters()})

    @app.post("/admin/dead-letters/<int:row_id>/retry")
    async def retry_dead_letter(row_id: int) -> Response:
        if (denied := admin_denied()) is not None:
            return denied
        if not await admin.retry_dead_letter(row_id):
            return _error(404, f"no dead letter with id {row_id}")
        return jsonify({"status": "requeued", "id": row_id})

    add_session_routes(app, admin, admin_denied)

    @app.post("/admin/signal/rate-limit-challenge")
    async def rate_limit_challenge() -> Response:
        """Lift a signal-cli rate limit with a solved captcha: ``{"captcha":
        "signalcaptcha://...", "number": "+49..." (optional: every paused number)}``."""
        if (denied := admin_denied()) is not None:
            return denied
        raw = await request.get_data(cache=False, as_text=False)
        assert isinstance(raw, bytes)
        try:
            body = parse_json(raw, "rate-limit challenge body")
        except PayloadError as error:
            return _error(400, str(error))
        if not isinstance(body, dict):
            return _error(400, "expected a JSON object with 'captcha'")
        captcha, number = body.get("captcha"), body.get("number")
        if not isinstance(captcha, str) or not captcha.startswith("signalcaptcha://"):
            return _error(
                400,
                "'captcha' must be the solved captcha, starting with signalcaptcha:// "
                "(get one at https://signalcaptchas.org/challenge/generate.html)",
            )
        if number is not None and not isinstance(number, str):
            return _error(400, "'number' must be a string")
        result = await admin.solve_rate_limit(captcha, number)
        if not result["solved"] and not result["failed"]:
            return _error(404, "no rate-limit challenge is pending")
        response = jsonify(result)
        response.status_code = 200 if result["solved"] else 502
        return response

    return app
