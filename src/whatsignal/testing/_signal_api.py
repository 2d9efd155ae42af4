"""The signal-cli-rest-api endpoints of :class:`~whatsignal.testing.signal_cli.FakeSignal`.

Each handler follows the Go handler of the same endpoint (``src/api/api.go``): decode the body as
gin does, run the handler's own checks with its texts, then the checks signal-cli makes, then
act on the fake's state. Errors are :class:`RequestError` (answered ``{"error": ...}``) and,
when ``check_contracts`` is on, :class:`ContractViolation` (recorded and answered 500).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import trio
from quart import Response, request, websocket
from quart_trio import QuartTrio

from whatsignal.testing import _signal_envelopes as env
from whatsignal.testing._common import Recorded
from whatsignal.testing._signal_envelopes import Person
from whatsignal.testing._signal_send import (
    EMPTY_MESSAGE,
    INVALID_REQUEST,
    RATE_LIMIT,
    RequestError,
    SentMessage,
    classify_recipients,
    decode_attachment,
    go_type_errors,
    go_zero_fill,
    sniff_mime,
)
from whatsignal.testing.contract import ContractViolation, signal_contract

if TYPE_CHECKING:
    from whatsignal.testing.signal_cli import FakeSignal

__all__ = ["add_api_routes", "dumps", "json_response"]

log = logging.getLogger("whatsignal.testing.signal")

# What gorilla/websocket answers a plain GET on a websocket endpoint; gin then appends the
# handler's JSON error to the same body (upstream issue #184 shows the result).
_NOT_A_WEBSOCKET = (
    "websocket: the client is not using the websocket protocol: "
    "'upgrade' token not found in 'Connection' header"
)


def mask(number: str) -> str:
    """A number fit for logs: only its last four digits."""
    return "…" + number[-4:]


def dumps(value: Any) -> str:
    """Compact UTF-8 JSON, as Go's encoding/json and Java's Jackson print it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_response(body: Any, status: int) -> Response:
    return Response(dumps(body), status=status, content_type="application/json; charset=utf-8")


def _error(text: str, status: int = 400) -> Response:
    return json_response({"error": text}, status)


def _no_content() -> Response:
    return Response("", status=204)


def _unknown_account(fake: FakeSignal, number: str) -> RequestError:
    if fake.mode == "json-rpc":
        return RequestError("Specified account does not exist")
    # normal/native pass signal-cli's combined output through, newline included.
    return RequestError(f"User {number} is not registered.\n")


def _violation(fake: FakeSignal, exc: ContractViolation) -> Response:
    fake.violations.append(str(exc))
    log.error("signal fake: %s", exc)
    return _error(f"whatsignal.testing contract violation: {exc}", 500)


async def _body(fake: FakeSignal, definition: str) -> dict[str, Any]:
    """The JSON body decoded as gin's BindJSON would, or RequestError(invalid request)."""
    try:
        body = json.loads(await request.get_data(as_text=False))
    except ValueError:
        raise RequestError(INVALID_REQUEST) from None
    contract = signal_contract()
    schema = contract.schema(f"definitions/{definition}")
    if not isinstance(body, dict) or go_type_errors(schema, body, _resolve):
        raise RequestError(INVALID_REQUEST)
    return body


def _resolve(ref: str) -> Any:
    return signal_contract().schema(ref.removeprefix("#/"))


def _check_request(fake: FakeSignal, definition: str, body: dict[str, Any]) -> None:
    if fake.check_contracts:
        schema = signal_contract().schema(f"definitions/{definition}")
        filled = go_zero_fill(schema, body, _resolve)
        signal_contract().check_definition(definition, filled)


def _record(fake: FakeSignal, body: Any, status: int, answer: Any) -> None:
    fake.sent.append(Recorded(request.method, request.path, body, trio.current_time()))
    fake.responses.append((status, answer))


def _reply(fake: FakeSignal, spec_path: str, status: int, body: Any) -> Response:
    if fake.check_contracts:
        signal_contract().check_response(request.method, spec_path, status, body)
    return json_response(body, status)


def add_api_routes(fake: FakeSignal, app: QuartTrio) -> None:
    """Register the upstream endpoints of ``fake`` on ``app``."""

    @app.errorhandler(RequestError)
    async def _request_error(exc: RequestError) -> Response:
        return _error(exc.text, exc.status)

    @app.errorhandler(ContractViolation)
    async def _contract_error(exc: ContractViolation) -> Response:
        return _violation(fake, exc)

    @app.get("/v1/about")
    async def about() -> Response:
        body = {
            "versions": ["v1", "v2"],
            "build": 2,
            "mode": fake.mode,
            "version": fake.version,
            "capabilities": {"v2/send": ["quotes", "mentions"]},
        }
        return _reply(fake, "/v1/about", 200, body)

    @app.get("/v1/health")
    async def health() -> Response:
        return _no_content()

    @app.get("/v1/accounts")
    async def accounts() -> Response:
        return _reply(fake, "/v1/accounts", 200, list(fake.numbers))

    @app.post("/v2/send")
    async def send() -> Response:
        return await _send(fake)

    @app.post("/v1/reactions/<number>")
    async def react(number: str) -> Response:
        return await _reaction(fake, number, remove=False)

    @app.delete("/v1/reactions/<number>")
    async def unreact(number: str) -> Response:
        return await _reaction(fake, number, remove=True)

    @app.post("/v1/receipts/<number>")
    async def receipt(number: str) -> Response:
        body = await _body(fake, "api.Receipt")
        _require_account(fake, number)
        if not body.get("recipient"):
            raise RequestError("Couldn't process request - recipient missing")
        if body.get("receipt_type") not in ("read", "viewed"):
            raise RequestError("Couldn't process request - receipt type must be read or viewed")
        if not body.get("timestamp"):
            raise RequestError("Couldn't process request - timestamp missing")
        _check_recipient(fake, body["recipient"])
        _check_request(fake, "api.Receipt", body)
        _record(fake, body, 204, None)
        return _no_content()

    @app.put("/v1/typing-indicator/<number>")
    async def typing_start(number: str) -> Response:
        return await _typing(fake, number)

    @app.delete("/v1/typing-indicator/<number>")
    async def typing_stop(number: str) -> Response:
        return await _typing(fake, number)

    @app.post("/v1/accounts/<number>/rate-limit-challenge")
    async def rate_limit_challenge(number: str) -> Response:
        body = await _body(fake, "api.RateLimitChallengeRequest")
        _require_account(fake, number)
        token, captcha = body.get("challenge_token"), body.get("captcha")
        if not token or not captcha:
            raise RequestError("Couldn't process request - challenge token or captcha missing")
        _check_request(fake, "api.RateLimitChallengeRequest", body)
        solved = str(captcha).removeprefix("signalcaptcha://")
        if solved == str(captcha) or not solved or not fake.solve_challenge(token):
            raise RequestError("Failed to submit rate limit challenge: invalid captcha")
        _record(fake, body, 204, None)
        return _no_content()

    @app.delete("/v1/remote-delete/<number>")
    async def remote_delete(number: str) -> Response:
        body = await _body(fake, "api.RemoteDeleteRequest")
        _require_account(fake, number)
        if not body.get("recipient"):
            raise RequestError("Couldn't process request - recipient missing")
        if not body.get("timestamp"):
            raise RequestError("Couldn't process request - timestamp missing")
        _check_recipient(fake, body["recipient"])
        _check_request(fake, "api.RemoteDeleteRequest", body)
        answer = {"timestamp": str(fake.next_timestamp())}
        _record(fake, body, 201, answer)
        return _reply(fake, "/v1/remote-delete/{number}", 201, answer)

    @app.get("/v1/attachments")
    async def list_attachments() -> Response:
        return _reply(fake, "/v1/attachments", 200, list(fake.attachments))

    @app.get("/v1/attachments/<attachment_id>")
    async def get_attachment(attachment_id: str) -> Response:
        stored = fake.attachments.get(attachment_id)
        if stored is None:
            return _error("No attachment with that name found", 404)
        # Upstream sniffs the type from the bytes; the original content type is not kept.
        return Response(stored.data, status=200, content_type=sniff_mime(stored.data))

    @app.delete("/v1/attachments/<attachment_id>")
    async def delete_attachment(attachment_id: str) -> Response:
        if fake.attachments.pop(attachment_id, None) is None:
            return _error("No attachment with that name found", 404)
        return _no_content()

    @app.get("/v1/groups/<number>")
    async def list_groups(number: str) -> Response:
        _require_account(fake, number)
        entries = [g.entry() for g in fake.groups.values()]
        return _reply(fake, "/v1/groups/{number}", 200, entries)

    @app.get("/v1/groups/<number>/<groupid>")
    async def get_group(number: str, groupid: str) -> Response:
        _require_account(fake, number)
        internal = env.internal_from_group_id(groupid)
        if internal is None:
            raise RequestError("Invalid group id")
        group = fake.groups.get(internal)
        if group is None:
            return _error("No group with that id found", 404)
        return _reply(fake, "/v1/groups/{number}/{groupid}", 200, group.entry())

    @app.get("/v1/contacts/<number>")
    async def contacts(number: str) -> Response:
        _require_account(fake, number)
        entries = [
            _contact_entry(p)
            for key, p in fake._people.items()
            if key == p.uuid and p.number not in fake.numbers
        ]
        return _reply(fake, "/v1/contacts/{number}", 200, entries)

    @app.get("/v1/receive/<number>")
    async def receive(number: str) -> Response:
        if fake.mode == "json-rpc":
            body = "Bad Request\n" + dumps({"error": _NOT_A_WEBSOCKET})
            return Response(body, status=400, content_type="text/plain; charset=utf-8")
        return await _receive(fake, number)

    @app.websocket("/v1/receive/<number>")
    async def receive_socket(number: str) -> None:
        await _receive_socket(fake, number)


def _require_account(fake: FakeSignal, number: str) -> None:
    if number not in fake.numbers:
        raise _unknown_account(fake, number)


def _check_recipient(fake: FakeSignal, recipient: str) -> None:
    if recipient.startswith(env.GROUP_PREFIX):
        internal = env.internal_from_group_id(recipient)
        if internal is None:
            raise RequestError("Invalid group id")


async def _send(fake: FakeSignal) -> Response:
    body = await _body(fake, "api.SendMessageV2")
    recipients = list(body.get("recipients") or [])
    if body.get("recipient"):  # the hidden single-recipient alias upstream appends
        recipients.append(body["recipient"])
    if not recipients:
        raise RequestError("Couldn't process request - please provide at least one recipient")
    number = body.get("number") or ""
    if not number:
        raise RequestError("Couldn't process request - please provide a valid number")
    sticker = body.get("sticker") or ""
    if sticker and ":" not in sticker:
        raise RequestError("Couldn't process request - please provide valid sticker delimiter")
    if body.get("view_once") and not body.get("base64_attachments"):
        raise RequestError("'view_once' can only be set for image attachments!")
    groups, _numbers, _usernames = classify_recipients(recipients)
    _require_account(fake, number)
    for group_ref in groups:
        internal = env.internal_from_group_id(group_ref)
        if internal not in fake.groups:
            raise RequestError(f"Group not found: {internal}")
    message = body.get("message") or ""
    _check_link_preview(message, body.get("link_preview"))
    attachments = tuple(decode_attachment(a) for a in body.get("base64_attachments") or [])
    quote_ts = body.get("quote_timestamp")
    if quote_ts and not body.get("quote_author"):
        raise RequestError("Quote author parameter is missing")
    if not (message or attachments or sticker or quote_ts):
        raise _cli_error(fake, EMPTY_MESSAGE)
    # The hidden `recipient` alias is not in the swagger: check what the handler built.
    _check_request(fake, "api.SendMessageV2", {**body, "recipients": recipients})
    sent = SentMessage(
        timestamp=fake.next_timestamp(),
        number=number,
        recipients=tuple(recipients),
        message=message,
        attachments=attachments,
        quote_timestamp=quote_ts or None,
        quote_author=body.get("quote_author"),
        quote_message=body.get("quote_message"),
        edit_timestamp=body.get("edit_timestamp") or None,
    )
    limit = fake._rate_limits[0] if fake._rate_limits else None
    if limit is not None:
        limit.count -= 1
        if limit.count <= 0:
            fake._rate_limits.pop(0)
        answer = {
            "error": RATE_LIMIT,
            "challenge_tokens": list(limit.challenge_tokens),
            "account": number,
        }
        if fake.check_contracts:
            signal_contract().check_definition("api.SendMessageError", answer)
        if limit.delivered_anyway:
            fake.messages.append(sent)
            _record(fake, body, 429, answer)
        return json_response(answer, 429)
    fake.messages.append(sent)
    single = {"timestamp": str(sent.timestamp)}
    if fake.send_response == "array":
        # Master after 0.100: one element per signal-cli send; the swagger still shows the
        # object, so the element is checked against it (a documented deviation).
        if fake.check_contracts:
            signal_contract().check_definition("api.SendMessageResponse", single)
        _record(fake, body, 201, [single])
        return json_response([single], 201)
    _record(fake, body, 201, single)
    return _reply(fake, "/v2/send", 201, single)


def _cli_error(fake: FakeSignal, text: str) -> RequestError:
    return RequestError(text if fake.mode == "json-rpc" else text + "\n")


def _check_link_preview(message: str, preview: Any) -> None:
    if not preview:
        return
    url = preview.get("url") or ""
    if not url:
        raise RequestError("Please provide a valid Link Preview URL")
    if not url.startswith("https"):
        raise RequestError("Link Preview URL must start with https://..")
    if not preview.get("title"):
        raise RequestError("Please provide a valid Link Preview Title")
    if url not in message:
        raise RequestError("Link Preview URL is missing in the message!")


async def _reaction(fake: FakeSignal, number: str, *, remove: bool) -> Response:
    definition = "api.RemoveReactionRequest" if remove else "api.SendReactionRequest"
    body = await _body(fake, definition)
    if not body.get("recipient"):
        raise RequestError("Couldn't process request - recipient missing")
    if not remove and not body.get("reaction"):
        raise RequestError("Couldn't process request - reaction missing")
    if not body.get("target_author"):
        raise RequestError("Couldn't process request - target_author missing")
    if not body.get("timestamp"):
        raise RequestError("Couldn't process request - timestamp missing")
    _require_account(fake, number)
    _check_recipient(fake, body["recipient"])
    _check_request(fake, definition, body)
    _record(fake, body, 204, None)
    return _no_content()


async def _typing(fake: FakeSignal, number: str) -> Response:
    body = await _body(fake, "api.TypingIndicatorRequest")
    _require_account(fake, number)
    if not body.get("recipient"):
        # No handler check upstream: signal-cli itself refuses an empty recipient.
        raise _cli_error(fake, "No recipients given")
    _check_recipient(fake, body["recipient"])
    _check_request(fake, "api.TypingIndicatorRequest", body)
    _record(fake, body, 204, None)
    return _no_content()


async def _receive(fake: FakeSignal, number: str) -> Response:
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
    _require_account(fake, number)
    with trio.move_on_after(max(seconds, 0.0) * fake.receive_time_scale):
        while not fake._queues.get(number):
            await fake._arrived.wait()
    queue = fake._queues.get(number, [])
    take = len(queue) if max_messages <= 0 else min(max_messages, len(queue))
    items, queue[:take] = queue[:take], []
    if items:
        stamps = [int(i["envelope"].get("timestamp") or 0) for i in items]
        fake.handed_out.append((trio.current_time(), stamps))
    # Upstream joins signal-cli's JSON lines into an array and sends it with c.String:
    # the content type is text/plain even though the body is JSON.
    text = "[" + ",".join(dumps(i) for i in items) + "]"
    return Response(text, status=200, content_type="text/plain; charset=utf-8")


async def _receive_socket(fake: FakeSignal, number: str) -> None:
    """One json-rpc receive socket: push frames for ``number``, discard what the client says.

    Upstream accepts the socket even for a number it does not know (upstream issue #617);
    it then simply never carries anything. A client frame over 512 bytes ends the socket.
    """
    await websocket.accept()
    send, recv = trio.open_memory_channel[str](fake.socket_buffer)
    fake._sockets.setdefault(number, []).append(send)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_socket_reader, fake, nursery.cancel_scope)
            with recv:
                async for frame in recv:
                    await websocket.send(frame)
    finally:
        fake._sockets[number].remove(send)
        send.close()


async def _socket_reader(fake: FakeSignal, scope: trio.CancelScope) -> None:
    while True:
        data = await websocket.receive()
        if len(data) > 512:
            log.info("signal fake: client frame over 512 bytes, closing the socket")
            scope.cancel()
            return


def _contact_entry(person: Person) -> dict[str, Any]:
    """The ``client.ListContactsResponse`` shape (uuid included)."""
    return {
        "number": person.number or "",
        "uuid": person.uuid,
        "name": "",
        "profile_name": person.name,
        "username": "",
        "color": "",
        "blocked": False,
        "message_expiration": "",
        "note": "",
        "given_name": "",
        "nickname": {"name": "", "given_name": "", "family_name": ""},
        "profile": {
            "given_name": person.name,
            "lastname": "",
            "about": "",
            "has_avatar": False,
            "last_updated_timestamp": 0,
        },
    }
