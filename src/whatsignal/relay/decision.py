"""What the router decides for one Signal envelope, and the small readings of an envelope and
a mapping it decides with (pure: no store, no clock)."""

from __future__ import annotations

import attrs

from whatsignal.models.signal_api import SigReceived
from whatsignal.storage import MessageMapping

__all__ = ["ControlRequest", "Decision", "decided", "group_of", "is_group_update"]


@attrs.frozen
class ControlRequest:
    """A control command (``/status``, ``/pair``, ...) the router accepted from a channel's
    destination, for the controller to carry out.

    Attributes:
        action: the command's name (one of :data:`whatsignal.convert.commands.CONTROL`).
        sessions: the sessions it is about, each one of the destination's own channels
            (``/status`` and ``/retry`` without a session: all of them; the others:
            exactly one).
        phone: ``/pair``'s phone number, when a pairing code is asked for.
    """

    bridge_number: str
    destination: str
    action: str
    sessions: tuple[str, ...]
    phone: str | None = None


@attrs.frozen
class Decision:
    """Where an envelope goes: a session and chat, or nowhere (``ignore`` says why), optionally
    with a ``notice`` to send back to the sender."""

    session: str | None = None
    chat: str | None = None
    ignore: str | None = None
    notice: str | None = None
    retry_after: float | None = None
    """Set when nothing can be decided yet (who the sender is could not be looked up): ask
    again after that many seconds, the envelope still waiting in its place."""
    control: ControlRequest | None = None
    """A control command for the controller to carry out (nothing is routed)."""


def group_of(item: SigReceived) -> str | None:
    """The Signal group an envelope was written in, if any (messages, reactions, edits,
    deletions alike)."""
    env = item.envelope
    edited = env.edit_message.data_message if env.edit_message is not None else None
    for data in (env.data_message, edited):
        if data is not None and data.group_info is not None:
            return data.group_info.group_id
    return None


def is_group_update(item: SigReceived) -> bool:
    """Whether an envelope says its group changed (members, name, ...) rather than carrying
    a message: ``groupInfo.type`` ``UPDATE`` (or ``QUIT``) and nothing written."""
    data = item.envelope.data_message
    info = data.group_info if data is not None else None
    return (
        data is not None
        and info is not None
        and info.type in ("UPDATE", "QUIT")
        and not (data.message or data.attachments or data.reaction or data.remote_delete)
    )


def decided(target: MessageMapping | None, reason: str) -> Decision:
    """Follow ``target``'s mapping (its session and chat), or go nowhere for ``reason``."""
    if target is None:
        return Decision(ignore=reason)
    return Decision(session=target.session, chat=target.chat_id)
