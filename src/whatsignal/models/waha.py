"""WAHA webhook types: the parts of WAHA's event payloads the bridge acts on.

They mirror ``WAHAWebhook*`` / ``WAMessage`` / ``WAMessageAckBody`` ... of the WAHA OpenAPI spec,
keeping only the fields the bridge reads. Everything the spec marks required but real engines
send as ``null`` (``to``, ``participant``, ``body``) is optional here.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = [
    "ACK_LEVELS",
    "WaAck",
    "WaGroupUpdate",
    "WaLocation",
    "WaMedia",
    "WaMessage",
    "WaPollVote",
    "WaPollVoteBody",
    "WaPollVoted",
    "WaReaction",
    "WaReactionBody",
    "WaReplyTo",
    "WaRevoked",
    "WaSessionStatus",
    "WaStatusPoint",
    "WahaEvent",
]


@attrs.frozen
class WahaEvent:
    """The webhook envelope: ``{id, timestamp, event, session, me, payload, engine, ...}``."""

    event: str
    session: str
    payload: dict[str, Any]
    id: str | None = None
    timestamp: float | None = None
    engine: str | None = None


@attrs.frozen
class WaMedia:
    url: str | None = None
    mimetype: str | None = None
    filename: str | None = None


@attrs.frozen
class WaLocation:
    """A shared location. Coordinates are strings in the spec and numbers in some engines."""

    latitude: Any = None
    longitude: Any = None
    name: str | None = None
    address: str | None = None
    description: str | None = None
    url: str | None = None
    live: bool | None = False


@attrs.frozen
class WaReplyTo:
    """The message a WhatsApp message quotes. ``id`` is the bare id, not the serialized one."""

    id: str | None = None
    participant: str | None = None
    body: str | None = None


@attrs.frozen
class WaMessage:
    """``message`` / ``message.any`` payload (WAMessage)."""

    id: str
    from_: str
    from_me: bool | None = False
    # Not used; engines disagree on its type (int, float, string), so it is not checked.
    timestamp: Any = None
    to: str | None = None
    participant: str | None = None
    body: str | None = None
    has_media: bool | None = False
    media: WaMedia | None = None
    reply_to: WaReplyTo | None = None
    source: str | None = None
    data: dict[str, Any] | None = None
    edited_message_id: str | None = None
    location: WaLocation | None = None
    v_cards: tuple[str, ...] | None = None

    @property
    def chat_id(self) -> str:
        """The chat this message belongs to: the other party of a direct chat, or the group."""
        if self.from_me and self.to:
            return self.to
        return self.from_

    @property
    def is_group(self) -> bool:
        return self.chat_id.endswith("@g.us")

    @property
    def sender_id(self) -> str:
        """Who wrote it: the participant in a group, else the chat partner."""
        if self.is_group and self.participant:
            return self.participant
        return self.from_

    @property
    def notify_name(self) -> str | None:
        """The sender's display name from the engine data (WEBJS notifyName, NOWEB pushName)."""
        if not self.data:
            return None
        for key in ("notifyName", "pushName", "pushname"):
            value = self.data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None


ACK_LEVELS = {"ERROR": -1, "PENDING": 0, "SERVER": 1, "DEVICE": 2, "READ": 3, "PLAYED": 4}


@attrs.frozen
class WaAck:
    """``message.ack`` / ``message.ack.group`` payload (WAMessageAckBody)."""

    id: str
    ack: int | None = None
    from_: str | None = None
    to: str | None = None
    participant: str | None = None
    from_me: bool | None = None
    ack_name: str | None = None

    @property
    def level(self) -> int | None:
        """The ack level: ``ack``, else from ``ackName`` (as the Go version read it)."""
        if self.ack is not None:
            return self.ack
        return ACK_LEVELS.get((self.ack_name or "").upper())


@attrs.frozen
class WaReactionBody:
    message_id: str
    text: str | None = ""  # "" (or null) removes the reaction


@attrs.frozen
class WaReaction:
    """``message.reaction`` payload: ``reaction.text == ""`` removes the reaction."""

    id: str
    from_: str
    reaction: WaReactionBody
    from_me: bool | None = False
    participant: str | None = None
    to: str | None = None


@attrs.frozen
class WaPollVoteBody:
    """``PollVote``: the vote message (``id``) and the options chosen, by their text (none:
    the vote was withdrawn, or, in ``poll.vote.failed``, could not be read)."""

    id: str
    from_: str | None = None
    to: str | None = None
    from_me: bool | None = False
    participant: str | None = None
    selected_options: tuple[str, ...] = ()
    timestamp: float | None = None


@attrs.frozen
class WaPollVoted:
    """``MessageDestination``: the poll voted on (``id``: its serialized message id)."""

    id: str
    from_: str | None = None
    to: str | None = None
    from_me: bool | None = False
    participant: str | None = None

    @property
    def chat_id(self) -> str:
        """The chat the poll is in."""
        return (self.to if self.from_me else self.from_) or ""


@attrs.frozen
class WaPollVote:
    """``poll.vote`` / ``poll.vote.failed`` payload (``PollVotePayload``)."""

    vote: WaPollVoteBody
    poll: WaPollVoted

    @property
    def voter(self) -> str:
        """Who voted: the group participant, else the sender of the vote."""
        return self.vote.participant or self.vote.from_ or ""


@attrs.frozen
class WaRevoked:
    """``message.revoked``: ``revoked_message_id`` is the bare id of the deleted message."""

    revoked_message_id: str | None = None
    after: dict[str, Any] | None = None
    before: dict[str, Any] | None = None


@attrs.frozen
class WaGroupUpdate:
    """``group.v2.update``: a WhatsApp group changed; ``group`` holds its ``id`` and what
    changed (``subject`` when it was renamed). The spec types ``group`` as any object."""

    group: dict[str, Any]
    timestamp: float | None = None

    @property
    def group_id(self) -> str | None:
        found = self.group.get("id")
        return found if isinstance(found, str) and found else None

    @property
    def subject(self) -> str | None:
        found = self.group.get("subject")
        return found if isinstance(found, str) else None


@attrs.frozen
class WaStatusPoint:
    """One entry of a ``session.status`` payload's history: a status and when (ms)."""

    status: str
    timestamp: float


@attrs.frozen
class WaSessionStatus:
    """``session.status`` payload: the current status and the last few with their times.

    ``name`` is required by the spec but missing from WAHA's own documented example, and the
    envelope's ``session`` says the same, so it is optional here.
    """

    status: str
    name: str | None = None
    statuses: list[WaStatusPoint] = attrs.field(factory=list)

    @property
    def changed_at(self) -> float | None:
        """When (WAHA's clock, ms) the session entered its current status, if WAHA said."""
        times = [p.timestamp for p in self.statuses if p.status == self.status]
        return max(times) if times else None
