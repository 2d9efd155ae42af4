"""FakeSignal's control API over HTTP, under ``/_sim/`` (never faulted, never in the swagger).

Every route mirrors a Python method of :class:`~whatsignal.testing.signal_cli.FakeSignal`, so a
test written in another language, or a person with curl, can drive the fake as a Python test
does. Bad input answers 400 ``{"error": "<reason>"}``: a body that is not strict JSON (not
UTF-8, duplicate keys, NaN, numbers beyond 64 bits, nesting deeper than the fakes take, see
:mod:`._json`), a field of the wrong type, or an envelope signal-cli could not print.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any, cast

from quart import Response, request
from quart_trio import QuartTrio

from whatsignal.testing._common import Fault, since_index
from whatsignal.testing._json import loads
from whatsignal.testing._signal_envelopes import dumps
from whatsignal.testing.contract import ContractViolation

if TYPE_CHECKING:
    from whatsignal.testing._signal_model import SignalModel

__all__ = ["ROUTES", "add_control_routes", "inbound_kwargs"]

ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/_sim/", "this list"),
    (
        "POST",
        "/_sim/inbound",
        "deliver an envelope: a full {envelope, account, as_is} (as_is: true delivers it "
        "verbatim even when signal-cli could not print it) or a short form "
        '{"from", "message", "quote": {"timestamp", "author", "text"}, "group", '
        '"reaction": {"emoji", "target_timestamp", "target_author", "remove"}, '
        '"attachments": [{"data": base64, "content_type", "filename"}], '
        '"receipt": {"type", "timestamps"}, "typing", "remote_delete", "edit", "sync_to", '
        '"name", "uuid", "number_hidden", "account", "timestamp"}',
    ),
    (
        "GET",
        "/_sim/sent",
        "every accepted bridge call, in order, with the answer given; ?since=N skips the first N",
    ),
    ("GET", "/_sim/status", "dropped envelopes, queued envelopes, sockets, contract violations"),
    (
        "POST",
        "/_sim/faults",
        "add a fault: {path, method?, count?, status?, body?, latency?, drop?}",
    ),
    ("DELETE", "/_sim/faults", "remove all faults"),
    (
        "POST",
        "/_sim/rate-limit",
        'next sends answer 429: {"count", "delivered_anyway", "challenge_tokens"}',
    ),
    ("POST", "/_sim/attachments", "store the raw body (Content-Type, ?filename=) -> {id}"),
    ("POST", "/_sim/groups", 'create a group: {"name", "members"?} -> the group entry'),
    (
        "POST",
        "/_sim/groups/leave",
        '{"group", "person"}: the person leaves the group (the bridge gets an UPDATE envelope)',
    ),
    (
        "POST",
        "/_sim/groups/accept",
        '{"group", "person"}: the person accepts their invitation (an UPDATE envelope)',
    ),
    (
        "POST",
        "/_sim/poll-vote",
        'someone votes on a poll: {"from", "poll_timestamp", "options" (indexes from 0), '
        '"account", "poll_author", "vote_count", "group"}',
    ),
    ("POST", "/_sim/reset", "forget everything sent, queued, stored and injected"),
)

_SHORT_KEYS = frozenset(
    {
        "from",
        "account",
        "message",
        "name",
        "uuid",
        "number_hidden",
        "timestamp",
        "quote",
        "reaction",
        "attachments",
        "group",
        "receipt",
        "typing",
        "remote_delete",
        "edit",
        "sync_to",
    }
)


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status=status, content_type="application/json")


def _bad(reason: str) -> Response:
    return _json({"error": reason}, 400)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer (a ms timestamp)")
    return value


def _opt_str(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    return value


def _obj(value: Any, what: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object")
    unknown = set(value) - keys
    if unknown:
        raise ValueError(f"unknown {what} field(s) {sorted(unknown)}; known: {sorted(keys)}")
    return value


def inbound_kwargs(data: dict[str, Any]) -> dict[str, Any]:
    """Turn the short form of ``POST /_sim/inbound`` into ``inject_envelope`` arguments.

    Raises:
        ValueError: with a reason naming the offending field.
    """
    unknown = set(data) - _SHORT_KEYS
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}; known: {sorted(_SHORT_KEYS)}")
    sender = data.get("from")
    if not isinstance(sender, str) or not sender:
        raise ValueError("'from' is required: the sender's number or uuid")
    out: dict[str, Any] = {"sender": sender}
    for key, target in (
        ("account", "account"),
        ("message", "message"),
        ("name", "sender_name"),
        ("uuid", "sender_uuid"),
        ("group", "group_id"),
        ("sync_to", "sync_to"),
        ("typing", "typing"),
    ):
        if key in data:
            if not isinstance(data[key], str):
                raise ValueError(f"'{key}' must be a string")
            out[target] = data[key]
    if "number_hidden" in data:
        if not isinstance(data["number_hidden"], bool):
            raise ValueError("'number_hidden' must be a boolean")
        out["number_hidden"] = data["number_hidden"]
    for key in ("timestamp", "remote_delete", "edit"):
        if key in data:
            out[key] = _int(data[key], f"'{key}'")
    if "quote" in data:
        quote = _obj(data["quote"], "'quote'", {"timestamp", "author", "text"})
        _opt_str(quote.get("author"), "quote.author")
        _opt_str(quote.get("text"), "quote.text")
        out["quote"] = {**quote, "timestamp": _int(quote.get("timestamp"), "quote.timestamp")}
    if "reaction" in data:
        reaction = _obj(
            data["reaction"], "'reaction'", {"emoji", "target_timestamp", "target_author", "remove"}
        )
        if not isinstance(reaction.get("emoji"), str):
            raise ValueError("reaction.emoji is required")
        out["reaction"] = reaction["emoji"]
        out["reaction_target"] = _int(reaction.get("target_timestamp"), "reaction.target_timestamp")
        out["reaction_author"] = _opt_str(reaction.get("target_author"), "reaction.target_author")
        if not isinstance(reaction.get("remove", False), bool):
            raise ValueError("reaction.remove must be a boolean")
        out["reaction_remove"] = reaction.get("remove", False)
    if "receipt" in data:
        receipt = _obj(data["receipt"], "'receipt'", {"type", "timestamps"})
        out["receipt"] = _opt_str(receipt.get("type"), "receipt.type")
        stamps = receipt.get("timestamps", [])
        if not isinstance(stamps, list):
            raise ValueError("receipt.timestamps must be a list")
        out["receipt_timestamps"] = [_int(t, "receipt.timestamps[]") for t in stamps]
    if "attachments" in data:
        items = data["attachments"]
        if not isinstance(items, list):
            raise ValueError("'attachments' must be a list")
        files = []
        for item in items:
            spec = _obj(item, "attachment", {"data", "content_type", "filename"})
            data_b64 = spec.get("data", "")
            if not isinstance(data_b64, str):
                raise ValueError("attachment.data must be base64")
            try:
                raw = base64.b64decode(data_b64.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError):
                raise ValueError("attachment.data must be base64") from None
            content_type = spec.get("content_type", "application/octet-stream")
            if not isinstance(content_type, str):
                raise ValueError("attachment.content_type must be a string")
            files.append((raw, content_type, _opt_str(spec.get("filename"), "attachment.filename")))
        out["attachments"] = files
    return out


def add_control_routes(app: QuartTrio, fake: SignalModel) -> None:
    """Register the ``/_sim/`` routes of ``fake`` on ``app``."""

    async def body_json() -> Any:
        raw = await request.get_data(as_text=False)
        try:
            return loads(raw) if raw else None
        except ValueError as exc:
            raise ValueError(f"the body must be JSON: {exc}") from None

    @app.get("/_sim/")
    async def index() -> Response:
        return _json([{"method": m, "path": p, "description": d} for m, p, d in ROUTES])

    @app.post("/_sim/inbound")
    async def inbound() -> Response:
        try:
            data = await body_json()
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            before = fake.dropped
            if "envelope" in data:
                envelope, as_is = data["envelope"], data.get("as_is", False)
                if set(data) - {"envelope", "account", "as_is"} or not isinstance(as_is, bool):
                    raise ValueError(
                        "a full message is {'envelope': {...}, 'account': '+...', 'as_is': false}"
                    )
                source = envelope.get("source") if isinstance(envelope, dict) else None
                item = fake.inject_envelope(
                    source if isinstance(source, str) else "",
                    account=_opt_str(data.get("account"), "'account'"),
                    raw=envelope,
                    as_is=as_is,
                )
            else:
                item = fake.inject_envelope(**inbound_kwargs(data))
        except (ValueError, ContractViolation) as exc:
            return _bad(str(exc))
        return _json({"message": item, "dropped": fake.dropped > before})

    @app.get("/_sim/sent")
    async def sent() -> Response:
        first = since_index(request.args.get("since"))
        out = [
            {**rec.to_json(), "status": status, "response": answer}
            for rec, (status, answer) in zip(fake.sent[first:], fake.responses[first:], strict=True)
        ]
        return _json(out)

    @app.get("/_sim/status")
    async def status() -> Response:
        return _json(
            {
                "mode": fake.mode,
                "numbers": list(fake.numbers),
                "dropped": fake.dropped,
                "queued": fake.queued(),
                "sockets": fake.sockets(),
                "violations": list(fake.violations),
                "webhook_results": list(fake.webhook_results),
            }
        )

    @app.post("/_sim/faults")
    async def add_fault() -> Response:
        try:
            fault = Fault.from_json(await body_json())
        except ValueError as exc:
            return _bad(str(exc))
        fake.add_fault(fault)
        return _json({"fault": fault.to_json()}, 201)

    @app.delete("/_sim/faults")
    async def clear_faults() -> Response:
        fake.injector.clear()
        return Response("", status=204)

    @app.post("/_sim/rate-limit")
    async def rate_limit() -> Response:
        try:
            data = await body_json()
            data = {} if data is None else data
            spec = _obj(data, "rate limit", {"count", "delivered_anyway", "challenge_tokens"})
            count = spec.get("count", 1)
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError("'count' must be a positive integer")
            tokens = spec.get("challenge_tokens", [])
            if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                raise ValueError("'challenge_tokens' must be a list of strings")
            anyway = spec.get("delivered_anyway", False)
            if not isinstance(anyway, bool):
                raise ValueError("'delivered_anyway' must be a boolean")
            fake.rate_limit(count, delivered_anyway=anyway, challenge_tokens=tokens)
        except ValueError as exc:
            return _bad(str(exc))
        return Response("", status=204)

    @app.post("/_sim/attachments")
    async def store() -> Response:
        data = cast(bytes, await request.get_data(as_text=False))
        if not data:
            return _bad("the body must be the attachment's bytes")
        content_type = request.headers.get("Content-Type", "application/octet-stream")
        attachment_id = fake.store_attachment(data, content_type, request.args.get("filename"))
        return _json({"id": attachment_id}, 201)

    @app.post("/_sim/groups")
    async def add_group() -> Response:
        try:
            spec = _obj(await body_json(), "group", {"name", "members"})
            name = spec.get("name")
            members = spec.get("members", [])
            if not isinstance(name, str) or not name:
                raise ValueError("'name' is required")
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise ValueError("'members' must be a list of numbers or uuids")
        except ValueError as exc:
            return _bad(str(exc))
        return _json(fake.add_group(name, members).entry(), 201)

    @app.post("/_sim/groups/<action>")
    async def membership(action: str) -> Response:
        if action not in ("leave", "accept"):
            return _bad("the action is leave or accept")
        try:
            spec = _obj(await body_json(), "membership", {"group", "person"})
            group, person = spec.get("group"), spec.get("person")
            if not isinstance(group, str) or not isinstance(person, str):
                raise ValueError("'group' (id or name) and 'person' (number) are required")
            if action == "leave":
                item = fake.leave_group(group, person)
            else:
                item = fake.accept_invitation(group, person)
        except ValueError as exc:
            return _bad(str(exc))
        return _json(item, 201)

    @app.post("/_sim/reset")
    async def reset() -> Response:
        fake.reset()
        return Response("", status=204)
