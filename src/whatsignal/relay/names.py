"""Names: how the relay shows WhatsApp people and groups (contact names, group subjects).

Lookups go memory, then the store's cache, then WAHA, then what the message itself says (the
push name), then the number. Names are cosmetic: a failing lookup never fails a message, and a
miss is remembered for a while instead of asked for every message. A name is whatever its owner
typed: lone surrogates in what WAHA answers are replaced before it is kept or shown.

A sender, group participant or mention known by a ``@lid`` id is named as the person behind it
(:mod:`whatsignal.relay.identities`): the saved name of their number, their push name, their
number, and never the LID's digits (``WhatsApp contact …1234`` when nothing else is known).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import attrs
import trio

from whatsignal import log as wlog
from whatsignal.clients import WahaClient
from whatsignal.clock import Clock
from whatsignal.convert.safe import clean_text
from whatsignal.convert.text import chat_number, mention_numbers, with_mentions
from whatsignal.errors import ClientError, StorageError
from whatsignal.models.waha import WaMessage
from whatsignal.relay.identities import Identities, is_lid, lid_label
from whatsignal.storage import Caches, Contact, Group

__all__ = ["Names"]

log = logging.getLogger("whatsignal.names")

NAME_CACHE_MAX = 50_000
NAME_MISS_TTL = 300.0
MENTION_LOOKUPS = 20
"""At most this many mentioned numbers of one message are looked up (the rest stay numbers)."""
MENTION_CONCURRENCY = 4
"""How many of a message's mention lookups may run at once."""

Kind = Literal["contact", "group"]


@attrs.define(eq=False, kw_only=True)
class Names:
    """Contact and group names of every session, cached in memory and in the store.

    Args:
        contact_ttl, group_ttl: how long a known name is trusted (``whatsapp.contactCacheHours``,
            ``whatsapp.groups.cacheHours``) before WAHA is asked again.
    """

    store: Caches
    waha: WahaClient
    clock: Clock
    identities: Identities
    contact_ttl: float = 24 * 3600.0
    group_ttl: float = 24 * 3600.0
    _memory: dict[tuple[Kind, str, str], tuple[str | None, float]] = attrs.field(
        factory=dict, init=False
    )

    def cached(self, kind: Kind, session: str, key: str) -> str | None:
        """A name known in memory now, without asking anyone (None: not known)."""
        entry = self._memory.get((kind, session, key))
        if entry is None or entry[1] < self.clock():
            return None
        return entry[0]

    def _remember(
        self, kind: Kind, session: str, key: str, name: str | None, until: float | None = None
    ) -> None:
        """Keep a name in memory until ``until`` (default: a full TTL from now, or the miss
        TTL for no name)."""
        if len(self._memory) >= NAME_CACHE_MAX:
            self._memory.clear()  # crude but bounded; the store still has every name
        if until is None:
            ttl = self._ttl(kind) if name else NAME_MISS_TTL
            until = self.clock() + ttl
        self._memory[(kind, session, key)] = (name, until)

    def sessions(self) -> set[str]:
        """The sessions names are kept in memory for now."""
        return {session for _kind, session, _key in self._memory}

    def forget(self, session: str) -> None:
        """The session is gone: its names leave memory (the store keeps them for retention)."""
        for key in [k for k in self._memory if k[1] == session]:
            del self._memory[key]
        self.identities.forget(session)

    def _ttl(self, kind: Kind) -> float:
        return self.group_ttl if kind == "group" else self.contact_ttl

    async def sender(self, session: str, msg: WaMessage) -> str:
        """Display name of a message's sender (saved name, push name, number).

        A ``@lid`` sender is named through the number behind it when WAHA knows one; a direct
        ``@c.us`` sender's LID is learned on the way, so that a chat of theirs first seen as
        ``@lid`` becomes the same chat as this one (:func:`~.identities.canonical_chat`).
        """
        sender = msg.sender_id
        if is_lid(sender):
            phone = await self.identities.phone_of(session, sender)
            name = await self.contact(session, phone or sender)
            number = chat_number(phone) if phone else None
            return name or msg.notify_name or number or lid_label(sender)
        if not msg.is_group and chat_number(sender):
            await self.identities.lid_of(session, sender)
        name = await self.contact(session, sender)
        return name or msg.notify_name or chat_number(sender) or sender.partition("@")[0]

    async def contact(self, session: str, contact_id: str) -> str | None:
        """A contact's saved name, or None when nobody knows one."""
        return await self._name("contact", session, contact_id)

    async def group(self, session: str, group_id: str) -> str:
        """A group's subject, or its id when nobody knows one."""
        return await self._name("group", session, group_id) or group_id.partition("@")[0]

    async def with_mention_names(self, session: str, body: str) -> str:
        """``@491701234567`` in a WhatsApp text becomes ``@Name`` when the contact has a name
        (WhatsApp shows names there; the raw text only has the numbers). A mentioned LID
        (``@214748364701234``) becomes the name, or else the number, of the person behind it;
        one WAHA cannot resolve keeps its digits (the text cannot tell it from a number)."""
        numbers = mention_numbers(body)
        if not numbers:
            return body
        # Bounded: a message may mention thousands of numbers. Only the first MENTION_LOOKUPS
        # are looked up, MENTION_CONCURRENCY at a time; the rest keep their numbers.
        names: dict[str, str | None] = {}

        async def look_up(number: str, limiter: trio.CapacityLimiter) -> None:
            async with limiter:
                names[number] = await self._mentioned(session, number)

        limiter = trio.CapacityLimiter(MENTION_CONCURRENCY)
        try:
            async with trio.open_nursery() as nursery:
                for number in numbers[:MENTION_LOOKUPS]:
                    nursery.start_soon(look_up, number, limiter)
        except* StorageError as group:
            # The store is unwell, not the message: one StorageError for the poller to see.
            raise StorageError(f"name lookup failed: {group.exceptions[0]}") from group
        return with_mentions(body, names)

    async def _mentioned(self, session: str, digits: str) -> str | None:
        """The name of a mentioned ``@digits``: a contact's, else the person's behind the LID."""
        name = await self.contact(session, f"{digits}@c.us")
        if name:
            return name
        phone = await self.identities.phone_of(session, f"{digits}@lid")
        if phone is None:
            return None
        return await self.contact(session, phone) or chat_number(phone)

    async def _name(self, kind: Kind, session: str, key: str) -> str | None:
        """Memory, then the store (trusted until its own TTL ends, not a new one), then WAHA.

        When WAHA does not answer, an outdated stored name is still shown, and WAHA is asked
        again after the miss TTL rather than a whole TTL later.
        """
        entry = self._memory.get((kind, session, key))
        now = self.clock()
        if entry is not None and entry[1] >= now:
            return entry[0]
        if kind == "group":
            group = await self.store.get_group(session, key)
            stored, stamped = (group.name, group.updated_at) if group else (None, 0.0)
        else:
            contact = await self.store.get_contact(session, key)
            stored, stamped = (contact.name, contact.updated_at) if contact else (None, 0.0)
        if stored and now - stamped < self._ttl(kind):
            self._remember(kind, session, key, stored, until=stamped + self._ttl(kind))
            return stored
        name: str | None = None
        try:
            if kind == "group":
                name = await self.waha.group_name(session, key)
            else:
                name = await self.waha.contact_name(session, key)
        except ClientError as error:
            log.debug("%s lookup failed for %s: %s", kind, wlog.chat(key), error)
        if name:
            name = clean_text(name)
            now = self.clock()
            if kind == "group":
                await self.store.put_group(Group(session, key, name, now))
            else:
                await self.store.put_contact(Contact(session, key, name, chat_number(key), now))
            self._remember(kind, session, key, name)
            return name
        self._remember(kind, session, key, stored or None, until=self.clock() + NAME_MISS_TTL)
        return stored or None

    async def sync(self, sessions: Sequence[str], *, contacts: bool, groups: bool) -> int:
        """Fetch every contact and/or group name of ``sessions`` into the caches, so the first
        message of each chat needs no lookup (``whatsapp.contactSyncOnStartup``,
        ``whatsapp.groups.syncOnStartup``). Returns how many names were stored; a session
        whose lists fail is logged and skipped."""
        stored = 0
        now = self.clock()
        for session in sessions:
            try:
                if contacts:
                    for contact_id, name in (await self.waha.contact_names(session)).items():
                        contact_id, name = clean_text(contact_id), clean_text(name)
                        contact = Contact(session, contact_id, name, chat_number(contact_id), now)
                        await self.store.put_contact(contact)
                        self._remember("contact", session, contact_id, name)
                        stored += 1
                if groups:
                    for group_id, name in (await self.waha.group_names(session)).items():
                        group_id, name = clean_text(group_id), clean_text(name)
                        await self.store.put_group(Group(session, group_id, name, now))
                        self._remember("group", session, group_id, name)
                        stored += 1
            except ClientError as error:
                log.warning("start-up name sync failed: %s", error, extra={"session": session})
        if stored:
            log.info("start-up sync cached %d contact and group names", stored)
        return stored
