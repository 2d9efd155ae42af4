"""Webhook delivery as WAHA's WebhookSender does it: signed, retried, unordered.

Each (event, target) pair is delivered by its own task, so deliveries are independent and may
arrive in any order, as upstream (WebhookConductor posts every event with ``setImmediate``).
Every attempt is recorded as a :class:`Delivery` so tests can see retries happen. A
:class:`~._waha_disorder.Plan` can hold, delay or repeat one delivery on a test's request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
import trio

from whatsignal.testing._common import finite, header_problem, http_url
from whatsignal.testing._json import dumps, utf8
from whatsignal.testing._waha_disorder import Plan
from whatsignal.testing._waha_payloads import VERSION, new_ulid

__all__ = [
    "DEFAULT_EVENTS",
    "Delivery",
    "WebhookTarget",
    "config_problems",
    "deliver",
    "encode",
    "retry_delay",
    "sign",
]

DEFAULT_EVENTS: tuple[str, ...] = (
    "message",
    "session.status",
    "message.reaction",
    "message.ack",
    "message.edited",
    "message.revoked",
    "presence.update",
    "group.v2.update",
    "poll.vote",
    "poll.vote.failed",
)
"""The events a bridge needs (api-contracts.md §1.8); ``message.any`` is left out on purpose."""

log = logging.getLogger("whatsignal.testing.waha")

ALL_EVENTS_EXCEPT = frozenset({"engine.event"})
"""What ``*`` does not subscribe to (docs how-to/events §Websockets parameters)."""


@attrs.frozen
class WebhookTarget:
    """One webhook URL with its events, HMAC key and retry settings.

    ``attempts`` is the number of *retries* after the first try, as axios-retry's ``retries``
    that WAHA passes it to; ``policy`` is ``constant``, ``linear`` or ``exponential``.
    """

    url: str
    events: tuple[str, ...]
    hmac_key: str | None = None
    attempts: int = 15
    delay: float = 2.0
    policy: str = "constant"
    headers: tuple[tuple[str, str], ...] = ()

    def wants(self, event: str) -> bool:
        if event in self.events:
            return True
        return "*" in self.events and event not in ALL_EVENTS_EXCEPT

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, default_attempts: int, default_delay: float
    ) -> WebhookTarget:
        """From a session's ``config.webhooks[]`` item (checked by :func:`config_problems`)."""
        retries = config.get("retries") or {}
        hmac_cfg = config.get("hmac") or {}
        attempts = retries.get("attempts")
        delay = retries.get("delaySeconds")
        return cls(
            url=str(config["url"]),
            events=tuple(str(e) for e in config.get("events") or ()),
            hmac_key=hmac_cfg.get("key") or None,
            attempts=default_attempts if attempts is None else int(attempts),
            delay=default_delay if delay is None else float(delay),
            policy=str(retries.get("policy") or "constant"),
            headers=tuple(
                (str(h["name"]), str(h["value"])) for h in config.get("customHeaders") or ()
            ),
        )


_POLICIES = ("constant", "linear", "exponential")


def _webhook_problems(hook: Any, where: str) -> list[str]:
    if not isinstance(hook, dict):
        return [f"{where} must be an object"]
    out: list[str] = []
    if http_url(hook.get("url")) is None:
        out.append(f"{where}.url must be a URL address")
    events = hook.get("events")
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        out.append(f"{where}.events must be an array of event names")
    hmac_cfg = hook.get("hmac")
    if hmac_cfg is not None and (
        not isinstance(hmac_cfg, dict) or not isinstance(hmac_cfg.get("key", ""), str | None)
    ):
        out.append(f"{where}.hmac must be {{key: string}}")
    retries = hook.get("retries")
    if retries is not None:
        if not isinstance(retries, dict):
            return [*out, f"{where}.retries must be an object"]
        for key in ("attempts", "delaySeconds"):
            value = retries.get(key)
            if value is not None and (not finite(value) or value < 0):
                out.append(f"{where}.retries.{key} must be a non-negative number")
        if retries.get("policy") not in (None, *_POLICIES):
            out.append(
                f"{where}.retries.policy must be one of the following values: linear, "
                "exponential, constant"
            )
    headers = hook.get("customHeaders")
    if headers is not None:
        if not isinstance(headers, list):
            return [*out, f"{where}.customHeaders must be an array"]
        for i, header in enumerate(headers):
            problem = (
                header_problem(header.get("name"), header.get("value"))
                if isinstance(header, dict)
                else "must be {name, value}"
            )
            if problem is not None:
                out.append(f"{where}.customHeaders.{i} {problem}")
    return out


def config_problems(config: Any) -> list[str]:
    """Why a session ``config`` cannot be used (empty: it can), in class-validator's words.

    Checked whenever a config is set, so that nothing a test or a client configured can make
    a later event fail to go out: the webhooks must be deliverable, ``metadata`` an object.
    """
    if config is None:
        return []
    if not isinstance(config, dict):
        return ["config must be an object"]
    out: list[str] = []
    metadata = config.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        out.append("config.metadata must be an object")
    hooks = config.get("webhooks")
    if hooks is not None:
        if not isinstance(hooks, list):
            return [*out, "config.webhooks must be an array"]
        for i, hook in enumerate(hooks):
            out += _webhook_problems(hook, f"config.webhooks.{i}")
    return out


@attrs.frozen
class Delivery:
    """One delivery attempt: ``status`` is the HTTP status, or None with ``error`` set.

    ``lost`` marks a 2xx answer that WAHA was made not to see (a
    :class:`~._waha_disorder.Duplicate` rule): the receiver got the event, WAHA retries it.
    """

    event_id: str
    event: str
    session: str
    url: str
    request_id: str
    attempt: int
    status: int | None
    error: str | None
    at: float
    lost: bool = False

    @property
    def ok(self) -> bool:
        """Whether WAHA took this attempt as delivered (a 2xx answer that was not lost)."""
        return self.status is not None and 200 <= self.status < 300 and not self.lost

    def to_json(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "event": self.event,
            "session": self.session,
            "url": self.url,
            "requestId": self.request_id,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "at": self.at,
            "lost": self.lost,
        }


def encode(body: Any) -> bytes:
    """Serialize like ``JSON.stringify``: compact, UTF-8, key order kept, lone surrogates
    escaped (``\\ud83d``); :class:`~whatsignal.testing._json.JsonError` for what is not JSON."""
    return dumps(body).encode()


def sign(raw: bytes, key: str) -> str:
    """``X-Webhook-Hmac``: lower-case hex HMAC-SHA512 of the raw body (a key's lone
    surrogates count as U+FFFD, as Node's crypto reads a string key)."""
    return hmac.new(utf8(key), raw, hashlib.sha512).hexdigest()


def retry_delay(policy: str, delay: float, retry: int, retry_after: float | None) -> float:
    """Seconds to wait before retry number ``retry`` (1-based), per WAHA's retry policies."""
    if retry_after is not None:
        return retry_after
    if policy == "linear":
        return delay * retry
    if policy == "exponential":
        base: float = 2.0 ** min(retry, 64) * delay
        return base + base * random.uniform(0, 0.2)
    return delay


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def deliver(
    client: httpx.AsyncClient,
    target: WebhookTarget,
    *,
    event: str,
    event_id: str,
    session: str,
    timestamp_ms: int,
    raw: bytes,
    record: Callable[[Delivery], None],
    plan: Plan | None = None,
) -> bool:
    """POST ``raw`` to ``target`` until a 2xx or until the retries run out.

    The body, the event id and ``X-Webhook-Request-Id`` stay the same across retries. Any
    non-2xx status and any transport error is retried (WAHA's ``retryCondition: () => true``).
    A ``plan`` (see :mod:`._waha_disorder`) may hold or delay the first attempt, and may make
    WAHA miss 2xx answers, which are then retried like failures.

    Returns:
        Whether the event was delivered. After the last failed attempt the event is dropped,
        as upstream (retries live in memory only).
    """
    request_id = new_ulid()
    headers: list[tuple[str, str]] = [
        ("Content-Type", "application/json"),
        ("User-Agent", f"WAHA/{VERSION}"),
        ("X-Webhook-Request-Id", request_id),
        ("X-Webhook-Timestamp", str(timestamp_ms)),
    ]
    if target.hmac_key:
        headers.append(("X-Webhook-Hmac", sign(raw, target.hmac_key)))
        headers.append(("X-Webhook-Hmac-Algorithm", "sha512"))
    headers.extend(target.headers)
    lose = 0
    if plan is not None:
        await plan.before_first_attempt()
        lose = plan.lose_answers
    for attempt in range(1, target.attempts + 2):
        retry_after: float | None = None
        try:
            response = await client.post(target.url, content=raw, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            record(
                Delivery(
                    event_id,
                    event,
                    session,
                    target.url,
                    request_id,
                    attempt,
                    None,
                    f"{type(exc).__name__}: {exc}",
                    trio.current_time(),
                )
            )
        else:
            lost = lose > 0 and 200 <= response.status_code < 300
            lose -= lost
            delivery = Delivery(
                event_id,
                event,
                session,
                target.url,
                request_id,
                attempt,
                response.status_code,
                None,
                trio.current_time(),
                lost,
            )
            record(delivery)
            if delivery.ok:
                return True
            if not lost:
                retry_after = _retry_after(response)
        finally:
            if attempt == 1 and plan is not None:
                plan.after_first_attempt()
        if attempt <= target.attempts:
            await trio.sleep(retry_delay(target.policy, target.delay, attempt, retry_after))
    log.warning("webhook %s for %s dropped after %d attempts", event, session, attempt)
    return False
