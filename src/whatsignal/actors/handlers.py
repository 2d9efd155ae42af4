"""What a session worker does with each kind of journal row, one function per direction.

Each handler takes one pending row and either returns the message mappings to record with its
``done`` (one transaction, DESIGN.md section 2.3) or raises: a ClientError (classified by the
worker), :class:`~whatsignal.actors.context.Deferred`, or PayloadError for a row that can never be
handled. Handlers hold no state; everything they need is in the context.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import trio

from whatsignal import log as wlog
from whatsignal.actors.context import BridgeContext, Deferred, Route
from whatsignal.clients import OutboundAttachment
from whatsignal.convert import commands
from whatsignal.convert.formatting import signal_styles_to_whatsapp
from whatsignal.convert.text import (
    chat_number,
    contains_url,
    format_incoming,
    location_text,
    message_id_candidates,
    reply_context,
    vcard_text,
)
from whatsignal.errors import ApiError, ClientError, PayloadError
from whatsignal.models.signal_api import SigAttachment, SigDataMessage, SigReceived
from whatsignal.models.waha import WaAck, WaMessage, WaReaction, WaRevoked
from whatsignal.reliability import (
    CircuitBreaker,
    Failure,
    classify_signal,
    classify_waha,
    waha_quote_failed,
)
from whatsignal.serde import parse_signal_received, parse_waha_event, parse_waha_payload
from whatsignal.storage import ACK_PENDING, ACK_READ, Contact, Group, JournalRow, MessageMapping

__all__ = ["UpstreamError", "handle_row"]

log = logging.getLogger("whatsignal.worker")

T = TypeVar("T")
P = ParamSpec("P")


class UpstreamError(Exception):
    """A failed call, with which upstream failed and what the failure means."""

    def __init__(self, upstream: str, target: str, failure: Failure, error: ClientError) -> None:
        super().__init__(f"{upstream}: {error}")
        self.upstream = upstream
        self.target = target  # the WAHA session or the Signal bridge number
        self.failure = failure
        self.error = error


async def _through(
    ctx: BridgeContext,
    breaker: CircuitBreaker,
    classify: Callable[[ClientError], Failure],
    upstream: str,
    target: str,
    fn: Callable[P, Awaitable[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Make one upstream call: transient failures count against ``breaker``, every failure
    is classified and raised as an UpstreamError naming the upstream and its target."""
    try:
        result = await fn(*args, **kwargs)
    except ClientError as error:
        failure = classify(error)
        if failure is Failure.TRANSIENT:
            breaker.record_failure(ctx.now())
        raise UpstreamError(upstream, target, failure, error) from error
    breaker.record_success(ctx.now())
    return result


async def waha_call(
    ctx: BridgeContext,
    session: str,
    fn: Callable[P, Awaitable[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Make one WAHA call through the session's circuit breaker, classifying failures."""
    breaker = ctx.waha_breaker(session)
    if not breaker.allow(ctx.now()):
        raise Deferred(
            f"WAHA circuit breaker of session {session} open", breaker.retry_after(ctx.now())
        )
    return await _through(ctx, breaker, classify_waha, "waha", session, fn, *args, **kwargs)


async def signal_call(
    ctx: BridgeContext,
    number: str,
    fn: Callable[P, Awaitable[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Make one signal-cli call through the number's gate (breaker and rate-limit pause)."""
    gate = ctx.gate(number)
    gate.check(ctx.now())
    result = await _through(
        ctx, gate.breaker, classify_signal, "signal", number, fn, *args, **kwargs
    )
    if gate.challenge_tokens:
        # Signal accepts sends again: the rate limit is over, the challenge no longer matters.
        log.info("signal-cli rate limit on %s lifted", wlog.phone(number))
        gate.challenge_tokens = ()
    return result


async def handle_row(ctx: BridgeContext, row: JournalRow) -> Sequence[MessageMapping]:
    """Process one pending row of a session's queue; returns the mappings to record."""
    route = ctx.channels.route(row.queue)
    if route is None:
        raise PayloadError(f"session {row.queue!r} has no channel any more")
    if row.source == "whatsapp":
        event = parse_waha_event(row.payload)
        payload = parse_waha_payload(event)
        match payload:
            case WaMessage() if row.kind == "message.edited":
                return await _wa_edit(ctx, route, payload)
            case WaMessage():
                return await _wa_message(ctx, route, payload)
            case WaAck():
                await _wa_ack(ctx, route, payload)
            case WaReaction():
                await _wa_reaction(ctx, route, payload)
            case WaRevoked():
                await _wa_revoked(ctx, route, payload)
            case _:
                raise PayloadError(f"row kind {row.kind!r} is not handled by workers")
        return ()
    item = parse_signal_received(json.loads(row.payload))
    return await _signal_envelope(ctx, route, row, item)


# WhatsApp -> Signal ------------------------------------------------------------------------------


async def sender_name(ctx: BridgeContext, session: str, msg: WaMessage) -> str:
    """Display name of a message's sender: memory, then the contact cache in the store, then
    WAHA, then the push name, then the number. Names are cosmetic: a failing lookup never
    fails the message, and a miss is remembered for a while instead of asked every time."""
    sender = msg.sender_id
    name = await contact_name(ctx, session, sender)
    return name or msg.notify_name or chat_number(sender) or sender.partition("@")[0]


async def contact_name(ctx: BridgeContext, session: str, contact_id: str) -> str | None:
    """A contact's saved name (memory, store, WAHA), or None when nobody knows one."""
    found, name = ctx.cached_name("contact", session, contact_id)
    if not found:
        name = await _lookup_contact(ctx, session, contact_id)
        ctx.remember_name("contact", session, contact_id, name)
    return name


_MENTION = re.compile(r"(?<![\w@])@(\d{6,15})\b")


async def with_mention_names(ctx: BridgeContext, session: str, body: str) -> str:
    """``@491701234567`` in a WhatsApp text becomes ``@Name`` when the contact has a name
    (WhatsApp shows names there; the raw text only has the numbers)."""
    numbers = dict.fromkeys(_MENTION.findall(body))
    if not numbers:
        return body
    names = {n: await contact_name(ctx, session, f"{n}@c.us") for n in numbers}
    return _MENTION.sub(lambda m: "@" + (names.get(m.group(1)) or m.group(1)), body)


async def _lookup_contact(ctx: BridgeContext, session: str, sender: str) -> str | None:
    cached = await ctx.store.get_contact(session, sender)
    if cached is not None and cached.name and ctx.wall() - cached.updated_at < ctx.contact_ttl:
        return cached.name
    name: str | None = None
    try:
        name = await ctx.waha.contact_name(session, sender)
    except ClientError as error:
        log.debug("contact lookup failed for %s: %s", wlog.chat(sender), error)
    if name:
        await ctx.store.put_contact(Contact(session, sender, name, chat_number(sender), ctx.wall()))
        return name
    return cached.name if cached else None


async def group_name(ctx: BridgeContext, session: str, group_id: str) -> str:
    found, name = ctx.cached_name("group", session, group_id)
    if not found:
        name = await _lookup_group(ctx, session, group_id)
        ctx.remember_name("group", session, group_id, name)
    return name or group_id.partition("@")[0]


async def _lookup_group(ctx: BridgeContext, session: str, group_id: str) -> str | None:
    cached = await ctx.store.get_group(session, group_id)
    if cached is not None and cached.name and ctx.wall() - cached.updated_at < ctx.group_ttl:
        return cached.name
    name: str | None = None
    try:
        name = await ctx.waha.group_name(session, group_id)
    except ClientError as error:
        log.debug("group lookup failed: %s", error)
    if name:
        await ctx.store.put_group(Group(session, group_id, name, ctx.wall()))
        return name
    return cached.name if cached else None


async def _mapping_for_wa_id(
    ctx: BridgeContext, session: str, message_id: str, chat_id: str, participant: str | None
) -> MessageMapping | None:
    for candidate in message_id_candidates(message_id, chat_id, participant):
        found = await ctx.store.mapping_by_whatsapp_id(session, candidate)
        if found is not None:
            return found
    return None


def _too_large(error: ClientError) -> bool:
    """The download stopped at the size limit (the clients say so with a 2xx ApiError)."""
    return isinstance(error, ApiError) and 200 <= error.status < 300 and "larger than" in str(error)


def _quote_author(route: Route, mapping: MessageMapping) -> str:
    """Who wrote the quoted Signal message: the bridge number, or the destination itself."""
    return route.bridge_number if mapping.direction == "wa_to_signal" else route.destination


async def _wa_media(
    ctx: BridgeContext, route: Route, msg: WaMessage
) -> tuple[list[OutboundAttachment], str]:
    """The attachment of a media message, or a note saying why there is none."""
    media = msg.media
    if media is None or not media.url:
        return [], "[media not downloaded by WAHA]"
    policy = ctx.media
    try:
        with trio.fail_after(policy.download_timeout):
            data, content_type = await waha_call(
                ctx,
                route.session,
                ctx.waha.download_media,
                media.url or "",
                max_bytes=policy.limit(media.mimetype, media.filename),
            )
    except trio.TooSlowError:
        raise Deferred("media download took longer than media.downloadTimeoutSec", 1.0) from None
    except UpstreamError as error:
        if isinstance(error.error, ApiError) and error.error.status == 404:
            return [], "[media expired before it could be fetched]"
        if _too_large(error.error):
            return [], policy.too_large_note(media.mimetype, media.filename)
        raise
    mime = media.mimetype or content_type or "application/octet-stream"
    return [OutboundAttachment(data, mime, media.filename)], ""


async def _wa_message(ctx: BridgeContext, route: Route, msg: WaMessage) -> list[MessageMapping]:
    session, chat = route.session, msg.chat_id
    name = await sender_name(ctx, session, msg)
    group = await group_name(ctx, session, chat) if msg.is_group else None
    attachments: list[OutboundAttachment] = []
    if msg.location is not None:
        # The body of a location message is engine data (a thumbnail), not text.
        place = msg.location
        label = place.name or place.description or place.address
        body = location_text(
            place.latitude, place.longitude, label=label, url=place.url, live=bool(place.live)
        )
    elif msg.v_cards:
        body = "\n".join(vcard_text(card) for card in msg.v_cards)
    else:
        body = await with_mention_names(ctx, session, msg.body or "")
    if msg.has_media:
        attachments, note = await _wa_media(ctx, route, msg)
        if note:
            body = f"{body}\n{note}" if body else note
    quote: MessageMapping | None = None
    if msg.reply_to is not None and msg.reply_to.id:
        quote = await _mapping_for_wa_id(
            ctx, session, msg.reply_to.id, chat, msg.reply_to.participant
        )
        if quote is None and msg.reply_to.body:
            # The quoted message never crossed the bridge (older, or sent from the phone):
            # no Signal quote is possible, so say in words what is being answered.
            body = f"{body}\n{reply_context(msg.reply_to.body)}"
    text = format_incoming(name, body, group)
    timestamp = await signal_call(
        ctx,
        route.bridge_number,
        ctx.signal.send,
        route.bridge_number,
        [route.destination],
        text,
        quote_timestamp=quote.signal_timestamp if quote else None,
        quote_author=_quote_author(route, quote) if quote else None,
        attachments=attachments,
    )
    log.info(
        "whatsapp -> signal: %s message in %s forwarded",
        "group" if group else "direct",
        wlog.chat(chat),
        extra={"session": session},
    )
    ctx.metrics.forwarded.labels("wa_to_signal", "message").inc()
    return [
        MessageMapping(
            session=session,
            whatsapp_id=msg.id,
            chat_id=chat,
            bridge_number=route.bridge_number,
            destination=route.destination,
            signal_timestamp=timestamp,
            direction="wa_to_signal",
            created_at=ctx.wall(),
            sender_name=name,
        )
    ]


async def _wa_edit(ctx: BridgeContext, route: Route, msg: WaMessage) -> list[MessageMapping]:
    original = msg.edited_message_id
    mapping = (
        await _mapping_for_wa_id(ctx, route.session, original, msg.chat_id, msg.participant)
        if original
        else None
    )
    if mapping is None or mapping.direction != "wa_to_signal":
        # The original never crossed the bridge (or is too old): show the new text as a message.
        return await _wa_message(ctx, route, msg)
    name = mapping.sender_name or await sender_name(ctx, route.session, msg)
    group = await group_name(ctx, route.session, msg.chat_id) if msg.is_group else None
    await signal_call(
        ctx,
        route.bridge_number,
        ctx.signal.send,
        route.bridge_number,
        [route.destination],
        format_incoming(name, msg.body or "", group),
        edit_timestamp=mapping.signal_timestamp,
    )
    ctx.metrics.forwarded.labels("wa_to_signal", "edit").inc()
    return []


async def _wa_ack(ctx: BridgeContext, route: Route, ack: WaAck) -> None:
    ids = [ack.id]
    # WEBJS group sends answer an id without the participant suffix that acks carry (WAHA #1464).
    parts = ack.id.split("_")
    if len(parts) > 3:
        ids.append("_".join(parts[:3]))
    for whatsapp_id in ids:
        mapping = await ctx.store.mapping_by_whatsapp_id(route.session, whatsapp_id)
        if mapping is None:
            continue
        before = mapping.delivery_status if mapping.delivery_status is not None else ACK_PENDING
        level = ack.level
        if level is None or not await ctx.store.update_delivery(route.session, whatsapp_id, level):
            return
        # The WhatsApp contact read a message the user wrote in Signal: show it read there
        # too (a read receipt from the bridge number). Direct chats only: in a group, one
        # member's read is not "read".
        if (
            level >= ACK_READ > before
            and mapping.direction == "signal_to_wa"
            and not mapping.chat_id.endswith("@g.us")
        ):
            await signal_call(
                ctx,
                mapping.bridge_number,
                ctx.signal.receipt,
                mapping.bridge_number,
                mapping.destination,
                timestamp=mapping.signal_timestamp,
            )
            ctx.metrics.forwarded.labels("wa_to_signal", "read_receipt").inc()
        return


async def _wa_reaction(ctx: BridgeContext, route: Route, reaction: WaReaction) -> None:
    target = reaction.reaction.message_id
    chat = reaction.to if reaction.from_me else reaction.from_
    mapping = await _mapping_for_wa_id(ctx, route.session, target, chat or "", reaction.participant)
    if mapping is None:
        log.debug("reaction to a message that never crossed the bridge; ignored")
        return
    emoji = reaction.reaction.text
    await signal_call(
        ctx,
        route.bridge_number,
        ctx.signal.react,
        route.bridge_number,
        route.destination,
        emoji or "👍",
        target_author=_quote_author(route, mapping),
        target_timestamp=mapping.signal_timestamp,
        remove=not emoji,
    )
    ctx.metrics.forwarded.labels("wa_to_signal", "reaction").inc()


async def _wa_revoked(ctx: BridgeContext, route: Route, revoked: WaRevoked) -> None:
    after = revoked.after or {}
    chat = after.get("from") if isinstance(after.get("from"), str) else ""
    participant = after.get("participant") if isinstance(after.get("participant"), str) else None
    mapping = await _mapping_for_wa_id(
        ctx, route.session, revoked.revoked_message_id or "", str(chat), participant
    )
    if mapping is None or mapping.direction != "wa_to_signal":
        return
    await signal_call(
        ctx,
        route.bridge_number,
        ctx.signal.remote_delete,
        route.bridge_number,
        route.destination,
        timestamp=mapping.signal_timestamp,
    )
    ctx.metrics.forwarded.labels("wa_to_signal", "revoke").inc()


# Signal -> WhatsApp ------------------------------------------------------------------------------


def _media_kind(content_type: str) -> str:
    major = content_type.split("/", 1)[0].lower()
    return {"image": "image", "video": "video", "audio": "voice"}.get(major, "file")


async def _send_text(
    ctx: BridgeContext, session: str, chat: str, text: str, reply_to: str | None
) -> str:
    preview = ctx.link_preview and contains_url(text)
    try:
        return await waha_call(
            ctx,
            session,
            ctx.waha.send_text,
            session,
            chat,
            text,
            reply_to=reply_to,
            link_preview=preview,
        )
    except UpstreamError as error:
        if reply_to is None or not waha_quote_failed(error.error):
            raise
        # WEBJS cannot always find the quoted message (WAHA #698): send it unquoted.
        return await waha_call(
            ctx, session, ctx.waha.send_text, session, chat, text, link_preview=preview
        )


def _outgoing_text(data: SigDataMessage) -> str:
    """The text to send to WhatsApp: commands' prefixes removed (``/to +49... text``,
    ``//text``), Signal's styles as WhatsApp markup."""
    raw = data.message or ""
    styles = [(t.start, t.length, t.style) for t in data.text_styles]
    command = commands.parse(raw)
    if command is not None and command.name in ("to", "escaped") and raw.endswith(command.text):
        prefix = raw[: len(raw) - len(command.text)]
        shift = len(prefix.encode("utf-16-le")) // 2  # style offsets count UTF-16 units
        styles = [
            (start - shift, length, style) for start, length, style in styles if start >= shift
        ]
        raw = command.text
    return signal_styles_to_whatsapp(raw, styles)


async def _send_media(
    ctx: BridgeContext,
    session: str,
    chat: str,
    kind: str,
    blob: bytes,
    content_type: str,
    filename: str | None,
    caption: str | None,
    reply_to: str | None,
) -> str:
    """Send one file by kind. A video WAHA's engine cannot send (WEBJS without Chrome answers
    422, WAHA #1924) goes as a document instead of failing."""
    try:
        return await waha_call(
            ctx,
            session,
            ctx.waha.send_media,
            session,
            chat,
            kind,  # type: ignore[arg-type]
            data=blob,
            mimetype=content_type,
            filename=filename,
            caption=caption,
            reply_to=reply_to,
            convert=kind in ("voice", "video"),
        )
    except UpstreamError as error:
        refused = isinstance(error.error, ApiError) and error.error.status == 422
        if kind != "video" or not refused or error.failure is not Failure.PERMANENT:
            raise
        log.info(
            "WAHA cannot send videos here; sending it as a document", extra={"session": session}
        )
        return await waha_call(
            ctx,
            session,
            ctx.waha.send_media,
            session,
            chat,
            "file",
            data=blob,
            mimetype=content_type,
            filename=filename,
            caption=caption,
            reply_to=reply_to,
        )


async def _signal_message(
    ctx: BridgeContext, route: Route, chat: str, item: SigReceived, data: SigDataMessage
) -> list[MessageMapping]:
    session = route.session
    reply_to: str | None = None
    if data.quote is not None:
        quoted = await ctx.store.mapping_by_signal_timestamp(item.account, data.quote.id)
        if quoted is not None and quoted.session == session and quoted.chat_id == chat:
            reply_to = quoted.whatsapp_id
    text = _outgoing_text(data)
    notes: list[str] = []
    files: list[tuple[SigAttachment, bytes]] = []
    policy = ctx.media
    for attachment in data.attachments:
        if not attachment.id:
            continue
        limit = policy.limit(attachment.content_type, attachment.filename)
        if attachment.size is not None and attachment.size > limit:
            notes.append(policy.too_large_note(attachment.content_type, attachment.filename))
            continue
        try:
            blob = await signal_call(
                ctx, item.account, ctx.signal.attachment, attachment.id, max_bytes=limit
            )
        except UpstreamError as error:
            if not _too_large(error.error):
                raise
            notes.append(policy.too_large_note(attachment.content_type, attachment.filename))
            continue
        files.append((attachment, blob))
    if notes:
        text = "\n".join([text, *notes]) if text else "\n".join(notes)
    first_id = ""
    caption_pending = bool(text)
    for attachment, blob in files:
        content_type = attachment.content_type or "application/octet-stream"
        kind = _media_kind(content_type)
        caption = text if caption_pending and kind != "voice" else None
        sent = await _send_media(
            ctx, session, chat, kind, blob, content_type, attachment.filename, caption, reply_to
        )
        if caption is not None:
            caption_pending = False
        first_id = first_id or sent
    if caption_pending:
        sent = await _send_text(ctx, session, chat, text, reply_to)
        first_id = first_id or sent
    log.info("signal -> whatsapp: message to %s sent", wlog.chat(chat), extra={"session": session})
    ctx.metrics.forwarded.labels("signal_to_wa", "message").inc()
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
            created_at=ctx.wall(),
        )
    ]


async def _signal_envelope(
    ctx: BridgeContext, route: Route, row: JournalRow, item: SigReceived
) -> list[MessageMapping]:
    env = item.envelope
    session = route.session
    if env.receipt_message is not None:
        by_chat: dict[str, list[str]] = {}
        for stamp in env.receipt_message.timestamps:
            found = await ctx.store.mapping_by_signal_timestamp(item.account, stamp)
            if found is not None and found.session == session and found.direction == "wa_to_signal":
                by_chat.setdefault(found.chat_id, []).append(found.whatsapp_id)
        for chat, ids in by_chat.items():
            await waha_call(ctx, session, ctx.waha.send_seen, session, chat, message_ids=ids)
        return []
    if env.edit_message is not None:
        edit = env.edit_message
        target = await ctx.store.mapping_by_signal_timestamp(
            item.account, edit.target_sent_timestamp
        )
        if target is not None and target.direction == "signal_to_wa" and target.session == session:
            await waha_call(
                ctx,
                session,
                ctx.waha.edit_message,
                session,
                target.chat_id,
                target.whatsapp_id,
                edit.data_message.message or "",
            )
            ctx.metrics.forwarded.labels("signal_to_wa", "edit").inc()
        return []
    data = env.data_message
    if data is None:
        return []
    if data.reaction is not None:
        reaction = data.reaction
        target = await ctx.store.mapping_by_signal_timestamp(
            item.account, reaction.target_sent_timestamp
        )
        if target is not None and target.session == session:
            emoji = "" if reaction.is_remove else reaction.emoji
            await waha_call(ctx, session, ctx.waha.react, session, target.whatsapp_id, emoji)
            ctx.metrics.forwarded.labels("signal_to_wa", "reaction").inc()
        return []
    if data.remote_delete is not None:
        target = await ctx.store.mapping_by_signal_timestamp(
            item.account, data.remote_delete.timestamp
        )
        if target is not None and target.session == session and target.direction == "signal_to_wa":
            await waha_call(
                ctx,
                session,
                ctx.waha.delete_message,
                session,
                target.chat_id,
                target.whatsapp_id,
            )
            ctx.metrics.forwarded.labels("signal_to_wa", "delete").inc()
        return []
    if row.chat is None:
        raise PayloadError("a Signal message reached a session queue without a chat")
    return await _signal_message(ctx, route, row.chat, item, data)


def describe(row: JournalRow) -> dict[str, Any]:
    """A dead letter as the admin API shows it: no message content, masked ids."""
    return {
        "id": row.id,
        "source": row.source,
        "kind": row.kind,
        "queue": row.queue if row.source == "whatsapp" else wlog.phone(row.queue.partition(":")[2]),
        "chat": wlog.chat(row.chat),
        "attempts": row.attempts,
        "received_at": row.received_at,
        "last_error": wlog.mask_text(row.last_error or ""),
    }
