"""The signal-cli-rest-api endpoints of :class:`~whatsignal.testing.signal_cli.FakeSignal`,
receiving aside (that is :mod:`._signal_receive`).

Each handler follows the Go handler of the same endpoint (``src/api/api.go``): decode the body as
gin does, run the handler's own checks with its texts, then the checks signal-cli makes, then
act on the fake's state. Errors are :class:`RequestError` (answered ``{"error": ...}``) and,
when ``check_contracts`` is on, :class:`ContractViolation` (recorded and answered 500).
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Response
from quart_trio import QuartTrio

from whatsignal.testing import _signal_envelopes as env
from whatsignal.testing._signal_envelopes import Person
from whatsignal.testing._signal_http import (
    check_recipient,
    check_request,
    cli_error,
    error_response,
    json_response,
    no_content,
    read_body,
    record,
    reply,
    require_account,
)
from whatsignal.testing._signal_model import SignalModel
from whatsignal.testing._signal_send import (
    EMPTY_MESSAGE,
    INVALID_REQUEST,
    RATE_LIMIT,
    RequestError,
    SentMessage,
    check_link_preview,
    classify_recipients,
    decode_attachment,
    sniff_mime,
)
from whatsignal.testing._signal_styles import parse_styled
from whatsignal.testing.contract import ContractViolation, signal_contract

__all__ = ["add_api_routes"]

log = logging.getLogger("whatsignal.testing.signal")


def _violation(fake: SignalModel, exc: ContractViolation) -> Response:
    fake.violations.append(str(exc))
    log.error("signal fake: %s", exc)
    return error_response(f"whatsignal.testing contract violation: {exc}", 500)


def add_api_routes(app: QuartTrio, fake: SignalModel) -> None:
    """Register the upstream endpoints of ``fake`` on ``app``, receiving aside."""

    @app.errorhandler(RequestError)
    async def _request_error(exc: RequestError) -> Response:
        return error_response(exc.text, exc.status)

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
        return reply(fake, "/v1/about", 200, body)

    @app.get("/v1/health")
    async def health() -> Response:
        return no_content()

    @app.get("/v1/accounts")
    async def accounts() -> Response:
        return reply(fake, "/v1/accounts", 200, list(fake.numbers))

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
        body = await read_body(fake, "api.Receipt")
        require_account(fake, number)
        if not body.get("recipient"):
            raise RequestError("Couldn't process request - recipient missing")
        if body.get("receipt_type") not in ("read", "viewed"):
            raise RequestError("Couldn't process request - receipt type must be read or viewed")
        if not body.get("timestamp"):
            raise RequestError("Couldn't process request - timestamp missing")
        check_recipient(fake, body["recipient"])
        check_request(fake, "api.Receipt", body)
        record(fake, body, 204, None)
        return no_content()

    @app.put("/v1/typing-indicator/<number>")
    async def typing_start(number: str) -> Response:
        return await _typing(fake, number)

    @app.delete("/v1/typing-indicator/<number>")
    async def typing_stop(number: str) -> Response:
        return await _typing(fake, number)

    @app.post("/v1/accounts/<number>/rate-limit-challenge")
    async def rate_limit_challenge(number: str) -> Response:
        body = await read_body(fake, "api.RateLimitChallengeRequest")
        require_account(fake, number)
        token, captcha = body.get("challenge_token"), body.get("captcha")
        if not token or not captcha:
            raise RequestError("Couldn't process request - challenge token or captcha missing")
        check_request(fake, "api.RateLimitChallengeRequest", body)
        solved = str(captcha).removeprefix("signalcaptcha://")
        if solved == str(captcha) or not solved or not fake.solve_challenge(token):
            raise RequestError("Failed to submit rate limit challenge: invalid captcha")
        record(fake, body, 204, None)
        return no_content()

    @app.delete("/v1/remote-delete/<number>")
    async def remote_delete(number: str) -> Response:
        body = await read_body(fake, "api.RemoteDeleteRequest")
        require_account(fake, number)
        if not body.get("recipient"):
            raise RequestError("Couldn't process request - recipient missing")
        if not body.get("timestamp"):
            raise RequestError("Couldn't process request - timestamp missing")
        check_recipient(fake, body["recipient"])
        check_request(fake, "api.RemoteDeleteRequest", body)
        answer = {"timestamp": str(fake.next_timestamp())}
        record(fake, body, 201, answer)
        return reply(fake, "/v1/remote-delete/{number}", 201, answer)

    @app.get("/v1/attachments")
    async def list_attachments() -> Response:
        return reply(fake, "/v1/attachments", 200, list(fake.attachments))

    @app.get("/v1/attachments/<attachment_id>")
    async def get_attachment(attachment_id: str) -> Response:
        stored = fake.attachments.get(attachment_id)
        if stored is None:
            return error_response("No attachment with that name found", 404)
        # Upstream sniffs the type from the bytes; the original content type is not kept.
        return Response(stored.data, status=200, content_type=sniff_mime(stored.data))

    @app.delete("/v1/attachments/<attachment_id>")
    async def delete_attachment(attachment_id: str) -> Response:
        if fake.attachments.pop(attachment_id, None) is None:
            return error_response("No attachment with that name found", 404)
        return no_content()

    @app.get("/v1/groups/<number>")
    async def list_groups(number: str) -> Response:
        require_account(fake, number)
        entries = [g.entry() for g in fake.groups.values()]
        return reply(fake, "/v1/groups/{number}", 200, entries)

    @app.get("/v1/contacts/<number>")
    async def contacts(number: str) -> Response:
        require_account(fake, number)
        entries = [_contact_entry(p) for p in fake.contacts()]
        return reply(fake, "/v1/contacts/{number}", 200, entries)


async def _send(fake: SignalModel) -> Response:
    body = await read_body(fake, "api.SendMessageV2")
    # Go decodes a null inside a []string as "" (the zero value), as it does a null field.
    recipients = [r or "" for r in body.get("recipients") or []]
    alias = body.get("recipient")  # the hidden single-recipient alias upstream appends
    if alias is not None and not isinstance(alias, str):  # not in the swagger: Go's string
        raise RequestError(INVALID_REQUEST)
    if alias:
        recipients.append(alias)
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
    require_account(fake, number)
    for group_ref in groups:
        internal = env.internal_from_group_id(group_ref)
        if internal not in fake.groups:
            raise RequestError(f"Group not found: {internal}")
    raw_message = body.get("message") or ""
    check_link_preview(raw_message, body.get("link_preview"))
    # Upstream parses styled text after its checks; anything but "styled" is plain.
    message, text_styles = (
        parse_styled(raw_message) if body.get("text_mode") == "styled" else (raw_message, [])
    )
    attachments = tuple(decode_attachment(a or "") for a in body.get("base64_attachments") or [])
    quote_ts = body.get("quote_timestamp")
    if quote_ts and not body.get("quote_author"):
        raise RequestError("Quote author parameter is missing")
    if not (message or attachments or sticker or quote_ts):
        raise cli_error(fake, EMPTY_MESSAGE)
    # The hidden `recipient` alias is not in the swagger: check what the handler built.
    check_request(fake, "api.SendMessageV2", {**body, "recipients": recipients})
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
        text_styles=tuple(text_styles),
        raw_message=raw_message,
        view_once=bool(body.get("view_once")),
        sticker=sticker or None,
    )
    limit = fake.take_rate_limit()
    if limit is not None:
        answer = {
            "error": RATE_LIMIT,
            "challenge_tokens": list(limit.challenge_tokens),
            "account": number,
        }
        if fake.check_contracts:
            signal_contract().check_definition("api.SendMessageError", answer)
        if limit.delivered_anyway:
            fake.messages.append(sent)
            record(fake, body, 429, answer)
        return json_response(answer, 429)
    fake.messages.append(sent)
    single = {"timestamp": str(sent.timestamp)}
    if fake.send_response == "array":
        # Master after 0.100: one element per signal-cli send; the swagger still shows the
        # object, so the element is checked against it (a documented deviation).
        if fake.check_contracts:
            signal_contract().check_definition("api.SendMessageResponse", single)
        record(fake, body, 201, [single])
        return json_response([single], 201)
    record(fake, body, 201, single)
    return reply(fake, "/v2/send", 201, single)


async def _reaction(fake: SignalModel, number: str, *, remove: bool) -> Response:
    definition = "api.RemoveReactionRequest" if remove else "api.SendReactionRequest"
    body = await read_body(fake, definition)
    if not body.get("recipient"):
        raise RequestError("Couldn't process request - recipient missing")
    if not remove and not body.get("reaction"):
        raise RequestError("Couldn't process request - reaction missing")
    if not body.get("target_author"):
        raise RequestError("Couldn't process request - target_author missing")
    if not body.get("timestamp"):
        raise RequestError("Couldn't process request - timestamp missing")
    require_account(fake, number)
    check_recipient(fake, body["recipient"])
    check_request(fake, definition, body)
    record(fake, body, 204, None)
    return no_content()


async def _typing(fake: SignalModel, number: str) -> Response:
    body = await read_body(fake, "api.TypingIndicatorRequest")
    require_account(fake, number)
    if not body.get("recipient"):
        # No handler check upstream: signal-cli itself refuses an empty recipient.
        raise cli_error(fake, "No recipients given")
    check_recipient(fake, body["recipient"])
    check_request(fake, "api.TypingIndicatorRequest", body)
    record(fake, body, 204, None)
    return no_content()


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
