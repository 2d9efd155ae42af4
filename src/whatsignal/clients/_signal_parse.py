"""Reading signal-cli-rest-api's answers: ``/v1/about``, ``/v2/send`` and ``/v1/receive``.

Wire facts this module encodes (``shared/reference/api-contracts.md`` section 2):

- ``/v2/send`` answers ``{"timestamp": "<ms as a string>"}`` up to release 0.100 and an
  array of ``{"timestamp", "errors"?: {"recipients": [{..., "reason"}]}}`` after it; both
  give the sent message's timestamp, which is its id for quotes, reactions and deletes. A
  201 whose errors cover every direct recipient reached nobody and is an error;
- ``/v1/receive/{number}`` answers a JSON array as ``text/plain``, and stray output (a Java
  stack trace, issue #680) can break it. The receive is destructive: what it returned is
  gone from signal-cli, so every envelope that can still be read is recovered rather than
  the whole answer dropped.

Error handling: an answer without the promised shape is an
:class:`~whatsignal.errors.ApiError` (see :func:`~whatsignal.clients._http.malformed`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import attrs
import httpx

from whatsignal.clients._http import expect_dict, expect_list, malformed, parse_json, sanitise_body
from whatsignal.errors import ApiError

__all__ = ["About", "read_about", "read_received", "read_send_timestamp"]

# Warnings are logged under the client's name: they are about what SignalClient was told,
# and that is the logger operators see and filter on.
log = logging.getLogger("whatsignal.clients.signal_api")


@attrs.frozen
class About:
    """``GET /v1/about``: the server's mode (``normal``, ``native``, ``json-rpc``) and version."""

    mode: str
    version: str
    build: int | None = None
    capabilities: dict[str, Any] = attrs.field(factory=dict, hash=False)
    versions: tuple[str, ...] = ()

    @property
    def json_rpc(self) -> bool:
        """True when messages arrive over the websocket (``json-rpc``, also for native json-rpc)."""
        return self.mode.startswith("json-rpc")


def read_about(op: str, response: httpx.Response) -> About:
    """The ``/v1/about`` answer; the optional members are dropped when they have odd types.

    Raises:
        ApiError: not an object, or no string mode and version.
    """
    data = expect_dict(op, response, parse_json(op, response))
    mode, version = data.get("mode"), data.get("version")
    if not isinstance(mode, str) or not isinstance(version, str):
        raise malformed(op, response, "no string mode and version")
    build = data.get("build")
    capabilities = data.get("capabilities")
    versions = data.get("versions")
    return About(
        mode=mode,
        version=version,
        build=build if isinstance(build, int) and not isinstance(build, bool) else None,
        capabilities=dict(capabilities) if isinstance(capabilities, dict) else {},
        versions=tuple(v for v in versions if isinstance(v, str))
        if isinstance(versions, list)
        else (),
    )


# /v2/send ------------------------------------------------------------------------------


def read_send_timestamp(op: str, response: httpx.Response, recipients: Sequence[str]) -> int:
    """The sent message's timestamp from either ``/v2/send`` answer shape.

    Raises:
        ApiError: no usable timestamp, or errors for every direct recipient (the reasons,
            such as ``NETWORK_FAILURE``, are named in the message).
    """
    data = parse_json(op, response)
    entries = data if isinstance(data, list) else [data]
    timestamps: list[int] = []
    reasons: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise malformed(op, response, "expected an object with a timestamp")
        stamp = _timestamp(entry.get("timestamp"))
        if stamp is None:
            raise malformed(op, response, "no usable timestamp")
        timestamps.append(stamp)
        errors = entry.get("errors")
        failed = errors.get("recipients") if isinstance(errors, dict) else None
        for failure in failed if isinstance(failed, list) else ():
            reason = failure.get("reason") if isinstance(failure, dict) else None
            reasons.append(reason if isinstance(reason, str) and reason else "UNKNOWN")
    if not timestamps:
        raise malformed(op, response, "an empty array")
    has_group = any(r.startswith("group.") for r in recipients)
    if reasons and not has_group and len(reasons) >= len(recipients):
        raise ApiError(
            f"{op} failed for every recipient: {', '.join(sorted(set(reasons)))}",
            status=response.status_code,
            body=sanitise_body(response.text),
        )
    return timestamps[0]


def _timestamp(value: Any) -> int | None:
    """A positive ms timestamp from an int or a string of digits (0.100 sends a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if number > 0 else None
    return None


# /v1/receive ---------------------------------------------------------------------------


def read_received(op: str, response: httpx.Response) -> list[dict[str, Any]]:
    """The items of a ``/v1/receive`` answer; an empty body is none.

    Raises:
        ApiError: not a JSON array, and no envelope could be recovered from it.
    """
    text = response.text
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError:
        salvaged = _salvage_envelopes(text)
        if not salvaged:
            raise malformed(op, response, "the body is not JSON") from None
        log.warning(
            "%s: the answer was not valid JSON; recovered %d envelope(s) from it",
            op,
            len(salvaged),
        )
        return salvaged
    items = expect_list(op, response, data)
    return [item for item in items if isinstance(item, dict)]


def _salvage_envelopes(text: str) -> list[dict[str, Any]]:
    """Every top-level ``{... "envelope": ...}`` object that decodes in a broken array."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    position = text.find("{")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict) and isinstance(value.get("envelope"), dict):
            found.append(value)
        position = text.find("{", end)
    return found
