"""Prometheus metrics of one bridge (a registry per Bridge, never the global one).

Label values are bounded: event names come from a fixed list, sessions from the configuration,
results and reasons from the code. Nothing user-controlled becomes a label.
"""

from __future__ import annotations

import contextlib

import attrs
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


def _counter(registry: CollectorRegistry, name: str, doc: str, labels: tuple[str, ...]) -> Counter:
    return Counter(name, doc, labels, registry=registry)


@attrs.define(eq=False)
class Metrics:
    registry: CollectorRegistry = attrs.field(factory=lambda: CollectorRegistry(auto_describe=True))
    webhooks: Counter = attrs.field(init=False)
    forwarded: Counter = attrs.field(init=False)
    failures: Counter = attrs.field(init=False)
    dead: Counter = attrs.field(init=False)
    strangers: Counter = attrs.field(init=False)
    restarts: Counter = attrs.field(init=False)
    rate_limited: Counter = attrs.field(init=False)
    receiver_connects: Counter = attrs.field(init=False)
    discovery: Counter = attrs.field(init=False)
    handled: Counter = attrs.field(init=False)
    pending: Gauge = attrs.field(init=False)
    oldest_pending: Gauge = attrs.field(init=False)
    sessions: Gauge = attrs.field(init=False)
    workers: Gauge = attrs.field(init=False)
    receivers: Gauge = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        r = self.registry
        self.webhooks = _counter(
            r,
            "whatsignal_webhook_events_total",
            "Inbound events by source, event (WAHA's documented names, else other) and result",
            ("source", "event", "result"),
        )
        self.forwarded = _counter(
            r, "whatsignal_forwarded_total", "Events bridged successfully", ("direction", "kind")
        )
        self.failures = _counter(
            r,
            "whatsignal_delivery_failures_total",
            "Failed delivery attempts",
            ("direction", "failure"),
        )
        self.dead = _counter(
            r, "whatsignal_dead_letters_total", "Events given up on (dead letters)", ("direction",)
        )
        self.strangers = _counter(
            r,
            "whatsignal_signal_strangers_total",
            "Signal messages from senders that are no channel's destination (not forwarded)",
            (),
        )
        self.restarts = _counter(
            r,
            "whatsignal_actor_restarts_total",
            "Supervised actors restarted after a crash",
            ("actor",),
        )
        self.rate_limited = _counter(
            r,
            "whatsignal_signal_rate_limited_total",
            "signal-cli rate-limit answers (429)",
            ("number",),
        )
        self.receiver_connects = _counter(
            r,
            "whatsignal_signal_receiver_connects_total",
            "Signal receive connections by result",
            ("mode", "result"),
        )
        self.discovery = _counter(
            r,
            "whatsignal_session_listings_total",
            "Listings of WAHA's sessions by result (listing: every attempt; failed: those that "
            "failed)",
            ("result",),
        )
        self.handled = _counter(
            r,
            "whatsignal_rows_total",
            "Journal rows handled by the pollers, by direction and outcome (delivered, "
            "retried, dead)",
            ("direction", "outcome"),
        )
        self.pending = Gauge(
            "whatsignal_journal_pending", "Pending journal rows per queue", ("queue",), registry=r
        )
        self.oldest_pending = Gauge(
            "whatsignal_journal_oldest_pending_seconds",
            "Age of the oldest pending journal row per queue",
            ("queue",),
            registry=r,
        )
        self.sessions = Gauge(
            "whatsignal_sessions",
            "WAHA sessions the bridge knows, by status",
            ("status",),
            registry=r,
        )
        self.workers = Gauge(
            "whatsignal_workers", "Session pollers by state", ("state",), registry=r
        )
        self.receivers = Gauge(
            "whatsignal_signal_receivers",
            "Signal receivers by state (connected or not)",
            ("state",),
            registry=r,
        )

        # The series an alert watches for "any increase" exist from the start, at 0: a series
        # that first appears with its first increment has no earlier sample, so Prometheus'
        # increase() and rate() miss that first failure.
        for result in ("listing", "failed"):
            self.discovery.labels(result)
        for direction in ("wa_to_signal", "signal_to_wa"):
            self.dead.labels(direction)

    def forget(self, session: str) -> None:
        """Drop the series that name a session that is gone (labels stay bounded)."""
        with contextlib.suppress(KeyError):
            self.restarts.remove(f"worker[{session}]")

    def render(self) -> bytes:
        return generate_latest(self.registry)
