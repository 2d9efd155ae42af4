"""Router: which WAHA session and chat a journaled Signal envelope belongs to.

Rules (DESIGN.md section 3.2):

1. The sender must be the destination of a channel served by this bridge number; anyone else
   is never forwarded (counted and logged: the Go version forwarded strangers).
2. Reactions, deletes, edits, read receipts and poll votes follow the mapping of the message
   they target (a vote on a poll the bridge does not know is told once per poll).
3. A quote resolves through the mapping (exact Signal timestamp). If the quoted message is
   unknown, the quoted text ``"Name: ..."`` names the chat; if that fails too, the message is NOT
   sent anywhere (a guess could put it in the wrong chat): the sender gets a notice instead.
4. No quote: the destination's most recent chat, across its channel's sessions: the chat of
   the latest bridged message, or where the destination's previous message was routed if that
   is more recent (a reply is only mapped once delivered; a follow-up must not overtake it).
   A person who writes from a ``@lid`` id and a ``@c.us`` id is one chat: rules 3 and 4 send
   to the ``@c.us`` id once the number behind the LID is known (``relay/identities.py``).
5. Nothing to go on: a notice in Signal saying how to fix it (quote a message).
6. What the destination writes in a Signal group the bridge number belongs to is never
   forwarded: only the one-to-one conversation with the bridge number speaks for WhatsApp. They
   are told so once per group, in that one-to-one conversation; anyone else in the group is
   ignored silently.

A session that is not WORKING right now does not change where a reply goes: it goes to its
chat's session all the same, where it waits, in order, until the session works again (the
session's poller holds it and tells the user). Routing it to another session's chat instead
would give it to a stranger.

The router owns what it learns on the way: where each destination's last message went, and
which Signal uuid belongs to which number. One router serves every bridge number's receiver.

Who sent an envelope (:meth:`Router.sender`): its ``sourceNumber`` when it shows one; else its
uuid, through the uuid <-> number pairings the bridge knows, else through signal-cli's contact
list. Since rule 1 trusts a pairing as much as a number, pairings are learned only from
signal-cli itself:

- **signal-cli's contact list** (``GET /v1/contacts/{number}``) is the authority: every complete
  entry is stored, and it may change a known pairing (a number re-registered with a new uuid,
  an account that moved to another number);
- **an envelope signal-cli handed to the receiver** (its websocket or long poll, never the push
  path: ``/webhook/signal`` is reachable by anyone who holds the push token, and the journal
  does not record which path a row came by) teaches a pairing it shows both halves of
  (:meth:`Router.learn`), but only when neither its number nor its uuid is paired yet. A known
  pairing is never changed by an envelope: a number paired with uuid A is not re-paired to
  uuid B, and uuid A is not moved to another number;
- routing an envelope (:meth:`Router.decide`) learns nothing, whichever path it came by.

So an envelope that pairs the destination's number with a stranger's uuid cannot make the
bridge take that stranger for the destination later.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

import attrs

from whatsignal import log as wlog
from whatsignal.channels import ChannelMap
from whatsignal.clients import SignalClient
from whatsignal.clock import Clock
from whatsignal.convert import commands
from whatsignal.convert.safe import clean_text
from whatsignal.convert.text import quoted_sender
from whatsignal.errors import ClientError
from whatsignal.metrics import Metrics
from whatsignal.models.signal_api import SigReceived
from whatsignal.relay.chat_commands import ChatCommands
from whatsignal.relay.control import control_decision
from whatsignal.relay.decision import Decision, decided, group_of, is_group_update
from whatsignal.relay.identities import canonical_chat
from whatsignal.relay.mutes import MuteBook
from whatsignal.relay.notices import NOTICE_NO_CHAT, NOTICE_NO_SESSION, NOTICE_UNKNOWN_QUOTE
from whatsignal.relay.poll_votes import NOTICE_UNKNOWN_POLL, known_poll
from whatsignal.relay.portals import PortalKeeper
from whatsignal.storage import Caches, Chats, Mappings, MessageMapping, Polls

__all__ = ["NOTICE_NO_SESSION", "NOTICE_SIGNAL_GROUP", "Decision", "Router", "SessionView"]

NOTICE_SIGNAL_GROUP = (
    "⚠️ whatsignal: messages you write in Signal groups are not sent to WhatsApp. Write to this "
    "number directly (quote a forwarded message to choose the chat)."
)
TOLD_GROUPS_MAX = 10_000
CHECKED_IDENTITIES_MAX = 10_000
SENDER_RETRY_SEC = 5.0

log = logging.getLogger("whatsignal.router")


class RouterStore(Mappings, Caches, Chats, Polls, Protocol):
    """What the router reads and learns: mappings, group names, Signal identities, polls."""


class SenderUnknown(Exception):
    """Who sent an envelope cannot be told right now (signal-cli's contacts did not answer)."""


class SessionView(Protocol):
    """The WAHA sessions the bridge knows now, whatever their state (the session table)."""

    def known(self) -> Sequence[str]: ...


@attrs.frozen
class _RoutedTo:
    """Where the router last sent a destination's message (``at``: wall-clock time)."""

    session: str
    chat: str
    at: float


@attrs.define(eq=False, kw_only=True)
class Router:
    """Decides where each Signal envelope goes (see the module docstring for the rules)."""

    store: RouterStore
    signal: SignalClient
    channels: ChannelMap
    sessions: SessionView
    metrics: Metrics
    clock: Clock
    portals: PortalKeeper
    mutes: MuteBook
    _chats: ChatCommands = attrs.field(init=False)
    _last_routed: dict[tuple[str, str], _RoutedTo] = attrs.field(factory=dict, init=False)
    """Per ``(bridge number, destination)``: where its latest message was routed."""
    _known_identities: dict[str, str] = attrs.field(factory=dict, init=False)
    """Signal uuid -> number pairs of envelopes already checked against the store (learned,
    or refused because they contradict a known pairing): saves two reads per envelope."""
    _told: set[tuple[str, str, str]] = attrs.field(factory=set, init=False)
    """``(bridge number, destination, group id)`` already told that groups are not bridged;
    ``(..., "poll:<timestamp>")`` that the poll voted on is unknown."""

    def __attrs_post_init__(self) -> None:
        self._chats = ChatCommands(
            store=self.store,
            mutes=self.mutes,
            serves=self._serves,
            latest=self._latest,
            channels=self.channels,
            sessions=self.sessions,
            portals=self.portals,
        )

    async def learn(self, items: Iterable[SigReceived]) -> None:
        """Learn uuid <-> number pairings from envelopes signal-cli itself handed out.

        Only the receivers call this, with what they read from signal-cli's websocket or long
        poll; never with pushed envelopes nor from the journal (see the module docstring). A
        pairing is stored only when neither its number nor its uuid is paired yet: an envelope
        never changes a known pairing (only signal-cli's contact list does).

        Raises:
            StorageError: the store failed (nothing is lost: the pairing is learned from a
                later envelope, or from the contact list when it is needed).
        """
        for item in items:
            env = item.envelope
            number, uuid = env.source_number, env.source_uuid
            if not number or not uuid or self._known_identities.get(uuid) == number:
                continue
            known_number = await self.store.number_for_uuid(uuid)
            known_uuid = await self.store.uuid_for_number(number)
            if known_number is None and known_uuid is None:
                await self.store.put_signal_identity(number, uuid)
            elif (known_number, known_uuid) != (number, uuid):
                log.warning(
                    "a signal envelope pairs %s with uuid %s, which contradicts a known pairing;"
                    " not learned (only signal-cli's contact list changes a pairing)",
                    wlog.phone(number),
                    wlog.phone(uuid),
                )
            if len(self._known_identities) >= CHECKED_IDENTITIES_MAX:
                self._known_identities.clear()  # bounded; at worst checked twice
            self._known_identities[uuid] = number

    async def sender(self, item: SigReceived) -> str | None:
        """The sender's phone number: the envelope's own, else the one its uuid is paired with
        (users who hide their number arrive as a uuid only), from the store or else from
        signal-cli's contact list. Learns nothing from the envelope itself (:meth:`learn`)."""
        env = item.envelope
        if env.source_number:
            return env.source_number
        uuid = env.source_uuid or env.source
        if not uuid:
            return None
        if uuid.startswith("+"):
            return uuid
        known = await self.store.number_for_uuid(uuid)
        if known is not None:
            return known
        try:
            contacts = await self.signal.contacts(item.account)
        except ClientError as error:
            log.info("could not fetch signal contacts to resolve a uuid: %s", error)
            raise SenderUnknown(str(error)) from error
        found: str | None = None
        for contact in contacts:
            number, cuuid = contact.get("number"), contact.get("uuid")
            if isinstance(number, str) and number and isinstance(cuuid, str) and cuuid:
                # signal-cli's contact list is the authority: it may change a known pairing.
                await self.store.put_signal_identity(number, cuuid)
                if cuuid == uuid:
                    found = number
        return found

    async def decide(self, item: SigReceived) -> Decision:
        """Decide where one envelope goes."""
        env = item.envelope
        group = group_of(item)
        try:
            sender = await self.sender(item)
        except SenderUnknown:
            # Not a stranger for all we know: a destination who hides their number, while
            # signal-cli cannot be asked. Deciding now could drop their message.
            return Decision(ignore="sender not known yet", retry_after=SENDER_RETRY_SEC)
        if sender is None or not self.channels.is_destination(sender, item.account):
            if group is not None:
                return Decision(ignore="signal group message")  # silently: not our business
            self.metrics.strangers.inc()
            log.warning(
                "signal message from %s ignored: not a channel destination of %s",
                wlog.phone(sender or env.source),
                wlog.phone(item.account),
            )
            return Decision(ignore="sender is no channel's destination")
        account = item.account
        key = (account, sender)
        portal = None
        if group is not None:
            portal = await self.portals.written_in(account, sender, group)
            if portal is None:
                return self._group_message(key, group)
            if is_group_update(item):
                try:
                    return Decision(
                        ignore="portal update", notice=await self.portals.updated(portal)
                    )
                except ClientError:
                    return Decision(ignore="portal not readable", retry_after=SENDER_RETRY_SEC)

        async def by_timestamp(stamp: int) -> MessageMapping | None:
            found = await self.store.mapping_by_signal_timestamp(account, stamp)
            return found if found is not None and self._serves(found.session, key) else None

        if env.receipt_message is not None:
            target: MessageMapping | None = None
            for stamp in env.receipt_message.timestamps:
                target = await by_timestamp(stamp)
                if target is not None:
                    break
            return decided(target, "receipt for unknown messages")
        if env.edit_message is not None:
            target = await by_timestamp(env.edit_message.target_sent_timestamp)
            return decided(target, "edit of unknown message")
        data = env.data_message
        if data is None:
            return Decision(ignore="nothing to bridge")
        if data.reaction is not None:
            target = await by_timestamp(data.reaction.target_sent_timestamp)
            return decided(target, "reaction to unknown message")
        if data.remote_delete is not None:
            target = await by_timestamp(data.remote_delete.timestamp)
            return decided(target, "delete of unknown message")
        if data.poll_vote is not None:
            stamp = data.poll_vote.target_sent_timestamp
            target = await known_poll(self.store, await by_timestamp(stamp))
            if target is None:
                return self._once((*key, f"poll:{stamp}"), "unknown poll", NOTICE_UNKNOWN_POLL)
            return decided(target, "")
        if not (data.message or "").strip() and not data.attachments:
            return Decision(ignore="empty message")
        command = commands.parse(data.message)
        if command is not None and command.name in commands.CONTROL:
            known = self.sessions.known()
            return await control_decision(
                command, item, key, signal=self.signal, channels=self.channels, known=known
            )
        if command is not None and command.name != "escaped":
            quoted = data.quote.id if data.quote is not None else None
            decision = await self._chats.decide(command, key, quoted)
            if decision.session is None or decision.chat is None:
                return decision
            return await self._routed(key, decision.session, decision.chat)
        if portal is not None:  # whatever is written in a portal goes to its chat
            return Decision(session=portal.session, chat=portal.chat_id)
        if data.quote is not None:
            target = await by_timestamp(data.quote.id)
            if target is None:
                target = await self._by_quoted_name(key, data.quote.text)
            if target is None:
                return Decision(ignore="quoted message unknown", notice=NOTICE_UNKNOWN_QUOTE)
            return await self._routed(key, target.session, target.chat_id)
        unquoted = await self.reply_target(account, sender)
        if unquoted is None:
            return Decision(ignore="no chat to reply to", notice=NOTICE_NO_CHAT)
        return await self._routed(key, *unquoted)

    async def reply_target(self, account: str, sender: str) -> tuple[str, str] | None:
        """The ``(session, chat)`` an unquoted reply of ``sender`` would go to now (rule 4),
        or None; remembers nothing (typing asks it too: :mod:`whatsignal.relay.typing_relay`)."""
        key = (account, sender)
        latest = await self._latest(key)
        recent = self._last_routed.get(key)
        fresh = recent is not None and (latest is None or recent.at >= latest.created_at)
        if recent is not None and fresh and self._serves(recent.session, key):
            return recent.session, recent.chat
        if latest is None:
            return None
        return latest.session, await canonical_chat(self.store, latest.session, latest.chat_id)

    def _serves(self, session: str, key: tuple[str, str]) -> bool:
        """Whether ``session``'s chats belong to this destination on this bridge number (its
        own channel, or the ``"*"`` one), running or not."""
        route = self.channels.route(session)
        return route is not None and (route.bridge_number, route.destination) == key

    def _explicit(self, key: tuple[str, str]) -> list[str]:
        """The sessions named in the configuration for this destination."""
        return self.channels.sessions_for(key[1], key[0], ())

    def _serves_default(self, key: tuple[str, str]) -> bool:
        default = self.channels.default
        return default is not None and (default.bridge_number, default.destination) == key

    async def _latest(self, key: tuple[str, str]) -> MessageMapping | None:
        """The destination's latest bridged message, across its channel's sessions."""
        account, sender = key
        if self._serves_default(key):
            found = await self.store.latest_mapping(account, sender)
            if found is None or self._serves(found.session, key):
                return found
        explicit = self._explicit(key)
        if not explicit:
            return None
        return await self.store.latest_mapping(account, sender, sessions=explicit)

    async def _by_quoted_name(
        self, key: tuple[str, str], text: str | None
    ) -> MessageMapping | None:
        """The chat a quoted bridged text ``"Name: ..."`` / ``"Name in Group: ..."`` came from.

        Only the sender's latest message is known by name, so it must be in the same kind of
        chat as the quote says (a direct chat, or the named group): otherwise a reply to a
        private message could land in a group, or in another group of the same sender. When it
        does not fit, the reply is not sent (the caller sends a notice instead).
        """
        named = quoted_sender(clean_text(text) if text else text)
        if named is None:
            return None
        name, group = named
        account, sender = key
        found = await self.store.latest_mapping_by_name(
            account,
            sender,
            name,
            sessions=None if self._serves_default(key) else self._explicit(key),
        )
        if found is None or not self._serves(found.session, key):
            return None
        in_group = found.chat_id.endswith("@g.us")
        if group is None and not in_group:
            return found
        if group is not None and in_group:
            cached = await self.store.get_group(found.session, found.chat_id)
            # The forwarded text named the group by its cached subject, or by its id without one.
            if group in (cached.name if cached else None, found.chat_id.partition("@")[0]):
                return found
        log.info("quoted text names a sender whose latest chat is not the quoted one; not routed")
        return None

    def _group_message(self, key: tuple[str, str], group: str) -> Decision:
        """A destination wrote in a Signal group: never forwarded; told once per group."""
        decision = self._once((*key, group), "signal group message", NOTICE_SIGNAL_GROUP)
        if decision.notice:
            log.info("signal group message from a destination ignored: groups are not bridged")
        return decision

    def _once(self, told: tuple[str, str, str], reason: str, notice: str) -> Decision:
        """Ignore an envelope for ``reason``, with ``notice`` the first time for ``told``."""
        if told in self._told:
            return Decision(ignore=reason)
        if len(self._told) >= TOLD_GROUPS_MAX:
            self._told.clear()  # bounded; at worst someone is told twice
        self._told.add(told)
        return Decision(ignore=reason, notice=notice)

    async def _routed(self, key: tuple[str, str], session: str, chat: str) -> Decision:
        """Route a message to the person's one chat (a ``@lid`` chat whose number is known
        goes by its ``@c.us`` id), remembering it for an unquoted follow-up."""
        chat = await canonical_chat(self.store, session, chat)
        self._last_routed[key] = _RoutedTo(session, chat, self.clock())
        return Decision(session=session, chat=chat)
