"""Relay: the one thing a session's poller calls for each of its rows.

It finds the row's channel, hands the row to its direction (:class:`ToSignal` for WhatsApp
events, :class:`ToWhatsApp` for routed Signal envelopes; a muted chat's events are held back,
:mod:`whatsignal.relay.mutes`), and, when the poller gives a row up,
tells the person in Signal what was not delivered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import attrs

from whatsignal.channels import ChannelMap
from whatsignal.convert.text import chat_number
from whatsignal.errors import PayloadError
from whatsignal.relay.identities import is_lid, lid_label
from whatsignal.relay.mutes import MuteBook
from whatsignal.relay.names import Names
from whatsignal.relay.notices import (
    Notices,
    dead_from_signal,
    dead_from_whatsapp,
    replies_delivered,
    replies_wait,
)
from whatsignal.relay.to_signal import ToSignal
from whatsignal.relay.to_whatsapp import ToWhatsApp
from whatsignal.serde import parse_signal_received
from whatsignal.storage import JournalRow, MessageMapping

__all__ = ["Relay"]


def _a_signal_message(row: JournalRow) -> bool:
    """Whether a Signal row carries a message of the user's (not a read receipt, reaction,
    edit or deletion, which are not worth a notice). A row that does not even parse may have
    been one: it counts."""
    try:
        env = parse_signal_received(json.loads(row.payload)).envelope
    except (PayloadError, ValueError):
        return True
    data = env.data_message
    return data is not None and data.reaction is None and data.remote_delete is None


@attrs.define(eq=False, kw_only=True)
class Relay:
    """Both directions of the bridge behind the poller's two questions: handle this row; this
    row is dead."""

    channels: ChannelMap
    to_signal: ToSignal
    to_whatsapp: ToWhatsApp
    names: Names
    notices: Notices
    mutes: MuteBook

    async def handle(self, row: JournalRow) -> Sequence[MessageMapping]:
        """Relay one pending row of a session's queue; returns the mappings to record.

        Raises:
            PayloadError: the row can never be handled (its session lost its channel, or its
                payload does not parse).
            UpstreamError, Deferred: see :mod:`whatsignal.relay.upstreams`.
        """
        route = self.channels.route(row.queue)
        if route is None:
            raise PayloadError(f"session {row.queue!r} has no channel any more")
        if row.source == "whatsapp":
            if await self.mutes.holds(row.queue, row.chat, row.kind):
                return ()  # muted from Signal: it stays in WhatsApp, counted (relay/mutes.py)
            return await self.to_signal.handle(route, row)
        return await self.to_whatsapp.handle(route, row)

    async def dead(self, row: JournalRow) -> None:
        """A message was given up on: say so in Signal (best effort, once). Acks, reactions
        and the like are not worth a notice."""
        route = self.channels.route(row.queue)
        if route is None or row.kind not in ("message", "envelope"):
            return
        if row.source == "signal" and not _a_signal_message(row):
            return
        if row.source == "whatsapp":
            text = dead_from_whatsapp(self._chat_label(row.queue, row.chat), row.id)
        else:
            text = dead_from_signal(row.queue, row.id)
        await self.notices.tell(route.bridge_number, route.destination, text)

    async def session_down(self, session: str, status: str, waiting: int) -> None:
        """Tell the destination that its replies wait for the session (once per outage)."""
        route = self.channels.route(session)
        if route is not None:
            text = replies_wait(session, status, waiting)
            await self.notices.tell(route.bridge_number, route.destination, text)

    async def session_back(self, session: str, delivered: int, failed: int) -> None:
        """Tell the destination that the replies that waited have gone."""
        route = self.channels.route(session)
        if route is not None:
            text = replies_delivered(session, delivered, failed)
            await self.notices.tell(route.bridge_number, route.destination, text)

    def _chat_label(self, session: str, chat: str | None) -> str:
        """How the destination knows the chat: its cached name, else its number. (This goes
        to the user's own phone, not to a log: no masking.)"""
        if chat is None:
            return f"session {session}"
        name = self.names.cached("group" if chat.endswith("@g.us") else "contact", session, chat)
        return name or chat_number(chat) or (lid_label(chat) if is_lid(chat) else chat)
