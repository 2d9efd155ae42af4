"""``POST /webhook/whatsapp``, the bridge's hottest route, as a raw ASGI handler ahead of quart.

Every WhatsApp message arrives here, so the route skips quart's request and response objects,
its routing and its hooks (a profile under load put them at about a sixth of the event loop's
time): :class:`FastWebhook` reads the body straight from the ASGI ``receive`` and answers with
two ``send`` calls. What it decides, and in which order, is :class:`WhatsAppHook`, which the
quart route uses too, so the two paths cannot drift apart:

    HMAC (``X-Webhook-Hmac``, constant time; failures counted per address: 401, then 429)
    -> admission (503 with ``Retry-After`` over ``server.maxPendingBacklog``)
    -> bounded parse (400 with the reason) -> replay horizon (``X-Webhook-Timestamp``, 401)
    -> one journal write (503 when it fails) -> 200.

The fast path takes only requests it can answer after reading the whole body within
``server.webhookMaxBytes``: a ``Content-Length`` at most that, and the signature header when a
secret is set. Everything else (no signature, a declared size over the limit, a chunked body)
goes to the quart route, which answers those before the body is read
(:mod:`whatsignal.web.early_reply` closes such connections cleanly).

``POST /webhook/signal`` (signal-cli's push path, :mod:`whatsignal.web.signal_push`) takes the
same fast path when its ``?token=`` is right; a wrong or missing token goes to the quart route,
which counts the failure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

import attrs

from whatsignal.errors import PayloadError, StorageError
from whatsignal.serde import parse_waha_event

if TYPE_CHECKING:
    from hypercorn.typing import (
        ASGIFramework,
        ASGIReceiveCallable,
        ASGISendCallable,
        HTTPScope,
        Scope,
    )

    from whatsignal.clock import Clock
    from whatsignal.intake import Outcome
    from whatsignal.models.waha import WahaEvent
    from whatsignal.web.admission import Admission
    from whatsignal.web.auth_limit import AuthLimiter

__all__ = [
    "PATH",
    "PUSH_PATH",
    "Answer",
    "FastWebhook",
    "WhatsAppHook",
    "same_secret",
    "signature_ok",
]

log = logging.getLogger("whatsignal.http")

PATH = "/webhook/whatsapp"
PUSH_PATH = "/webhook/signal"

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
)
"""What every answer of the bridge carries (quart's ``after_request`` adds the same)."""


def same_secret(supplied: str, expected: str) -> bool:
    """Whether a request supplied ``expected``, compared as bytes in constant time.

    Headers may carry any byte (they arrive as latin-1) and a query any character, while
    ``hmac.compare_digest`` refuses a ``str`` that is not ASCII with a TypeError: comparing the
    UTF-8 bytes makes such a value simply wrong. ``surrogatepass`` keeps the encoding total.
    """
    return hmac.compare_digest(
        supplied.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """WAHA's ``X-Webhook-Hmac``: hex HMAC-SHA512 of the raw body, compared in constant time."""
    if not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
    return same_secret(header.strip().lower(), expected)


class HookSettings(Protocol):
    """The edge settings the route reads (:class:`whatsignal.web.app.WebSettings`)."""

    @property
    def webhook_secret(self) -> str | None: ...

    @property
    def max_body_bytes(self) -> int: ...

    @property
    def max_skew_sec(self) -> float | None: ...

    @property
    def clock(self) -> Clock: ...


class HookIntake(Protocol):
    """Where the route's events go (the intake)."""

    async def whatsapp(self, event: WahaEvent, raw: bytes) -> Outcome: ...

    async def already_journaled(self, event: WahaEvent, raw: bytes) -> bool: ...


class PushRoute(Protocol):
    """What the fast path asks of the push route (:class:`~whatsignal.web.signal_push.SignalPush`)
    without importing it."""

    def admits(self, supplied: str) -> bool: ...

    async def handle(self, raw: bytes) -> Answer: ...


@attrs.frozen
class Answer:
    """An answer: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = attrs.Factory(dict)


def error(
    status: int, reason: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> Answer:
    """An error answer ``{"error": reason, ...}``."""
    return Answer(status, {"error": reason, **extra}, headers or {})


@attrs.define(eq=False, kw_only=True)
class WhatsAppHook:
    """What ``POST /webhook/whatsapp`` decides (see the module docstring); no I/O of its own
    beyond the intake's journal call."""

    settings: HookSettings
    intake: HookIntake
    limiter: AuthLimiter
    admission: Admission | None = None

    def unauthenticated(
        self,
        reason: str,
        peer: str | None,
        forwarded: Iterable[str],
        *,
        warn: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """401 with ``reason`` (and ``warn`` logged); 429 once the client's address is over
        ``server.rateLimitPerMinute`` (logged once by the limiter, so a flood stays quiet)."""
        wait = self.limiter.failed(self.limiter.client(peer, forwarded))
        if wait is not None:
            return error(
                429,
                f"too many failed authentications from this address; retry in {wait} s",
                headers={"Retry-After": str(wait)},
                retry_after=wait,
            )
        if warn is not None:
            log.warning("%s", warn)
        return error(401, reason, headers=headers)

    async def handle(
        self,
        raw: bytes,
        header: Callable[[str], str | None],
        peer: str | None,
        forwarded: Iterable[str],
    ) -> Answer:
        """Answer one webhook whose body ``raw`` was read whole (``header``: a request
        header by name, case-insensitive)."""
        secret = self.settings.webhook_secret
        if secret and not signature_ok(secret, raw, header("X-Webhook-Hmac")):
            return self.unauthenticated(
                "signature verification failed (X-Webhook-Hmac)",
                peer,
                forwarded,
                warn="webhook rejected: HMAC signature wrong",
            )
        if self.admission is not None and (wait := self.admission.refuse()) is not None:
            return error(
                503,
                "backlog over server.maxPendingBacklog; retry later",
                headers={"Retry-After": str(wait)},
                retry_after=wait,
            )
        try:
            event = parse_waha_event(raw)
            # A late retry of an event already journaled is a harmless duplicate: never refused.
            if (
                self.settings.max_skew_sec is not None
                and not self._fresh(header("X-Webhook-Timestamp"))
                and not await self.intake.already_journaled(event, raw)
            ):
                log.warning("webhook rejected: X-Webhook-Timestamp outside the window")
                return error(401, "X-Webhook-Timestamp missing or outside the allowed skew")
            outcome = await self.intake.whatsapp(event, raw)
        except PayloadError as problem:
            log.info("webhook rejected as malformed: %s", problem)
            return error(400, str(problem))
        except StorageError as problem:
            log.error("journal write failed; answering 503 so WAHA retries: %s", problem)
            return error(503, "journal unavailable; retry later")
        return Answer(200, {"status": outcome.value})

    def _fresh(self, raw: str | None) -> bool:
        try:
            stamp_ms = int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        assert self.settings.max_skew_sec is not None
        return abs(self.settings.clock() - stamp_ms / 1000.0) <= self.settings.max_skew_sec


@attrs.define(eq=False)
class FastWebhook:
    """ASGI: ``POST /webhook/whatsapp`` (and, with ``push``, ``POST /webhook/signal``)
    handled raw (see the module docstring), everything else passed to ``app``."""

    app: ASGIFramework
    hook: WhatsAppHook
    push: PushRoute | None = None

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
        elif scope["path"] == PATH:
            await self._whatsapp(scope, receive, send)
        elif scope["path"] == PUSH_PATH and self.push is not None:
            await self._push(self.push, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _push(
        self,
        push: PushRoute,
        scope: HTTPScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
    ) -> None:
        query = parse_qs(scope["query_string"].decode("latin-1"))
        length = _header(scope, b"content-length")
        if (
            not push.admits(query.get("token", [""])[0])
            or not length.isdigit()
            or int(length) > self.hook.settings.max_body_bytes
            or _header(scope, b"transfer-encoding")
        ):
            await self.app(scope, receive, send)  # answered (or refused) by the quart route
            return
        raw = await _body(receive, self.hook.settings.max_body_bytes)
        if raw is not None:
            await _reply(send, await push.handle(raw))

    async def _whatsapp(
        self, scope: HTTPScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        headers: dict[str, str] = {}
        forwarded: list[str] = []
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            if key == "x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
            else:
                headers[key] = value.decode("latin-1")
        length = headers.get("content-length", "")
        limit = self.hook.settings.max_body_bytes
        if (
            not length.isdigit()
            or int(length) > limit
            or "transfer-encoding" in headers
            or (self.hook.settings.webhook_secret and not headers.get("x-webhook-hmac"))
        ):
            await self.app(scope, receive, send)  # answered before the body is read
            return
        raw = await _body(receive, limit)
        if raw is None:
            return
        client = scope.get("client")
        answer = await self.hook.handle(
            raw, lambda name: headers.get(name.lower()), client[0] if client else None, forwarded
        )
        await _reply(send, answer)


def _header(scope: HTTPScope, name: bytes) -> str:
    """A request header's value (the first of that name), or ``""``."""
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


async def _body(receive: ASGIReceiveCallable, limit: int) -> bytes | None:
    """The request's whole body, or None if the client went away."""
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        assert isinstance(chunk, bytes)
        size += len(chunk)
        if size > limit:  # pragma: no cover - h11 refuses a body longer than declared
            return None
        chunks.append(chunk)
        more = bool(message.get("more_body", False))
    return b"".join(chunks)


async def _reply(send: ASGISendCallable, answer: Answer) -> None:
    """Send ``answer`` as JSON with the bridge's security headers."""
    body = json.dumps(answer.body, separators=(",", ":")).encode()
    out = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()),
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": out})
    await send({"type": "http.response.body", "body": body, "more_body": False})
