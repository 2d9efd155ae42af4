"""JSON in and out of the simulators, safe against the hostile input tests feed them on purpose.

Python's :func:`json.loads` takes what no upstream would: ``NaN`` and ``Infinity``, integers of
thousands of digits, nesting until the interpreter's recursion limit (a ``RecursionError``, not
a ``ValueError``), and it keeps lone UTF-16 surrogates (``"\\ud83d"``) that ``str.encode``
later refuses. :func:`loads` turns every such body into a :class:`JsonError` (a ``ValueError``
whose message says what is wrong), in one of three dialects:

``strict``
    The control API (``/_sim/``): UTF-8 only, duplicate keys refused. Lone surrogates are kept,
    because injecting them is how a test makes an upstream send them.
``node``
    WAHA (Express's body parser, then ``JSON.parse``): invalid UTF-8 bytes become U+FFFD,
    lone surrogates are kept (JavaScript strings are UTF-16), the last duplicate key wins.
``go``
    signal-cli-rest-api (gin's ``BindJSON``, Go's ``encoding/json``): invalid UTF-8 and lone
    surrogates become U+FFFD, the last duplicate key wins.

Every dialect refuses ``NaN``/``Infinity`` (no upstream parser accepts them), numbers outside
a 64-bit integer or a finite double, and nesting deeper than :data:`MAX_DEPTH` levels: the
upstreams would parse deeper and then refuse or ignore the value, the fakes refuse it at once
(docs/simulators.md lists this).

:func:`dumps` writes JSON that always encodes: compact, ``NaN`` refused, and lone surrogates
escaped as ``\\udXXX`` (what ``JSON.stringify`` writes for them) while other text stays UTF-8.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DEPTH",
    "Dialect",
    "JsonError",
    "check_depth",
    "dumps",
    "loads",
    "utf8",
]

MAX_DEPTH = 64
"""Deepest nesting any simulator accepts (real payloads nest fewer than ten levels)."""

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Dialect = Literal["strict", "node", "go"]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonError(ValueError):
    """A body or value the simulator cannot take as JSON; the message says why."""


def _constant(name: str) -> Any:
    raise JsonError(f"{name} is not a JSON value")


def _int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > 19:
        raise JsonError(f"integer of {digits} digits is out of range (64-bit)")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise JsonError(f"integer {text} is out of range (64-bit)")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonError(f"number {text[:24]} is out of range")
    return value


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonError(f"duplicate key {key!r}")
        out[key] = value
    return out


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`JsonError` when ``value`` nests arrays/objects deeper than ``max_depth``.

    Iterative, so it is safe on values of any depth.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > max_depth:
            raise JsonError(f"nested deeper than {max_depth} levels")
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))


def _replace_surrogates(value: Any) -> Any:
    """Go's decoding: every lone surrogate in strings (keys too) becomes U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def loads(raw: bytes | str, *, dialect: Dialect = "strict", max_depth: int = MAX_DEPTH) -> Any:
    """Parse a request body; :class:`JsonError` with a reason for anything unusable."""
    if isinstance(raw, bytes):
        if dialect == "strict":
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise JsonError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
        else:
            text = raw.decode("utf-8", errors="replace")
    else:
        text = raw
    try:
        value = json.loads(
            text,
            parse_constant=_constant,
            parse_int=_int,
            parse_float=_float,
            object_pairs_hook=_unique if dialect == "strict" else None,
        )
    except RecursionError:
        raise JsonError(f"nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise JsonError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if isinstance(value, dict | list):
        check_depth(value, max_depth)
        if dialect == "go":
            value = _replace_surrogates(value)
    elif dialect == "go" and isinstance(value, str):
        value = _replace_surrogates(value)
    return value


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def dumps(value: Any, *, max_depth: int | None = MAX_DEPTH) -> str:
    """Compact JSON whose ``.encode()`` cannot fail: lone surrogates escaped, the rest UTF-8.

    Raises:
        JsonError: ``value`` is not JSON (NaN, infinities, non-string keys, other types) or
            nests deeper than ``max_depth`` (None: as deep as the interpreter manages).
    """
    if max_depth is not None and isinstance(value, dict | list):
        check_depth(value, max_depth)
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except RecursionError:
        raise JsonError("nested too deeply to serialize") from None
    except (TypeError, ValueError) as exc:
        raise JsonError(f"not JSON: {exc}") from None
    return _LONE_SURROGATE.sub(_escape, text)


def utf8(text: str) -> bytes:
    """``text`` as UTF-8 the way Node's ``Buffer.from`` writes it: a lone surrogate is U+FFFD.

    For hashing and signing strings a test may have filled with anything.
    """
    return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")
