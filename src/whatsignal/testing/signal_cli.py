"""FakeSignal: an in-process signal-cli-rest-api that behaves like the real one.

It serves the endpoints a bridge uses, per the vendored swagger (0.100) and the upstream Go
handlers, including the parts that make a bridge's life hard:

- in ``normal``/``native`` mode ``GET /v1/receive/{number}`` hands out the queued envelopes and
  forgets them (a second call gets ``[]``);
- in ``json-rpc`` mode the same path is a websocket, every connected socket gets every envelope,
  and an envelope that arrives while no socket listens is lost (upstream issue #834); with
  ``receive_webhook_url`` each envelope is also POSTed once, without retry or auth, one at a
  time in arrival order (upstream's receive loop waits for each POST);
- ``POST /v2/send`` answers the 0.100 object or the newer array, and can be made to answer a
  429 rate limit, even for a message it delivered (upstream issue #881).

Tests and the ``demo`` drive it through a control API: Python methods on the object and the same
over HTTP under ``/_sim/`` (see :mod:`whatsignal.testing._signal_control`). docs/simulators.md
documents both, and every place where the fake knowingly differs from upstream.

The class is assembled in layers, one concern per module, each importing only the layers
below: fields and state-only control operations (:mod:`._signal_base`), delivery per mode
(:mod:`._signal_delivery`) and envelope building (:mod:`._signal_model`). This module adds the
HTTP app, whose routes (``_signal_api``, ``_signal_receive``, ``_signal_control``) take the
model, and the command-line entry points.
"""

from __future__ import annotations

import argparse
import os
from typing import cast

import attrs
from quart import Response
from quart_trio import QuartTrio

from whatsignal.testing._common import ASGIApp
from whatsignal.testing._signal_api import add_api_routes
from whatsignal.testing._signal_base import MODES, StoredAttachment
from whatsignal.testing._signal_control import add_control_routes
from whatsignal.testing._signal_groups import add_group_routes
from whatsignal.testing._signal_http import error_response
from whatsignal.testing._signal_model import SignalModel
from whatsignal.testing._signal_polls import add_poll_routes, add_vote_control
from whatsignal.testing._signal_polls import inject_poll_vote as _inject_poll_vote
from whatsignal.testing._signal_receive import add_receive_routes
from whatsignal.testing._signal_send import SentMessage

__all__ = ["FakeSignal", "SentMessage", "StoredAttachment"]


@attrs.define(eq=False, kw_only=True)
class FakeSignal(SignalModel):
    """A signal-cli-rest-api simulator (an actor: ``url = await nursery.start(fake.run)``).

    Args:
        mode: what ``GET /v1/about`` reports and how receiving works (``MODE`` upstream).
        numbers: the registered bridge numbers (accounts); other numbers are refused.
        send_response: ``"object"`` answers ``/v2/send`` as release 0.100 does,
            ``{"timestamp": "<ms>"}``; ``"array"`` as master after 0.100 does,
            ``[{"timestamp": "<ms>"}]``.
        receive_webhook_url: upstream's ``RECEIVE_WEBHOOK_URL`` (json-rpc mode only): every
            received JSON-RPC line is POSTed there once, in order, the next only after the
            answer; no retry, no auth.
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

    inject_poll_vote = _inject_poll_vote
    """A vote on a poll as signal-cli prints it (:func:`._signal_polls.inject_poll_vote`)."""

    def build_app(self) -> ASGIApp:
        """signal-cli-rest-api's endpoints and the ``/_sim`` control API, served for this fake."""
        app = QuartTrio("whatsignal.testing.signal")
        app.before_serving(self._install_early_faults)

        @app.errorhandler(413)
        async def _too_large(_: Exception) -> Response:
            # Upstream reads any size; the fake stops at quart's 16 MB and says so.
            return error_response("the request body is over the fake's 16 MB limit", 413)

        add_api_routes(app, self)
        add_group_routes(app, self)
        add_poll_routes(app, self)
        add_vote_control(app, self)
        add_receive_routes(app, self)
        add_control_routes(app, self)
        # quart's precise ASGI types are narrower than the generic mapping-based alias.
        return cast("ASGIApp", app)


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
