"""A one-time look at WAHA's sessions after start-up; it never blocks start-up or changes
anything in WAHA.

:func:`check_sessions` looks once at WAHA's sessions, to warn about setups that lose or double
messages. It never changes a session (a PUT would restart it).

Warnings:
* a configured session WAHA does not know, or one that is not WORKING yet;
* a session whose own webhooks subscribe to both ``message`` and ``message.any`` (every
  incoming message is delivered twice; the bridge deduplicates, but it is wasted work);
* a session with webhooks of its own, none of them to a ``/webhook/whatsapp`` path (WAHA's
  global webhook is not visible through the API, so a session without webhooks is fine);
* a session webhook without an HMAC key while the bridge checks signatures;
* a session webhook to the bridge that leaves out some of the events the bridge needs
  (:data:`whatsignal.waha_hooks.BRIDGE_EVENTS`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import trio

from whatsignal.clients import SessionInfo, WahaClient
from whatsignal.errors import ClientError
from whatsignal.waha_hooks import BRIDGE_EVENTS, WEBHOOK_PATH, is_bridge_hook, missing_events

__all__ = ["check_sessions", "session_warnings"]

log = logging.getLogger("whatsignal.preflight")


def session_warnings(
    configured: Sequence[str], sessions: Sequence[SessionInfo], *, signed: bool
) -> list[str]:
    """The warnings for ``configured`` session names given WAHA's view of its sessions."""
    known = {s.name: s for s in sessions}
    found: list[str] = []
    for name in configured:
        info = known.get(name)
        if info is None:
            found.append(f"session {name!r} is configured but WAHA does not know it")
            continue
        if info.status != "WORKING":
            found.append(f"session {name!r} is {info.status}, not WORKING: nothing flows yet")
        events = {e for hook in info.webhooks for e in hook.events}
        # "*" subscribes to every event, both of these included.
        if {"message", "message.any"} <= events or "*" in events:
            found.append(
                f"session {name!r} subscribes to both 'message' and 'message.any': every "
                "message arrives twice (the bridge drops the copy; subscribe to one)"
            )
        ours = [hook for hook in info.webhooks if is_bridge_hook(hook.url)]
        if info.webhooks and not ours:
            found.append(
                f"session {name!r} has webhooks, none to {WEBHOOK_PATH}: unless WAHA's global "
                "WHATSAPP_HOOK_URL points at the bridge, its messages never arrive"
            )
        if signed and any(not hook.has_hmac for hook in ours):
            found.append(
                f"session {name!r} sends webhooks to the bridge without an HMAC key, but the "
                "bridge requires signatures: set the webhook's hmac.key to the webhook secret"
            )
        for hook in ours:
            if missing := missing_events(hook.events):
                found.append(
                    f"session {name!r} sends the bridge only some of the events it needs: "
                    f"add {', '.join(missing)} to its webhook (all of them: "
                    f"{','.join(BRIDGE_EVENTS)}; `whatsignal setup` sets them)"
                )
    return found


async def check_sessions(
    waha: WahaClient, configured: Sequence[str], *, signed: bool, within: float = 15.0
) -> list[str]:
    """Ask WAHA once and log what :func:`session_warnings` finds; failures are only logged."""
    with trio.move_on_after(within):
        try:
            sessions = await waha.list_sessions(all=True)
        except ClientError as error:
            log.warning("could not list WAHA sessions at start-up: %s", error)
            return []
        warnings = session_warnings(configured, sessions, signed=signed)
        for warning in warnings:
            log.warning("%s", warning)
        return warnings
    log.warning("WAHA did not list its sessions within %.0fs at start-up", within)
    return []
