"""What signal-cli can print as an envelope, checked before FakeSignal delivers one.

signal-cli writes envelopes with Jackson from typed Java records (``JsonMessageEnvelope`` and
the ``Json*Message`` records it holds): a timestamp is always there and always a ``long``, a
name is a ``String`` or ``null``, a flag a ``boolean``. A test that injects an envelope with a
``"timestamp": "abc"`` or none at all describes a message signal-cli-rest-api never hands
out, so :func:`envelope_problems` names such a mistake and injection refuses it, whether or
not contract checks are on. A test that wants the bridge to see such an envelope anyway says
so (``inject_envelope(raw=..., as_is=True)``) and gets it verbatim.

The types come from the ``receive.*`` definitions of the vendored swagger, read strictly
(an integer is a JSON integer within 64 bits, not ``1.0`` or ``true``), with ``null``
allowed wherever signal-cli prints absent values as ``null``. Fields the swagger does not
know are left alone: newer signal-cli versions add some.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from whatsignal.testing._json import INT64_MAX, INT64_MIN
from whatsignal.testing.contract import signal_contract

__all__ = ["check_stamp", "envelope_problems"]

_ENVELOPE = "definitions/receive.MessageEnvelope"


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    if "$ref" in schema:
        resolved: Mapping[str, Any] = signal_contract().schema(
            str(schema["$ref"]).removeprefix("#/")
        )
        return resolved
    return schema


def _type_problem(kind: str, value: Any) -> str | None:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == "integer":
        if not is_int:
            return f"must be an integer, not {type(value).__name__} {value!r:.40}"
        if not INT64_MIN <= value <= INT64_MAX:
            return "must fit a Java long"
        return None
    expected: dict[str, tuple[type, ...]] = {
        "string": (str,),
        "boolean": (bool,),
        "array": (list,),
        "object": (dict,),
    }
    if kind == "number":
        ok = (is_int or isinstance(value, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected.get(kind, (object,)))
    return None if ok else f"must be {kind}, not {type(value).__name__} {value!r:.40}"


def _problems(schema: Mapping[str, Any], value: Any, where: str) -> list[str]:
    if value is None:  # signal-cli prints absent values as null
        return []
    schema = _resolve(schema)
    kind = schema.get("type")
    if isinstance(kind, str):
        problem = _type_problem(kind, value)
        if problem is not None:
            return [f"{where} {problem}"]
    out: list[str] = []
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                out += _problems(sub, value[key], f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += _problems(schema["items"], item, f"{where}[{i}]")
    return out


def envelope_problems(envelope: Any) -> list[str]:
    """Why signal-cli could never print ``envelope`` (empty: it could)."""
    if not isinstance(envelope, dict):
        return [f"the envelope must be an object, not {type(envelope).__name__}"]
    stamp = envelope.get("timestamp")
    if stamp is None:
        return ["envelope.timestamp is missing (signal-cli always prints the ms timestamp)"]
    problems = _problems(signal_contract().schema(_ENVELOPE), envelope, "envelope")
    if not problems and stamp < 0:
        problems.append("envelope.timestamp must not be negative")
    return problems


def check_stamp(value: Any, what: str) -> int:
    """``value`` as a ms timestamp signal-cli could print; ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer ms timestamp, not {value!r:.40}")
    if not 0 <= value <= INT64_MAX:
        raise ValueError(f"{what} must be a ms timestamp between 0 and 2**63 - 1")
    return value
