"""Portals: a Signal group for each WhatsApp chat of a channel with ``portals: true``.

The bridge number makes the group on the chat's first message (never in bulk): named after the
chat (cut to Signal's 32 characters), the destination its only other member, its link off and
only admins (the bridge number) adding people or editing it, its description naming the chat
and session it mirrors. The chat's messages then go there, and whatever the user writes there
goes to that chat (:mod:`whatsignal.relay.router`).

One portal per chat, whatever happens:

- creation is serialized per bridge number (a lock), and the chat's portal is read again
  under it, so two first messages never make two groups;
- the portal is stored as ``creating`` *before* the group is asked for, and ``active`` with
  both its ids after. A ``creating`` portal found later (a crash between the two, or an
  answer that never came) is first looked for upstream by the marker its description carries
  (``GET /v1/groups/{number}``), and only made again when signal-cli knows no such group.

Never a lost message: when the group cannot be made (a 429 pauses creation for the number,
any other failure for the chat), :meth:`PortalKeeper.conversation` answers None and the
message goes to the one-to-one conversation as without portals; the portal is tried again on
a later message.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Protocol

import attrs
import trio

from whatsignal import log as wlog
from whatsignal.channels import Route
from whatsignal.clients import SignalGroups, internal_id_of
from whatsignal.clock import Clock
from whatsignal.convert.presence import TypingInbox, Watch
from whatsignal.errors import ApiError, ClientError
from whatsignal.relay.identities import canonical_chat
from whatsignal.relay.notices import Notices
from whatsignal.storage import Caches, Portal, Portals

__all__ = [
    "GROUP_NAME_MAX",
    "PROFILE_NAME",
    "PortalKeeper",
    "PortalStore",
    "marker",
    "portal_name",
]

log = logging.getLogger("whatsignal.portals")

GROUP_NAME_MAX = 32
"""The longest group name Signal takes (characters)."""

PROFILE_NAME = "WhatsApp"
"""The profile name the bridge number gets when it has none (groups v2 need one)."""

CREATION_PAUSE = 600.0
"""How long a 429 on group creation pauses the number's creations (seconds)."""

CREATION_RETRY = 60.0
"""How long a chat whose group could not be made waits before it is tried again (seconds)."""

NOTICE_INVITED = (
    "💬 whatsignal: {name} now has a Signal group of its own. Accept the group invitation "
    "to read it there."
)


NOTICE_LEFT = (
    "💬 whatsignal: you left the Signal group of {name}. Its messages come here again; "
    "quote one of them to answer."
)


NOTICE_REOPENED = "💬 whatsignal: {name} has a Signal group again: its messages go there."
NOTICE_HAS_PORTAL = "💬 whatsignal: {name} already has a Signal group: write there."
NOTICE_NOT_MADE = (
    "⚠️ whatsignal: the Signal group of {name} cannot be made now; its messages keep coming "
    "here. Try /portal again later."
)
NOTICE_PORTALS_OFF = (
    "⚠️ whatsignal: session {session} has no Signal groups per chat (portals are off in "
    "its channel)."
)


class PortalStore(Portals, Caches, Protocol):
    """What the keeper reads and writes: the portals, and the LID pairings that make a
    person one chat."""


def portal_name(name: str) -> str:
    """A chat's name as a group name: one line, at most :data:`GROUP_NAME_MAX` characters."""
    flat = " ".join(name.split()) or "WhatsApp chat"
    return flat if len(flat) <= GROUP_NAME_MAX else flat[: GROUP_NAME_MAX - 1] + "…"


def marker(route: Route, chat: str) -> str:
    """The tag a portal's description carries, to find its group again after a crash: a
    hash of the bridge number, destination, session and chat (no number shows)."""
    key = "\n".join((route.bridge_number, route.destination, route.session, chat))
    return "wsp-" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:16]


def _description(route: Route, chat: str, name: str, is_group: bool) -> str:
    kind = "group" if is_group else "chat"
    return (
        f"WhatsApp {kind} {name}, session {route.session}, mirrored by whatsignal. "
        f"What you write here goes to that chat. [{marker(route, chat)}]"
    )


def _holds(entry: dict[str, object], destination: str) -> bool:
    """Whether a group entry has the destination as a member or invited (a group they left
    is no portal to find again: ``/portal`` makes a new one)."""
    return any(
        isinstance(people, list) and destination in people
        for people in (entry.get("members"), entry.get("pending_invites"))
    )


@attrs.define(eq=False, kw_only=True)
class PortalKeeper:
    """Finds or makes the portal of a chat; says where its messages go in Signal."""

    store: PortalStore
    groups: SignalGroups
    notices: Notices
    clock: Clock
    creation_pause: float = CREATION_PAUSE
    creation_retry: float = CREATION_RETRY
    watch: TypingInbox | None = None
    """Told of each portal made, to subscribe to its chat's presence (typing)."""
    _locks: dict[str, trio.Lock] = attrs.field(factory=dict, init=False)
    _paused_until: dict[str, float] = attrs.field(factory=dict, init=False)
    """Per bridge number: creations wait until then (trio time) after a 429."""
    _retry_at: dict[tuple[str, str, str, str], float] = attrs.field(factory=dict, init=False)
    """Per chat whose group could not be made: not tried again before then (trio time)."""
    _renames: dict[tuple[str, str, str, str], tuple[str, float]] = attrs.field(
        factory=dict, init=False
    )
    """Per chat whose portal could not be renamed: the name, and when to try again (trio
    time) on one of the chat's next messages. In memory: a restart forgets it."""

    async def conversation(
        self, route: Route, chat: str, *, name: str, is_group: bool
    ) -> str | None:
        """The ``group.<base64>`` id this chat's messages go to, making its portal on the
        first message; None: the one-to-one conversation (portals off for the channel, the
        user left the portal, or it cannot be made now).

        Raises:
            StorageError: the store failed (the row is retried; nothing was sent).
        """
        if not route.portals:
            return None
        chat = await canonical_chat(self.store, route.session, chat)
        found = await self._stored(route, chat)
        if found is not None and found.state != "creating":
            if found.state != "active" or found.group_id is None:
                return None
            await self._rename_due(route, chat, found.group_id)
            return found.group_id
        lock = self._locks.setdefault(route.bridge_number, trio.Lock())
        async with lock:
            return await self._make(route, chat, name, is_group)

    async def active(self, route: Route, chat: str) -> str | None:
        """The group id of the chat's active portal, or None; never makes one."""
        if not route.portals:
            return None
        found = await self._stored(route, await canonical_chat(self.store, route.session, chat))
        return found.group_id if found is not None and found.state == "active" else None

    async def _stored(self, route: Route, chat: str) -> Portal | None:
        return await self.store.portal(route.bridge_number, route.destination, route.session, chat)

    async def _make(self, route: Route, chat: str, name: str, is_group: bool) -> str | None:
        """Under the number's lock: the chat's portal, found or made, or None."""
        found = await self._stored(route, chat)
        if found is not None and found.state != "creating":
            return found.group_id if found.state == "active" else None
        now = trio.current_time()
        key = (route.bridge_number, route.destination, route.session, chat)
        if now < max(self._paused_until.get(route.bridge_number, 0.0), self._retry_at.get(key, 0)):
            return None
        title = portal_name(name)
        portal = Portal(
            bridge_number=route.bridge_number,
            destination=route.destination,
            session=route.session,
            chat_id=chat,
            state="creating",
            updated_at=self.clock(),
            name=title,
        )
        try:
            group_id = None
            if found is not None:  # a creation that may have happened: look before making
                group_id = await self._find(route, marker(route, chat))
            if group_id is None:
                await self.store.put_portal(portal)
                group_id = await self._create(
                    route, title, _description(route, chat, title, is_group)
                )
        except ClientError as error:
            self._failed(route, key, error)
            return None
        internal = internal_id_of(group_id)
        await self.store.put_portal(
            attrs.evolve(portal, state="active", group_id=group_id, internal_id=internal)
        )
        log.info("portal made for %s", wlog.chat(chat), extra={"session": route.session})
        if self.watch is not None:
            self.watch.offer(Watch(route.session, chat))
        await self._check_invited(route, group_id, title)
        return group_id

    async def _create(self, route: Route, title: str, description: str) -> str:
        """Make the group; a bridge number without a profile name gets one first."""
        create = self.groups.create
        members = [route.destination]
        try:
            return await create(
                route.bridge_number, name=title, members=members, description=description
            )
        except ApiError as error:
            if error.status != 400 or "profile" not in str(error).lower():
                raise
        log.warning(
            "signal number %s has no profile name, which groups need; setting it to %r",
            wlog.phone(route.bridge_number),
            PROFILE_NAME,
        )
        await self.groups.set_profile_name(route.bridge_number, PROFILE_NAME)
        return await create(
            route.bridge_number, name=title, members=members, description=description
        )

    async def _find(self, route: Route, tag: str) -> str | None:
        """The group an earlier creation made for this chat, found by its marker."""
        for entry in await self.groups.all(route.bridge_number):
            group_id, description = entry.get("id"), entry.get("description")
            if (
                isinstance(group_id, str)
                and isinstance(description, str)
                and f"[{tag}]" in description
                and internal_id_of(group_id) is not None
                and _holds(entry, route.destination)
            ):
                return group_id
        return None

    def _failed(self, route: Route, key: tuple[str, str, str, str], error: ClientError) -> None:
        now = trio.current_time()
        if isinstance(error, ApiError) and error.status == 429:
            self._paused_until[route.bridge_number] = now + self.creation_pause
            log.warning(
                "signal rate limit on group creation for %s: portals paused for %.0fs, "
                "messages go to the one-to-one conversation meanwhile",
                wlog.phone(route.bridge_number),
                self.creation_pause,
            )
        else:
            self._retry_at[key] = now + self.creation_retry
            log.warning(
                "portal for %s could not be made (%s); its messages go to the one-to-one "
                "conversation, tried again later",
                wlog.chat(key[3]),
                wlog.mask_text(str(error)),
                extra={"session": route.session},
            )

    async def _check_invited(self, route: Route, group_id: str, title: str) -> None:
        """Tell the destination to accept the invitation when signal-cli could only invite
        them (it has no profile key for them yet): until then the group stays empty for
        them. Best effort: a failing look is only logged."""
        try:
            entry = await self.groups.get(route.bridge_number, group_id)
        except ClientError as error:
            log.info("could not read a new portal's members: %s", error)
            return
        invites = entry.get("pending_invites") if entry else None
        if isinstance(invites, list) and route.destination in invites:
            text = NOTICE_INVITED.format(name=title)
            await self.notices.tell(route.bridge_number, route.destination, text)

    async def written_in(self, bridge_number: str, sender: str, internal_id: str) -> Portal | None:
        """The active portal a destination wrote in (by the group's internal id), or None
        when the group is no portal of theirs."""
        found = await self.store.portal_by_group(bridge_number, internal_id)
        if found is None or found.destination != sender or found.state != "active":
            return None
        return found

    async def updated(self, portal: Portal) -> str | None:
        """The portal's group changed (an ``UPDATE`` envelope of the destination's): read its
        members again. The destination left: the chat's messages go to the one-to-one
        conversation from now on. Returns what to tell them there, if anything.

        Raises:
            ClientError: signal-cli could not be asked (the envelope is looked at again).
        """
        assert portal.group_id is not None
        entry = await self.groups.get(portal.bridge_number, portal.group_id)
        members = entry.get("members") if entry else None
        invites = entry.get("pending_invites") if entry else None
        name = portal.name or "this chat"
        if isinstance(members, list) and portal.destination in members:
            return None
        if isinstance(invites, list) and portal.destination in invites:
            return NOTICE_INVITED.format(name=name)
        await self.store.put_portal(attrs.evolve(portal, state="left", updated_at=self.clock()))
        log.info("the destination left a portal; its chat comes to the one-to-one conversation")
        return NOTICE_LEFT.format(name=name)

    async def gone(self, route: Route, chat: str) -> None:
        """The chat's group cannot be sent to any more (signal-cli does not know it): made
        again on a later message."""
        chat = await canonical_chat(self.store, route.session, chat)
        found = await self._stored(route, chat)
        if found is not None:
            await self.store.put_portal(
                attrs.evolve(found, state="creating", group_id=None, internal_id=None)
            )

    async def renamed(self, route: Route, chat: str, subject: str) -> None:
        """The WhatsApp chat was renamed (``group.v2.update``): so is its portal.

        Best effort: the new name is stored at once; a failing rename upstream is only
        logged and tried again on one of the chat's next messages (never before
        :attr:`creation_retry` seconds), so it never holds a message back.

        Raises:
            StorageError: the store failed (the row is retried; nothing was renamed).
        """
        chat = await canonical_chat(self.store, route.session, chat)
        found = await self._stored(route, chat)
        title = portal_name(subject)
        if found is None or found.name == title:
            return  # no portal yet (it is made with the new name), or nothing changed
        await self.store.put_portal(attrs.evolve(found, name=title))
        key = (route.bridge_number, route.destination, route.session, chat)
        self._renames[key] = (title, 0.0)
        if found.state == "active" and found.group_id is not None:
            await self._rename_due(route, chat, found.group_id)

    async def _rename_due(self, route: Route, chat: str, group_id: str) -> None:
        key = (route.bridge_number, route.destination, route.session, chat)
        due = self._renames.get(key)
        if due is None or trio.current_time() < due[1]:
            return
        try:
            await self.groups.update(route.bridge_number, group_id, name=due[0])
        except ClientError as error:
            self._renames[key] = (due[0], trio.current_time() + self.creation_retry)
            log.warning(
                "portal of %s could not be renamed (%s); tried again later",
                wlog.chat(chat),
                wlog.mask_text(str(error)),
                extra={"session": route.session},
            )
            return
        del self._renames[key]
        log.info("portal of %s renamed", wlog.chat(chat), extra={"session": route.session})

    async def reopen(self, route: Route, chat: str, *, name: str, is_group: bool) -> str:
        """``/portal``: a new portal for a chat whose portal was left (or never made).
        Returns what to tell the destination.

        Raises:
            StorageError: the store failed.
        """
        if not route.portals:
            return NOTICE_PORTALS_OFF.format(session=route.session)
        chat = await canonical_chat(self.store, route.session, chat)
        found = await self._stored(route, chat)
        title = found.name if found is not None and found.name else portal_name(name)
        if found is not None and found.state == "active":
            return NOTICE_HAS_PORTAL.format(name=title)
        if found is not None:  # left: made anew (the old group is not looked for: see _holds)
            await self.store.put_portal(
                attrs.evolve(found, state="creating", group_id=None, internal_id=None)
            )
        self._retry_at.pop((route.bridge_number, route.destination, route.session, chat), None)
        made = await self.conversation(route, chat, name=title, is_group=is_group)
        return (NOTICE_NOT_MADE if made is None else NOTICE_REOPENED).format(name=title)
