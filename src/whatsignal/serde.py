"""cattrs converters for the wire formats: the one place that knows JSON key names.

Parsing is strict about types (a string is not a number, ``"false"`` is not a boolean) and
lenient about extra keys (upstreams add fields all the time). Every failure becomes a
:class:`~whatsignal.errors.PayloadError` whose message says which field is wrong and why; that
text is what a webhook's 400 answer carries.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from whatsignal.errors import PayloadError
from whatsignal.models.signal_api import SigReceived
from whatsignal.models.waha import (
    WaAck,
    WahaEvent,
    WaMessage,
    WaReaction,
    WaRevoked,
    WaSessionStatus,
)

__all__ = [
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


def parse_json(raw: bytes, what: str) -> Any:
    """Decode JSON or raise PayloadError with the position of the problem (never the body)."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise PayloadError(f"{what}: body is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise PayloadError(
            f"{what}: invalid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None


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
}


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
