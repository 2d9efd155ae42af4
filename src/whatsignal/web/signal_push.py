"""``POST /webhook/signal``, signal-cli's push path: what it decides, for the quart route and
the raw ASGI fast path alike (:class:`~whatsignal.web.whatsapp_hook.FastWebhook`).

The token (``?token=``, ``signal.webhookToken``) is checked by whoever calls :meth:`SignalPush.
handle`: the fast path takes only requests whose token is right and leaves every other one to
the quart route, which counts the failure and answers 401 or 429 before reading the body. What
follows is the same on both paths: a bounded parse of the JSON-RPC ``receive`` notification
(one object or a batch), one journal write through the intake, and the per-item outcomes:

    200 {"status": [...]}   journaled, redelivered or ignored, per item
    400 {"error": ...}      not a JSON-RPC receive notification (the reason, never the body)
    503 {"error": ...}      the journal write failed (signal-cli does not retry the push path;
                            the websocket or the next receive still brings the envelope)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from whatsignal.errors import PayloadError, StorageError
from whatsignal.serde import parse_json
from whatsignal.web.whatsapp_hook import PUSH_PATH, Answer, error, same_secret

if TYPE_CHECKING:
    from whatsignal.intake import Outcome

__all__ = ["PATH", "PushIntake", "SignalPush", "jsonrpc_items"]

log = logging.getLogger("whatsignal.http")

PATH = PUSH_PATH


class PushIntake(Protocol):
    """Where pushed envelopes go (the intake)."""

    async def signal(self, raw_items: Sequence[Any], *, via: str) -> list[Outcome]: ...


def jsonrpc_items(message: Any) -> list[Any]:
    """The ``params`` of signal-cli ``receive`` notifications (one object or a batch array)."""
    batch = message if isinstance(message, list) else [message]
    items: list[Any] = []
    for entry in batch:
        if not isinstance(entry, dict):
            raise PayloadError("signal push body: expected a JSON-RPC object")
        if entry.get("method", "receive") != "receive":
            continue
        params = entry.get("params", entry)
        if not isinstance(params, dict) or "envelope" not in params:
            raise PayloadError("signal push body: no params.envelope")
        items.append(params)
    return items


@attrs.define(eq=False, kw_only=True)
class SignalPush:
    """The push path's decisions after the token (see the module docstring).

    Args:
        token: ``signal.webhookToken``; None or empty: the push path is off.
    """

    token: str | None
    intake: PushIntake

    def admits(self, supplied: str) -> bool:
        """Whether ``supplied`` is the push path's token (compared in constant time)."""
        return bool(self.token) and same_secret(supplied, self.token or "")

    async def handle(self, raw: bytes) -> Answer:
        """Answer one push whose token was right and whose body ``raw`` was read whole."""
        try:
            outcomes = await self.intake.signal(
                jsonrpc_items(parse_json(raw, "signal push body")), via="push"
            )
        except PayloadError as problem:
            return error(400, str(problem))
        except StorageError as problem:
            log.error("journal write failed on the signal push path: %s", problem)
            return error(503, "journal unavailable; retry later")
        return Answer(200, {"status": [o.value for o in outcomes]})
