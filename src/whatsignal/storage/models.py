"""Row types of the store: what the edges journal and what the bridge remembers.

These are plain frozen attrs classes with no knowledge of SQL or of any wire format; the
backends translate them to and from rows. Fields that carry message content (``payload``,
``sender_name``) are opaque to the store so that a later layer can encrypt them.
"""

from __future__ import annotations

from typing import Literal

import attrs

Source = Literal["whatsapp", "signal"]
"""Which upstream delivered an inbound event."""

JournalState = Literal["pending", "done", "dead"]
"""Life of a journal row: ``pending`` until handled, then ``done`` or ``dead`` (dead letter)."""

Direction = Literal["wa_to_signal", "signal_to_wa"]
"""Which way a bridged message travelled."""

SOURCES: frozenset[str] = frozenset({"whatsapp", "signal"})
STATES: frozenset[str] = frozenset({"pending", "done", "dead"})
DIRECTIONS: frozenset[str] = frozenset({"wa_to_signal", "signal_to_wa"})

# WAHA acknowledgement levels, as stored in ``MessageMapping.delivery_status``.
ACK_ERROR = -1
ACK_PENDING = 0
ACK_SERVER = 1
ACK_DEVICE = 2
ACK_READ = 3
ACK_PLAYED = 4


def delivery_rank(status: int) -> float:
    """Order WAHA ack levels by how far a message got.

    The levels are numerically monotonic except ERROR (-1): a failure reported after the
    server accepted the message is news (it ranks above SERVER), but a failure must never
    hide that the message was already delivered or read (it ranks below DEVICE). The Go
    whatsignal let "failed" overwrite "read"; this ordering is the fix.
    """
    if status == ACK_ERROR:
        return 1.5
    return float(status)


@attrs.frozen
class InboundEvent:
    """An event from WAHA or signal-cli, as the edges journal it before acknowledging it.

    Attributes:
        source: the upstream that delivered it.
        key: the natural key; a second event with the same key is a redelivery and is
            ignored (e.g. ``"wa:msg:<payload.id>"``, ``"sig:<account>:<sourceUuid>:<ts>"``).
        queue: the owning work queue: a WAHA session name, or ``"signal:<bridge number>"``
            until the envelope is routed to a session.
        chat: the ordering key inside the queue (a WhatsApp chat id), or None until known.
        kind: the event type (``"message"``, ``"message.ack"``, ``"envelope"``, ...).
        payload: the raw event JSON; opaque to the store.
        received_at: when the bridge received it, in unix seconds.
    """

    source: Source = attrs.field(validator=attrs.validators.in_(SOURCES))
    key: str
    queue: str
    chat: str | None
    kind: str
    payload: bytes = attrs.field(repr=False)
    received_at: float

    def as_row(self, row_id: int) -> JournalRow:
        """The row it became when journaled as ``row_id`` (pending, never tried)."""
        return JournalRow(
            id=row_id,
            source=self.source,
            key=self.key,
            queue=self.queue,
            chat=self.chat,
            kind=self.kind,
            payload=self.payload,
            received_at=self.received_at,
            state="pending",
            attempts=0,
            next_attempt_at=0.0,
            last_error=None,
        )


@attrs.frozen
class JournalRow:
    """A journaled inbound event together with its processing state.

    ``attempts`` counts only the failures that use up the retry budget (transient failures
    wait without counting); ``next_attempt_at`` is the unix time before which the owner
    should not try again; ``last_error`` is the most recent failure, for operators.
    """

    id: int
    source: Source
    key: str
    queue: str
    chat: str | None
    kind: str
    payload: bytes = attrs.field(repr=False)
    received_at: float
    state: JournalState
    attempts: int
    next_attempt_at: float
    last_error: str | None


@attrs.frozen
class PendingSnapshot:
    """What a session's poller reads of its queue (``Journal.pending_snapshot``).

    Attributes:
        rows: every pending row of the queue in id order when ``complete``; else (too many
            to read) only the oldest pending row of each lane, as ``pending_heads`` gives.
        complete: whether ``rows`` is every pending row.
        watermark: the highest row id in the journal when it was read (any queue or state):
            a row journaled later has a higher id.
    """

    rows: list[JournalRow]
    complete: bool
    watermark: int


@attrs.frozen
class MessageMapping:
    """One bridged message: its WhatsApp id and its Signal timestamp, and where it lives.

    Quotes, reactions, receipts, edits and deletes are resolved against these rows.
    ``delivery_status`` holds the WAHA ack level (-1 ERROR .. 4 PLAYED) of messages the
    bridge sent to WhatsApp; ``sender_name`` is message content (it may be encrypted later).
    """

    session: str
    whatsapp_id: str
    chat_id: str
    bridge_number: str
    destination: str
    signal_timestamp: int
    direction: Direction = attrs.field(validator=attrs.validators.in_(DIRECTIONS))
    created_at: float
    sender_name: str | None = attrs.field(default=None, repr=False)
    delivery_status: int | None = None
    signal_group: str | None = None
    """The Signal conversation the message is in: its portal's ``group.<base64>`` id, or None
    for the one-to-one conversation with the bridge number."""


@attrs.frozen
class Contact:
    """A cached WhatsApp contact of one session (names are looked up for message headers)."""

    session: str
    contact_id: str
    name: str | None
    number: str | None
    updated_at: float


@attrs.frozen
class Group:
    """A cached WhatsApp group of one session."""

    session: str
    group_id: str
    name: str | None
    updated_at: float
