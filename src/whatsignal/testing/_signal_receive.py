"""Receiving on FakeSignal: ``GET /v1/receive/{number}`` in normal/native mode, the same path
as a websocket in json-rpc mode, each as the upstream handler behaves.
"""

from __future__ import annotations

import logging

import trio
from quart import Response, request, websocket
from quart_trio import QuartTrio

from whatsignal.testing._signal_envelopes import dumps
from whatsignal.testing._signal_http import require_account
from whatsignal.testing._signal_model import SignalModel
from whatsignal.testing._signal_send import RequestError

__all__ = ["add_receive_routes"]

log = logging.getLogger("whatsignal.testing.signal")

# What gorilla/websocket answers a plain GET on a websocket endpoint; gin then appends the
# handler's JSON error to the same body (upstream issue #184 shows the result).
_NOT_A_WEBSOCKET = (
    "websocket: the client is not using the websocket protocol: "
    "'upgrade' token not found in 'Connection' header"
)


def add_receive_routes(app: QuartTrio, fake: SignalModel) -> None:
    """Register ``/v1/receive/{number}`` (HTTP and websocket) of ``fake`` on ``app``."""

    @app.get("/v1/receive/<number>")
    async def receive(number: str) -> Response:
        if fake.mode == "json-rpc":
            body = "Bad Request\n" + dumps({"error": _NOT_A_WEBSOCKET})
            return Response(body, status=400, content_type="text/plain; charset=utf-8")
        return await _receive(fake, number)

    @app.websocket("/v1/receive/<number>")
    async def receive_socket(number: str) -> None:
        await _receive_socket(fake, number)


async def _receive(fake: SignalModel, number: str) -> Response:
    args = request.args
    timeout = args.get("timeout", None)
    try:
        seconds = float(int(timeout)) if timeout is not None else fake.default_receive_timeout
    except ValueError:
        raise RequestError("Couldn't process request - timeout needs to be numeric!") from None
    try:
        max_messages = int(args.get("max_messages", "0"))
    except ValueError:
        raise RequestError("Couldn't process request - max_messages needs to be numeric!") from None
    for flag in ("ignore_attachments", "ignore_stories", "send_read_receipts"):
        if args.get(flag, "false") not in ("true", "false"):
            raise RequestError(
                f"Couldn't process request - {flag} parameter needs to be either 'true' or 'false'"
            )
    require_account(fake, number)
    wait = max(seconds, 0.0) * fake.receive_time_scale
    items = await fake.take_queued(number, wait=wait, max_messages=max_messages)
    # Upstream joins signal-cli's JSON lines into an array and sends it with c.String:
    # the content type is text/plain even though the body is JSON.
    text = "[" + ",".join(i.text for i in items) + "]"
    return Response(text, status=200, content_type="text/plain; charset=utf-8")


async def _receive_socket(fake: SignalModel, number: str) -> None:
    """One json-rpc receive socket: push frames for ``number``, discard what the client says.

    Upstream accepts the socket even for a number it does not know (upstream issue #617);
    it then simply never carries anything. A client frame over 512 bytes ends the socket.
    """
    await websocket.accept()
    with fake.subscribe(number) as frames:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_socket_reader, nursery.cancel_scope)
            with frames:
                async for frame in frames:
                    await websocket.send(frame)
            nursery.cancel_scope.cancel(reason="the socket was dropped (drop_sockets)")


async def _socket_reader(scope: trio.CancelScope) -> None:
    """Read and discard what the client sends; a frame over 512 bytes ends the socket."""
    while True:
        data = await websocket.receive()
        if len(data) > 512:
            log.info("signal fake: client frame over 512 bytes, closing the socket")
            scope.cancel()
            return
