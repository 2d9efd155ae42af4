"""What the edges journal: natural keys, owning queues, and what is ignored (and why).

Both webhook handlers and the Signal receiver go through :class:`Intake`, so an envelope that
arrives over signal-cli's websocket and again over its push webhook has one key and becomes one
journal row. The intake does no slow work: one journal call (group-committed by the store) and
a doorbell per owning queue (a WhatsApp row is handed over with it, in commit order).

Natural keys (DESIGN.md section 2, with the session added on the WhatsApp side because two
bridged accounts in one group see the same message id):

* ``wa:<session>:msg:<payload.id>``  ``message`` and ``message.any`` (one row for both)
* ``wa:<session>:ack:<id>:<ack>:<participant>``  ``message.ack`` / ``message.ack.group``
* ``wa:<session>:reaction:<payload.id>``, ``wa:<session>:edit:<payload.id>``,
  ``wa:<session>:revoked:<revokedMessageId>``
* ``wa:<session>:vote:<vote.id>:<vote.timestamp>``  ``poll.vote`` (``vote-failed`` for
  ``poll.vote.failed``); the user's own votes (``fromMe``) are not journaled
* ``wa:<session>:group:<group id>:<payload.timestamp>``  ``group.v2.update`` with a new
  subject (renames the chat's portal: journaled so a WAHA retry is one rename, in order with
  the chat's messages; the rename itself is best effort, :mod:`whatsignal.relay.portals`)
* ``sig:<account>:<sourceUuid or source>:<timestamp>``  a Signal envelope

A natural key dedupes only while its row is in the journal, and the scheduler prunes done rows
after ``retentionDays``. So an event older than the *dedupe horizon* (``horizon``, a margin
short of the retention: :func:`whatsignal.actors.scheduler.dedupe_horizon`) is ignored: its row
may be gone, and journaling it again would forward it again. Its age is read from what the
sender signed: the WAHA envelope's ``timestamp`` (ms, inside the HMAC-signed body; a replayed
body cannot change it), else the payload's own ``timestamp`` (seconds: the catch-up after a
start feeds WAHA's history through here without an envelope). Answered 2xx like every other
ignored event: WAHA retries anything else, and a stale event does not get fresher. On the
Signal side only the push path can replay an envelope (the websocket and the long poll take
each one from signal-cli exactly once), so only pushed envelopes are held to the horizon.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Sequence
from functools import partial
from typing import Any, Protocol

import attrs
import trio

from whatsignal import log as wlog
from whatsignal.channels import ChannelMap
from whatsignal.clock import Clock
from whatsignal.convert.polls import whatsapp_poll
from whatsignal.convert.presence import ChatTyping, TypingInbox, chat_typing, signal_typing
from whatsignal.errors import PayloadError
from whatsignal.event_times import event_time, pushed_at
from whatsignal.metrics import Metrics
from whatsignal.models.signal_api import SigReceived
from whatsignal.models.waha import (
    WaAck,
    WaGroupUpdate,
    WahaEvent,
    WaMessage,
    WaPollVote,
    WaReaction,
    WaRevoked,
    WaSessionStatus,
)
from whatsignal.serde import (
    WAHA_EVENTS,
    parse_signal_received,
    parse_waha_payload,
    waha_payload_type,
)
from whatsignal.session_news import EngineNotes, StatusEvent
from whatsignal.storage import InboundEvent, Journal

__all__ = ["PUSH", "Intake", "Outcome", "Ring", "StatusEvent", "signal_key", "signal_queue"]

log = logging.getLogger("whatsignal.intake")


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


PUSH = "push"
"""``via`` of envelopes signal-cli pushed to ``/webhook/signal``: the one Signal path a stale
envelope can be replayed through."""


def signal_queue(number: str) -> str:
    """The queue a bridge number's envelopes wait in until they are routed to a session."""
    return f"signal:{number}"


def signal_key(item: SigReceived) -> str:
    env = item.envelope
    who = env.source_uuid or env.source or env.source_number or "?"
    return f"sig:{item.account}:{who}:{env.timestamp}"


def has_content(message: WaMessage) -> bool:
    """Whether a WhatsApp message carries anything to bridge (text, media, location, contact,
    poll)."""
    return bool(
        (message.body or "").strip()
        or message.has_media
        or message.location
        or message.v_cards
        or whatsapp_poll(message.data) is not None
    )


def _ignored_chat(chat_id: str) -> bool:
    return chat_id == "status@broadcast" or chat_id.endswith(("@newsletter", "@broadcast"))


class Ring(Protocol):
    """Tells a queue's owner there is work, or hands it fresh rows (the doorbells); never blocks."""

    def ring(self, queue: str) -> None: ...
    def fresh(self, events: Sequence[InboundEvent], ids: Sequence[int | None]) -> None: ...


class PushNotes(Protocol):
    """Journals pushed rows numbered in push order (:mod:`whatsignal.actors.path_merge`)."""

    async def journal(
        self, store: Journal, rows: list[InboundEvent], items: list[SigReceived]
    ) -> list[int | None]: ...


@attrs.define(eq=False, kw_only=True)
class Intake:
    """Turns inbound events into journal rows and rings (or hands them to) their owners.

    Args:
        store: where events are journaled.
        channels: which WAHA sessions have a channel, and the bridge numbers received for.
        doorbells: rings the doorbell of a queue (a session name or ``signal:<number>``).
        session_status: where ``session.status`` changes go (the session monitor's inbox),
            or None when no monitor runs; sent without blocking.
        horizon: seconds; a journaled kind of event older than this is ignored (see the
            module's docstring). None: no check. It must stay short of the retention of done
            rows, which is what makes a redelivery a no-op.
        typing: where typing news goes (the typist), never journaled; None: not bridged.
        pushes: numbers what signal-cli pushed (:class:`PushNotes`); None: not noted.
    """

    store: Journal
    channels: ChannelMap
    doorbells: Ring
    metrics: Metrics
    clock: Clock
    session_status: trio.MemorySendChannel[StatusEvent] | None = None
    horizon: float | None = None
    typing: TypingInbox | None = None
    pushes: PushNotes | None = None
    _engines: EngineNotes = attrs.field(factory=EngineNotes, init=False)

    def _count(self, source: str, event: str, outcome: Outcome | str) -> None:
        result = outcome.value if isinstance(outcome, Outcome) else outcome
        # The label set stays bounded: an event name WAHA does not document is "other".
        label = event if source != "whatsapp" or event in WAHA_EVENTS else "other"
        self.metrics.webhooks.labels(source, label, result).inc()

    # WhatsApp ---------------------------------------------------------------------------------

    def whatsapp_event(self, event: WahaEvent, raw: bytes) -> InboundEvent | str:
        """The journal row for a WAHA event, or the reason it is ignored.

        Raises PayloadError when the payload of an event the bridge acts on is malformed.
        """
        if waha_payload_type(event.event) is None:
            return f"event {event.event!r} is not bridged"
        if not self.channels.configured(event.session):
            return "session has no channel"
        if event.event == "session.status":
            return "session status changes go to the session monitor, not the journal"
        payload = parse_waha_payload(event)
        s = event.session
        chat: str | None
        match payload:
            case WaMessage() if event.event == "message.edited":
                key, chat, kind = f"wa:{s}:edit:{payload.id}", payload.chat_id, "message.edited"
                if payload.from_me:
                    return "own edit"
            case WaMessage():
                if payload.from_me:
                    return "own message"
                if _ignored_chat(payload.chat_id):
                    return "status or newsletter"
                if not has_content(payload):
                    return "empty system message"
                key, chat, kind = f"wa:{s}:msg:{payload.id}", payload.chat_id, "message"
            case WaAck():
                if payload.level is None:
                    raise PayloadError(f"{event.event} payload: neither ack nor a known ackName")
                part = payload.participant or ""
                key, chat, kind = (
                    f"wa:{s}:ack:{payload.id}:{payload.level}:{part}",
                    None,
                    "message.ack",
                )
            case WaReaction():
                if payload.from_me:
                    return "own reaction"
                chat = payload.to if payload.from_me else payload.from_
                key, kind = f"wa:{s}:reaction:{payload.id}", "message.reaction"
            case WaRevoked():
                if not payload.revoked_message_id:
                    raise PayloadError("message.revoked payload: revokedMessageId is missing")
                after = payload.after or {}
                if after.get("fromMe") is True:
                    return "own revoke"
                chat_value = after.get("from")
                chat = chat_value if isinstance(chat_value, str) else None
                key, kind = f"wa:{s}:revoked:{payload.revoked_message_id}", "message.revoked"
            case WaPollVote():
                if payload.vote.from_me:
                    return "own vote"
                name = "vote-failed" if event.event == "poll.vote.failed" else "vote"
                key = f"wa:{s}:{name}:{payload.vote.id}:{payload.vote.timestamp or 0:.0f}"
                chat, kind = payload.poll.chat_id or None, event.event
            case WaGroupUpdate():
                if payload.group_id is None or payload.subject is None:
                    return "group change other than a new subject"
                chat, kind = payload.group_id, "group.v2.update"
                key = f"wa:{s}:group:{chat}:{payload.timestamp or 0:.0f}"
            case _:  # pragma: no cover - waha_payload_type() and this match list the same events
                return f"event {event.event!r} is not bridged"
        return InboundEvent(
            source="whatsapp",
            key=key,
            queue=s,
            chat=chat,
            kind=kind,
            payload=raw,
            received_at=self.clock(),
        )

    async def whatsapp(self, event: WahaEvent, raw: bytes) -> Outcome:
        """Journal one WAHA event (PayloadError for a malformed one; StorageError passes up).

        ``session.status`` is not journaled: it is state, not a message, and the session
        monitor's next listing would repair a lost one. It goes to ``on_session_status``.
        """
        if (
            event.event == "session.status"
            and self.session_status is not None
            and self.channels.configured(event.session)
        ):
            status = parse_waha_payload(event)
            assert isinstance(status, WaSessionStatus)
            # WAHA's time of the change: from the payload's history, else the event's own.
            at = status.changed_at if status.changed_at is not None else event.timestamp
            change = StatusEvent(event.session, status.status, at, engine=event.engine)
            try:
                self.session_status.send_nowait(change)
            except trio.WouldBlock:
                log.debug("session status inbox full; the next listing catches up")
            self._count("whatsapp", event.event, Outcome.ACCEPTED)
            return Outcome.ACCEPTED
        if event.event == "presence.update":  # typing: handed on, never journaled
            news = (
                chat_typing(event, self.clock())
                if self.channels.configured(event.session)
                else None
            )
            if self.typing is not None:
                self.typing.offer(news)
            outcome = Outcome.IGNORED if news is None else Outcome.ACCEPTED
            self._count("whatsapp", event.event, outcome)
            return outcome
        row = self.whatsapp_event(event, raw)
        if isinstance(row, str):
            log.debug("ignored %s on %s: %s", event.event, event.session, row)
            self._count("whatsapp", event.event, Outcome.IGNORED)
            return Outcome.IGNORED
        if self._whatsapp_too_old(event):
            self._count("whatsapp", event.event, "stale")
            return Outcome.IGNORED
        (row_id,) = await self.store.journal([row], committed=partial(self.doorbells.fresh, [row]))
        if self.session_status is not None:
            self._engines.note(event.session, event.engine, self.session_status)
        outcome = Outcome.DUPLICATE if row_id is None else Outcome.ACCEPTED
        self._count("whatsapp", event.event, outcome)
        if row_id is not None and self.typing is not None and row.chat and row.kind == "message":
            self.typing.offer(ChatTyping(row.queue, row.chat, on=False))  # sent: typed
        return outcome

    def _age(self, stamp: float) -> float | None:
        """The age of ``stamp`` (unix seconds) when it is beyond the horizon, else None."""
        age = self.clock() - stamp
        return age if self.horizon is not None and age > self.horizon else None

    def _whatsapp_too_old(self, event: WahaEvent) -> bool:
        # No time at all: nothing to judge by (WAHA always signs one; backfill has its own).
        stamp, signed = event_time(event) or (self.clock(), False)
        age = self._age(stamp)
        if age is not None:  # a signed one is a replay (or WAHA's clock is far off)
            log.log(
                logging.WARNING if signed else logging.INFO,
                "not journaled: %s on %s %s %.1f days ago, beyond the %.1f-day dedupe horizon",
                event.event,
                event.session,
                "signed" if signed else "sent",
                age / 86400,
                (self.horizon or 0) / 86400,
                extra={"session": event.session},
            )
        return age is not None

    async def already_journaled(self, event: WahaEvent, raw: bytes) -> bool:
        """Whether this WAHA event was journaled before (a late retry of it is harmless)."""
        row = self.whatsapp_event(event, raw)
        return not isinstance(row, str) and await self.store.has_key(row.key)

    # Signal -------------------------------------------------------------------------------------

    def signal_event(self, item: SigReceived, raw: Any) -> InboundEvent | str:
        env = item.envelope
        if item.account not in self.channels.bridge_numbers:
            return "not a bridge number"
        if env.typing_message is not None:
            return "typing indicator"
        if env.data_message is None and env.edit_message is None and env.receipt_message is None:
            return "nothing to bridge"
        if env.receipt_message is not None and not env.receipt_message.is_read:
            return "delivery receipt"
        body = json.dumps(raw, separators=(",", ":")).encode()
        return InboundEvent(
            source="signal",
            key=signal_key(item),
            queue=signal_queue(item.account),
            chat=None,
            kind="envelope",
            payload=body,
            received_at=self.clock(),
        )

    async def signal(self, raw_items: Sequence[Any], *, via: str) -> list[Outcome]:
        """Journal a batch of received items (``{"envelope":..., "account":...}`` dicts).

        Malformed items are logged and counted, never raised: one bad envelope must not cost
        the batch (signal-cli has already handed all of them out).
        """
        rows: list[InboundEvent] = []
        outcomes: list[Outcome] = []
        slots: list[int] = []
        items: list[SigReceived] = []
        for raw in raw_items:
            try:
                item = parse_signal_received(raw)
            except PayloadError as error:
                log.warning("unparseable signal envelope via %s: %s", via, error)
                self._count("signal", via, "malformed")
                outcomes.append(Outcome.IGNORED)
                continue
            if self.typing is not None and item.envelope.typing_message is not None:
                self.typing.offer(signal_typing(item, raw, self.clock()))
            row = self.signal_event(item, raw)
            if isinstance(row, str):
                log.debug("ignored envelope from %s: %s", wlog.phone(item.envelope.sender), row)
                self._count("signal", via, Outcome.IGNORED)
                outcomes.append(Outcome.IGNORED)
                continue
            age = self._age(pushed_at(item, raw)) if via == PUSH else None
            if age is not None:
                log.warning(
                    "refused a pushed envelope from %s sent %.1f days ago, beyond the dedupe "
                    "horizon (a replay?); not journaled",
                    wlog.phone(item.envelope.sender),
                    age / 86400,
                )
                self._count("signal", via, "stale")
                outcomes.append(Outcome.IGNORED)
                continue
            slots.append(len(outcomes))
            outcomes.append(Outcome.ACCEPTED)
            rows.append(row)
            items.append(item)
        if rows:
            if via == PUSH and self.pushes is not None:
                ids = await self.pushes.journal(self.store, rows, items)
            else:
                ids = await self.store.journal(rows)
            rung: set[str] = set()
            for slot, row, row_id in zip(slots, rows, ids, strict=True):
                if row_id is None:
                    outcomes[slot] = Outcome.DUPLICATE
                elif row.queue not in rung:
                    rung.add(row.queue)
                    self.doorbells.ring(row.queue)
                self._count("signal", via, outcomes[slot])
        return outcomes
