"""cattrs converters for the wire formats: the one place that knows JSON key names.

Parsing is strict about types (a string is not a number, ``"false"`` is not a boolean) and
lenient about extra keys (upstreams add fields all the time). Every failure becomes a
:class:`~whatsignal.errors.PayloadError` whose message says which field is wrong and why; that
text is what a webhook's 400 answer carries.

:func:`parse_json` is bounded, because what it reads comes from the network: nesting deeper than
:data:`MAX_DEPTH` is refused before the decoder sees it (the stdlib decoder recurses once per
level and would raise ``RecursionError`` deep down), and so are numbers longer than
:data:`MAX_NUMBER_CHARS` (Python refuses to convert integers over 4,300 digits with a plain
``ValueError``), ``NaN``/``Infinity`` and numbers that overflow to them, duplicate keys (which
value wins differs between parsers) and bytes that are not UTF-8. A lone surrogate escape
(half of an emoji, from a broken client) is not refused: it becomes U+FFFD, so the message
still crosses and can be stored and sent on.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
import re
from collections import Counter
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from whatsignal.convert.safe import clean_strings
from whatsignal.errors import PayloadError
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

__all__ = [
    "MAX_DEPTH",
    "MAX_NUMBER_CHARS",
    "WAHA_EVENTS",
    "parse_json",
    "parse_signal_received",
    "parse_waha_event",
    "structure",
    "wire_converter",
]

T = TypeVar("T")

# Fields whose JSON name is not the camelCase of the Python name.
_RENAMES = {"from_": "from", "data": "_data", "v_cards": "vCards"}


def _camel(name: str) -> str:
    if name in _RENAMES:
        return _RENAMES[name]
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _strict(kind: type[Any], *accept: type[Any]) -> Any:
    allowed = accept or (kind,)

    def hook(value: Any, _: Any) -> Any:
        # bool is an int subclass in Python; JSON true is never a number here.
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {kind.__name__}, got a boolean")
        if not isinstance(value, allowed):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return kind(value)

    return hook


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True)
    converter.register_structure_hook(str, _strict(str))
    converter.register_structure_hook(bool, _strict(bool))
    converter.register_structure_hook(int, _strict(int))
    converter.register_structure_hook(float, _strict(float, int, float))

    def is_attrs(cls: Any) -> bool:
        return attrs.has(cls)

    def factory(cls: Any) -> Any:
        overrides = {f.name: override(rename=_camel(f.name)) for f in attrs.fields(cls)}
        return make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

    converter.register_structure_hook_factory(is_attrs, factory)
    return converter


wire_converter = _make_converter()


_PATH_PART = re.compile(r"\.([a-z][a-z0-9]*_[a-z0-9_]*)")


def _describe(error: BaseException) -> str:
    lines = cattrs.transform_error(error) if isinstance(error, cattrs.BaseValidationError) else []
    if not lines:
        return str(error) or error.__class__.__name__
    # transform_error says "... @ $.payload.id"; keep it short and readable.
    # and names Python attributes; show the JSON names the sender used instead.
    lines = [_PATH_PART.sub(lambda m: "." + _camel(m.group(1)), line) for line in lines[:5]]
    return "; ".join(re.sub(r"\s+", " ", line) for line in lines)


def structure(data: Any, cls: type[T], what: str) -> T:
    """Structure ``data`` into ``cls`` or raise PayloadError naming ``what`` and the bad field."""
    if not isinstance(data, dict):
        raise PayloadError(f"{what}: expected a JSON object, got {type(data).__name__}")
    try:
        return wire_converter.structure(data, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as error:
        raise PayloadError(f"{what}: {_describe(error)}") from None


MAX_DEPTH = 64
"""Deepest nesting of objects and arrays a body may have (WAHA's deepest payloads, raw engine
data in ``_data``, stay well under 20)."""

MAX_NUMBER_CHARS = 100
"""Longest number literal accepted, sign, fraction and exponent included (ids and timestamps
have at most 20 digits)."""

# A JSON string literal: a quote, then anything but a quote or a backslash, or an escape pair.
# UTF-8 never has the bytes of '"' or '\\' inside a multi-byte character, so raw bytes will do.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_AS_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,39}")


class _Refused(Exception):
    """Raised by the decoder's hooks; becomes a PayloadError naming the body."""


def _too_deep(raw: bytes) -> bool:
    """Whether the brackets outside string literals nest deeper than MAX_DEPTH.

    Linear and in C: strings are cut out, the brackets kept as steps of 2 (open) and 0 (close),
    and the depth after the i-th bracket is their running sum minus i. Unbalanced brackets are
    the decoder's to report; an unterminated string leaves its brackets in, which at worst calls
    a broken body too deep instead of broken.
    """
    steps = _STRING.sub(b"", raw).translate(_AS_STEP, _NOT_A_BRACKET)
    sums = itertools.accumulate(steps)
    return max(map(operator.sub, sums, itertools.count(1)), default=0) > MAX_DEPTH


def _number(text: str, convert: type[int] | type[float]) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    value = convert(text)
    if not math.isfinite(value):
        raise _Refused("a number out of range (it would be infinite)")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    key = next(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
    # A field name is worth showing; anything else might be content.
    named = f" {key!r}" if _FIELD_NAME.fullmatch(key) else ""
    raise _Refused(f"duplicate key{named}")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique,
    parse_int=lambda text: _number(text, int),
    parse_float=lambda text: _number(text, float),
    parse_constant=_constant,
)


def parse_json(raw: bytes, what: str) -> Any:
    """Decode a JSON body from the network, bounded (see the module docstring).

    Raises:
        PayloadError: the body is not UTF-8, not JSON, or outside the bounds; the message says
            where or why, never what the body holds.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PayloadError(f"{what}: body is not UTF-8 (byte {error.start})") from None
    if _too_deep(raw):
        raise PayloadError(f"{what}: nested deeper than {MAX_DEPTH} levels")
    try:
        value = _DECODER.decode(text)
    except _Refused as error:
        raise PayloadError(f"{what}: {error}") from None
    except json.JSONDecodeError as error:
        raise PayloadError(
            f"{what}: invalid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    if _SURROGATE_ESCAPE.search(raw):
        # A lone surrogate escape is text a broken client wrote, not an attack: the message
        # still crosses, with U+FFFD where the half character was.
        value = clean_strings(value)
    return value


def parse_waha_event(raw: bytes) -> WahaEvent:
    """Parse a WAHA webhook body into its envelope (the payload stays a dict until used)."""
    return structure(parse_json(raw, "webhook body"), WahaEvent, "webhook body")


_PAYLOADS: dict[str, type[Any]] = {
    "message": WaMessage,
    "message.any": WaMessage,
    "message.ack": WaAck,
    "message.ack.group": WaAck,
    "message.reaction": WaReaction,
    "message.revoked": WaRevoked,
    "message.edited": WaMessage,
    "session.status": WaSessionStatus,
    "group.v2.update": WaGroupUpdate,
    "poll.vote": WaPollVote,
    "poll.vote.failed": WaPollVote,
}


WAHA_EVENTS: frozenset[str] = frozenset(
    {
        "session.status",
        "message",
        "message.reaction",
        "message.any",
        "message.ack",
        "message.ack.group",
        "message.waiting",
        "message.revoked",
        "message.edited",
        "state.change",
        "group.join",
        "group.leave",
        "group.v2.join",
        "group.v2.leave",
        "group.v2.update",
        "group.v2.participants",
        "presence.update",
        "poll.vote",
        "poll.vote.failed",
        "chat.archive",
        "call.received",
        "call.accepted",
        "call.rejected",
        "label.upsert",
        "label.deleted",
        "label.chat.added",
        "label.chat.deleted",
        "event.response",
        "event.response.failed",
        "engine.event",
    }
)
"""WAHA's documented event names (the ``event`` enum of ``WAHAWebhookMessage`` in its OpenAPI
spec). Anything else is answered like an event the bridge ignores, and counted as ``other``: a
metric label must not take whatever a sender writes."""


def waha_payload_type(event: str) -> type[Any] | None:
    """The payload class of an event the bridge acts on, or None for events it ignores."""
    return _PAYLOADS.get(event)


def parse_waha_payload(event: WahaEvent) -> Any:
    """The typed payload of ``event``; PayloadError when it does not match the event's shape."""
    cls = _PAYLOADS.get(event.event)
    if cls is None:
        raise PayloadError(f"event {event.event!r} is not handled")
    return structure(event.payload, cls, f"{event.event} payload")


def parse_signal_received(data: Any) -> SigReceived:
    """Parse one received item ``{"envelope": ..., "account": ...}`` (or a JSON-RPC ``params``)."""
    return structure(data, SigReceived, "signal envelope")
