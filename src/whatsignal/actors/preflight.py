"""One-time tasks after start-up; none of them blocks start-up or changes anything in WAHA.

:func:`sync_names` fills the contact and group name caches (``whatsapp.contactSyncOnStartup``,
``whatsapp.groups.syncOnStartup``), so the first message of each chat needs no lookup.

:func:`check_sessions` looks once at WAHA's sessions, to warn about setups that lose or double
messages. It never changes a session (a PUT would restart it).

Warnings:
* a configured session WAHA does not know, or one that is not WORKING yet;
* a session whose own webhooks subscribe to both ``message`` and ``message.any`` (every
  incoming message is delivered twice; the bridge deduplicates, but it is wasted work);
* a session with webhooks of its own, none of them to a ``/webhook/whatsapp`` path (WAHA's
  global webhook is not visible through the API, so a session without webhooks is fine);
* a session webhook without an HMAC key while the bridge checks signatures.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import trio

from whatsignal.actors.context import BridgeContext
from whatsignal.clients import SessionInfo, WahaClient
from whatsignal.convert.text import chat_number
from whatsignal.errors import ClientError
from whatsignal.storage import Contact, Group

__all__ = ["check_sessions", "session_warnings", "sync_names"]

log = logging.getLogger("whatsignal.preflight")

WEBHOOK_PATH = "/webhook/whatsapp"


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
        if info.webhooks and not any(WEBHOOK_PATH in hook.url for hook in info.webhooks):
            found.append(
                f"session {name!r} has webhooks, none to {WEBHOOK_PATH}: unless WAHA's global "
                "WHATSAPP_HOOK_URL points at the bridge, its messages never arrive"
            )
        if signed and any(WEBHOOK_PATH in h.url and not h.has_hmac for h in info.webhooks):
            found.append(
                f"session {name!r} sends webhooks to the bridge without an HMAC key, but the "
                "bridge requires signatures: set the webhook's hmac.key to the webhook secret"
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


async def sync_names(
    ctx: BridgeContext, sessions: Sequence[str], *, contacts: bool, groups: bool
) -> int:
    """Fetch every contact and/or group name of ``sessions`` into the caches; returns how
    many names were stored. A session whose lists fail is logged and skipped."""
    stored = 0
    now = ctx.wall()
    for session in sessions:
        try:
            if contacts:
                for contact_id, name in (await ctx.waha.contact_names(session)).items():
                    contact = Contact(session, contact_id, name, chat_number(contact_id), now)
                    await ctx.store.put_contact(contact)
                    ctx.remember_name("contact", session, contact_id, name)
                    stored += 1
            if groups:
                for group_id, name in (await ctx.waha.group_names(session)).items():
                    await ctx.store.put_group(Group(session, group_id, name, now))
                    ctx.remember_name("group", session, group_id, name)
                    stored += 1
        except ClientError as error:
            log.warning("start-up name sync failed: %s", error, extra={"session": session})
    if stored:
        log.info("start-up sync cached %d contact and group names", stored)
    return stored
