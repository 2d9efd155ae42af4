"""FakeWaha's webhook emitter: every event leaves the fake through :meth:`WahaEmitter.emit`.

An event is wrapped in WAHA's envelope, checked against the spec (when contracts are on),
recorded in ``events`` and handed to one delivery task per subscribed target
(:func:`~whatsignal.testing._waha_webhooks.deliver`), in the fake's nursery. Every attempt
lands in ``deliveries``. The emitter also owns the HTTP client those tasks share, for as long
as the fake runs, and the delivery rules (:mod:`._waha_disorder`) with which a test makes
deliveries arrive out of order, late or twice, as WAHA's concurrent sends and retries can.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import httpx
import trio

from whatsignal.testing._json import JsonError
from whatsignal.testing._waha_base import WahaBase
from whatsignal.testing._waha_disorder import (
    Delay,
    DeliveryRules,
    Duplicate,
    Hold,
    Plan,
    order_argument,
)
from whatsignal.testing._waha_payloads import environment, new_ulid, now_ms
from whatsignal.testing._waha_webhooks import Delivery, WebhookTarget, deliver, encode
from whatsignal.testing.contract import ContractViolation

__all__ = ["WahaEmitter"]


@attrs.define(eq=False, kw_only=True)
class WahaEmitter(WahaBase):
    """Envelopes, targets and deliveries of FakeWaha's webhooks."""

    delivery_rules: DeliveryRules = attrs.field(init=False, factory=DeliveryRules)
    """The rules that hold, delay or repeat deliveries (see :meth:`hold_deliveries`)."""

    async def run(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; reports the base URL. Webhook deliveries share one client."""
        async with httpx.AsyncClient(timeout=self.webhook_timeout) as client:
            self._client = client
            try:
                await super().run(task_status=task_status)
            finally:
                self._client = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The fake's own HTTP client (webhooks, media URLs to fetch); only while it runs."""
        assert self._client is not None, "the fake's HTTP client exists only while it runs"
        return self._client

    # Webhooks --------------------------------------------------------------------------------

    def targets(self, session: str) -> list[WebhookTarget]:
        """The global webhook plus the session's ``config.webhooks``."""
        out: list[WebhookTarget] = []
        if self.webhook_url:
            out.append(
                WebhookTarget(
                    url=self.webhook_url,
                    events=tuple(self.webhook_events),
                    hmac_key=self.webhook_hmac_key,
                    attempts=self.webhook_retry_attempts,
                    delay=self.webhook_retry_delay,
                )
            )
        found = self._sessions.get(session)
        for config in (found.config.get("webhooks") or []) if found else []:
            out.append(
                WebhookTarget.from_config(
                    config,
                    default_attempts=self.webhook_retry_attempts,
                    default_delay=self.webhook_retry_delay,
                )
            )
        return out

    def envelope(
        self, event: str, session: str, payload: Any, *, timestamp_ms: int | None = None
    ) -> dict[str, Any]:
        """WAHA's webhook envelope around ``payload`` (ms timestamp, ``evt_`` ULID id).

        ``timestamp_ms`` is when the event was created (default: now); a ``session.status``
        event carries the time of its status change, as WAHA stamps both in one go.
        """
        ms = now_ms() if timestamp_ms is None else timestamp_ms
        body: dict[str, Any] = {
            "id": f"evt_{new_ulid(ms)}",
            "timestamp": ms,
            "event": event,
            "session": session,
        }
        found = self._sessions.get(session)
        if found is not None and found.config.get("metadata"):
            body["metadata"] = found.config["metadata"]
        if found is not None and found.me is not None:
            body["me"] = found.me
        body["payload"] = payload
        body["engine"] = self.engine_of(session)
        body["environment"] = environment(self.engine)
        return body

    def emit(
        self, event: str, session: str, payload: Any, *, timestamp_ms: int | None = None
    ) -> dict[str, Any]:
        """Build, check and deliver one event to every target that subscribes to it.

        Each delivery is one task, started now; the delivery rules are asked about it right
        here, so they see the deliveries in the order the events happened.

        Raises:
            ContractViolation: when ``check_contracts`` and the envelope breaks the spec
                (nothing is delivered then).
            ValueError: the payload is not JSON (NaN, nesting deeper than the fakes take, a
                Python object); nothing is recorded or delivered then.
        """
        body = self.envelope(event, session, payload, timestamp_ms=timestamp_ms)
        try:
            raw = encode(body)
        except JsonError as exc:
            raise ValueError(f"the {event} event is not JSON: {exc}") from None
        checker = self.checker
        if checker is not None:
            try:
                checker.check_webhook(event, body)
            except ContractViolation as exc:
                raise self.violation(exc) from None
        self.events.append(body)
        for target in self.targets(session):
            if target.wants(event):
                plan = self.delivery_rules.plan(session, event)
                self.nursery.start_soon(self._deliver, target, body, raw, plan)
        return body

    async def _deliver(
        self, target: WebhookTarget, body: dict[str, Any], raw: bytes, plan: Plan | None
    ) -> None:
        assert self._client is not None, "deliveries run only while the fake runs"
        await deliver(
            self._client,
            target,
            event=body["event"],
            event_id=body["id"],
            session=body["session"],
            timestamp_ms=body["timestamp"],
            raw=raw,
            record=self._record_delivery,
            plan=plan,
        )

    def _record_delivery(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self._delivered.set()
        self._delivered = trio.Event()

    async def wait_for_deliveries(self, count: int) -> list[Delivery]:
        """Wait until ``count`` delivery attempts are recorded (wrap in ``trio.fail_after``)."""
        while len(self.deliveries) < count:
            await self._delivered.wait()
        return self.deliveries

    def inject_event(self, event: str, session: str, payload: Any) -> dict[str, Any]:
        """Deliver a raw event (the payload as given) in the full envelope; returns it."""
        return self.emit(event, session, payload)

    # Out-of-order and repeated deliveries ------------------------------------------------------

    def hold_deliveries(
        self,
        count: int,
        *,
        session: str | None = None,
        event: str | None = None,
        order: str | Sequence[int] = "reverse",
    ) -> Hold:
        """Hold the next ``count`` deliveries (of ``session``/``event``; None: any), then let
        them arrive one after the other in ``order``: ``"reverse"`` or the caught deliveries'
        indexes, e.g. ``(2, 0, 1)``.

        Reproduces several webhook requests in flight at once whose earlier ones are slower
        (WAHA sends every event independently). The hold releases itself when the last
        delivery is caught; :meth:`release_deliveries` lets the ones caught so far go.
        """
        hold = Hold(count=count, session=session, event=event, order=order_argument(order))
        self.delivery_rules.add(hold)
        return hold

    def delay_deliveries(
        self,
        seconds: float,
        *,
        session: str | None = None,
        event: str | None = None,
        count: int = 1,
    ) -> Delay:
        """The next ``count`` deliveries wait ``seconds`` before their first attempt, while
        later ones go at once (one slow request overtaken by the following events)."""
        delay = Delay(seconds=seconds, session=session, event=event, count=count)
        self.delivery_rules.add(delay)
        return delay

    def duplicate_deliveries(
        self, *, session: str | None = None, event: str | None = None, count: int = 1
    ) -> Duplicate:
        """The next ``count`` deliveries arrive twice with the same event id and request id:
        WAHA misses the receiver's 2xx answer (a lost response) and retries it after the
        webhook's retry delay. Needs a retry left (no second copy with ``attempts=0``)."""
        duplicate = Duplicate(session=session, event=event, count=count)
        self.delivery_rules.add(duplicate)
        return duplicate

    def release_deliveries(self) -> int:
        """Let every held delivery go now (each hold in its order); returns how many."""
        return self.delivery_rules.release()

    def clear_delivery_rules(self) -> int:
        """Remove every delivery rule, releasing held deliveries; returns how many went."""
        return self.delivery_rules.clear()

    def reset(self) -> None:
        """As :meth:`WahaBase.reset`, and drop the delivery rules (held deliveries go)."""
        super().reset()
        self.delivery_rules.clear()
