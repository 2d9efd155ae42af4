"""Route a journaled Signal envelope to the WAHA session and chat it belongs to.

Rules (DESIGN.md section 3.2):

1. The sender must be the destination of a channel served by this bridge number; anyone else
   is never forwarded (counted and logged: the Go version forwarded strangers).
2. Reactions, deletes, edits and read receipts follow the mapping of the message they target.
3. A quote resolves through the mapping (exact Signal timestamp). If the quoted message is
   unknown, the quoted text ``"Name: ..."`` names the chat; if that fails too, the message is NOT
   sent anywhere (a guess could put it in the wrong chat): the sender gets a notice instead.
4. No quote: the destination's most recent chat, across its sessions: the chat of the latest
   bridged message, or where the destination's previous message was routed if that is more
   recent (a reply is only mapped once delivered; a follow-up must not overtake it).
5. Nothing to go on: a notice in Signal saying how to fix it (quote a message).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs

from whatsignal import log as wlog
from whatsignal.actors.context import BridgeContext, RoutedTo
from whatsignal.convert import commands
from whatsignal.convert.text import quoted_sender
from whatsignal.errors import ClientError
from whatsignal.models.signal_api import SigReceived
from whatsignal.storage import MessageMapping

__all__ = ["NOTICE_NO_CHAT", "NOTICE_UNKNOWN_QUOTE", "Decision", "decide", "resolve_sender"]

log = logging.getLogger("whatsignal.router")

NOTICE_NO_CHAT = (
    "⚠️ whatsignal: there is no WhatsApp chat to send this to yet. Reply to (quote) a forwarded "
    "message to choose the chat, or write /to +491701234567 your text to start one."
)
NOTICE_UNKNOWN_QUOTE = (
    "⚠️ whatsignal: the message you replied to is unknown (too old, or not from WhatsApp), so "
    "your reply was not sent. Quote a more recent forwarded message of that chat."
)


@attrs.frozen
class Decision:
    """Where an envelope goes: a session and chat, or nowhere (``ignore`` says why), optionally
    with a ``notice`` to send back to the sender."""

    session: str | None = None
    chat: str | None = None
    ignore: str | None = None
    notice: str | None = None


async def resolve_sender(ctx: BridgeContext, item: SigReceived) -> str | None:
    """The sender's phone number. Users who hide their number arrive as a uuid only: learn
    uuid -> number from envelopes that carry both, else ask signal-cli's contact list."""
    env = item.envelope
    if env.source_number:
        # Learn uuid -> number once, not with a database write per envelope.
        if env.source_uuid and ctx.known_identities.get(env.source_uuid) != env.source_number:
            await ctx.store.put_signal_identity(env.source_number, env.source_uuid)
            ctx.known_identities[env.source_uuid] = env.source_number
        return env.source_number
    uuid = env.source_uuid or env.source
    if not uuid:
        return None
    if uuid.startswith("+"):
        return uuid
    known = await ctx.store.number_for_uuid(uuid)
    if known is not None:
        return known
    try:
        contacts = await ctx.signal.contacts(item.account)
    except ClientError as error:
        log.info("could not fetch signal contacts to resolve a uuid: %s", error)
        return None
    found: str | None = None
    for contact in contacts:
        number, cuuid = contact.get("number"), contact.get("uuid")
        if isinstance(number, str) and number and isinstance(cuuid, str) and cuuid:
            await ctx.store.put_signal_identity(number, cuuid)
            if cuuid == uuid:
                found = number
    return found


def _in(mapping: MessageMapping | None, sessions: Sequence[str]) -> MessageMapping | None:
    return mapping if mapping is not None and mapping.session in sessions else None


async def decide(ctx: BridgeContext, item: SigReceived) -> Decision:
    """Decide where one envelope goes (see the module docstring for the rules)."""
    env = item.envelope
    sender = await resolve_sender(ctx, item)
    if sender is None or not ctx.channels.is_destination(sender, item.account):
        ctx.metrics.strangers.inc()
        log.warning(
            "signal message from %s ignored: not a channel destination of %s",
            wlog.phone(sender or env.source),
            wlog.phone(item.account),
        )
        return Decision(ignore="sender is no channel's destination")
    sessions = ctx.channels.sessions_for(sender, item.account, ctx.running_sessions())
    if not sessions:
        return Decision(ignore="no session serves this destination")
    store, account = ctx.store, item.account

    async def by_timestamp(stamp: int) -> MessageMapping | None:
        return _in(await store.mapping_by_signal_timestamp(account, stamp), sessions)

    target: MessageMapping | None = None
    if env.receipt_message is not None:
        for stamp in env.receipt_message.timestamps:
            target = await by_timestamp(stamp)
            if target is not None:
                break
        return _to(target, "receipt for unknown messages")
    if env.edit_message is not None:
        return _to(
            await by_timestamp(env.edit_message.target_sent_timestamp), "edit of unknown message"
        )
    data = env.data_message
    if data is None:
        return Decision(ignore="nothing to bridge")
    if data.reaction is not None:
        return _to(
            await by_timestamp(data.reaction.target_sent_timestamp), "reaction to unknown message"
        )
    if data.remote_delete is not None:
        return _to(await by_timestamp(data.remote_delete.timestamp), "delete of unknown message")
    if not (data.message or "").strip() and not data.attachments:
        return Decision(ignore="empty message")
    routed_key = (account, sender)
    command = commands.parse(data.message)
    if command is not None and command.name != "escaped":
        return await _command(ctx, command, routed_key, sessions)
    if data.quote is not None:
        target = await by_timestamp(data.quote.id)
        if target is None:
            target = await _by_quoted_name(ctx, account, sender, data.quote.text, sessions)
        if target is None:
            return Decision(ignore="quoted message unknown", notice=NOTICE_UNKNOWN_QUOTE)
        return _routed(ctx, routed_key, target.session, target.chat_id)
    latest = await store.latest_mapping(account, sender, sessions=sessions)
    recent = ctx.last_routed.get(routed_key)
    if (
        recent is not None
        and recent.session in sessions
        and (latest is None or recent.at >= latest.created_at)
    ):
        return _routed(ctx, routed_key, recent.session, recent.chat)
    if latest is None:
        return Decision(ignore="no chat to reply to", notice=NOTICE_NO_CHAT)
    return _routed(ctx, routed_key, latest.session, latest.chat_id)


async def _by_quoted_name(
    ctx: BridgeContext, account: str, sender: str, text: str | None, sessions: Sequence[str]
) -> MessageMapping | None:
    """The chat a quoted bridged text ``"Name: ..."`` / ``"Name in Group: ..."`` came from.

    Only the sender's latest message is known by name, so it must be in the same kind of chat
    as the quote says (a direct chat, or the named group): otherwise a reply to a private
    message could land in a group, or in another group of the same sender. When it does not
    fit, the reply is not sent (the caller sends a notice instead).
    """
    named = quoted_sender(text)
    if named is None:
        return None
    name, group = named
    found = await ctx.store.latest_mapping_by_name(account, sender, name, sessions=sessions)
    if found is None:
        return None
    in_group = found.chat_id.endswith("@g.us")
    if group is None and not in_group:
        return found
    if group is not None and in_group:
        cached = await ctx.store.get_group(found.session, found.chat_id)
        # The forwarded text named the group by its cached subject, or by its id without one.
        if group in (cached.name if cached else None, found.chat_id.partition("@")[0]):
            return found
    log.info("quoted text names a sender whose latest chat is not the quoted one; not routed")
    return None


async def _command(
    ctx: BridgeContext, command: commands.Command, key: tuple[str, str], sessions: Sequence[str]
) -> Decision:
    """Answer ``/help`` and bad commands in Signal; route ``/to`` to the chat it names."""
    if command.name == "help":
        return Decision(ignore="command", notice=commands.HELP)
    if command.name == "invalid":
        return Decision(ignore="invalid command", notice=f"⚠️ whatsignal: {command.text}")
    assert command.number is not None
    session = command.session
    if session is None:
        latest = await ctx.store.latest_mapping(key[0], key[1], sessions=sessions)
        if latest is not None:
            session = latest.session
        elif len(sessions) == 1:
            session = sessions[0]
        else:
            choices = ", ".join(sorted(sessions))
            notice = (
                f"⚠️ whatsignal: say which WhatsApp session, e.g. /to {sessions[0]}:... ({choices})"
            )
            return Decision(ignore="session not given", notice=notice)
    if session not in sessions:
        notice = f"⚠️ whatsignal: no WhatsApp session {session!r} serves you here"
        return Decision(ignore="unknown session", notice=notice)
    return _routed(ctx, key, session, command.number.lstrip("+") + "@c.us")


def _routed(ctx: BridgeContext, key: tuple[str, str], session: str, chat: str) -> Decision:
    """Route a message there, remembering it for an unquoted follow-up."""
    ctx.last_routed[key] = RoutedTo(session, chat, ctx.wall())
    return Decision(session=session, chat=chat)


def _to(target: MessageMapping | None, reason: str) -> Decision:
    if target is None:
        return Decision(ignore=reason)
    return Decision(session=target.session, chat=target.chat_id)
