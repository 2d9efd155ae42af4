"""The commands about the destination's own WhatsApp chats: ``/chats``, ``/to N text``,
``/mute``, ``/unmute`` and ``/portal``.

``/chats`` lists the chats bridged with the destination on this bridge number, across the
sessions of their channels, newest first, one per line and numbered (``1 Alice``,
``2 Family (group)``). A person's ``@lid`` and ``@c.us`` ids are one chat
(:func:`canonical_chat`). The numbers hold until the next ``/chats``: ``/to N``, ``/mute N``
and ``/unmute N`` use the last list, kept in memory (after a restart the user is asked to
write ``/chats`` again rather than guessed for). ``/mute`` and ``/unmute`` without a number
take the chat of the quoted message, and so does ``/portal`` (a new Signal group for a chat
whose group the user left, :meth:`PortalKeeper.reopen`).

Only chats of the destination's own sessions are ever listed or reachable: the router hands
in ``serves``, its check that a session belongs to this destination.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import attrs

from whatsignal.channels import ChannelMap
from whatsignal.convert import commands
from whatsignal.convert.commands import Command
from whatsignal.convert.text import chat_number
from whatsignal.relay.control import no_such_session
from whatsignal.relay.decision import Decision
from whatsignal.relay.identities import canonical_chat, is_lid, lid_label
from whatsignal.relay.mutes import MuteBook
from whatsignal.relay.notices import NOTICE_NO_SESSION
from whatsignal.relay.portals import PortalKeeper
from whatsignal.storage import Caches, Chats, Mappings, MessageMapping

__all__ = ["LIST_MAX", "ChatCommands"]

LIST_MAX = 20
"""The most chats ``/chats`` lists."""
_SCAN = 4 * LIST_MAX
"""How many (session, chat) rows are read to make that list (two ids of a person are one)."""
LISTED_MAX = 10_000
"""The most destinations whose last list is remembered (bounded; at worst one is asked to
write /chats again)."""

Key = tuple[str, str]
"""``(bridge number, destination)``."""


class ChatStore(Chats, Mappings, Caches, Protocol):
    """The chat listing, mappings (for a quoted message) and names."""


class Known(Protocol):
    def known(self) -> Sequence[str]: ...


@attrs.frozen
class Listed:
    session: str
    chat: str
    name: str


def _usage(name: str) -> str:
    return (
        f"⚠️ whatsignal: say which chat: /{name} N (N from /chats), or quote one of its "
        f"messages and write /{name}"
    )


@attrs.define(eq=False, kw_only=True)
class ChatCommands:
    """Carries out the chat commands for the router (see the module docstring)."""

    store: ChatStore
    mutes: MuteBook
    serves: Callable[[str, Key], bool]
    latest: Callable[[Key], Awaitable[MessageMapping | None]]
    channels: ChannelMap
    sessions: Known
    portals: PortalKeeper | None = None
    _listed: dict[Key, tuple[Listed, ...]] = attrs.field(factory=dict, init=False)

    async def decide(self, command: Command, key: Key, quoted: int | None) -> Decision:
        """The decision for ``command`` (``help``, ``invalid``, ``to``, ``chats``, ``mute``,
        ``unmute``) from the destination ``key``; ``quoted`` is the Signal timestamp of the
        message it quotes, if any. A decision with a chat goes there (the router routes it)."""
        if command.name == "help":
            return Decision(ignore="command", notice=commands.HELP)
        if command.name == "invalid":
            return Decision(ignore="invalid command", notice=f"⚠️ whatsignal: {command.text}")
        if command.name == "to" and command.number is not None:
            return await self._to_number(command, key, command.number)
        if command.name == "chats":
            return Decision(ignore="command", notice=await self._list(key))
        if command.index is not None:
            chosen = self._chosen(key, command.index)
            if isinstance(chosen, str):
                return Decision(ignore="unknown chat number", notice=chosen)
        elif command.name != "to" and quoted is not None:
            found = await self.store.mapping_by_signal_timestamp(key[0], quoted)
            if found is None or not self.serves(found.session, key):
                notice = "⚠️ whatsignal: the quoted message is not one this bridge knows; " + (
                    f"use /{command.name} N with N from /chats"
                )
                return Decision(ignore="quoted message unknown", notice=notice)
            chat = await canonical_chat(self.store, found.session, found.chat_id)
            chosen = Listed(found.session, chat, await self._name(found.session, chat))
        else:
            return Decision(ignore="no chat named", notice=_usage(command.name))
        if command.name == "to":
            return Decision(session=chosen.session, chat=chosen.chat)
        if command.name == "portal":
            return Decision(ignore="command", notice=await self._portal(chosen))
        if command.name == "mute":
            await self.mutes.mute(chosen.session, chosen.chat)
            notice = (
                f"🔇 whatsignal: {chosen.name} is muted: its messages stay in WhatsApp and are "
                "not forwarded here (/status counts them) until you write /unmute."
            )
            return Decision(ignore="command", notice=notice)
        ended = await self.mutes.unmute(chosen.session, chosen.chat)
        if ended is None:
            notice = f"🔔 whatsignal: {chosen.name} was not muted; its messages come here."
        else:
            notice = (
                f"🔔 whatsignal: {chosen.name} is forwarded here again. {ended.held} "
                "message(s) arrived while it was muted: read them in WhatsApp (they are not "
                "sent here)."
            )
        return Decision(ignore="command", notice=notice)

    async def _to_number(self, command: Command, key: Key, number: str) -> Decision:
        """``/to [session:]+number``: the session named, else the latest chat's, else the one
        session the destination has."""
        session = command.session
        sessions = self.channels.sessions_for(key[1], key[0], self.sessions.known())
        if session is None:
            latest = await self.latest(key)
            if latest is not None:
                session = latest.session
            elif len(sessions) == 1:
                session = sessions[0]
            elif not sessions:
                return Decision(ignore="no session", notice=NOTICE_NO_SESSION)
            else:
                choices = ", ".join(sorted(sessions))
                notice = (
                    f"⚠️ whatsignal: say which WhatsApp session, e.g. /to {sessions[0]}:... "
                    f"({choices})"
                )
                return Decision(ignore="session not given", notice=notice)
        if session not in sessions:
            return Decision(ignore="unknown session", notice=no_such_session(session))
        return Decision(session=session, chat=number.lstrip("+") + "@c.us")

    async def _portal(self, chosen: Listed) -> str:
        """``/portal``: a new Signal group for the chat (its portal was left)."""
        route = self.channels.route(chosen.session)
        if self.portals is None or route is None:
            return "⚠️ whatsignal: Signal groups per chat are not available here."
        is_group = chosen.chat.endswith("@g.us")
        name = chosen.name.removesuffix(" (group)") if is_group else chosen.name
        return await self.portals.reopen(route, chosen.chat, name=name, is_group=is_group)

    def _chosen(self, key: Key, index: int) -> Listed | str:
        """Chat ``index`` of the last list, or what to tell the user instead."""
        listed = self._listed.get(key)
        if not listed:
            return "⚠️ whatsignal: write /chats first: it numbers your chats for /to N."
        if not 1 <= index <= len(listed):
            return (
                f"⚠️ whatsignal: there is no chat {index} in your last /chats list (1 to "
                f"{len(listed)}); write /chats to see it again."
            )
        chosen = listed[index - 1]
        if not self.serves(chosen.session, key):  # the configuration changed since
            return "⚠️ whatsignal: that chat is no longer yours here; write /chats again."
        return chosen

    async def _list(self, key: Key) -> str:
        seen: dict[tuple[str, str], Listed] = {}
        for row in await self.store.active_chats(key[0], key[1], limit=_SCAN):
            if not self.serves(row.session, key):
                continue
            chat = await canonical_chat(self.store, row.session, row.chat_id)
            if (row.session, chat) not in seen and len(seen) < LIST_MAX:
                name = await self._name(row.session, chat, row.chat_id)
                seen[row.session, chat] = Listed(row.session, chat, name)
        listed = tuple(seen.values())
        if len(self._listed) >= LISTED_MAX:
            self._listed.clear()
        self._listed[key] = listed
        if not listed:
            return "💬 whatsignal: no chats yet: nothing has been bridged with you so far."
        several = len({entry.session for entry in listed}) > 1
        muted = await self.mutes.of_sessions({entry.session for entry in listed})
        silent = {(m.session, m.chat_id) for ms in muted.values() for m in ms}
        lines = ["💬 whatsignal: your chats, newest first (/to N text, /mute N):"]
        for number, entry in enumerate(listed, start=1):
            line = f"{number} {entry.name}"
            if several:
                line += f" [{entry.session}]"
            if (entry.session, entry.chat) in silent:
                line += " (muted)"
            lines.append(line)
        return "\n".join(lines)

    async def _name(self, session: str, chat: str, other: str | None = None) -> str:
        """How the user knows a chat: its group subject or contact name, else its number."""
        if chat.endswith("@g.us"):
            group = await self.store.get_group(session, chat)
            return f"{group.name if group and group.name else chat.partition('@')[0]} (group)"
        for candidate in dict.fromkeys((chat, other or chat)):
            contact = await self.store.get_contact(session, candidate)
            if contact is not None and contact.name:
                return contact.name
        return chat_number(chat) or (lid_label(chat) if is_lid(chat) else chat)
