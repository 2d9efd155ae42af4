"""FakeSignal: an in-process signal-cli-rest-api that behaves like the real one.

It serves the endpoints a bridge uses, per the vendored swagger (0.100) and the upstream Go
handlers, including the parts that make a bridge's life hard:

- in ``normal``/``native`` mode ``GET /v1/receive/{number}`` hands out the queued envelopes and
  forgets them (a second call gets ``[]``);
- in ``json-rpc`` mode the same path is a websocket, every connected socket gets every envelope,
  and an envelope that arrives while no socket listens is lost (upstream issue #834); with
  ``receive_webhook_url`` each envelope is also POSTed once, without retry or auth;
- ``POST /v2/send`` answers the 0.100 object or the newer array, and can be made to answer a
  429 rate limit, even for a message it delivered (upstream issue #881).

Tests and the ``demo`` drive it through a control API: Python methods on the object and the same
over HTTP under ``/_sim/`` (see :mod:`whatsignal.testing._signal_control`). docs/simulators.md
documents both, and every place where the fake knowingly differs from upstream.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import mimetypes
import os
import secrets
import string
import time
from collections.abc import Sequence
from typing import Any, Literal, cast

import attrs
import httpx
import trio
from quart_trio import QuartTrio

from whatsignal.testing import _signal_envelopes as env
from whatsignal.testing._common import ASGIApp, Fault, Recorded, SimulatorBase
from whatsignal.testing._signal_api import add_api_routes, dumps, mask
from whatsignal.testing._signal_control import add_control_routes
from whatsignal.testing._signal_envelopes import Group, Person
from whatsignal.testing._signal_send import (
    SentMessage,
)
from whatsignal.testing.contract import signal_contract

__all__ = ["FakeSignal", "SentMessage", "StoredAttachment"]

log = logging.getLogger("whatsignal.testing.signal")

Mode = Literal["normal", "native", "json-rpc"]
MODES: tuple[str, ...] = ("normal", "native", "json-rpc")

_ID_ALPHABET = string.ascii_letters + string.digits


@attrs.frozen
class StoredAttachment:
    """A received attachment file, served by ``GET /v1/attachments/{id}``."""

    data: bytes
    content_type: str
    filename: str | None


@attrs.define
class _RateLimit:
    count: int
    delivered_anyway: bool
    challenge_tokens: tuple[str, ...]


def _check_mode(_inst: Any, _attr: Any, value: str) -> None:
    if value not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {value!r}")


@attrs.define(eq=False, kw_only=True)
class FakeSignal(SimulatorBase):
    """A signal-cli-rest-api simulator (an actor: ``url = await nursery.start(fake.run)``).

    Args:
        mode: what ``GET /v1/about`` reports and how receiving works (``MODE`` upstream).
        numbers: the registered bridge numbers (accounts); other numbers are refused.
        send_response: ``"object"`` answers ``/v2/send`` as release 0.100 does,
            ``{"timestamp": "<ms>"}``; ``"array"`` as master after 0.100 does,
            ``[{"timestamp": "<ms>"}]``.
        receive_webhook_url: upstream's ``RECEIVE_WEBHOOK_URL`` (json-rpc mode only): every
            received JSON-RPC line is POSTed there once; no retry, no auth.
        ping_interval: seconds between server websocket pings (upstream: 54); None disables.
        default_receive_timeout: the ``timeout`` of a receive call that names none (upstream 1).
        receive_time_scale: real seconds per upstream "second" of a receive ``timeout``;
            ``timeout`` is an integer upstream, so tests scale it down instead (e.g. 0.05).
        socket_buffer: frames a slow websocket may fall behind before it misses envelopes
            (upstream hands each frame to an unbuffered Go channel and drops it when busy).
        webhook_timeout: seconds before a receive-webhook POST is abandoned.
        version: the ``version`` reported by ``GET /v1/about`` (upstream ``BUILD_VERSION``).
        check_contracts: validate accepted requests, emitted responses and envelopes against
            the swagger; a violation is recorded in ``violations`` and answered with a 500.
    """

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
    violations: list[str] = attrs.field(init=False, factory=list)
    webhook_results: list[int | str] = attrs.field(init=False, factory=list)
    handed_out: list[tuple[float, list[int]]] = attrs.field(init=False, factory=list)
    """Every non-empty ``GET /v1/receive`` answer: (trio time, envelope timestamps), in order.
    Receiving is destructive, so this is what a crash test needs to tell which envelopes a
    killed client may never have seen."""
    solved_challenges: list[str] = attrs.field(init=False, factory=list)
    """Challenge tokens lifted with ``POST /v1/accounts/{number}/rate-limit-challenge``."""
    dropped: int = attrs.field(init=False, default=0)
    attachments: dict[str, StoredAttachment] = attrs.field(init=False, factory=dict)
    groups: dict[str, Group] = attrs.field(init=False, factory=dict)
    _people: dict[str, Person] = attrs.field(init=False, factory=dict)
    _queues: dict[str, list[dict[str, Any]]] = attrs.field(init=False, factory=dict)
    _arrived: trio.Event = attrs.field(init=False, factory=trio.Event)
    _sockets: dict[str, list[trio.MemorySendChannel[str]]] = attrs.field(init=False, factory=dict)
    _rate_limits: list[_RateLimit] = attrs.field(init=False, factory=list)
    _early_faults: list[Fault] = attrs.field(init=False, factory=list)
    _last_ts: int = attrs.field(init=False, default=0)
    _http: httpx.AsyncClient | None = attrs.field(init=False, default=None)

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

    # ---------------------------------------------------------------- lifecycle

    async def run(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; reports the base URL. Owns the webhook HTTP client."""
        async with httpx.AsyncClient(timeout=self.webhook_timeout) as client:
            self._http = client
            try:
                await super().run(task_status=task_status)
            finally:
                self._http = None

    def build_app(self) -> ASGIApp:
        app = QuartTrio("whatsignal.testing.signal")
        app.before_serving(self._install_early_faults)
        add_api_routes(self, app)
        add_control_routes(app, self)
        # quart's precise ASGI types are narrower than the generic mapping-based alias.
        return cast("ASGIApp", app)

    async def _install_early_faults(self) -> None:
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
        self._rate_limits.append(_RateLimit(count, delivered_anyway, tokens))

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
        self.attachments.clear()
        self.groups.clear()
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

    def store_attachment(self, data: bytes, content_type: str, filename: str | None = None) -> str:
        """Store a received file like signal-cli does; returns its attachment id."""
        ext = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ""
        attachment_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(20)) + ext
        self.attachments[attachment_id] = StoredAttachment(data, content_type, filename)
        return attachment_id

    def queued(self) -> dict[str, int]:
        """Envelopes waiting for ``GET /v1/receive``, per account (normal/native mode)."""
        return {account: len(items) for account, items in self._queues.items() if items}

    def sockets(self) -> dict[str, int]:
        """Connected receive websockets, per account (json-rpc mode)."""
        return {account: len(chans) for account, chans in self._sockets.items() if chans}

    def next_timestamp(self) -> int:
        """A fresh ms timestamp, strictly greater than every one handed out before."""
        self._last_ts = max(int(time.time() * 1000), self._last_ts + 1)
        return self._last_ts

    def inject_envelope(
        self,
        sender: str,
        *,
        account: str | None = None,
        message: str | None = None,
        sender_name: str | None = None,
        sender_uuid: str | None = None,
        number_hidden: bool = False,
        timestamp: int | None = None,
        quote: dict[str, Any] | None = None,
        quote_timestamp: int | None = None,
        quote_author: str | None = None,
        reaction: str | None = None,
        reaction_target: int | None = None,
        reaction_author: str | None = None,
        reaction_remove: bool = False,
        attachments: Sequence[tuple[bytes, str, str | None]] = (),
        group_id: str | None = None,
        receipt: Literal["delivery", "read", "viewed"] | None = None,
        receipt_timestamps: Sequence[int] = (),
        typing: Literal["STARTED", "STOPPED"] | None = None,
        remote_delete: int | None = None,
        edit: int | None = None,
        sync_to: str | None = None,
        mentions: Sequence[dict[str, Any]] = (),
        raw: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Build a realistic envelope from ``sender`` to ``account`` and deliver it.

        Exactly one kind is built, in this order: ``raw`` (a full envelope, used as is),
        ``receipt``, ``typing``, ``sync_to`` (a message the account owner sent from their phone
        to ``sync_to``), ``edit`` (new text ``message`` for the message sent at ``edit``),
        otherwise a data message: text, ``quote`` (``{"timestamp", "author", "text"}``, or
        ``quote_timestamp`` + ``quote_author``; the author defaults to the account and the
        text to what the bridge sent then), ``reaction`` (an emoji for ``reaction_target``),
        ``remote_delete`` (a timestamp), ``mentions`` (``receive.Mention`` objects:
        ``{"start", "length", "uuid", "number", "name"}``), ``attachments`` (``(bytes, mime,
        filename)``, stored for ``GET /v1/attachments/{id}``) and ``group_id`` (internal id,
        ``group.`` id or name).

        Delivery: queued for ``GET /v1/receive`` (normal/native), or pushed to the connected
        websockets and the receive webhook, and dropped when no socket listens (json-rpc).

        Returns:
            The ``{"envelope": ..., "account": ...}`` message as delivered.

        Raises:
            ValueError: unknown account or inconsistent arguments.
            ContractViolation: the envelope does not match the swagger (check_contracts).
        """
        account = account or self.numbers[0]
        if account not in self.numbers:
            raise ValueError(f"{account!r} is not a registered number of this fake")
        if raw is not None:
            envelope = dict(raw)
        else:
            envelope = self._build_envelope(
                sender,
                account=account,
                message=message,
                sender_name=sender_name,
                sender_uuid=sender_uuid,
                number_hidden=number_hidden,
                timestamp=timestamp,
                quote=quote,
                quote_timestamp=quote_timestamp,
                quote_author=quote_author,
                reaction=reaction,
                reaction_target=reaction_target,
                reaction_author=reaction_author,
                reaction_remove=reaction_remove,
                attachments=attachments,
                group_id=group_id,
                receipt=receipt,
                receipt_timestamps=receipt_timestamps,
                typing=typing,
                remote_delete=remote_delete,
                edit=edit,
                sync_to=sync_to,
                mentions=mentions,
            )
        item = {"envelope": envelope, "account": account}
        if self.check_contracts:
            signal_contract().check_definition("data.Message", env.strip_nulls(item))
        self._deliver(item)
        return item

    # ---------------------------------------------------------------- envelopes

    def _build_envelope(
        self,
        sender: str,
        *,
        account: str,
        message: str | None,
        sender_name: str | None,
        sender_uuid: str | None,
        number_hidden: bool,
        timestamp: int | None,
        quote: dict[str, Any] | None,
        quote_timestamp: int | None,
        quote_author: str | None,
        reaction: str | None,
        reaction_target: int | None,
        reaction_author: str | None,
        reaction_remove: bool,
        attachments: Sequence[tuple[bytes, str, str | None]],
        group_id: str | None,
        receipt: str | None,
        receipt_timestamps: Sequence[int],
        typing: str | None,
        remote_delete: int | None,
        edit: int | None,
        sync_to: str | None,
        mentions: Sequence[dict[str, Any]],
    ) -> dict[str, Any]:
        if env.is_uuid(sender):
            person = self._people.get(sender) or self.add_contact(
                None, uuid=sender, name=sender_name
            )
        else:
            person = self.add_contact(sender, name=sender_name, uuid=sender_uuid)
        if number_hidden:
            person = Person(None, person.uuid, person.name)
        ts = timestamp if timestamp is not None else self.next_timestamp()
        group = self.group(group_id) if group_id else None
        if receipt is not None:
            if receipt not in ("delivery", "read", "viewed"):
                raise ValueError("receipt must be delivery, read or viewed")
            stamps = list(receipt_timestamps) or [m.timestamp for m in self.messages[-1:]]
            if not stamps:
                raise ValueError("a receipt needs receipt_timestamps (nothing was sent yet)")
            return env.envelope(person, ts, receiptMessage=env.receipt(receipt, ts, stamps))
        if typing is not None:
            if typing not in ("STARTED", "STOPPED"):
                raise ValueError("typing must be STARTED or STOPPED")
            return env.envelope(person, ts, typingMessage=env.typing(typing, ts, group))
        if sync_to is not None:
            owner = self._people[account]
            target = self.add_contact(sync_to)
            sync = env.sync_sent(target, ts, message, group)
            return env.envelope(owner, ts, device=2, syncMessage=sync)
        stored = [
            env.attachment(self.store_attachment(data, mime, name), mime, name, len(data), ts)
            for data, mime, name in attachments
        ]
        if edit is not None:
            inner = env.data_message(ts, message=message, attachments=stored, group=group)
            return env.envelope(
                person, ts, editMessage={"targetSentTimestamp": edit, "dataMessage": inner}
            )
        quoted = self._quote(account, quote, quote_timestamp, quote_author)
        react = None
        if reaction is not None:
            if reaction_target is None:
                raise ValueError("a reaction needs reaction_target (the message timestamp)")
            author = self._person(reaction_author or account)
            react = env.reaction(reaction, reaction_target, author, remove=reaction_remove)
        if message is None and not (stored or quoted or react or remote_delete):
            raise ValueError("nothing to send: give a message, attachments, reaction, ...")
        data = env.data_message(
            ts,
            message=message,
            quote=quoted,
            reaction=react,
            attachments=stored,
            group=group,
            remote_delete=remote_delete,
            mentions=mentions,
        )
        return env.envelope(person, ts, dataMessage=data)

    def _person(self, address: str) -> Person:
        if address in self._people:
            return self._people[address]
        if env.is_uuid(address):
            return self.add_contact(None, uuid=address)
        return self.add_contact(address)

    def _quote(
        self,
        account: str,
        quote: dict[str, Any] | None,
        quote_timestamp: int | None,
        quote_author: str | None,
    ) -> dict[str, Any] | None:
        if quote is not None:
            unknown = set(quote) - {"timestamp", "author", "text"}
            if unknown or "timestamp" not in quote:
                raise ValueError("quote is {'timestamp': int, 'author'?: str, 'text'?: str}")
            quote_timestamp = int(quote["timestamp"])
            quote_author = quote.get("author", quote_author)
            text = quote.get("text")
        else:
            text = None
        if quote_timestamp is None:
            return None
        if text is None:
            text = next((m.message for m in self.messages if m.timestamp == quote_timestamp), "")
        return env.quote(quote_timestamp, self._person(quote_author or account), text)

    def _deliver(self, item: dict[str, Any]) -> None:
        account: str = item["account"]
        if self.mode != "json-rpc":
            self._queues.setdefault(account, []).append(item)
            self._arrived.set()
            self._arrived = trio.Event()
            return
        frame = dumps(item)
        delivered = False
        for channel in self._sockets.get(account, []):
            try:
                channel.send_nowait(frame)
                delivered = True
            except trio.WouldBlock:
                log.info("signal fake: socket for %s is busy, frame dropped", mask(account))
        if not delivered:
            self.dropped += 1
            log.info("signal fake: no websocket for %s, envelope dropped", mask(account))
        if self.receive_webhook_url:
            line = {"jsonrpc": "2.0", "method": "receive", "params": item}
            self.nursery.start_soon(self._push_webhook, line)

    async def _push_webhook(self, line: dict[str, Any]) -> None:
        """One POST, no retry, no auth: exactly what upstream does with RECEIVE_WEBHOOK_URL."""
        url = self.receive_webhook_url
        if self._http is None or url is None:  # pragma: no cover - run() always sets both
            return
        try:
            response = await self._http.post(
                url,
                content=dumps(line).encode(),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            self.webhook_results.append(f"{type(exc).__name__}: {exc}")
            log.warning("signal fake: receive webhook failed: %s", type(exc).__name__)
            return
        self.webhook_results.append(response.status_code)
        if response.status_code not in (200, 201):
            log.warning("signal fake: receive webhook answered %d", response.status_code)


# -------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m whatsignal.testing signal`` (upstream configures by env)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=8080, help="port to listen on (upstream: 8080; 0 = any)"
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=os.environ.get("MODE", "normal"),
        help="signal-cli mode, as upstream's MODE: normal/native poll GET /v1/receive, "
        "json-rpc pushes over a websocket (default: $MODE or normal)",
    )
    parser.add_argument(
        "--number",
        dest="numbers",
        action="append",
        metavar="E164",
        help="a registered bridge number; repeat for several (default: +4915000000001)",
    )
    parser.add_argument(
        "--receive-webhook-url",
        default=os.environ.get("RECEIVE_WEBHOOK_URL") or None,
        help="json-rpc mode: POST every received message here, once, without auth "
        "(upstream RECEIVE_WEBHOOK_URL; default: $RECEIVE_WEBHOOK_URL)",
    )
    parser.add_argument(
        "--send-response",
        choices=("object", "array"),
        default="object",
        help="/v2/send answer: 'object' like release 0.100, 'array' like master after it",
    )
    parser.add_argument(
        "--ping-interval",
        type=float,
        default=30.0,
        help="seconds between websocket pings (0 disables; upstream pings every 54 s)",
    )
    parser.add_argument(
        "--receive-timeout",
        type=float,
        default=1.0,
        help="timeout of a GET /v1/receive that names none (upstream: 1 s)",
    )
    parser.add_argument(
        "--no-contract-checks",
        action="store_true",
        help="do not validate requests and responses against the swagger",
    )


def from_args(args: argparse.Namespace) -> FakeSignal:
    """Build a FakeSignal from the options of :func:`add_arguments`."""
    return FakeSignal(
        host=args.host,
        port=args.port,
        mode=args.mode,
        numbers=tuple(args.numbers or ("+4915000000001",)),
        receive_webhook_url=args.receive_webhook_url,
        send_response=args.send_response,
        ping_interval=args.ping_interval or None,
        default_receive_timeout=args.receive_timeout,
        check_contracts=not args.no_contract_checks,
    )
