"""FakeWaha's control API over HTTP (``/_sim/...``): the Python API, reachable with curl.

Every route answers 400 ``{"error": reason}`` for input it cannot use, so a test or a person
at a terminal learns what was wrong: a body that is not strict JSON (not UTF-8, duplicate keys,
NaN, numbers beyond 64 bits, nesting deeper than the fakes take, see :mod:`._json`), a field
of the wrong type, or an event that would break the spec. ``GET /_sim/`` lists the routes with
one line each.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from quart import Response, jsonify, request

from whatsignal.testing._common import Fault, since_index
from whatsignal.testing._json import JsonError, loads
from whatsignal.testing._waha_disorder import RuleKind, rule_from_json
from whatsignal.testing._waha_payloads import ENGINES
from whatsignal.testing.contract import ContractViolation

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from whatsignal.testing._waha_model import WahaModel

__all__ = ["register_control"]

Handler = Callable[..., Awaitable[Any]]
Control = Callable[[str, str, str], Callable[[Handler], Handler]]


class BadInput(Exception):
    """Control input the fake cannot use; answered 400 with the reason."""


def _json(body: Any, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


async def _body() -> dict[str, Any]:
    raw = await request.get_data(as_text=False)
    try:
        data = loads(raw) if raw.strip() else {}
    except JsonError as exc:
        raise BadInput(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadInput("body must be a JSON object")
    return data


def _str(data: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise BadInput(f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise BadInput(f"'{key}' must be a string")
    return value


def _bool(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise BadInput(f"'{key}' must be a boolean")
    return value


def _inbound(fake: WahaModel, data: dict[str, Any]) -> dict[str, Any]:
    """Dispatch ``POST /_sim/inbound``: a full WAHA event, or a short form by ``type``."""
    session = _str(data, "session") or "default"
    if "event" in data and "payload" in data:
        event = _str(data, "event", required=True)
        assert event is not None
        return fake.inject_event(event, session, data["payload"])
    kind = _str(data, "type") or "message"
    if kind == "message":
        media = data.get("media")
        blob: bytes | None = None
        mimetype = filename = None
        if media is not None:
            if not isinstance(media, dict) or not isinstance(media.get("data"), str):
                raise BadInput("'media' must be {data: <base64>, mimetype, filename}")
            try:
                blob = base64.b64decode(media["data"].encode("ascii"), validate=True)
            except (ValueError, binascii.Error):
                raise BadInput("'media.data' is not valid base64") from None
            mimetype, filename = _str(media, "mimetype"), _str(media, "filename")
        payload = fake.inject_message(
            session,
            from_=_str(data, "from", required=True) or "",
            body=_str(data, "body") or "",
            chat_id=_str(data, "group"),
            from_me=_bool(data, "fromMe"),
            reply_to=_str(data, "replyTo"),
            media=blob,
            mimetype=mimetype,
            filename=filename,
            notify_name=_str(data, "notifyName"),
            event=data.get("event", "message"),
        )
        return {"payload": payload}
    if kind == "reaction":
        return {
            "payload": fake.inject_reaction(
                session,
                from_=_str(data, "from", required=True) or "",
                message_id=_str(data, "messageId", required=True) or "",
                reaction=_str(data, "reaction", required=True) or "",
                chat_id=_str(data, "group"),
            )
        }
    if kind == "ack":
        ack = data.get("ack")
        if not isinstance(ack, int):
            raise BadInput("'ack' must be an integer from -1 to 4")
        return {
            "payload": fake.inject_ack(
                _str(data, "messageId", required=True) or "",
                ack,
                session=session,
                participant=_str(data, "participant"),
            )
        }
    if kind == "edit":
        return {
            "payload": fake.inject_edit(
                session,
                message_id=_str(data, "messageId", required=True) or "",
                body=_str(data, "body", required=True) or "",
            )
        }
    if kind == "revoke":
        return {
            "payload": fake.inject_revoke(
                session, message_id=_str(data, "messageId", required=True) or ""
            )
        }
    if kind == "presence":  # emitted only for a subscribed chat ({"payload": null} otherwise)
        chat, presence = _str(data, "chat", required=True) or "", _str(data, "presence")
        found = fake.inject_presence(session, chat_id=chat, presence=presence or "typing")
        return {"payload": found}
    raise BadInput(f"unknown 'type' {kind!r}: message, reaction, ack, edit, revoke or presence")


def register_control(
    app: QuartTrio, fake: WahaModel, control: Control, routes: list[dict[str, str]]
) -> None:
    """Add the ``/_sim`` routes to ``app``; ``control`` registers and lists one route."""

    @app.errorhandler(BadInput)
    async def _bad_input(exc: BadInput) -> Response:
        return _json({"error": str(exc)}, 400)

    def guarded(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except KeyError as exc:
            raise BadInput(f"unknown session or id: {exc.args[0]}") from None
        except (ValueError, TypeError, ContractViolation) as exc:
            raise BadInput(str(exc)) from None

    @control("/_sim/", "GET", "this list of control routes")
    async def index() -> Response:
        return _json({"simulator": "waha", "url": fake.url, "routes": routes})

    @control(
        "/_sim/inbound",
        "POST",
        "deliver an inbound event: {event, session, payload}, or a short form "
        "{type: message|reaction|ack|edit|revoke|presence, session, from, body, chat, ...}",
    )
    async def inbound() -> Response:
        data = await _body()
        return _json(guarded(lambda: _inbound(fake, data)))

    @control(
        "/_sim/sent",
        "GET",
        "the bridge's accepted calls (sends, reactions, ...), in order; ?since=N skips the first N",
    )
    async def sent() -> Response:
        first = since_index(request.args.get("since"))
        return _json([r.to_json() for r in fake.sent[first:]])

    @control("/_sim/deliveries", "GET", "every webhook delivery attempt with status or error")
    async def deliveries() -> Response:
        return _json([d.to_json() for d in fake.deliveries])

    @control(
        "/_sim/deliveries/hold",
        "POST",
        "hold the next deliveries, then let them arrive in another order: "
        '{count, session, event, order ("reverse" or indexes)}',
    )
    async def hold() -> Response:
        return await _add_rule("hold")

    @control(
        "/_sim/deliveries/delay",
        "POST",
        "delay the next deliveries while later ones go at once: {seconds, count, session, event}",
    )
    async def delay() -> Response:
        return await _add_rule("delay")

    @control(
        "/_sim/deliveries/duplicate",
        "POST",
        "deliver the next deliveries twice (WAHA misses the 2xx and retries, same event id): "
        "{count, session, event}",
    )
    async def duplicate() -> Response:
        return await _add_rule("duplicate")

    async def _add_rule(kind: RuleKind) -> Response:
        data = await _body()
        rule = guarded(lambda: rule_from_json(kind, data))
        return _json(fake.delivery_rules.add(rule).to_json(), 201)

    @control("/_sim/deliveries/release", "POST", "let every held delivery go now, in its order")
    async def release() -> Response:
        return _json({"released": fake.release_deliveries()})

    @control("/_sim/deliveries/rules", "GET", "the delivery rules (hold, delay, duplicate)")
    async def rules() -> Response:
        return _json(fake.delivery_rules.to_json())

    @control("/_sim/deliveries/rules", "DELETE", "remove every delivery rule (held ones go)")
    async def clear_rules() -> Response:
        return _json({"released": fake.clear_delivery_rules(), "rules": 0})

    @control("/_sim/events", "GET", "every webhook envelope emitted, in order")
    async def events() -> Response:
        return _json(fake.events)

    @control("/_sim/faults", "GET", "the installed faults and how often each was hit")
    async def list_faults() -> Response:
        return _json([f.to_json() for f in fake.injector.faults])

    @control(
        "/_sim/faults",
        "POST",
        "install a fault: {path (glob), method, count, status, body, headers, latency, drop,"
        " carry_out}",
    )
    async def add_fault() -> Response:
        data = await _body()
        fault = guarded(lambda: Fault.from_json(data))
        return _json(fake.add_fault(fault).to_json(), 201)

    @control("/_sim/faults", "DELETE", "remove every fault")
    async def clear_faults() -> Response:
        fake.injector.clear()
        return _json({"faults": 0})

    @control(
        "/_sim/reset",
        "POST",
        "forget sent calls, deliveries, files and faults; restore the initial sessions",
    )
    async def reset() -> Response:
        fake.reset()
        return _json({"reset": True})

    @control(
        "/_sim/sessions",
        "POST",
        "create a session or change its status: {name, status (default WORKING), config, data,"
        " engine (WEBJS, NOWEB, GOWS or WPP: this session's from now on)}",
    )
    async def sessions() -> Response:
        data = await _body()
        name = _str(data, "name", required=True) or ""
        status = _str(data, "status") or "WORKING"
        config = data.get("config")
        guarded(lambda: fake.check_config(config))
        extra = data.get("data")
        if extra is not None and not isinstance(extra, dict):
            raise BadInput("'data' must be an object")

        engine = _str(data, "engine")
        if engine is not None and engine not in ENGINES:
            raise BadInput(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")

        def apply() -> dict[str, Any]:
            if config is not None and fake.has_session(name):
                fake.session(name).config = dict(config)
            session = fake.set_session_status(name, status, data=extra)
            if config is not None:
                session.config = dict(config)
            if engine is not None:
                fake.set_engine(name, engine)
            return session.info(fake.engine_of(name))

        return _json(guarded(apply))

    @control("/_sim/contacts", "POST", "add a contact: {number, name, pushname, session}")
    async def contacts() -> Response:
        data = await _body()
        number = _str(data, "number", required=True) or ""
        return _json(
            guarded(
                lambda: fake.add_contact(
                    number,
                    session=_str(data, "session") or "default",
                    name=_str(data, "name"),
                    pushname=_str(data, "pushname"),
                )
            ),
            201,
        )

    @control(
        "/_sim/lids", "POST", "pair a LID with a phone number: {lid, pn (null: hidden), session}"
    )
    async def lids() -> Response:
        data = await _body()
        lid = _str(data, "lid", required=True) or ""
        pn, session = _str(data, "pn"), _str(data, "session") or "default"
        try:
            return _json(fake.add_lid(lid, pn=pn, session=session), 201)
        except ValueError as exc:
            raise BadInput(str(exc)) from None

    @control(
        "/_sim/groups", "POST", "add a group: {subject, participants[], admins[], session, id}"
    )
    async def groups() -> Response:
        data = await _body()
        subject = _str(data, "subject", required=True) or ""
        participants = data.get("participants", [])
        admins = data.get("admins", [])
        if not isinstance(participants, list) or not isinstance(admins, list):
            raise BadInput("'participants' and 'admins' must be lists of numbers")
        gid = guarded(
            lambda: fake.add_group(
                subject,
                session=_str(data, "session") or "default",
                participants=[str(p) for p in participants],
                admins=[str(a) for a in admins],
                group_id=_str(data, "id"),
            )
        )
        return _json({"id": gid}, 201)

    @control("/_sim/groups/rename", "POST", "rename a group: {id, subject, session}")
    async def rename_group() -> Response:
        data = await _body()
        gid, subject = _str(data, "id", required=True) or "", _str(data, "subject", required=True)
        session = _str(data, "session") or "default"
        try:
            return _json(fake.rename_group(gid, subject or "", session=session))
        except ValueError as exc:
            raise BadInput(str(exc)) from None
