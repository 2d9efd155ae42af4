"""The request and answer steps every FakeSignal endpoint shares, as gin and the Go handlers
of signal-cli-rest-api take them.

A body is decoded as gin's ``BindJSON`` would (a wrong JSON type fails the whole request with
``invalid request``; invalid UTF-8 and lone surrogates become U+FFFD; the last of duplicate keys
wins; NaN, numbers beyond 64 bits and nesting beyond the fakes' limit are ``invalid request``
too, see :mod:`._json`), checked against the swagger when ``check_contracts`` is on, and every
accepted call is recorded with the answer given. Refusals are raised as
:class:`~whatsignal.testing._signal_send.RequestError` and answered ``{"error": ...}``.
"""

from __future__ import annotations

from typing import Any

import trio
from quart import Response, request

from whatsignal.testing import _signal_envelopes as env
from whatsignal.testing._common import Recorded
from whatsignal.testing._json import JsonError, loads
from whatsignal.testing._signal_base import SignalBase
from whatsignal.testing._signal_envelopes import dumps
from whatsignal.testing._signal_send import (
    INVALID_REQUEST,
    RequestError,
    go_type_errors,
    go_zero_fill,
)
from whatsignal.testing.contract import signal_contract

__all__ = [
    "check_recipient",
    "check_request",
    "cli_error",
    "error_response",
    "json_response",
    "no_content",
    "read_body",
    "record",
    "reply",
    "require_account",
]


def json_response(body: Any, status: int) -> Response:
    """``body`` as compact JSON, with the content type gin's ``c.JSON`` sets."""
    return Response(dumps(body), status=status, content_type="application/json; charset=utf-8")


def error_response(text: str, status: int = 400) -> Response:
    """Upstream's error answer: ``{"error": text}``."""
    return json_response({"error": text}, status)


def no_content() -> Response:
    """204 with an empty body, as the handlers that only act answer."""
    return Response("", status=204)


def _unknown_account(fake: SignalBase, number: str) -> RequestError:
    if fake.mode == "json-rpc":
        return RequestError("Specified account does not exist")
    # normal/native pass signal-cli's combined output through, newline included.
    return RequestError(f"User {number} is not registered.\n")


async def read_body(fake: SignalBase, definition: str) -> dict[str, Any]:
    """The JSON body decoded as gin's BindJSON would, or RequestError(invalid request)."""
    try:
        body = loads(await request.get_data(as_text=False), dialect="go")
    except JsonError:
        raise RequestError(INVALID_REQUEST) from None
    contract = signal_contract()
    schema = contract.schema(f"definitions/{definition}")
    if not isinstance(body, dict) or go_type_errors(schema, body, _resolve):
        raise RequestError(INVALID_REQUEST)
    return body


def _resolve(ref: str) -> Any:
    return signal_contract().schema(ref.removeprefix("#/"))


def check_request(fake: SignalBase, definition: str, body: dict[str, Any]) -> None:
    """With contracts on, check ``body`` as the Go struct sees it (missing fields zeroed)."""
    if fake.check_contracts:
        schema = signal_contract().schema(f"definitions/{definition}")
        filled = go_zero_fill(schema, body, _resolve)
        signal_contract().check_definition(definition, filled)


def record(fake: SignalBase, body: Any, status: int, answer: Any) -> None:
    """Log an accepted call in ``sent`` and the answer given in ``responses``."""
    fake.sent.append(Recorded(request.method, request.path, body, trio.current_time()))
    fake.responses.append((status, answer))


def reply(fake: SignalBase, spec_path: str, status: int, body: Any) -> Response:
    """Answer ``body`` as JSON, checked against the swagger response when contracts are on."""
    if fake.check_contracts:
        signal_contract().check_response(request.method, spec_path, status, body)
    return json_response(body, status)


def require_account(fake: SignalBase, number: str) -> None:
    """Refuse a number that is not registered, with the text of the fake's mode."""
    if number not in fake.numbers:
        raise _unknown_account(fake, number)


def check_recipient(fake: SignalBase, recipient: str) -> None:
    """Refuse a ``group.`` recipient whose id does not decode."""
    if recipient.startswith(env.GROUP_PREFIX):
        internal = env.internal_from_group_id(recipient)
        if internal is None:
            raise RequestError("Invalid group id")


def cli_error(fake: SignalBase, text: str) -> RequestError:
    """A signal-cli error: passed through with its newline, except in json-rpc mode."""
    return RequestError(text if fake.mode == "json-rpc" else text + "\n")
