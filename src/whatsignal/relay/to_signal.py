"""WhatsApp -> Signal: what a session's poller does with a journaled WAHA event.

A message becomes ``"{name}: {body}"`` (``"{name} in {group}: ..."`` in a group) from the bridge
number to the channel's destination, with its media attached; a reply to a bridged message
becomes a Signal quote of it. Reactions, edits and deletions use Signal's own; a contact reading
what the user wrote becomes a read receipt on the user's Signal message.

Each handler returns the message mappings to record with the row's ``done`` (one transaction,
DESIGN.md section 2.3), or raises (see :mod:`whatsignal.relay.upstreams`; PayloadError for a
row that can never be handled).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import attrs
import trio

from whatsignal import log as wlog
from whatsignal.channels import Route
from whatsignal.clients import OutboundAttachment, Spool
from whatsignal.clock import Clock
from whatsignal.convert import markup
from whatsignal.convert.markup import Styled, literal
from whatsignal.convert.media import MediaPolicy
from whatsignal.convert.polls import whatsapp_poll
from whatsignal.convert.safe import clean_strings
from whatsignal.convert.text import (
    location_text,
    message_id_candidates,
    reply_context,
    vcard_text,
)
from whatsignal.errors import ApiError, PayloadError
from whatsignal.metrics import Metrics
from whatsignal.models.waha import (
    WaAck,
    WaGroupUpdate,
    WaMessage,
    WaPollVote,
    WaReaction,
    WaRevoked,
)
from whatsignal.relay.names import Names
from whatsignal.relay.poll_votes import PollStore, PollVotes
from whatsignal.relay.polls import PollSender
from whatsignal.relay.portals import PortalKeeper
from whatsignal.relay.upstreams import Deferred, UpstreamError, Upstreams, too_large
from whatsignal.reliability import Failure
from whatsignal.serde import parse_waha_event, parse_waha_payload
from whatsignal.storage import ACK_PENDING, ACK_READ, BridgedPoll, JournalRow, MessageMapping

__all__ = ["ToSignal", "quote_author", "view_once"]

log = logging.getLogger("whatsignal.relay")

MEDIA_RETRY_WINDOW = 180.0
"""How long (seconds after the bridge received the message) a media download that fails
transiently is retried before the message is sent without its file. WAHA deletes received
files after ``WHATSAPP_FILES_LIFETIME`` (180 s by default), so later retries would only meet a
404 while the text waits. It is counted from the row's ``received_at``, not from the first
attempt, so a restart of the bridge does not start it again."""

NOT_FETCHED = "[media could not be fetched]"
"""What the recipient reads instead of a file that could not be downloaded from WAHA."""


def view_once(msg: WaMessage) -> bool:
    """Whether WhatsApp marked the message's media as viewable once: WEBJS engine data
    ``_data.isViewOnce``, NOWEB/GOWS a ``viewOnceMessage*`` wrapper (not in WAHA's schema)."""
    data = msg.data or {}
    if data.get("isViewOnce") is True:
        return True
    inner = data.get("message")
    return isinstance(inner, dict) and any(k.startswith("viewOnceMessage") for k in inner)


def quote_author(route: Route, mapping: MessageMapping) -> str:
    """Who wrote a bridged Signal message: the bridge number, or the destination itself."""
    return route.bridge_number if mapping.direction == "wa_to_signal" else route.destination


@attrs.define(eq=False, kw_only=True)
class ToSignal:
    """Relays WAHA events of a session's rows to the channel's Signal destination."""

    upstreams: Upstreams
    names: Names
    store: PollStore
    metrics: Metrics
    clock: Clock
    portals: PortalKeeper
    media: MediaPolicy = attrs.field(factory=MediaPolicy)
    _votes: PollVotes = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._votes = PollVotes(
            upstreams=self.upstreams, names=self.names, store=self.store, metrics=self.metrics
        )

    async def handle(self, route: Route, row: JournalRow) -> Sequence[MessageMapping]:
        """Relay one WhatsApp row; returns the mappings to record.

        Every string of the payload (text, names, captions, quotes, file names) has its lone
        surrogates replaced first: they could not be sent, stored or logged.
        """
        event = parse_waha_event(row.payload)
        payload = parse_waha_payload(attrs.evolve(event, payload=clean_strings(event.payload)))
        match payload:
            case WaMessage():
                # The message's file, if any, is kept here until the row is handled (sent,
                # failed, or cancelled): the sends read it from there.
                with Spool(self.media.temp_dir) as spool:
                    if row.kind == "message.edited":
                        return await self._edit(route, payload, row.received_at, spool)
                    return await self._message(route, payload, row.received_at, spool)
            case WaAck():
                await self._ack(route, payload)
            case WaReaction():
                await self._reaction(route, payload)
            case WaRevoked():
                await self._revoked(route, payload)
            case WaPollVote():
                await self._votes.to_signal(route, payload, unreadable=row.kind.endswith("failed"))
            case WaGroupUpdate() if payload.group_id and payload.subject is not None:
                if route.portals:
                    await self.portals.renamed(route, payload.group_id, payload.subject)
            case _:
                raise PayloadError(f"row kind {row.kind!r} is not handled by pollers")
        return ()

    async def _mapping(
        self, session: str, message_id: str, chat_id: str, participant: str | None
    ) -> MessageMapping | None:
        for candidate in message_id_candidates(message_id, chat_id, participant):
            found = await self.store.mapping_by_whatsapp_id(session, candidate)
            if found is not None:
                return found
        return None

    async def _media(
        self, route: Route, msg: WaMessage, received_at: float, spool: Spool
    ) -> tuple[list[OutboundAttachment], str]:
        """The attachment of a media message (downloaded into ``spool``), or a note saying why
        there is none.

        A media failure never costs the message its text. A refused URL, an expired file (404),
        a file over its limit or any other permanent failure is a note at once. A transient
        one (no answer, 5xx, breaker open, slower than ``media.downloadTimeoutSec``) is raised
        so that the poller retries the row with backoff, until the row is
        :data:`MEDIA_RETRY_WINDOW` old; then it is a note too.
        """
        media = msg.media
        if media is None or not media.url:
            return [], "[media not downloaded by WAHA]"
        policy = self.media
        may_retry = self.clock() - received_at < MEDIA_RETRY_WINDOW
        try:
            with trio.fail_after(policy.download_timeout):
                content_type = await self.upstreams.whatsapp.download(
                    route.session,
                    media.url,
                    max_bytes=policy.limit(media.mimetype, media.filename),
                    into=spool,
                )
        except trio.TooSlowError:
            if may_retry:
                raise Deferred(
                    "media download took longer than media.downloadTimeoutSec", 1.0
                ) from None
            return self._not_fetched(route, msg, "slower than media.downloadTimeoutSec")
        except Deferred as deferred:
            if may_retry:
                raise
            return self._not_fetched(route, msg, str(deferred))
        except UpstreamError as error:
            if isinstance(error.error, ApiError) and error.error.status == 404:
                return [], "[media expired before it could be fetched]"
            if too_large(error.error):
                return [], policy.too_large_note(media.mimetype, media.filename)
            if may_retry and error.failure is Failure.TRANSIENT:
                raise
            return self._not_fetched(route, msg, str(error))
        mime = media.mimetype or content_type or "application/octet-stream"
        return [OutboundAttachment(spool, mime, media.filename)], ""

    def _not_fetched(
        self, route: Route, msg: WaMessage, reason: str
    ) -> tuple[list[OutboundAttachment], str]:
        log.warning(
            "whatsapp -> signal: media of a message in %s not fetched, sent without it: %s",
            wlog.chat(msg.chat_id),
            wlog.mask_text(reason),
            extra={"session": route.session},
        )
        return [], NOT_FETCHED

    async def _body(self, session: str, msg: WaMessage) -> Styled:
        """The message's own text: its markup read as styles; a place or a card as text."""
        text = await self._plain_body(session, msg)
        if msg.location is not None or msg.v_cards:
            return literal(text)
        return markup.parse_whatsapp(text)

    async def _plain_body(self, session: str, msg: WaMessage) -> str:
        if msg.location is not None:
            # The body of a location message is engine data (a thumbnail), not text.
            place = msg.location
            label = place.name or place.description or place.address
            return location_text(
                place.latitude, place.longitude, label=label, url=place.url, live=bool(place.live)
            )
        if msg.v_cards:
            return "\n".join(vcard_text(card) for card in msg.v_cards)
        return await self.names.with_mention_names(session, msg.body or "")

    async def _message(
        self, route: Route, msg: WaMessage, received_at: float, spool: Spool
    ) -> list[MessageMapping]:
        session, chat = route.session, msg.chat_id
        name = await self.names.sender(session, msg)
        group = await self.names.group(session, chat) if msg.is_group else None
        body = await self._body(session, msg)
        attachments: list[OutboundAttachment] = []
        if msg.has_media:
            attachments, note = await self._media(route, msg, received_at, spool)
            body = markup.lines([body, literal(note)])
        quote: MessageMapping | None = None
        if msg.reply_to is not None and msg.reply_to.id:
            quote = await self._mapping(session, msg.reply_to.id, chat, msg.reply_to.participant)
            if quote is None and msg.reply_to.body:
                # The quoted message never crossed the bridge (older, or sent from the phone):
                # no Signal quote is possible, so say in words what is being answered.
                body = markup.lines([body, literal(reply_context(msg.reply_to.body))])
        portal = await self.portals.conversation(
            route, chat, name=group or name, is_group=msg.is_group
        )
        send: Callable[[str, Styled], Awaitable[int]] = partial(
            self._send,
            route.bridge_number,
            quote_timestamp=quote.signal_timestamp if quote else None,
            quote_author=quote_author(route, quote) if quote else None,
            attachments=attachments,
            view_once=bool(attachments) and view_once(msg),
        )
        poll = whatsapp_poll(msg.data, msg.body)
        sender: PollSender | None = None
        if poll is not None:  # the frame only: the poll carries its question
            body = literal("")
            sender = PollSender(signal=self.upstreams.signal, number=route.bridge_number, poll=poll)
            send = sender
        timestamp = None
        if portal is not None:
            try:
                timestamp = await send(portal, markup.in_portal(name, body, msg.is_group))
            except UpstreamError as error:
                if error.failure is not Failure.PERMANENT:
                    raise
                # The group cannot take it (gone, or not ours any more): the message goes to
                # the one-to-one conversation, and the portal is made again later.
                await self.portals.gone(route, chat)
                portal = None
        if timestamp is None:
            timestamp = await send(route.destination, markup.incoming(name, body, group))
        if poll is not None and sender is not None:  # its options, for the votes to come
            await self.store.put_poll(
                BridgedPoll(
                    session, msg.id, poll.options, poll.multiple, sender.native, self.clock()
                )
            )
        log.info(
            "whatsapp -> signal: %s message in %s forwarded",
            "group" if group else "direct",
            wlog.chat(chat),
            extra={"session": session},
        )
        self.metrics.forwarded.labels("wa_to_signal", "message").inc()
        return [
            MessageMapping(
                session=session,
                whatsapp_id=msg.id,
                chat_id=chat,
                bridge_number=route.bridge_number,
                destination=route.destination,
                signal_timestamp=timestamp,
                direction="wa_to_signal",
                created_at=self.clock(),
                sender_name=name,
                signal_group=portal,
            )
        ]

    async def _send(self, number: str, recipient: str, text: Styled, **options: Any) -> int:
        return await self.upstreams.signal.send(
            number, recipient, markup.render_styled(text), text_mode="styled", **options
        )

    async def _edit(
        self, route: Route, msg: WaMessage, received_at: float, spool: Spool
    ) -> list[MessageMapping]:
        original = msg.edited_message_id
        mapping = (
            await self._mapping(route.session, original, msg.chat_id, msg.participant)
            if original
            else None
        )
        if mapping is None or mapping.direction != "wa_to_signal":
            # The original never crossed the bridge (or is too old): show the new text as a message.
            return await self._message(route, msg, received_at, spool)
        name = mapping.sender_name or await self.names.sender(route.session, msg)
        group = await self.names.group(route.session, msg.chat_id) if msg.is_group else None
        body = await self._body(route.session, msg)
        portal = mapping.signal_group
        await self.upstreams.signal.send(
            route.bridge_number,
            portal or route.destination,
            markup.render_styled(
                markup.in_portal(name, body, msg.is_group)
                if portal
                else markup.incoming(name, body, group)
            ),
            edit_timestamp=mapping.signal_timestamp,
            text_mode="styled",
        )
        self.metrics.forwarded.labels("wa_to_signal", "edit").inc()
        return []

    async def _ack(self, route: Route, ack: WaAck) -> None:
        ids = [ack.id]
        # WEBJS group sends answer an id without the participant suffix that acks carry
        # (WAHA #1464).
        parts = ack.id.split("_")
        if len(parts) > 3:
            ids.append("_".join(parts[:3]))
        for whatsapp_id in ids:
            mapping = await self.store.mapping_by_whatsapp_id(route.session, whatsapp_id)
            if mapping is None:
                continue
            before = mapping.delivery_status if mapping.delivery_status is not None else ACK_PENDING
            level = ack.level
            if level is None or not await self.store.update_delivery(
                route.session, whatsapp_id, level
            ):
                return
            # The WhatsApp contact read a message the user wrote in Signal: show it read there
            # too (a read receipt from the bridge number). Direct chats only: in a group, one
            # member's read is not "read".
            if (
                level >= ACK_READ > before
                and mapping.direction == "signal_to_wa"
                and not mapping.chat_id.endswith("@g.us")
            ):
                await self.upstreams.signal.read_receipt(
                    mapping.bridge_number, mapping.destination, timestamp=mapping.signal_timestamp
                )
                self.metrics.forwarded.labels("wa_to_signal", "read_receipt").inc()
            return

    async def _reaction(self, route: Route, reaction: WaReaction) -> None:
        chat = reaction.to if reaction.from_me else reaction.from_
        mapping = await self._mapping(
            route.session, reaction.reaction.message_id, chat or "", reaction.participant
        )
        if mapping is None:
            log.debug("reaction to a message that never crossed the bridge; ignored")
            return
        emoji = reaction.reaction.text
        await self.upstreams.signal.react(
            route.bridge_number,
            mapping.signal_group or route.destination,
            emoji or "👍",
            target_author=quote_author(route, mapping),
            target_timestamp=mapping.signal_timestamp,
            remove=not emoji,
        )
        self.metrics.forwarded.labels("wa_to_signal", "reaction").inc()

    async def _revoked(self, route: Route, revoked: WaRevoked) -> None:
        after = revoked.after or {}
        chat = after.get("from") if isinstance(after.get("from"), str) else ""
        participant = (
            after.get("participant") if isinstance(after.get("participant"), str) else None
        )
        mapping = await self._mapping(
            route.session, revoked.revoked_message_id or "", str(chat), participant
        )
        if mapping is None or mapping.direction != "wa_to_signal":
            return
        await self.upstreams.signal.remote_delete(
            route.bridge_number,
            mapping.signal_group or route.destination,
            timestamp=mapping.signal_timestamp,
        )
        self.metrics.forwarded.labels("wa_to_signal", "revoke").inc()
