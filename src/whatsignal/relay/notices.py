"""What the bridge tells the person in Signal when it cannot do what they would expect.

A failure they would not notice (a reply that went nowhere, a message given up on) is the
worst kind: so they are told, in their Signal conversation with the bridge number, once. The
texts are here; :class:`Notices` sends them, best effort (one try, bounded in time, never
through the send gates, never failing the work that asked for it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs
import trio

from whatsignal.clients import OutboundAttachment, SignalClient
from whatsignal.errors import ClientError

__all__ = [
    "NOTICE_NO_CHAT",
    "NOTICE_UNKNOWN_QUOTE",
    "NOTICE_VIEW_ONCE_WITHHELD",
    "Notices",
    "dead_from_signal",
    "dead_from_whatsapp",
    "replies_delivered",
    "replies_wait",
]

log = logging.getLogger("whatsignal.notices")

NOTICE_NO_SESSION = (
    "⚠️ whatsignal: no WhatsApp session is known yet to start a chat through; "
    "try again in a moment, or name it: /to session:+491701234567 your text"
)
NOTICE_NO_CHAT = (
    "⚠️ whatsignal: there is no WhatsApp chat to send this to yet. Reply to (quote) a forwarded "
    "message to choose the chat, or write /to +491701234567 your text to start one."
)
NOTICE_UNKNOWN_QUOTE = (
    "⚠️ whatsignal: the message you replied to is unknown (too old, or not from WhatsApp), so "
    "your reply was not sent. Quote a more recent forwarded message of that chat."
)


NOTICE_VIEW_ONCE_WITHHELD = (
    "⚠️ whatsignal: your view-once photo or video was not sent to WhatsApp: the bridge can only "
    "send it as a normal file, which the other side could keep. Send it without view-once if it "
    "should go."
)


def dead_from_whatsapp(chat_label: str, row_id: int) -> str:
    """A WhatsApp message from ``chat_label`` could not be delivered to Signal."""
    return (
        f"⚠️ whatsignal: a WhatsApp message from {chat_label} could not be delivered here. It "
        f"is kept as dead letter #{row_id}; an admin can retry it with "
        f"POST /admin/dead-letters/{row_id}/retry."
    )


def dead_from_signal(session: str, row_id: int) -> str:
    """The user's Signal message could not be delivered to WhatsApp."""
    return (
        f"⚠️ whatsignal: your message could not be delivered to WhatsApp (session {session}). "
        f"It is kept as dead letter #{row_id}; an admin can retry it with "
        f"POST /admin/dead-letters/{row_id}/retry."
    )


def replies_wait(session: str, status: str, waiting: int) -> str:
    """Replies wait because their WhatsApp session is not WORKING."""
    replies = "1 reply waits" if waiting == 1 else f"{waiting} replies wait"
    return (
        f"⏸️ whatsignal: WhatsApp session {session!r} is {status}, so your replies to its chats "
        f"wait ({replies} now). They will be sent, in order, as soon as it works again."
    )


def replies_delivered(session: str, delivered: int, failed: int) -> str:
    """The replies that waited for their session have gone."""
    sent = (
        "1 reply that waited was sent"
        if delivered == 1
        else (f"{delivered} replies that waited were sent")
    )
    text = f"▶️ whatsignal: WhatsApp session {session!r} works again; {sent}."
    if failed:
        text += (
            f" {failed} could not be delivered and are kept as dead letters "
            "(GET /admin/dead-letters)."
        )
    return text


@attrs.define(eq=False, kw_only=True)
class Notices:
    """Sends notices from a bridge number to a Signal user."""

    signal: SignalClient
    timeout: float = 10.0

    async def tell(
        self,
        bridge_number: str,
        recipient: str,
        text: str,
        *,
        attachments: Sequence[OutboundAttachment] = (),
    ) -> bool:
        """Send one notice (with ``attachments``, such as a QR code to scan); False (logged)
        when it could not be sent in time."""
        with trio.move_on_after(self.timeout):
            try:
                await self.signal.send(bridge_number, [recipient], text, attachments=attachments)
            except ClientError as error:
                log.warning("could not send a notice: %s", error)
                return False
            return True
        log.warning("could not send a notice within %.0fs", self.timeout)
        return False
