"""Muted chats: which WhatsApp chats the user silenced from Signal (``/mute``), kept in the
store and known in memory, so that the relay's question "is this chat muted?" costs no
database read per message.

A muted chat's events are not forwarded to Signal: they stay in WhatsApp. Its messages are
counted (``/status`` shows how many, ``/unmute`` says so once) but never replayed: the user
asked for silence, and WhatsApp keeps them. Receipts of the user's own replies still come.
A person's ``@lid`` and ``@c.us`` ids are one chat (:func:`canonical_chat`).

One :class:`MuteBook` is built at the root and handed to the router (which mutes and unmutes,
for the commands) and to the relay (which asks); it owns the set it keeps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import attrs

from whatsignal.clock import Clock
from whatsignal.relay.identities import canonical_chat
from whatsignal.storage import Caches, Chats, Mute

__all__ = ["MuteBook", "MuteStore"]

COUNTED = "message"
"""The row kind a muted chat's count counts (reactions, edits, deletions are held only)."""
NOT_HELD = "message.ack"
"""Receipts of the user's own messages go through: they are not the chat speaking."""


class MuteStore(Chats, Caches, Protocol):
    """The mutes, and the LID pairings that make a person's two ids one chat."""


@attrs.define(eq=False, kw_only=True)
class MuteBook:
    """The muted chats (see the module docstring).

    Raises (every method): StorageError when the store fails (the caller retries).
    """

    store: MuteStore
    clock: Clock
    _muted: set[tuple[str, str]] | None = attrs.field(default=None, init=False)

    async def _known(self) -> set[tuple[str, str]]:
        if self._muted is None:
            self._muted = {(m.session, m.chat_id) for m in await self.store.mutes()}
        return self._muted

    async def holds(self, session: str, chat: str | None, kind: str) -> bool:
        """Whether an event of ``kind`` in ``chat`` is held back (its chat is muted); a held
        message is counted."""
        if chat is None or kind == NOT_HELD:
            return False
        muted = await self._known()
        if not muted:
            return False
        chat = await canonical_chat(self.store, session, chat)
        if (session, chat) not in muted:
            return False
        if kind == COUNTED:
            await self.store.count_held(session, chat)
        return True

    async def mute(self, session: str, chat: str) -> bool:
        """Mute a chat (its canonical id); False when it was muted already."""
        muted = await self._known()
        done = await self.store.mute(session, chat, at=self.clock())
        muted.add((session, chat))
        return done

    async def unmute(self, session: str, chat: str) -> Mute | None:
        """Unmute a chat; its mute as it ended (how many were held), or None."""
        muted = await self._known()
        ended = await self.store.unmute(session, chat)
        muted.discard((session, chat))
        return ended

    async def of_sessions(self, sessions: Iterable[str]) -> dict[str, list[Mute]]:
        """The mutes of these sessions, by session (for ``/status``)."""
        wanted = set(sessions)
        found: dict[str, list[Mute]] = {}
        for mute in await self.store.mutes():
            if mute.session in wanted:
                found.setdefault(mute.session, []).append(mute)
        return found
