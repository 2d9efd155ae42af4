"""When an inbound event happened, as WAHA and signal-cli write it (unix seconds)."""

from __future__ import annotations

from typing import Any

from whatsignal.models.signal_api import SigReceived
from whatsignal.models.waha import WahaEvent

__all__ = ["event_time", "event_unix", "pushed_at"]

_MS_THRESHOLD = 1e11
"""A timestamp above this is in milliseconds (as seconds it would be after the year 5000)."""


def event_unix(value: object) -> float | None:
    """A WAHA timestamp (seconds or ms; int, float or a numeric string) as unix seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float) or value != value or value <= 0:
        return None
    seconds = float(value)
    return seconds / 1000.0 if seconds > _MS_THRESHOLD else seconds


def event_time(event: WahaEvent) -> tuple[float, bool] | None:
    """When a WAHA event happened, in unix seconds, and whether the time was the envelope's
    (signed with the body) rather than the payload's; None when neither says."""
    signed = event_unix(event.timestamp)
    if signed is not None:
        return signed, True
    own = event_unix(event.payload.get("timestamp"))
    return None if own is None else (own, False)


def pushed_at(item: SigReceived, raw: Any) -> float:
    """When the Signal server received a pushed envelope (its clock, not the sender phone's,
    which may be far off), else the envelope's own timestamp; unix seconds."""
    env = raw.get("envelope") if isinstance(raw, dict) else None
    server = event_unix(env.get("serverReceivedTimestamp")) if isinstance(env, dict) else None
    return server if server is not None else item.envelope.timestamp / 1000.0
