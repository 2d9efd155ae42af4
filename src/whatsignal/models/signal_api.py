"""signal-cli-rest-api receive types: the ``receive.*`` schemas, fields the bridge reads.

A received item is ``{"envelope": {...}, "account": "+49..."}``. ``source`` is a number or, for
users who hide their number, a uuid; ``sourceUuid`` is the stable identity.
"""

from __future__ import annotations

import attrs

__all__ = [
    "SigAttachment",
    "SigDataMessage",
    "SigEditMessage",
    "SigEnvelope",
    "SigGroupInfo",
    "SigPollVote",
    "SigQuote",
    "SigReaction",
    "SigReceipt",
    "SigReceived",
    "SigRemoteDelete",
    "SigTextStyle",
    "SigTyping",
]


@attrs.frozen
class SigQuote:
    """A quote: ``id`` is the sent timestamp of the quoted message (ms)."""

    id: int
    author: str | None = None
    author_number: str | None = None
    author_uuid: str | None = None
    text: str | None = None


@attrs.frozen
class SigReaction:
    emoji: str
    target_sent_timestamp: int
    is_remove: bool = False
    target_author: str | None = None
    target_author_number: str | None = None
    target_author_uuid: str | None = None


@attrs.frozen
class SigAttachment:
    id: str | None = None
    content_type: str | None = None
    filename: str | None = None
    size: int | None = None


@attrs.frozen
class SigGroupInfo:
    group_id: str
    type: str | None = None
    group_name: str | None = None


@attrs.frozen
class SigRemoteDelete:
    timestamp: int


@attrs.frozen
class SigPollVote:
    """A vote on a poll (signal-cli's ``pollVote``): ``author*`` name the poll's author, not
    the voter (the envelope's source); ``option_indexes`` count from 0; a later vote of the
    same voter has a higher ``vote_count``; no option is a withdrawn vote."""

    target_sent_timestamp: int
    option_indexes: tuple[int, ...] = ()
    vote_count: int = 0
    author: str | None = None
    author_number: str | None = None
    author_uuid: str | None = None


@attrs.frozen
class SigTextStyle:
    """A formatted range of a message: UTF-16 offsets, style BOLD/ITALIC/... ."""

    start: int
    length: int
    style: str = ""


@attrs.frozen
class SigDataMessage:
    timestamp: int
    message: str | None = None
    text_styles: tuple[SigTextStyle, ...] = ()
    quote: SigQuote | None = None
    reaction: SigReaction | None = None
    attachments: tuple[SigAttachment, ...] = ()
    group_info: SigGroupInfo | None = None
    remote_delete: SigRemoteDelete | None = None
    poll_vote: SigPollVote | None = None
    view_once: bool = False


@attrs.frozen
class SigEditMessage:
    target_sent_timestamp: int
    data_message: SigDataMessage


@attrs.frozen
class SigReceipt:
    timestamps: tuple[int, ...] = ()
    when: int | None = None
    is_delivery: bool = False
    is_read: bool = False
    is_viewed: bool = False


@attrs.frozen
class SigTyping:
    action: str
    timestamp: int | None = None
    group_id: str | None = None


@attrs.frozen
class SigEnvelope:
    timestamp: int
    source: str | None = None
    source_number: str | None = None
    source_uuid: str | None = None
    source_name: str | None = None
    source_device: int | None = None
    data_message: SigDataMessage | None = None
    edit_message: SigEditMessage | None = None
    receipt_message: SigReceipt | None = None
    typing_message: SigTyping | None = None

    @property
    def sender(self) -> str | None:
        """The best identity of the sender: the number when visible, else the uuid."""
        return self.source_number or self.source_uuid or self.source


@attrs.frozen
class SigReceived:
    account: str
    envelope: SigEnvelope
