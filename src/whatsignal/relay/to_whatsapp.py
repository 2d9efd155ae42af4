"""Signal -> WhatsApp: what a session's poller does with a routed Signal envelope.

By the time a Signal row reaches a session's queue the router has chosen its chat
(:mod:`whatsignal.relay.router`). A message goes as a WhatsApp reply to the quoted bridged
message when there is one; attachments go by type (image, video, voice, file) with the text as
the first one's caption; reactions, edits and deletions are made in WhatsApp; a read receipt
marks the chat's bridged messages read.

Engine quirks handled here: WEBJS cannot always find a quoted message (the text goes unquoted,
WAHA #698) and cannot send videos without Chrome (the video goes as a document, WAHA #1924).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Protocol

import attrs

from whatsignal import log as wlog
from whatsignal.channels import Route
from whatsignal.clients import FileData, MediaKind, Spool, attachment_id_ok, group_id_of
from whatsignal.clock import Clock
from whatsignal.convert.formatting import outgoing_text
from whatsignal.convert.media import MediaPolicy, whatsapp_kind
from whatsignal.convert.safe import clean_strings
from whatsignal.convert.text import contains_url
from whatsignal.errors import ApiError, PayloadError
from whatsignal.metrics import Metrics
from whatsignal.models.signal_api import SigAttachment, SigDataMessage, SigReceived
from whatsignal.relay.identities import canonical_chat
from whatsignal.relay.notices import NOTICE_VIEW_ONCE_WITHHELD, Notices
from whatsignal.relay.poll_votes import vote_to_whatsapp
from whatsignal.relay.send_once import Engines, RowSends
from whatsignal.relay.upstreams import Deferred, UpstreamError, Upstreams, too_large
from whatsignal.reliability import Failure, waha_quote_failed
from whatsignal.serde import parse_signal_received
from whatsignal.storage import Caches, JournalRow, Mappings, MessageMapping, Polls, SendParts

__all__ = ["ReplyStore", "ToWhatsApp"]

log = logging.getLogger("whatsignal.relay")

BAD_ATTACHMENT_ID = "[a file could not be forwarded: signal-cli gave it no valid id]"
"""What the chat reads instead of an attachment whose id signal-cli cannot have given (empty,
``.``, ``../x``, ...): it is never fetched, and the message goes on without it."""


class ReplyStore(Mappings, Caches, SendParts, Polls, Protocol):
    """What replies keep and read: the mappings, the LID pairings that make a person one chat,
    their sends' pre-generated ids and progress, and the options of polls voted on."""


@attrs.define(eq=False, kw_only=True)
class ToWhatsApp:
    """Relays routed Signal envelopes to their WhatsApp chat.

    Args:
        engines: which engine runs each session: a text sent on GOWS or NOWEB carries a
            pre-generated id, so that its retries are one message
            (:mod:`whatsignal.relay.send_once`).
        link_preview: ask WAHA for a link preview when a text has a URL
            (``whatsapp.linkPreview``).
        notices: tells the user what was not sent (view-once media).
    """

    upstreams: Upstreams
    store: ReplyStore
    engines: Engines
    metrics: Metrics
    clock: Clock
    notices: Notices
    media: MediaPolicy = attrs.field(factory=MediaPolicy)
    link_preview: bool = True

    async def handle(self, route: Route, row: JournalRow) -> Sequence[MessageMapping]:
        """Relay one routed Signal row; returns the mappings to record (lone surrogates in the
        envelope's strings are replaced first: they could not be sent)."""
        item = parse_signal_received(clean_strings(json.loads(row.payload)))
        env = item.envelope
        if env.receipt_message is not None:
            await self._read(route, item, env.receipt_message.timestamps)
            return []
        if env.edit_message is not None:
            await self._edit(route, item)
            return []
        data = env.data_message
        if data is None:
            return []
        if data.reaction is not None:
            await self._reaction(route, item, data)
            return []
        if data.remote_delete is not None:
            await self._delete(route, item, data.remote_delete.timestamp)
            return []
        if data.poll_vote is not None:
            vote = data.poll_vote
            await vote_to_whatsapp(
                self.upstreams, self.store, self.metrics, route, item.account, vote
            )
            return []
        if row.chat is None:
            raise PayloadError("a Signal message reached a session queue without a chat")
        # The message's files are kept until the row is handled (sent, failed, or cancelled).
        with ExitStack() as held:
            return await self._message(route, row.chat, item, data, row.key, held)

    async def _target(self, account: str, stamp: int, session: str) -> MessageMapping | None:
        """The bridged message a Signal timestamp names, if it belongs to this session."""
        found = await self.store.mapping_by_signal_timestamp(account, stamp)
        return found if found is not None and found.session == session else None

    async def _read(self, route: Route, item: SigReceived, stamps: Sequence[int]) -> None:
        """Mark what the user read in Signal as seen in WhatsApp, each message in its own
        session: one receipt may cover chats of several sessions of the same person. The
        row's own session must take it (a failure is retried); another session's is best
        effort (it may be down, and a read mark is not worth holding anything up for)."""
        by_chat: dict[tuple[str, str], list[str]] = {}
        for stamp in stamps:
            found = await self.store.mapping_by_signal_timestamp(item.account, stamp)
            if (
                found is not None
                and found.direction == "wa_to_signal"
                and (found.bridge_number, found.destination)
                == (route.bridge_number, route.destination)
            ):
                by_chat.setdefault((found.session, found.chat_id), []).append(found.whatsapp_id)
        for (session, chat), ids in by_chat.items():
            try:
                await self.upstreams.whatsapp.mark_seen(session, chat, ids)
            except (UpstreamError, Deferred) as error:
                if session == route.session:
                    raise
                log.info("marking read in another session failed: %s", error)

    async def _edit(self, route: Route, item: SigReceived) -> None:
        edit = item.envelope.edit_message
        assert edit is not None
        target = await self._target(item.account, edit.target_sent_timestamp, route.session)
        if target is None or target.direction != "signal_to_wa":
            return
        data = edit.data_message
        text = outgoing_text(
            data.message or "", [(t.start, t.length, t.style) for t in data.text_styles]
        )
        await self.upstreams.whatsapp.edit(route.session, target.chat_id, target.whatsapp_id, text)
        self.metrics.forwarded.labels("signal_to_wa", "edit").inc()

    async def _reaction(self, route: Route, item: SigReceived, data: SigDataMessage) -> None:
        reaction = data.reaction
        assert reaction is not None
        target = await self._target(item.account, reaction.target_sent_timestamp, route.session)
        if target is None:
            return
        emoji = "" if reaction.is_remove else reaction.emoji
        await self.upstreams.whatsapp.react(route.session, target.whatsapp_id, emoji)
        self.metrics.forwarded.labels("signal_to_wa", "reaction").inc()

    async def _delete(self, route: Route, item: SigReceived, stamp: int) -> None:
        target = await self._target(item.account, stamp, route.session)
        if target is None or target.direction != "signal_to_wa":
            return
        await self.upstreams.whatsapp.delete(route.session, target.chat_id, target.whatsapp_id)
        self.metrics.forwarded.labels("signal_to_wa", "delete").inc()

    async def _files(
        self, account: str, attachments: Sequence[SigAttachment], held: ExitStack
    ) -> tuple[list[tuple[SigAttachment, Spool]], list[str]]:
        """Fetch the attachments from signal-cli, each into a spool ``held`` closes; a file
        over its limit, or one whose id is not one signal-cli gives
        (:func:`~whatsignal.clients.attachment_id_ok`), becomes a note."""
        policy = self.media
        files: list[tuple[SigAttachment, Spool]] = []
        notes: list[str] = []
        for attachment in attachments:
            if not attachment_id_ok(attachment.id):
                log.warning("signal -> whatsapp: an attachment without a valid id was not fetched")
                notes.append(BAD_ATTACHMENT_ID)
                continue
            limit = policy.limit(attachment.content_type, attachment.filename)
            if attachment.size is not None and attachment.size > limit:
                notes.append(policy.too_large_note(attachment.content_type, attachment.filename))
                continue
            spool = held.enter_context(Spool(policy.temp_dir))
            try:
                await self.upstreams.signal.attachment(
                    account, attachment.id, max_bytes=limit, into=spool
                )
            except UpstreamError as error:
                if not too_large(error.error):
                    raise
                notes.append(policy.too_large_note(attachment.content_type, attachment.filename))
                continue
            files.append((attachment, spool))
        return files, notes

    async def _message(
        self,
        route: Route,
        chat: str,
        item: SigReceived,
        data: SigDataMessage,
        key: str,
        held: ExitStack,
    ) -> list[MessageMapping]:
        """Send a message: each file, then the text unless it went as a caption. Each send is
        a part of the row (:mod:`whatsignal.relay.send_once`): a part an earlier attempt sent
        is not sent again, and a text carries the id stored for it, where the engine takes
        one."""
        session = route.session
        reply_to: str | None = None
        if data.quote is not None:
            quoted = await self.store.mapping_by_signal_timestamp(item.account, data.quote.id)
            if (
                quoted is not None
                and quoted.session == session
                # A message recorded under the person's @lid id quotes in their @c.us chat.
                and await canonical_chat(self.store, session, quoted.chat_id) == chat
            ):
                reply_to = quoted.whatsapp_id
        text = outgoing_text(
            data.message or "", [(t.start, t.length, t.style) for t in data.text_styles]
        )
        attachments = data.attachments
        if data.view_once and attachments:
            # WAHA's media sends have no view-once option: WhatsApp would keep the file for
            # good, which is not what the sender chose. It stays in Signal; they are told.
            attachments = ()
            log.info("signal -> whatsapp: view-once media withheld", extra={"session": session})
            await self.notices.tell(
                route.bridge_number, route.destination, NOTICE_VIEW_ONCE_WITHHELD
            )
        files, notes = await self._files(item.account, attachments, held)
        if notes:
            text = "\n".join([text, *notes]) if text else "\n".join(notes)
        # Each part by its attachment's place in the message (by identity: two attachments
        # may be equal), the text after the last one.
        places = {id(a): i for i, a in enumerate(data.attachments)}
        plan: list[tuple[int, SigAttachment | None, FileData, str | None]] = []
        caption_pending = bool(text)
        for attachment, spool in files:
            kind = whatsapp_kind(attachment.content_type or "application/octet-stream")
            caption = text if caption_pending and kind != "voice" else None
            caption_pending = caption_pending and caption is None
            plan.append((places[id(attachment)], attachment, spool, caption))
        if caption_pending:
            plan.append((len(data.attachments), None, b"", text))
        sends = await RowSends.load(
            self.store,
            self.upstreams.whatsapp,
            row_key=key,
            session=session,
            chat=chat,
            engine=self.engines.engine(session),
        )
        first_id = ""
        for number, (index, part_file, blob, caption) in enumerate(plan):
            sent = sends.sent(index)
            if sent is None:
                if part_file is None:
                    message_id = await sends.message_id(index)
                    answered = await self._send_text(session, chat, text, reply_to, message_id)
                else:
                    answered = await self._send_file(
                        session, chat, part_file, blob, caption, reply_to
                    )
                sent = await sends.done(index, answered, last=number == len(plan) - 1)
            first_id = first_id or sent
        log.info(
            "signal -> whatsapp: message to %s sent", wlog.chat(chat), extra={"session": session}
        )
        self.metrics.forwarded.labels("signal_to_wa", "message").inc()
        if not first_id:
            return []
        return [
            MessageMapping(
                session=session,
                whatsapp_id=first_id,
                chat_id=chat,
                bridge_number=item.account,
                destination=route.destination,
                signal_timestamp=item.envelope.timestamp,
                direction="signal_to_wa",
                created_at=self.clock(),
                # Written in the chat's portal: WhatsApp's reactions, edits and deletes of it
                # show there.
                signal_group=group_id_of(data.group_info.group_id) if data.group_info else None,
            )
        ]

    async def _send_text(
        self, session: str, chat: str, text: str, reply_to: str | None, message_id: str | None
    ) -> str:
        preview = self.link_preview and contains_url(text)
        send = self.upstreams.whatsapp.send_text
        try:
            return await send(
                session, chat, text, reply_to=reply_to, link_preview=preview, message_id=message_id
            )
        except UpstreamError as error:
            if reply_to is None or not waha_quote_failed(error.error):
                raise
            # WEBJS cannot always find the quoted message (WAHA #698): send it unquoted.
            return await send(
                session, chat, text, reply_to=None, link_preview=preview, message_id=message_id
            )

    async def _send_file(
        self,
        session: str,
        chat: str,
        attachment: SigAttachment,
        blob: FileData,
        caption: str | None,
        reply_to: str | None,
    ) -> str:
        content_type = attachment.content_type or "application/octet-stream"
        kind = whatsapp_kind(content_type)
        return await self._send_kind(
            session, chat, kind, blob, content_type, attachment.filename, caption, reply_to
        )

    async def _send_kind(
        self,
        session: str,
        chat: str,
        kind: MediaKind,
        blob: FileData,
        content_type: str,
        filename: str | None,
        caption: str | None,
        reply_to: str | None,
    ) -> str:
        """Send one file by kind. A video WAHA's engine cannot send (WEBJS without Chrome
        answers 422, WAHA #1924) goes as a document, and a reply whose quoted message WEBJS
        cannot find goes unquoted, instead of failing."""
        send = self.upstreams.whatsapp.send_media
        try:
            return await send(
                session,
                chat,
                kind,
                data=blob,
                mimetype=content_type,
                filename=filename,
                caption=caption,
                reply_to=reply_to,
            )
        except UpstreamError as error:
            if reply_to is not None and waha_quote_failed(error.error):
                # WEBJS cannot always find the quoted message (WAHA #698): send it unquoted.
                return await self._send_kind(
                    session, chat, kind, blob, content_type, filename, caption, None
                )
            refused = isinstance(error.error, ApiError) and error.error.status == 422
            if kind != "video" or not refused or error.failure is not Failure.PERMANENT:
                raise
        log.info(
            "WAHA cannot send videos here; sending it as a document", extra={"session": session}
        )
        return await self._send_kind(
            session, chat, "file", blob, content_type, filename, caption, reply_to
        )
