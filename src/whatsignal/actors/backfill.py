"""Catch up, after a start, on WhatsApp messages that arrived while the bridge was away.

WAHA keeps retrying a webhook for about half a minute (15 x 2 s), from memory; a bridge that was
down longer, or a WAHA that restarted meanwhile, would lose what arrived. So at start, for every
configured session, the bridge asks WAHA for the messages of its recently active chats since the
last event it journaled for that session (minus an overlap), and feeds them through the same
intake as webhooks. The natural keys make anything already journaled a no-op, so the overlap
costs nothing and nothing is forwarded twice.

Chats that never had a bridged message cannot be found this way (WAHA's chat list is
engine-specific); their first message after the gap arrives normally.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from whatsignal.clients import WahaClient
from whatsignal.errors import ClientError, PayloadError, StorageError
from whatsignal.intake import Intake, Outcome
from whatsignal.models.waha import WahaEvent
from whatsignal.storage import Store

__all__ = ["backfill"]

log = logging.getLogger("whatsignal.backfill")


async def backfill(
    journal: Store,
    waha: WahaClient,
    intake: Intake,
    sessions: Sequence[str],
    *,
    overlap: float = 120.0,
    chats_per_session: int = 50,
    per_chat: int = 100,
) -> int:
    """Journal what each session missed; returns how many messages were new."""
    added = 0
    for session in sessions:
        try:
            last = await journal.last_received(session, "whatsapp")
            if last is None:
                continue  # a new installation: there is nothing to catch up on
            since = last - overlap
            chats = await journal.recent_chats(session, limit=chats_per_session)
            for chat in chats:
                added += await _chat(waha, intake, session, chat, since, per_chat)
        except (ClientError, StorageError) as error:
            log.warning("catching up after the start failed: %s", error, extra={"session": session})
    if added:
        log.info("caught up on %d WhatsApp messages missed while the bridge was away", added)
    return added


async def _chat(
    waha: WahaClient, intake: Intake, session: str, chat: str, since: float, limit: int
) -> int:
    messages = await waha.chat_messages(session, chat, since=since, limit=limit)
    added = 0
    # Oldest first, so that they keep their order in the chat.
    for payload in reversed(messages):
        raw = json.dumps({"event": "message", "session": session, "payload": payload}).encode()
        event = WahaEvent(event="message", session=session, payload=payload)
        try:
            if await intake.whatsapp(event, raw) is Outcome.ACCEPTED:
                added += 1
        except PayloadError as error:
            log.info("a missed message could not be read: %s", error, extra={"session": session})
    return added
