"""The store's interfaces: everything the bridge needs from its database.

:class:`~whatsignal.storage.sqlite.SqliteStore` is the embedded implementation; the
interfaces exist so that a PostgreSQL backend (several bridge instances on one database)
can follow without touching the actors.

The durable state has four concerns, each its own protocol, so that a caller can ask for
only what it uses (a poller that reads mappings need not be handed the work queue):

- :class:`Journal`: the inbound work queue;
- :class:`Mappings`: what was bridged to what (quotes, receipts, delivery status);
- :class:`Caches`: contacts, groups, WhatsApp LID pairings and Signal identities;
- :class:`Retention`: deleting what is no longer needed;
- :class:`Health`: whether the store can still do its job (readiness).

:class:`Store` is all five together.

Semantics every backend must keep, for every protocol here: every method is async, every
write is durable when it returns, and every database failure surfaces as
:class:`~whatsignal.errors.StorageError`. Each protocol's docstring adds its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from whatsignal.storage.lids import LidPairing
from whatsignal.storage.models import (
    Contact,
    Group,
    InboundEvent,
    JournalRow,
    JournalState,
    MessageMapping,
    PendingSnapshot,
)
from whatsignal.storage.polls import Polls
from whatsignal.storage.portals import Portal
from whatsignal.storage.send_parts import SendPart


class Journal(Protocol):
    """The journal of inbound events: the bridge's durable work queue.

    Semantics every backend must keep:

    - ``journal`` is insert-or-ignore on ``InboundEvent.key``: a redelivered event is a no-op
      (its slot in the result is None) and the whole call is one atomic write.
    - Rows of one lane, ``(queue, chat, source)``, are handled in id order;
      ``pending_heads`` returns only the oldest pending row of each lane (due or not), so a
      chat never overtakes itself in either direction, while one direction never waits for
      the other; rows whose ``chat`` is None are independent.
    - ``complete`` marks a row done and records the mappings of what was sent in the same
      transaction, so a crash can never leave a sent message without its mapping.
    """

    async def journal(
        self,
        events: Sequence[InboundEvent],
        *,
        committed: Callable[[list[int | None]], None] | None = None,
    ) -> list[int | None]:
        """Journal ``events`` atomically; per event, the new row id or None if known.

        ``committed``, when given, is called with those ids once they are durable, in the
        trio thread, before this returns, and in commit order across all callers: a row
        handed on from it never overtakes one journaled before it. A caller cancelled while
        waiting may still have its events committed (and ``committed`` called): harmless,
        journaling them again is a no-op.
        """
        ...

    async def pending_heads(self, queue: str, *, limit: int = 256) -> list[JournalRow]:
        """The oldest pending row of each lane of ``queue`` (plus every chat-less row)."""
        ...

    async def pending_snapshot(self, queue: str, *, limit: int = 1024) -> PendingSnapshot:
        """Every pending row of ``queue`` (or, over ``limit``, the lanes' heads) and the
        journal's highest row id, read together (:class:`PendingSnapshot`)."""
        ...

    async def pending_after(self, queue: str, after: int, *, limit: int = 1024) -> PendingSnapshot:
        """The first ``limit`` pending rows of ``queue`` with an id above ``after``, by id
        (what was added since a read whose watermark was ``after``: ids never repeat), and
        the journal's highest id, read together."""
        ...

    async def pending_count(self, queue: str | None = None, *, source: str | None = None) -> int:
        """How many rows are pending, in ``queue`` or overall, from ``source`` or any."""
        ...

    async def queues_with_pending(self) -> list[str]:
        """The queues that have at least one pending row (sorted)."""
        ...

    async def complete(self, row_id: int, *, mappings: Sequence[MessageMapping] = ()) -> None:
        """Mark a row done and store the mappings of what was sent, in one transaction."""
        ...

    async def retry_later(
        self, row_id: int, *, next_attempt_at: float, error: str, count_attempt: bool
    ) -> int:
        """Postpone a row; count the attempt if ``count_attempt``. Returns the attempts."""
        ...

    async def bury(self, row_id: int, *, error: str) -> None:
        """Move a row to the dead letters."""
        ...

    async def requeue(
        self, row_id: int, *, queue: str, chat: str | None, to_end: bool = False
    ) -> int:
        """Hand a row to another queue and chat (routing of Signal envelopes).

        The row keeps its place in the order, unless ``to_end``: then it is renumbered after
        every row journaled so far, so that the order in which rows are routed is the order in
        which they are handled. Returns the row's id (a new one when renumbered).
        """
        ...

    async def requeue_many(self, moves: Sequence[tuple[int, str, str | None]]) -> list[int]:
        """``requeue(row_id, queue=, chat=, to_end=True)`` for each ``(row_id, queue, chat)``,
        in that order and in one transaction; returns the new ids. A failure moves none."""
        ...

    async def retry_now(self) -> int:
        """Make every pending row due at once (an operator lifted what they waited for);
        returns how many rows were waiting."""
        ...

    async def dead_letters(self, *, limit: int = 100) -> list[JournalRow]:
        """The dead rows, oldest first."""
        ...

    async def resurrect(self, row_id: int) -> bool:
        """Make a dead row pending again with a fresh retry budget; False if not dead."""
        ...

    async def pending_by_queue(self) -> dict[str, int]:
        """Pending rows per queue (cheap: only the pending rows are read)."""
        ...

    async def pending_stats(self) -> dict[str, tuple[int, float]]:
        """Per queue with pending rows: their number and the oldest one's ``received_at``."""
        ...

    async def pending_since(self, *, before: float, limit: int = 256) -> list[JournalRow]:
        """Pending rows of session queues (not ``signal:``) received before ``before``,
        oldest first: work that has waited too long, whoever should have done it."""
        ...

    async def state_counts(self) -> dict[tuple[str, str], int]:
        """Row counts per ``(queue, state)``, for metrics and status pages."""
        ...

    async def last_received(self, queue: str, source: str) -> float | None:
        """When the newest event of ``source`` in ``queue`` arrived (any state), or None."""
        ...

    async def has_key(self, key: str) -> bool:
        """Whether an event with this natural key was ever journaled (and not pruned)."""
        ...

    async def state_of(self, key: str) -> JournalState | None:
        """Where the event with this natural key stands: ``pending``, ``done`` or ``dead``;
        None if it was never journaled (or was pruned)."""
        ...


class Mappings(Protocol):
    """The message mappings: which WhatsApp message is which Signal message.

    Mappings are written by :meth:`Journal.complete`, together with the row that sent
    them; this protocol reads them and records how far a sent message got.
    """

    async def mapping_by_whatsapp_id(self, session: str, whatsapp_id: str) -> MessageMapping | None:
        """The mapping of one WhatsApp message of ``session``."""
        ...

    async def mapping_by_signal_timestamp(
        self, bridge_number: str, signal_timestamp: int
    ) -> MessageMapping | None:
        """The mapping of the Signal message with that exact timestamp on that number."""
        ...

    async def latest_mapping(
        self, bridge_number: str, destination: str, *, sessions: Sequence[str] | None = None
    ) -> MessageMapping | None:
        """The most recent mapping between the bridge number and destination.

        ``sessions`` restricts the search to those sessions (None: any session).
        """
        ...

    async def latest_mapping_by_name(
        self,
        bridge_number: str,
        destination: str,
        sender_name: str,
        *,
        sessions: Sequence[str] | None = None,
    ) -> MessageMapping | None:
        """The most recent WhatsApp -> Signal mapping whose sender had that display name
        (resolves a quote of a bridged message whose own mapping is gone)."""
        ...

    async def recent_chats(self, session: str, *, limit: int = 200) -> list[str]:
        """The session's chats that have bridged messages, most recently active first."""
        ...

    async def update_delivery(self, session: str, whatsapp_id: str, status: int) -> bool:
        """Raise a mapping's WAHA ack level; never lowers it. Returns whether it changed."""
        ...


class Caches(Protocol):
    """What the bridge remembers about WhatsApp contacts, groups and LIDs, and Signal accounts."""

    async def put_contact(self, contact: Contact) -> None:
        """Insert or replace a cached contact."""
        ...

    async def get_contact(self, session: str, contact_id: str) -> Contact | None:
        """A cached contact, or None."""
        ...

    async def put_group(self, group: Group) -> None:
        """Insert or replace a cached group."""
        ...

    async def get_group(self, session: str, group_id: str) -> Group | None:
        """A cached group, or None."""
        ...

    async def put_signal_identity(self, number: str, uuid: str) -> None:
        """Remember that a Signal ``number`` has ``uuid`` (replacing older pairings)."""
        ...

    async def number_for_uuid(self, uuid: str) -> str | None:
        """The phone number known for a Signal uuid."""
        ...

    async def uuid_for_number(self, number: str) -> str | None:
        """The uuid known for a Signal phone number."""
        ...

    async def put_lid_pairing(self, pairing: LidPairing) -> None:
        """Record what WAHA said of a ``@lid`` id and a phone number: a complete pairing
        replaces older ones of either half; a lone half never erases a known pairing."""
        ...

    async def lid_pairing(
        self, session: str, *, lid: str | None = None, pn: str | None = None
    ) -> LidPairing | None:
        """What is known of ``lid`` (else of ``pn``) in ``session``; None if never asked."""
        ...


class SendParts(Protocol):
    """The WhatsApp sends of a journal row: the id each carries, and which went out
    (:mod:`whatsignal.storage.send_parts`). Keyed by the row's natural key."""

    async def send_parts(self, row_key: str) -> dict[int, SendPart]:
        """The parts stored for a row, by index (empty: none yet)."""
        ...

    async def put_send_part(self, row_key: str, index: int, part: SendPart) -> None:
        """Store one part durably (committed before this returns); they go with the row's
        ``complete``."""
        ...


class Portals(Protocol):
    """The Signal group of each WhatsApp chat (:mod:`whatsignal.storage.portals`)."""

    async def portal(
        self, bridge_number: str, destination: str, session: str, chat_id: str
    ) -> Portal | None:
        """The portal of one chat, or None when it never had one."""
        ...

    async def portal_by_group(self, bridge_number: str, internal_id: str) -> Portal | None:
        """The portal whose Signal group has this internal id (``groupInfo.groupId``)."""
        ...

    async def put_portal(self, portal: Portal) -> None:
        """Store (or replace) a chat's portal durably (committed before this returns)."""
        ...

    async def active_portals(self) -> list[Portal]:
        """Every active portal, of every bridge number."""
        ...


class Retention(Protocol):
    """Forgetting what the bridge no longer needs, so the database does not grow forever."""

    async def prune(self, *, done_before: float, mappings_before: float) -> int:
        """Delete done rows finished before ``done_before``, and mappings and bridged polls
        created before ``mappings_before``; dead rows stay until an operator acts. Returns
        rows deleted."""
        ...


class Health(Protocol):
    """Whether the store can still take work: what readiness asks it."""

    async def check_health(self) -> None:
        """Prove the store can write: a tiny durable write through the same path the journal
        takes, after checking that the database it writes is still the one it opened (for a
        file: not deleted, not replaced, still writable). Raises StorageError saying what is
        wrong. Not cheap (a commit): callers keep the answer for a while."""
        ...


class Store(Journal, Mappings, Caches, SendParts, Portals, Polls, Retention, Health, Protocol):
    """The durable state of the bridge: journal (work queue), mappings and caches."""
