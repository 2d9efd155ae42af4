"""FakeSignal's configuration and state, and the control operations that only touch state.

:class:`SignalBase` holds every field of :class:`~whatsignal.testing.signal_cli.FakeSignal`
(the constructor arguments, documented there, and the records tests read: ``sent``,
``responses``, ``messages``, ``violations``, ``handed_out``, ...), with the Python control
API that needs no running server: faults, rate limits, contacts, groups, attachments and
``reset``. Delivering envelopes (:mod:`._signal_delivery`), building them
(:mod:`._signal_model`) and the HTTP app (:mod:`.signal_cli`) are layered on top.
"""

from __future__ import annotations

import contextlib
import mimetypes
import secrets
import string
import time
from collections.abc import Sequence
from typing import Any, Literal

import attrs
import httpx
import trio

from whatsignal.testing import _signal_envelopes as env
from whatsignal.testing._common import Fault, Recorded, SimulatorBase
from whatsignal.testing._signal_envelopes import Group, Person
from whatsignal.testing._signal_send import SentMessage

__all__ = ["MODES", "Mode", "Queued", "RateLimit", "SignalBase", "StoredAttachment"]

Mode = Literal["normal", "native", "json-rpc"]
MODES: tuple[str, ...] = ("normal", "native", "json-rpc")

_ID_ALPHABET = string.ascii_letters + string.digits


@attrs.frozen
class StoredAttachment:
    """A received attachment file, served by ``GET /v1/attachments/{id}``."""

    data: bytes
    content_type: str
    filename: str | None


@attrs.frozen
class Queued:
    """An envelope waiting to be handed out (``GET /v1/receive``, or the json-rpc receive loop):
    the ``{envelope, account}`` item and the JSON text it was serialized to when it was
    injected (what receiving hands out)."""

    item: dict[str, Any]
    text: str

    @property
    def stamp(self) -> int:
        """The envelope's timestamp, or 0 when a test delivered one without an integer one."""
        envelope = self.item.get("envelope")
        stamp = envelope.get("timestamp") if isinstance(envelope, dict) else None
        return stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else 0


@attrs.define
class RateLimit:
    """Answer the next ``count`` sends with a 429 carrying ``challenge_tokens``."""

    count: int
    delivered_anyway: bool
    challenge_tokens: tuple[str, ...]


def _check_mode(_inst: Any, _attr: Any, value: str) -> None:
    if value not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {value!r}")


@attrs.define(eq=False, kw_only=True)
class SignalBase(SimulatorBase):
    """The fields of :class:`~whatsignal.testing.signal_cli.FakeSignal` (whose docstring
    explains the arguments), with the control operations that only read or change them."""

    mode: Mode = attrs.field(default="normal", validator=_check_mode)
    numbers: Sequence[str] = ("+4915000000001",)
    send_response: Literal["object", "array"] = attrs.field(
        default="object", validator=attrs.validators.in_(("object", "array"))
    )
    receive_webhook_url: str | None = None
    ping_interval: float | None = 30.0
    default_receive_timeout: float = 1.0
    receive_time_scale: float = 1.0
    socket_buffer: int = 16
    webhook_timeout: float = 10.0
    version: str = "0.100"
    check_contracts: bool = True

    sent: list[Recorded] = attrs.field(init=False, factory=list)
    responses: list[tuple[int, Any]] = attrs.field(init=False, factory=list)
    messages: list[SentMessage] = attrs.field(init=False, factory=list)
    polls: list[Any] = attrs.field(init=False, factory=list)
    """The polls created (``_signal_polls.SentPoll``)."""
    poll_votes: list[Any] = attrs.field(init=False, factory=list)
    """The votes the bridge cast (``_signal_polls.SentVote``)."""
    polls_refused: bool = attrs.field(init=False, default=False)
    """Answer ``POST /v1/polls`` 400, as a signal-cli-rest-api without polls would."""
    violations: list[str] = attrs.field(init=False, factory=list)
    webhook_results: list[int | str] = attrs.field(init=False, factory=list)
    handed_out: list[tuple[float, list[int]]] = attrs.field(init=False, factory=list)
    """Every non-empty ``GET /v1/receive`` answer: (trio time, envelope timestamps), in order.
    Receiving is destructive, so this is what a crash test needs to tell which envelopes a
    killed client may never have seen."""
    solved_challenges: list[str] = attrs.field(init=False, factory=list)
    """Challenge tokens lifted with ``POST /v1/accounts/{number}/rate-limit-challenge``."""
    dropped: int = attrs.field(init=False, default=0)
    socket_connects: int = attrs.field(init=False, default=0)
    """Receive websockets opened so far (json-rpc mode): a reconnect shows as a new one."""
    socket_frames: list[tuple[float, int, tuple[int, ...]]] = attrs.field(init=False, factory=list)
    """Every json-rpc hand-off: (trio time, envelope timestamp, the sockets that took it, by
    their number in ``socket_connects``; empty: dropped)."""
    socket_closed: dict[int, float] = attrs.field(init=False, factory=dict)
    """When each receive websocket (by number) ended, in trio time."""
    attachments: dict[str, StoredAttachment] = attrs.field(init=False, factory=dict)
    groups: dict[str, Group] = attrs.field(init=False, factory=dict)
    invite_only: set[str] = attrs.field(init=False, factory=set)
    """People signal-cli has no profile key for: a group made with them only invites them."""
    group_rate_limits: int = attrs.field(init=False, default=0)
    """How many next group creations answer 429 (Signal's rate limit on creating groups)."""
    profile_names: dict[str, str] = attrs.field(init=False, factory=dict)
    """The profile name each registered number was given (``PUT /v1/profiles``)."""
    profile_required: bool = attrs.field(init=False, default=False)
    """Whether making a group needs a profile name first (groups v2 do: a number never given
    one is refused with a 400 asking to update the profile)."""
    _people: dict[str, Person] = attrs.field(init=False, factory=dict)
    _queues: dict[str, list[Queued]] = attrs.field(init=False, factory=dict)
    _arrived: trio.Event = attrs.field(init=False, factory=trio.Event)
    _sockets: dict[str, list[trio.MemorySendChannel[str]]] = attrs.field(init=False, factory=dict)
    _socket_ids: dict[trio.MemorySendChannel[str], int] = attrs.field(init=False, factory=dict)
    _rate_limits: list[RateLimit] = attrs.field(init=False, factory=list)
    _early_faults: list[Fault] = attrs.field(init=False, factory=list)
    _last_ts: int = attrs.field(init=False, default=0)
    _http: httpx.AsyncClient | None = attrs.field(init=False, default=None)
    _lines: list[Queued] = attrs.field(init=False, factory=list)
    """Envelopes the receive loop has yet to hand out (push path on)."""
    _push_failures: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        if not self.numbers:
            raise ValueError("FakeSignal needs at least one registered number")
        self.numbers = tuple(self.numbers)
        if self.receive_webhook_url and self.mode != "json-rpc":
            # Upstream refuses to start: RECEIVE_WEBHOOK_URL only works in json-rpc mode.
            raise ValueError("receive_webhook_url is only supported in json-rpc mode")
        self.websocket_ping_interval = self.ping_interval
        for number in self.numbers:
            self.add_contact(number, name="Bridge")

    async def _install_early_faults(self) -> None:
        """Install the faults added before the server existed, as it starts serving."""
        for fault in self._early_faults:
            self.injector.add(fault)
        self._early_faults.clear()

    # ---------------------------------------------------------------- control API (Python)

    def add_fault(self, fault: Fault) -> None:
        """Make the next ``fault.count`` matching calls fail (see :class:`Fault`)."""
        try:
            injector = self.injector
        except AttributeError:  # not running yet: installed when the server starts
            self._early_faults.append(fault)
            return
        injector.add(fault)

    def rate_limit(
        self,
        count: int = 1,
        *,
        delivered_anyway: bool = False,
        challenge_tokens: Sequence[str] = (),
    ) -> None:
        """Answer the next ``count`` valid ``/v2/send`` calls with upstream's 429.

        ``delivered_anyway`` records the message as sent although the answer is 429 (upstream
        issue #881: Signal delivered it); the challenge tokens may be ``[""]`` there too.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        tokens = tuple(challenge_tokens) or (secrets.token_hex(16),)
        self._rate_limits.append(RateLimit(count, delivered_anyway, tokens))

    def solve_challenge(self, token: str) -> bool:
        """A correct captcha for ``token`` lifts the rate limits that issued it."""
        matching = [r for r in self._rate_limits if token in r.challenge_tokens]
        for limit in matching:
            self._rate_limits.remove(limit)
        if matching:
            self.solved_challenges.append(token)
        return bool(matching)

    def reset(self) -> None:
        """Forget everything sent, queued, stored and injected; keep numbers and mode."""
        self.sent.clear()
        self.responses.clear()
        self.messages.clear()
        self.violations.clear()
        self.webhook_results.clear()
        self.handed_out.clear()
        self.solved_challenges.clear()
        self.dropped = 0
        self.socket_connects = 0
        self.socket_frames.clear()
        self.socket_closed.clear()
        self.attachments.clear()
        self.groups.clear()
        self.invite_only.clear()
        self.group_rate_limits = 0
        self.profile_names.clear()
        self.profile_required = False
        self._queues.clear()
        self._rate_limits.clear()
        self._early_faults.clear()
        with contextlib.suppress(AttributeError):  # not running: no injector yet
            self.injector.clear()

    def add_contact(
        self,
        number: str | None,
        *,
        name: str | None = None,
        uuid: str | None = None,
    ) -> Person:
        """Register (or update) a Signal user; ``number=None`` hides the number (uuid only)."""
        if number is None and uuid is None:
            raise ValueError("a contact needs a number or a uuid")
        known = self._people.get(number or "") or self._people.get(uuid or "")
        person = Person(
            number=number,
            uuid=uuid or (known.uuid if known else env.stable_uuid(number or "")),
            name=name or (known.name if known else f"Signal user {(number or uuid or '')[-4:]}"),
        )
        if number is not None:
            self._people[number] = person
        self._people[person.uuid] = person
        return person

    def uuid_of(self, number: str) -> str:
        """The stable uuid of ``number`` (the same in every run)."""
        person = self._people.get(number)
        return person.uuid if person else env.stable_uuid(number)

    def add_group(self, name: str, members: Sequence[str] = (), *, internal_id: str = "") -> Group:
        """Create a group all registered numbers belong to; returns it (``.id`` to send)."""
        internal = internal_id or env.internal_group_id(name)
        group = Group(internal, name, tuple(members) or tuple(self.numbers))
        self.groups[internal] = group
        return group

    def group(self, ref: str) -> Group:
        """A group by internal id, ``group.`` id or name; created when unknown."""
        if ref.startswith(env.GROUP_PREFIX):
            internal = env.internal_from_group_id(ref)
            if internal is None:
                raise ValueError(f"not a valid group id: {ref!r}")
            ref = internal
        if ref in self.groups:
            return self.groups[ref]
        for group in self.groups.values():
            if group.name == ref:
                return group
        return self.add_group(ref)

    def group_known(self, ref: str) -> Group:
        """A group by internal id, ``group.`` id or name; ValueError when there is none."""
        internal = env.internal_from_group_id(ref) if ref.startswith(env.GROUP_PREFIX) else ref
        for group in self.groups.values():
            if ref in (group.internal_id, group.name) or group.internal_id == internal:
                return group
        raise ValueError(f"no group {ref!r}")

    def store_attachment(self, data: bytes, content_type: str, filename: str | None = None) -> str:
        """Store a received file like signal-cli does; returns its attachment id."""
        ext = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ""
        attachment_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(20)) + ext
        self.attachments[attachment_id] = StoredAttachment(data, content_type, filename)
        return attachment_id

    def contacts(self) -> list[Person]:
        """The Signal users the fake knows, once each, without the registered numbers."""
        return [
            person
            for key, person in self._people.items()
            if key == person.uuid and person.number not in self.numbers
        ]

    def take_rate_limit(self) -> RateLimit | None:
        """The rate limit that answers the current send, with one use of it consumed."""
        limit = self._rate_limits[0] if self._rate_limits else None
        if limit is not None:
            limit.count -= 1
            if limit.count <= 0:
                self._rate_limits.pop(0)
        return limit

    def next_timestamp(self) -> int:
        """A fresh ms timestamp, strictly greater than every one handed out before."""
        self._last_ts = max(int(time.time() * 1000), self._last_ts + 1)
        return self._last_ts
