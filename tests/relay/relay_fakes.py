"""Fakes and builders shared by the relay unit tests (a uniquely named module, imported by name).

The relay is tested through its seams: the real :class:`~whatsignal.clients.WahaClient` and
:class:`~whatsignal.clients.SignalClient` over an :class:`httpx.MockTransport` whose handler is a
:class:`FakeUpstream`, a real in-memory store, and a wall clock the test moves
(:class:`WallClock`). Nothing here opens a socket or starts a simulator.
"""

from __future__ import annotations

import base64
import inspect
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import httpx

from whatsignal.channels import Route
from whatsignal.storage import InboundEvent, JournalRow, MessageMapping, Store

BRIDGE = "+15550001111"
"""The bridge number that sends to the user in Signal."""
ME = "+15550002222"
"""The user: the channel's Signal destination."""
SESSION = "personal"
ROUTE = Route(SESSION, ME, BRIDGE)
WAHA_URL = "http://waha:3000"
SIGNAL_URL = "http://signal:8080"
START = 1_700_000_000.0
"""The wall clock's time when a test starts (unix seconds)."""

CAROL = "4917000000001@c.us"
"""A WhatsApp contact of the session."""
DAVE = "4917000000002@c.us"
"""Another WhatsApp contact."""
FAMILY = "120363000000000001@g.us"
"""A WhatsApp group of the session."""

Answer = (
    httpx.Response
    | Exception
    | Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
)
"""What a fake upstream answers one request with: a response, an exception to raise (an
``httpx.RequestError`` means "no answer"), or a function of the request (may be async)."""


def json_response(status: int, body: Any) -> httpx.Response:
    """An answer with a JSON body."""
    return httpx.Response(status, json=body)


def error_response(status: int, text: str) -> httpx.Response:
    """An error answer in the upstreams' shape (``{"error": ..., "message": ...}``)."""
    return httpx.Response(status, json={"error": text, "message": text})


def no_answer() -> httpx.ConnectError:
    """The upstream did not answer at all (raised by the transport)."""
    return httpx.ConnectError("connection refused")


@attrs.define(eq=False)
class FakeUpstream:
    """An ``httpx.MockTransport`` handler: records every request and answers it.

    A request ``"METHOD /decoded/path"`` is answered from the answers scripted for it with
    :meth:`script`, in order; once they are used up (or when there are none), by ``default``.
    """

    default: Callable[[httpx.Request], httpx.Response]
    scripted: dict[str, list[Answer]] = attrs.Factory(dict)
    requests: list[httpx.Request] = attrs.Factory(list)

    def script(self, route: str, *answers: Answer) -> None:
        """Answer the next requests to ``route`` (``"POST /v2/send"``) with ``answers``."""
        self.scripted.setdefault(route, []).extend(answers)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Record ``request`` and answer it (the MockTransport handler)."""
        self.requests.append(request)
        queue = self.scripted.get(f"{request.method} {request.url.path}")
        answer: Answer = queue.pop(0) if queue else self.default
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            result = answer(request)
            return await result if inspect.isawaitable(result) else result
        return answer

    def transport(self) -> httpx.MockTransport:
        """A transport for ``open_http_client`` that sends every request here."""
        return httpx.MockTransport(self.handle)

    def calls(self, route: str) -> list[httpx.Request]:
        """The requests made to ``route`` (``"POST /api/sendText"``), in order."""
        return [r for r in self.requests if f"{r.method} {r.url.path}" == route]

    def bodies(self, route: str) -> list[Any]:
        """The JSON bodies of the requests made to ``route``, in order."""
        return [json.loads(r.content) for r in self.calls(route)]


@attrs.define(eq=False)
class FakeWaha:
    """A WAHA that sends whatever it is asked to and knows the names in ``contacts`` and
    ``groups`` (anything else is a 404, as WAHA answers an unknown contact or group)."""

    contacts: dict[str, str] = attrs.Factory(dict)
    groups: dict[str, str] = attrs.Factory(dict)
    upstream: FakeUpstream = attrs.field(init=False)
    _ids: itertools.count[int] = attrs.field(init=False, factory=lambda: itertools.count(1))

    def __attrs_post_init__(self) -> None:
        self.upstream = FakeUpstream(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path.startswith("/api/send") and path != "/api/sendSeen":
            chat = json.loads(request.content)["chatId"]
            return json_response(201, {"id": f"true_{chat}_SENT{next(self._ids)}"})
        if path == "/api/contacts":
            name = self.contacts.get(request.url.params["contactId"])
            return json_response(200, {"name": name}) if name else error_response(404, "nope")
        if path.startswith(f"/api/{SESSION}/groups/"):
            name = self.groups.get(path.rsplit("/", 1)[1])
            return json_response(200, {"subject": name}) if name else error_response(404, "nope")
        if path == "/api/contacts/all":
            return json_response(200, [{"id": k, "name": v} for k, v in self.contacts.items()])
        if path.endswith("/groups"):
            return json_response(200, [{"id": k, "subject": v} for k, v in self.groups.items()])
        if path.startswith("/api/files/"):
            return error_response(404, "file not found")
        return json_response(200, {})

    def sent(self, endpoint: str) -> list[Any]:
        """The bodies WAHA received on ``POST /api/<endpoint>`` (``"sendText"``), in order."""
        return self.upstream.bodies(f"POST /api/{endpoint}")


@attrs.define(eq=False)
class FakeSignal:
    """A signal-cli-rest-api that accepts every call; ``/v2/send`` answers the next timestamp
    of ``stamps`` (so a test knows which Signal timestamp a message got)."""

    upstream: FakeUpstream = attrs.field(init=False)
    stamps: itertools.count[int] = attrs.field(
        init=False, factory=lambda: itertools.count(1_700_000_100_000)
    )
    attachments: dict[str, bytes] = attrs.Factory(dict)

    def __attrs_post_init__(self) -> None:
        self.upstream = FakeUpstream(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v2/send":
            return json_response(201, [{"timestamp": str(next(self.stamps))}])
        if path.startswith("/v1/attachments/"):
            data = self.attachments.get(path.rsplit("/", 1)[1])
            if data is None:
                return error_response(404, "No attachment with that name found")
            return httpx.Response(200, content=data)
        return httpx.Response(204)

    def sends(self) -> list[Any]:
        """The bodies of every ``POST /v2/send``, in order."""
        return self.upstream.bodies("POST /v2/send")


@attrs.define(eq=False)
class WallClock:
    """The relay's wall clock (unix seconds), moved only by the test."""

    now: float = START

    def __call__(self) -> float:
        """The current time, as the relay reads it."""
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


_row_ids = itertools.count(1)


def waha_row(event: str, payload: dict[str, Any], *, session: str = SESSION) -> JournalRow:
    """A pending journal row of a WAHA webhook event, as the intake stores it."""
    body = {"event": event, "session": session, "payload": payload, "engine": "WEBJS"}
    kind = "message" if event == "message.any" else event
    if kind == "message.ack.group":
        kind = "message.ack"
    return JournalRow(
        id=next(_row_ids),
        source="whatsapp",
        key=f"wa:{session}:{event}:{payload.get('id')}",
        queue=session,
        chat=payload.get("from") if kind == "message" else None,
        kind=kind,
        payload=json.dumps(body).encode(),
        received_at=START,
        state="pending",
        attempts=0,
        next_attempt_at=START,
        last_error=None,
    )


def wa_message(
    body: str | None = "hello",
    *,
    id: str = "false_4917000000001@c.us_AAA",
    from_: str = CAROL,
    push_name: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A WAHA ``message`` payload; ``extra`` adds WAHA's own keys (``replyTo``, ``media``...)."""
    payload: dict[str, Any] = {"id": id, "from": from_, "fromMe": False, "body": body, **extra}
    if push_name is not None:
        payload["_data"] = {"notifyName": push_name}
    return payload


def signal_row(
    envelope: dict[str, Any],
    *,
    chat: str | None = CAROL,
    session: str = SESSION,
    account: str = BRIDGE,
) -> JournalRow:
    """A routed journal row of a Signal envelope from the user (``chat`` is where the router
    put it)."""
    item = signal_item(envelope, account=account)
    return JournalRow(
        id=next(_row_ids),
        source="signal",
        key=f"sig:{account}:{ME}:{envelope['timestamp']}",
        queue=session,
        chat=chat,
        kind="envelope",
        payload=json.dumps(item).encode(),
        received_at=START,
        state="pending",
        attempts=0,
        next_attempt_at=START,
        last_error=None,
    )


def signal_item(
    envelope: dict[str, Any], *, account: str = BRIDGE, sender: str | None = ME
) -> dict[str, Any]:
    """A received item ``{"envelope": ..., "account": ...}`` as signal-cli hands it out;
    ``sender`` is the number it shows (None: the sender hides it; give ``sourceUuid``)."""
    shown = {"source": sender, "sourceNumber": sender} if sender else {}
    return {"envelope": {**shown, **envelope}, "account": account}


def data_message(timestamp: int, text: str | None = None, **extra: Any) -> dict[str, Any]:
    """An envelope carrying a ``dataMessage`` (``extra``: ``quote``, ``attachments``...)."""
    data: dict[str, Any] = {"timestamp": timestamp, **extra}
    if text is not None:
        data["message"] = text
    return {"timestamp": timestamp, "dataMessage": data}


def mapping(
    whatsapp_id: str,
    signal_timestamp: int,
    *,
    direction: str = "wa_to_signal",
    chat_id: str = CAROL,
    session: str = SESSION,
    sender_name: str | None = "Carol",
    delivery_status: int | None = None,
) -> MessageMapping:
    """A bridged message between the channel's WhatsApp chat and the user."""
    return MessageMapping(
        session=session,
        whatsapp_id=whatsapp_id,
        chat_id=chat_id,
        bridge_number=BRIDGE,
        destination=ME,
        signal_timestamp=signal_timestamp,
        direction=direction,  # type: ignore[arg-type]
        created_at=START - 60,
        sender_name=sender_name,
        delivery_status=delivery_status,
    )


async def remember(store: Store, *mappings: MessageMapping) -> None:
    """Put mappings in the store the way the poller does: with the ``done`` of a row."""
    for m in mappings:
        event = InboundEvent(
            source="whatsapp",
            key=f"seed:{m.session}:{m.whatsapp_id}",
            queue=m.session,
            chat=m.chat_id,
            kind="message",
            payload=b"{}",
            received_at=START - 60,
        )
        (row_id,) = await store.journal([event])
        assert row_id is not None
        await store.complete(row_id, mappings=[m])


def attachment_wire(data: bytes, mime: str, filename: str | None = None) -> str:
    """How signal-cli receives an attachment: ``data:<mime>;filename=<name>;base64,<data>``."""
    name = f";filename={filename}" if filename else ""
    return f"data:{mime}{name};base64,{base64.b64encode(data).decode()}"
