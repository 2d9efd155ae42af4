"""Webhook deliveries out of order, late or twice, on demand: what WAHA's concurrency and retries
do to a receiver, reproduced when a test asks for it.

WAHA posts every event on its own (``setImmediate(() => sender.send(...))`` in its
WebhookConductor) and retries each one independently with the very same body and request id
(WebhookSender on axios-retry, ``retryCondition: () => true``). Nothing orders two events of a
session on the wire, so a receiver can see:

* a later event before an earlier one, when several requests are in flight at once and the
  earlier ones are slower (a congested connection or proxy, or the receiver served the requests
  in another order): :class:`Hold` catches the next N deliveries and lets them arrive one after
  the other in a chosen order (reversed by default);
* one event late while the following ones arrive at once (one slow request, a dropped packet
  that TCP resends): :class:`Delay`;
* the same event twice, with the same ``id`` and ``X-Webhook-Request-Id``: the receiver
  answered 2xx but WAHA never saw the answer (a connection reset after the response was written,
  a proxy timeout), so axios-retry sends it again after the retry delay: :class:`Duplicate`.
  The lost answer uses up one of the webhook's retries, as upstream: a webhook configured with
  no retries gets no second copy (WAHA just logs the failure).

A rule catches the next ``count`` deliveries it matches. A delivery is one event to one webhook
URL (an event that goes to two URLs is two deliveries); ``session`` and ``event`` narrow the
match, None matches everything. Deliveries are caught when their event is emitted, so "the next
N" is the order in which the events happened, whatever the order the delivery tasks start in.
Rules combine: a delivery may be held by one :class:`Hold`, and delayed and duplicated by any
number of the other rules. Without rules, delivery is exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Literal

import attrs
import trio

from whatsignal.testing._common import finite

__all__ = [
    "Delay",
    "DeliveryRules",
    "Duplicate",
    "Hold",
    "Plan",
    "Rule",
    "RuleKind",
    "order_argument",
    "rule_from_json",
]


@attrs.define(eq=False)
class _Slot:
    """One delivery caught by a :class:`Hold`: it waits for its turn, and says when its first
    attempt is over so the next one in the order may go."""

    hold: Hold
    index: int
    go: trio.Event = attrs.Factory(trio.Event)
    finished: bool = False

    async def turn(self) -> None:
        await self.go.wait()

    def done(self) -> None:
        if not self.finished:
            self.finished = True
            self.hold.advance()


@attrs.define(eq=False)
class Plan:
    """What the rules decided for one delivery; :func:`~._waha_webhooks.deliver` follows it.

    ``slot`` is the delivery's place in a hold; ``delay`` the seconds it waits before its first
    attempt (after its turn came); ``lose_answers`` how many 2xx answers WAHA "does not see"
    (each is retried like a failure, with the same body and request id).
    """

    slot: _Slot | None = None
    delay: float = 0.0
    lose_answers: int = 0

    async def before_first_attempt(self) -> None:
        if self.slot is not None:
            await self.slot.turn()
        if self.delay > 0:
            await trio.sleep(self.delay)

    def after_first_attempt(self) -> None:
        if self.slot is not None:
            self.slot.done()


MAX_DELAY = 86400.0
"""Longest delay a rule may add (a day; longer never ends within a test)."""

MAX_HOLD = 1000
"""Most deliveries one hold may catch (it keeps one slot per delivery)."""


def _check_count(count: Any) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError("'count' must be a positive integer")
    return count


def _indexes(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(value)


def _check_name(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"'{what}' must be a string (or null for any)")
    return value


@attrs.define(eq=False, kw_only=True)
class Rule:
    """The part every rule shares: what it matches and how many deliveries it still catches."""

    kind: ClassVar[str] = "rule"
    count: int = attrs.field(default=1, converter=_check_count)
    session: str | None = attrs.field(default=None)
    event: str | None = attrs.field(default=None)
    caught: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        _check_name(self.session, "session")
        _check_name(self.event, "event")

    @property
    def active(self) -> bool:
        """Whether the rule still catches deliveries."""
        return self.caught < self.count

    def matches(self, session: str, event: str) -> bool:
        return (self.session is None or self.session == session) and (
            self.event is None or self.event == event
        )

    def catch(self, plan: Plan) -> None:
        self.caught += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "session": self.session,
            "event": self.event,
            "count": self.count,
            "caught": self.caught,
        }


@attrs.define(eq=False, kw_only=True)
class Hold(Rule):
    """Hold the next ``count`` deliveries, then let them go one at a time in ``order``.

    ``order`` lists the caught deliveries by their index (0 = the first caught), e.g.
    ``(2, 0, 1)``; empty means reversed. The next one goes when the previous one's first
    attempt is over (answered or failed), so the receiver sees them in exactly that order;
    retries then follow the webhook's retry policy as usual. The hold releases itself when the
    last delivery is caught; :meth:`release` lets the ones caught so far go early (in the same
    relative order) and ends the hold.
    """

    kind: ClassVar[str] = "hold"
    order: tuple[int, ...] = attrs.field(default=(), converter=_indexes)
    _slots: list[_Slot] = attrs.field(init=False, factory=list)
    _sequence: list[int] | None = attrs.field(init=False, default=None)
    _position: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.count > MAX_HOLD:
            raise ValueError(f"a hold catches at most {MAX_HOLD} deliveries")
        if self.order and sorted(self.order) != list(range(self.count)):
            raise ValueError(
                f"'order' must list each of 0..{self.count - 1} once (the caught deliveries "
                f"by index), got {list(self.order)}"
            )

    @property
    def active(self) -> bool:
        return self._sequence is None and self.caught < self.count

    @property
    def held(self) -> int:
        """Deliveries caught and still waiting for their turn."""
        return sum(1 for slot in self._slots if not slot.go.is_set())

    def catch(self, plan: Plan) -> None:
        super().catch(plan)
        slot = _Slot(self, len(self._slots))
        self._slots.append(slot)
        plan.slot = slot
        if self.caught == self.count:
            self.release()

    def release(self) -> int:
        """Let the caught deliveries go in order; returns how many (0 if already released)."""
        if self._sequence is not None:
            return 0
        order = self.order or tuple(reversed(range(self.count)))
        self._sequence = [i for i in order if i < len(self._slots)]
        self.advance()
        return len(self._sequence)

    def advance(self) -> None:
        """Give the next delivery in the order its turn (called when one's first try is over)."""
        assert self._sequence is not None, "a hold advances only once released"
        if self._position < len(self._sequence):
            slot = self._slots[self._sequence[self._position]]
            self._position += 1
            slot.go.set()

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "order": list(self.order or reversed(range(self.count))),
            "held": self.held,
            "released": self._sequence is not None,
        }


@attrs.define(eq=False, kw_only=True)
class Delay(Rule):
    """The next ``count`` deliveries wait ``seconds`` before their first attempt; deliveries
    not caught go at once, so later events overtake them."""

    kind: ClassVar[str] = "delay"
    seconds: float = attrs.field(default=0.0)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, int | float):
            raise ValueError("'seconds' must be a number")
        if finite(self.seconds) and self.seconds < 0:
            raise ValueError("'seconds' must not be negative")
        if not finite(self.seconds) or self.seconds > MAX_DELAY:
            raise ValueError(f"'seconds' must be at most {MAX_DELAY:g}")

    def catch(self, plan: Plan) -> None:
        super().catch(plan)
        plan.delay += float(self.seconds)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "seconds": self.seconds}


@attrs.define(eq=False, kw_only=True)
class Duplicate(Rule):
    """The next ``count`` deliveries arrive twice: the receiver's first 2xx answer is "lost",
    so the delivery is retried after the webhook's retry delay with the same body, event id and
    ``X-Webhook-Request-Id`` (recorded as a :class:`~._waha_webhooks.Delivery` with
    ``lost=True``)."""

    kind: ClassVar[str] = "duplicate"

    def catch(self, plan: Plan) -> None:
        super().catch(plan)
        plan.lose_answers += 1


RuleKind = Literal["hold", "delay", "duplicate"]


def rule_from_json(kind: RuleKind, data: dict[str, Any]) -> Rule:
    """Build a rule from a ``/_sim/deliveries/{kind}`` body; ValueError names what is wrong."""
    known = {"session", "event", "count"} | {
        "hold": {"order"},
        "delay": {"seconds"},
        "duplicate": set(),
    }[kind]
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    common: dict[str, Any] = {
        "session": data.get("session"),
        "event": data.get("event"),
    }
    if kind == "hold":
        if "count" not in data:
            raise ValueError("'count' is required: how many deliveries to hold")
        order = data.get("order", "reverse")
        if order == "reverse":
            order = []
        if not isinstance(order, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in order
        ):
            raise ValueError("'order' must be \"reverse\" or a list of indexes")
        return Hold(count=data["count"], order=order, **common)
    if kind == "delay":
        if "seconds" not in data:
            raise ValueError("'seconds' is required")
        return Delay(seconds=data["seconds"], count=data.get("count", 1), **common)
    return Duplicate(count=data.get("count", 1), **common)


@attrs.define(eq=False)
class DeliveryRules:
    """The installed rules, in the order they were added; :meth:`plan` asks them about one
    delivery at the moment its event is emitted."""

    rules: list[Rule] = attrs.Factory(list)

    def add(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    def plan(self, session: str, event: str) -> Plan | None:
        """The plan for one delivery of ``event`` on ``session`` (None: deliver as usual)."""
        plan: Plan | None = None
        for rule in self.rules:
            if not rule.active or not rule.matches(session, event):
                continue
            if isinstance(rule, Hold) and plan is not None and plan.slot is not None:
                continue  # already held by an earlier hold
            plan = plan or Plan()
            rule.catch(plan)
        return plan

    def release(self) -> int:
        """Let every held delivery go (each hold in its order); returns how many."""
        return sum(rule.release() for rule in self.rules if isinstance(rule, Hold))

    def clear(self) -> int:
        """Remove every rule, releasing what is held first; returns how many were released."""
        released = self.release()
        self.rules.clear()
        return released

    def to_json(self) -> list[dict[str, Any]]:
        return [rule.to_json() for rule in self.rules]


def order_argument(order: str | Sequence[int]) -> tuple[int, ...]:
    """``"reverse"`` or a sequence of indexes, as :class:`Hold` takes it."""
    if isinstance(order, str):
        if order != "reverse":
            raise ValueError("order must be 'reverse' or a sequence of indexes")
        return ()
    return tuple(order)
