"""What the bridge asks of WAHA's webhooks: the events it needs, where they go, how they retry.

This is the one list of events. ``whatsignal setup`` writes it into each session's webhook,
the start-up check (actors/preflight.py) warns when the bridge's webhook lacks one of them, and
the tests hold the compose file's ``WHATSAPP_HOOK_EVENTS`` and the README to it. A feature that
needs another event (``group.v2.update``, ``presence.update``, ``poll.vote``) adds it here.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "BRIDGE_EVENTS",
    "RETRIES",
    "WEBHOOK_PATH",
    "bridge_hook",
    "is_bridge_hook",
    "missing_events",
    "with_bridge_hook",
]

BRIDGE_EVENTS: tuple[str, ...] = (
    "message",
    "message.reaction",
    "message.ack",
    "message.edited",
    "message.revoked",
    "session.status",
    "presence.update",
    "group.v2.update",
    "poll.vote",
    "poll.vote.failed",
)
"""The WAHA events the bridge acts on (``presence.update``: typing, of subscribed chats;
``poll.vote``: votes on polls, ``.failed`` when WhatsApp could not read one).
``message.any`` is left out on purpose: with ``message`` as well, every message would arrive
twice."""

WEBHOOK_PATH = "/webhook/whatsapp"

RETRIES: Mapping[str, Any] = {"policy": "linear", "delaySeconds": 3, "attempts": 20}
"""WAHA keeps retries in memory only: 20 attempts 3, 6, ... 60 s apart span about ten minutes,
enough for the bridge to restart or be upgraded without losing an event. (WAHA's default, 15
attempts 2 s apart, gives up after half a minute.)"""


def is_bridge_hook(url: object) -> bool:
    """Whether a webhook ``url`` points at a bridge's ``/webhook/whatsapp``, whatever host."""
    if not isinstance(url, str):
        return False
    return urlsplit(url).path.rstrip("/") == WEBHOOK_PATH


def bridge_hook(public_url: str, hmac_key: str) -> dict[str, Any]:
    """The webhook entry for the bridge reachable (from WAHA) at ``public_url``."""
    return {
        "url": public_url.rstrip("/") + WEBHOOK_PATH,
        "events": list(BRIDGE_EVENTS),
        "hmac": {"key": hmac_key},
        "retries": dict(RETRIES),
    }


def _same(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    events = current.get("events")
    hmac = current.get("hmac")
    return (
        current.get("url") == wanted["url"]
        and isinstance(events, list)
        and sorted(map(str, events)) == sorted(wanted["events"])
        and isinstance(hmac, Mapping)
        and hmac.get("key") == wanted["hmac"]["key"]
        and current.get("retries") == wanted["retries"]
        and not current.get("customHeaders")
    )


def with_bridge_hook(
    hooks: Sequence[Mapping[str, Any]], wanted: Mapping[str, Any]
) -> list[dict[str, Any]] | None:
    """``hooks`` with the bridge's own webhooks replaced by ``wanted``; None when unchanged.

    Every other webhook stays as it was, in its place; the bridge's webhook takes the place of
    the first one it replaces (or goes last). Unchanged means exactly one bridge webhook, equal
    to ``wanted``.
    """
    ours = [hook for hook in hooks if is_bridge_hook(hook.get("url"))]
    if len(ours) == 1 and _same(ours[0], wanted):
        return None
    result: list[dict[str, Any]] = []
    placed = False
    for hook in hooks:
        if not is_bridge_hook(hook.get("url")):
            result.append(dict(hook))
        elif not placed:
            result.append(dict(wanted))
            placed = True
    if not placed:
        result.append(dict(wanted))
    return result


def missing_events(events: Sequence[str]) -> list[str]:
    """The bridge's events a webhook subscribed to ``events`` does not get (``*`` gets all)."""
    if "*" in events:
        return []
    return [event for event in BRIDGE_EVENTS if event not in events]
