"""FakeWaha: an in-process WAHA (WhatsApp HTTP API) that behaves like the real one.

It serves WAHA's HTTP API over real HTTP (quart-trio on hypercorn), keeps sessions with
realistic status transitions, answers sends with engine-native bodies and fresh ids, and
delivers webhooks in WAHA's envelope, signed and retried like upstream. Tests and the ``demo``
command drive it through a control API: Python methods on the object, and the same under
``/_sim/`` over HTTP (``GET /_sim/`` lists them). See docs/simulators.md for the full surface
and for where it follows WAHA rather than WAHA's (sometimes wrong) OpenAPI spec.

Typical use::

    fake = FakeWaha(webhook_url=bridge_url, webhook_retry_delay=0.01, status_step=0.01)
    url = await nursery.start(fake.run)
    fake.inject_message("default", from_="+491711234567", body="hi")
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
from collections.abc import Sequence
from typing import Any, Literal, cast

import attrs
import httpx
import trio

from whatsignal.testing._common import ASGIApp, Fault, Recorded, SimulatorBase
from whatsignal.testing._waha_contract import WahaChecker
from whatsignal.testing._waha_payloads import (
    ACK_NAMES,
    ENGINES,
    bare_key,
    chat_id_of,
    environment,
    error_for_status,
    file_extension,
    incoming_message,
    new_message_key,
    new_ulid,
    normalize_chat_id,
    now_ms,
)
from whatsignal.testing._waha_state import STATUSES, Session, StoredFile, me_for
from whatsignal.testing._waha_webhooks import Delivery, WebhookTarget, deliver, encode
from whatsignal.testing.contract import ContractViolation

__all__ = ["DEFAULT_EVENTS", "FakeWaha", "add_arguments", "from_args"]

DEFAULT_EVENTS: tuple[str, ...] = (
    "message",
    "session.status",
    "message.reaction",
    "message.ack",
    "message.edited",
    "message.revoked",
)
"""The events a bridge needs (api-contracts.md §1.8); ``message.any`` is left out on purpose."""

InboundEvent = Literal["message", "message.any", "both"]


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


@attrs.define(eq=False, kw_only=True)
class FakeWaha(SimulatorBase):
    """A WAHA server in a box. All real-time constants are parameters, so tests run fast.

    Args:
        api_key: required ``X-Api-Key`` (or ``?x-api-key=``) for ``/api/*``; None: no auth.
        engine: WEBJS (default), NOWEB, GOWS or WPP; shapes ids and send responses.
        sessions: sessions that exist at start, WORKING and paired.
        webhook_url / webhook_events / webhook_hmac_key: the global webhook, like
            ``WHATSAPP_HOOK_URL`` / ``_EVENTS`` / ``_HMAC_KEY``.
        webhook_retry_attempts / webhook_retry_delay: retries after the first try and the
            constant delay between them (upstream 15 x 2 s); also the defaults for session
            webhooks that configure no ``retries``.
        webhook_timeout: per-attempt HTTP timeout (upstream sets none; a bound keeps tests sane).
        not_working_wait: how long a send waits for a STARTING session before its 422
            (upstream ``WAIT_STATUS_TIMEOUT``).
        file_expiry: seconds a received media file stays downloadable (0: forever; upstream
            ``WHATSAPP_FILES_LIFETIME=180``).
        status_step: delay of each automatic transition (STARTING -> WORKING / SCAN_QR_CODE).
        auto_pair: sessions created by ``POST /api/sessions`` reach WORKING as if their QR code
            had been scanned (default: they stop at SCAN_QR_CODE, as a new WAHA session does).
        check_contracts: validate accepted requests, responses and emitted webhooks against
            the vendored spec (minus the documented deviations). On in tests, off in demos.
    """

    api_key: str | None = None
    engine: str = attrs.field(default="WEBJS", validator=attrs.validators.in_(ENGINES))
    sessions: Sequence[str] = ("default",)
    webhook_url: str | None = None
    webhook_events: Sequence[str] = DEFAULT_EVENTS
    webhook_hmac_key: str | None = None
    webhook_retry_attempts: int = attrs.field(default=15, validator=_positive)
    webhook_retry_delay: float = attrs.field(default=2.0, validator=_positive)
    webhook_timeout: float = 30.0
    not_working_wait: float = attrs.field(default=5.0, validator=_positive)
    file_expiry: float = attrs.field(default=180.0, validator=_positive)
    status_step: float = attrs.field(default=1.0, validator=_positive)
    auto_pair: bool = False
    check_contracts: bool = True

    sent: list[Recorded] = attrs.field(init=False, factory=list)
    """Every accepted bridge call (sends, reactions, seen, typing, edits, deletes), in order."""
    deliveries: list[Delivery] = attrs.field(init=False, factory=list)
    """Every webhook delivery attempt, in the order the attempts finished."""
    events: list[dict[str, Any]] = attrs.field(init=False, factory=list)
    """Every webhook envelope emitted (one per event, whatever the number of targets)."""
    violations: list[str] = attrs.field(init=False, factory=list)
    """Contract violations seen (the request or injection that caused one also failed)."""

    _sessions: dict[str, Session] = attrs.field(init=False, factory=dict)
    _files: dict[str, StoredFile] = attrs.field(init=False, factory=dict)
    _messages: dict[str, dict[str, Any]] = attrs.field(init=False, factory=dict)
    _contacts: dict[str, dict[str, dict[str, Any]]] = attrs.field(init=False, factory=dict)
    _groups: dict[str, dict[str, dict[str, Any]]] = attrs.field(init=False, factory=dict)
    _delivered: trio.Event = attrs.field(init=False, factory=trio.Event)
    _client: httpx.AsyncClient | None = attrs.field(init=False, default=None)
    _checker: WahaChecker | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self._reset_sessions()

    # Lifecycle -------------------------------------------------------------------------------

    def build_app(self) -> ASGIApp:
        from whatsignal.testing._waha_app import build_app

        return cast("ASGIApp", build_app(self))

    async def run(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; reports the base URL. Webhook deliveries share one client."""
        async with httpx.AsyncClient(timeout=self.webhook_timeout) as client:
            self._client = client
            try:
                await super().run(task_status=task_status)
            finally:
                self._client = None

    @property
    def checker(self) -> WahaChecker | None:
        """The contract checker (compiled on first use), or None when checks are off."""
        if self.check_contracts and self._checker is None:
            self._checker = WahaChecker()
        return self._checker if self.check_contracts else None

    def violation(self, exc: ContractViolation) -> ContractViolation:
        self.violations.append(str(exc))
        return exc

    def reset(self) -> None:
        """Forget what was sent, delivered, emitted and stored; drop faults; restore sessions."""
        self.sent.clear()
        self.deliveries.clear()
        self.events.clear()
        self.violations.clear()
        self._files.clear()
        self._messages.clear()
        self._contacts.clear()
        self._groups.clear()
        if hasattr(self, "injector"):
            self.injector.clear()
        self._reset_sessions()

    def _reset_sessions(self) -> None:
        for session in self._sessions.values():
            session.cancel_pending()
        self._sessions = {name: Session(name, "WORKING") for name in self.sessions}

    # Faults ----------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        """Install a fault (see :class:`Fault`); a status fault without a body gets WAHA's."""
        if fault.status is not None and fault.body is None:
            fault.body = error_for_status(fault.status)
        self.injector.add(fault)
        return fault

    def fault(
        self,
        path: str,
        *,
        method: str = "*",
        count: int | None = 1,
        status: int | None = None,
        body: Any = None,
        latency: float = 0.0,
        drop: bool = False,
    ) -> Fault:
        """Make the next ``count`` calls matching ``method path`` (a glob) fail."""
        return self.add_fault(
            Fault(
                path=path,
                method=method,
                count=count,
                status=status,
                body=body,
                latency=latency,
                drop=drop,
            )
        )

    # Sessions --------------------------------------------------------------------------------

    def session(self, name: str) -> Session:
        """The session called ``name``; KeyError when there is none."""
        return self._sessions[name]

    def has_session(self, name: str) -> bool:
        return name in self._sessions

    def session_names(self) -> list[str]:
        return list(self._sessions)

    def me(self, session: str) -> dict[str, Any]:
        """The account of ``session`` (``MeInfo``), whether or not it is currently WORKING."""
        return me_for(session)

    def _change(self, session: Session, status: str) -> None:
        session.set(status)
        if self._nursery is not None:
            self.emit("session.status", session.name, session.status_payload())

    def _schedule(self, session: Session, steps: Sequence[str]) -> None:
        """Run ``steps`` one ``status_step`` apart, cancellable by the next change."""
        session.cancel_pending()
        scope = trio.CancelScope()
        session.pending = scope

        async def walk() -> None:
            with scope:
                for status in steps:
                    await trio.sleep(self.status_step)
                    self._change(session, status)
            if session.pending is scope:
                session.pending = None

        self.nursery.start_soon(walk)

    def start_session(self, name: str) -> Session:
        """STOPPED/FAILED -> STARTING -> WORKING (paired) or SCAN_QR_CODE; idempotent."""
        session = self.session(name)
        if session.status in ("STOPPED", "FAILED"):
            self._change(session, "STARTING")
            self._schedule(session, ["WORKING" if session.paired else "SCAN_QR_CODE"])
        return session

    def stop_session(self, name: str) -> Session:
        """-> STOPPED (keeps the auth data); idempotent."""
        session = self.session(name)
        session.cancel_pending()
        if session.status != "STOPPED":
            self._change(session, "STOPPED")
        return session

    def restart_session(self, name: str) -> Session:
        self.stop_session(name)
        return self.start_session(name)

    def logout_session(self, name: str) -> Session:
        """Drop the auth data; a running session comes back at SCAN_QR_CODE."""
        session = self.session(name)
        session.paired = False
        session.cancel_pending()
        if session.status != "STOPPED":
            self._change(session, "STARTING")
            self._schedule(session, ["SCAN_QR_CODE"])
        return session

    def create_session(
        self,
        name: str,
        *,
        config: dict[str, Any] | None = None,
        start: bool = True,
        paired: bool | None = None,
    ) -> Session:
        """Create a STOPPED session and (by default) start it; ValueError when it exists."""
        if name in self._sessions:
            raise ValueError(f"Session '{name}' already exists. Use PUT to update it.")
        session = Session(
            name,
            "STOPPED",
            paired=self.auto_pair if paired is None else paired,
            config=dict(config or {}),
        )
        self._sessions[name] = session
        if start:
            self.start_session(name)
        return session

    def update_session(self, name: str, config: dict[str, Any]) -> Session:
        """Replace the config; a running session restarts, as upstream."""
        session = self.session(name)
        session.config = dict(config)
        if session.status != "STOPPED":
            self.restart_session(name)
        return session

    def delete_session(self, name: str) -> None:
        """Stop, log out and forget; idempotent."""
        if name in self._sessions:
            self.stop_session(name)
            del self._sessions[name]

    def set_session_status(self, session: str, status: str) -> Session:
        """Force a status (FAILED, SCAN_QR_CODE, a QR "scan" with WORKING, ...), with its event.

        Creates the session when it does not exist.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        if session not in self._sessions:
            self._sessions[session] = Session(session, "STOPPED")
        target = self._sessions[session]
        target.cancel_pending()
        if status == "WORKING":
            target.paired = True
        elif status == "SCAN_QR_CODE":
            target.paired = False
        self._change(target, status)
        return target

    async def wait_for_status(self, name: str, status: str) -> Session:
        """Wait until session ``name`` has ``status`` (wrap in ``trio.fail_after``)."""
        session = self.session(name)
        while session.status != status:
            await session.changed.wait()
        return session

    async def wait_working(self, name: str) -> Session:
        """Wait up to ``not_working_wait`` for a STARTING session to reach WORKING."""
        session = self.session(name)
        with trio.move_on_after(self.not_working_wait):
            while session.status == "STARTING":
                await session.changed.wait()
        return session

    # Webhooks --------------------------------------------------------------------------------

    def targets(self, session: str) -> list[WebhookTarget]:
        """The global webhook plus the session's ``config.webhooks``."""
        out: list[WebhookTarget] = []
        if self.webhook_url:
            out.append(
                WebhookTarget(
                    url=self.webhook_url,
                    events=tuple(self.webhook_events),
                    hmac_key=self.webhook_hmac_key,
                    attempts=self.webhook_retry_attempts,
                    delay=self.webhook_retry_delay,
                )
            )
        found = self._sessions.get(session)
        for config in (found.config.get("webhooks") or []) if found else []:
            out.append(
                WebhookTarget.from_config(
                    config,
                    default_attempts=self.webhook_retry_attempts,
                    default_delay=self.webhook_retry_delay,
                )
            )
        return out

    def envelope(self, event: str, session: str, payload: Any) -> dict[str, Any]:
        """WAHA's webhook envelope around ``payload`` (ms timestamp, ``evt_`` ULID id)."""
        ms = now_ms()
        body: dict[str, Any] = {
            "id": f"evt_{new_ulid(ms)}",
            "timestamp": ms,
            "event": event,
            "session": session,
        }
        found = self._sessions.get(session)
        if found is not None and found.config.get("metadata"):
            body["metadata"] = found.config["metadata"]
        if found is not None and found.me is not None:
            body["me"] = found.me
        body["payload"] = payload
        body["engine"] = self.engine
        body["environment"] = environment(self.engine)
        return body

    def emit(self, event: str, session: str, payload: Any) -> dict[str, Any]:
        """Build, check and deliver one event to every target that subscribes to it.

        Raises:
            ContractViolation: when ``check_contracts`` and the envelope breaks the spec
                (nothing is delivered then).
        """
        body = self.envelope(event, session, payload)
        checker = self.checker
        if checker is not None:
            try:
                checker.check_webhook(event, body)
            except ContractViolation as exc:
                raise self.violation(exc) from None
        self.events.append(body)
        raw = encode(body)
        for target in self.targets(session):
            if target.wants(event):
                self.nursery.start_soon(self._deliver, target, body, raw)
        return body

    async def _deliver(self, target: WebhookTarget, body: dict[str, Any], raw: bytes) -> None:
        assert self._client is not None, "deliveries run only while the fake runs"
        await deliver(
            self._client,
            target,
            event=body["event"],
            event_id=body["id"],
            session=body["session"],
            timestamp_ms=body["timestamp"],
            raw=raw,
            record=self._record_delivery,
        )

    def _record_delivery(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self._delivered.set()
        self._delivered = trio.Event()

    async def wait_for_deliveries(self, count: int) -> list[Delivery]:
        """Wait until ``count`` delivery attempts are recorded (wrap in ``trio.fail_after``)."""
        while len(self.deliveries) < count:
            await self._delivered.wait()
        return self.deliveries

    def inject_event(self, event: str, session: str, payload: Any) -> dict[str, Any]:
        """Deliver a raw event (the payload as given) in the full envelope; returns it."""
        return self.emit(event, session, payload)

    # Media files -----------------------------------------------------------------------------

    def store_file(self, session: str, message_id: str, data: bytes, mimetype: str) -> str:
        """Keep ``data`` under ``/api/files/{session}/{message_id}.{ext}``; returns its URL."""
        name = f"{message_id}.{file_extension(mimetype)}"
        expires = trio.current_time() + self.file_expiry if self.file_expiry > 0 else math.inf
        self._files[f"{session}/{name}"] = StoredFile(data, mimetype, expires)
        return f"{self.url}/api/files/{session}/{name}"

    def get_file(self, session: str, name: str) -> StoredFile | None:
        """The stored file, or None when unknown or expired (expired files are removed)."""
        key = f"{session}/{name}"
        found = self._files.get(key)
        if found is not None and trio.current_time() >= found.expires:
            del self._files[key]
            return None
        return found

    # Inbound (the "phone" side) --------------------------------------------------------------

    def _message_chat(self, from_: str, chat_id: str | None) -> tuple[str, str | None]:
        sender = normalize_chat_id(from_)
        if chat_id is None:
            return sender, None
        chat = normalize_chat_id(chat_id)
        return chat, (sender if chat.endswith("@g.us") else None)

    def _reply_to(self, reply_to: str) -> dict[str, Any]:
        quoted = self._messages.get(reply_to, {})
        out: dict[str, Any] = {
            "id": bare_key(reply_to),
            "participant": quoted.get("participant") or quoted.get("from"),
            "body": quoted.get("body"),
            "hasMedia": bool(quoted.get("hasMedia", False)),
            "_data": {},
        }
        return {k: v for k, v in out.items() if v is not None}

    def inject_message(
        self,
        session: str = "default",
        *,
        from_: str,
        body: str = "",
        chat_id: str | None = None,
        from_me: bool = False,
        reply_to: str | None = None,
        media: bytes | None = None,
        mimetype: str | None = None,
        filename: str | None = None,
        notify_name: str | None = None,
        event: InboundEvent = "message",
    ) -> dict[str, Any]:
        """A WhatsApp message arriving on ``session``, delivered as a WEBJS-shaped webhook.

        Args:
            from_: the sender (``+49171...``, digits, or a ``@c.us``/``@lid`` id).
            chat_id: a group (``<id>@g.us``) the sender posts in; None for a direct chat.
            reply_to: the serialized id of the quoted message (``replyTo`` then holds its
                bare key and, when the fake knows the message, its body and author).
            media: file bytes, stored under ``/api/files/...`` (expiring after
                ``file_expiry``); ``mimetype`` defaults to ``application/octet-stream``.
            event: ``message``, ``message.any`` or ``both`` (the duplicate-delivery trap).

        Returns:
            The payload (a ``WAMessage``), whose ``id`` tests can quote, react to or ack.
        """
        if event not in ("message", "message.any", "both"):
            raise ValueError("event must be 'message', 'message.any' or 'both'")
        if from_me and event == "message":
            raise ValueError("own messages (from_me) are only delivered as message.any")
        self.session(session)
        chat, participant = self._message_chat(from_, chat_id)
        key = new_message_key(self.engine)
        media_obj: dict[str, Any] | None = None
        if media is not None:
            mimetype = mimetype or "application/octet-stream"
            serialized = f"{'true' if from_me else 'false'}_{chat}_{key}" + (
                f"_{participant}" if participant else ""
            )
            media_obj = {
                "url": self.store_file(session, serialized, media, mimetype),
                "mimetype": mimetype,
                "filename": filename,
                "error": None,
            }
        payload = incoming_message(
            key=key,
            chat_id=chat,
            me_id=me_for(session)["id"],
            from_me=from_me,
            body=body,
            ts=now_ms() // 1000,
            participant=participant,
            notify_name=notify_name,
            media=media_obj,
            reply_to=self._reply_to(reply_to) if reply_to else None,
            source="app",
        )
        self._messages[payload["id"]] = payload
        for name in ("message", "message.any") if event == "both" else (event,):
            self.emit(name, session, payload)
        return payload

    def inject_reaction(
        self,
        session: str = "default",
        *,
        from_: str,
        message_id: str,
        reaction: str,
        chat_id: str | None = None,
    ) -> dict[str, Any]:
        """``from_`` reacts to ``message_id`` with an emoji (``""`` removes the reaction)."""
        self.session(session)
        chat, participant = self._message_chat(from_, chat_id or chat_id_of(message_id))
        sender = normalize_chat_id(from_)
        key = new_message_key(self.engine)
        payload = {
            "id": f"false_{chat}_{key}" + (f"_{participant}" if participant else ""),
            "timestamp": now_ms() // 1000,
            "from": chat,
            "fromMe": False,
            "source": "app",
            "to": me_for(session)["id"],
            "participant": participant or sender,
            "reaction": {"text": reaction, "messageId": message_id},
        }
        self.emit("message.reaction", session, payload)
        return payload

    def inject_ack(
        self,
        message_id: str,
        ack: int,
        *,
        session: str = "default",
        participant: str | None = None,
    ) -> dict[str, Any]:
        """A delivery/read receipt for ``message_id``: ``message.ack``, or ``message.ack.group``
        when ``participant`` names the group member who read it."""
        if ack not in ACK_NAMES:
            raise ValueError(f"ack must be one of {sorted(ACK_NAMES)}")
        self.session(session)
        chat = chat_id_of(message_id)
        if chat is None:
            raise ValueError(f"not a serialized message id: {message_id!r}")
        member = normalize_chat_id(participant) if participant else None
        payload = {
            "id": message_id,
            "from": chat,
            "to": me_for(session)["id"],
            "participant": member,
            "fromMe": message_id.startswith("true_"),
            "ack": ack,
            "ackName": ACK_NAMES[ack],
            "_data": {},
        }
        event = "message.ack.group" if member and chat.endswith("@g.us") else "message.ack"
        self.emit(event, session, payload)
        return payload

    def inject_edit(
        self, session: str = "default", *, message_id: str, body: str
    ) -> dict[str, Any]:
        """The author of ``message_id`` edits it to ``body`` (``message.edited``)."""
        self.session(session)
        original = self._messages.get(message_id, {})
        chat = chat_id_of(message_id)
        if chat is None:
            raise ValueError(f"not a serialized message id: {message_id!r}")
        from_me = message_id.startswith("true_")
        key = new_message_key(self.engine)
        participant = original.get("participant")
        me_id = me_for(session)["id"]
        payload = {
            "id": f"{'true' if from_me else 'false'}_{chat}_{key}"
            + (f"_{participant}" if participant else ""),
            "timestamp": now_ms() // 1000,
            "from": me_id if from_me else chat,
            "fromMe": from_me,
            "source": "app",
            "to": chat if from_me else me_id,
            "participant": participant,
            "body": body,
            "hasMedia": False,
            "ack": 1,
            "ackName": ACK_NAMES[1],
            "editedMessageId": bare_key(message_id),
            "_data": {"type": "protocol", "subtype": "message_edit"},
        }
        if message_id in self._messages:
            self._messages[message_id] = {**original, "body": body}
        self.emit("message.edited", session, payload)
        return payload

    def inject_revoke(self, session: str = "default", *, message_id: str) -> dict[str, Any]:
        """The author deletes ``message_id`` for everyone (``message.revoked``).

        ``after`` is the revoke action (its id is not the revoked message's, waha#898),
        ``before`` the original when the fake saw it, else null.
        """
        self.session(session)
        chat = chat_id_of(message_id)
        if chat is None:
            raise ValueError(f"not a serialized message id: {message_id!r}")
        before = self._messages.pop(message_id, None)
        from_me = message_id.startswith("true_")
        me_id = me_for(session)["id"]
        participant = before.get("participant") if before else None
        after = {
            "id": f"{'true' if from_me else 'false'}_{chat}_{new_message_key(self.engine)}",
            "timestamp": now_ms() // 1000,
            "from": me_id if from_me else chat,
            "fromMe": from_me,
            "source": "app",
            "to": chat if from_me else me_id,
            "participant": participant,
            "body": "",
            "hasMedia": False,
            "ack": 1,
            "ackName": ACK_NAMES[1],
            "_data": {"type": "revoked"},
        }
        payload = {
            "revokedMessageId": bare_key(message_id),
            "after": after,
            "before": before,
            "_data": {},
        }
        self.emit("message.revoked", session, payload)
        return payload

    # Contacts and groups ---------------------------------------------------------------------

    def add_contact(
        self,
        number: str,
        *,
        session: str = "default",
        name: str | None = None,
        pushname: str | None = None,
        picture_url: str | None = None,
    ) -> dict[str, Any]:
        """Put a contact in the session's address book (``/api/contacts/all`` lists it)."""
        contact_id = normalize_chat_id(number)
        contact = {
            "id": contact_id,
            "number": contact_id.split("@")[0],
            "name": name,
            "pushname": pushname,
            "shortName": name.split()[0] if name else None,
            "isMe": False,
            "isGroup": False,
            "isWAContact": True,
            "isMyContact": name is not None,
            "isBlocked": False,
            "profilePictureURL": picture_url,
        }
        self._contacts.setdefault(session, {})[contact_id] = contact
        return contact

    def contacts(self, session: str) -> list[dict[str, Any]]:
        return [self.contact(session, cid) for cid in self._contacts.get(session, {})]

    def contact(self, session: str, contact_id: str) -> dict[str, Any]:
        """The contact as WAHA shows it; unknown numbers look like a bare WhatsApp user."""
        contact_id = normalize_chat_id(contact_id)
        found = self._contacts.get(session, {}).get(contact_id)
        if found is None:
            found = {
                "id": contact_id,
                "number": contact_id.split("@")[0],
                "name": None,
                "pushname": None,
                "shortName": None,
                "isMe": contact_id == me_for(session)["id"],
                "isGroup": contact_id.endswith("@g.us"),
                "isWAContact": True,
                "isMyContact": False,
                "isBlocked": False,
            }
        return {k: v for k, v in found.items() if k != "profilePictureURL"}

    def profile_picture(self, session: str, contact_id: str) -> str | None:
        found = self._contacts.get(session, {}).get(normalize_chat_id(contact_id))
        return found.get("profilePictureURL") if found else None

    def add_group(
        self,
        subject: str,
        *,
        session: str = "default",
        participants: Sequence[str] = (),
        admins: Sequence[str] = (),
        group_id: str | None = None,
    ) -> str:
        """Create a group the session's account is in; returns its ``<id>@g.us``."""
        if group_id is None:
            group_id = "120363" + "".join(secrets.choice("0123456789") for _ in range(12))
        gid = group_id if group_id.endswith("@g.us") else f"{group_id}@g.us"
        me_id = me_for(session)["id"]
        members = [me_id, *(normalize_chat_id(p) for p in participants)]
        admin_ids = {me_id, *(normalize_chat_id(a) for a in admins)}
        self._groups.setdefault(session, {})[gid] = {
            "id": gid,
            "subject": subject,
            "owner": me_id,
            "creation": now_ms() // 1000,
            "participants": [(m, m in admin_ids, m == me_id) for m in members],
        }
        return gid

    def group_ids(self, session: str) -> list[str]:
        return list(self._groups.get(session, {}))

    def group(self, session: str, group_id: str) -> dict[str, Any] | None:
        """The group in the engine's own shape (see deviation ``engine-native-groups``)."""
        found = self._groups.get(session, {}).get(group_id)
        if found is None:
            return None
        if self.engine in ("NOWEB", "GOWS"):
            return {
                "id": found["id"],
                "subject": found["subject"],
                "owner": found["owner"].replace("@c.us", "@s.whatsapp.net"),
                "creation": found["creation"],
                "participants": [
                    {
                        "id": m.replace("@c.us", "@s.whatsapp.net"),
                        "admin": ("superadmin" if owner else "admin") if admin else None,
                    }
                    for m, admin, owner in found["participants"]
                ],
            }
        user = found["id"].split("@")[0]
        serialized = {"server": "g.us", "user": user, "_serialized": found["id"]}
        return {
            "id": serialized,
            "name": found["subject"],
            "isGroup": True,
            "timestamp": found["creation"],
            "groupMetadata": {
                "id": serialized,
                "subject": found["subject"],
                "owner": {"_serialized": found["owner"]},
                "creation": found["creation"],
                "participants": [
                    {
                        "id": {"server": "c.us", "user": m.split("@")[0], "_serialized": m},
                        "isAdmin": admin,
                        "isSuperAdmin": owner,
                    }
                    for m, admin, owner in found["participants"]
                ],
            },
        }

    def groups_listing(self, session: str) -> Any:
        """``GET /api/{session}/groups``: WEBJS/WPP an array, NOWEB/GOWS an object by id."""
        groups = [self.group(session, gid) for gid in self.group_ids(session)]
        if self.engine in ("NOWEB", "GOWS"):
            return {g["id"]: g for g in groups if g is not None}
        return groups

    def remember(self, payload: dict[str, Any]) -> None:
        """Keep a message so later quotes, edits and revokes can refer to it."""
        self._messages[payload["id"]] = payload

    def message(self, message_id: str) -> dict[str, Any] | None:
        """A message the fake has seen (injected or sent), by serialized id."""
        return self._messages.get(message_id)

    def forget(self, message_id: str) -> None:
        self._messages.pop(message_id, None)


# Command line ------------------------------------------------------------------------------


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    try:
        return float(value) if value else default
    except ValueError:
        return default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m whatsignal.testing waha``; defaults follow WAHA's environment."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=3000, help="port (0: any free port)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("WHATSAPP_API_KEY") or os.environ.get("WAHA_API_KEY"),
        help="X-Api-Key required on /api/* (default: $WHATSAPP_API_KEY or $WAHA_API_KEY; "
        "none: no auth)",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=os.environ.get("WHATSAPP_DEFAULT_ENGINE", "WEBJS"),
        help="engine whose ids and response shapes to imitate (default: WEBJS)",
    )
    parser.add_argument(
        "--session",
        dest="sessions",
        action="append",
        metavar="NAME",
        help="a session that exists at start, WORKING (repeatable; default: 'default')",
    )
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("WHATSAPP_HOOK_URL"),
        help="global webhook URL (default: $WHATSAPP_HOOK_URL)",
    )
    parser.add_argument(
        "--webhook-events",
        default=os.environ.get("WHATSAPP_HOOK_EVENTS", ",".join(DEFAULT_EVENTS)),
        help="comma-separated events for the global webhook, or '*' "
        "(default: $WHATSAPP_HOOK_EVENTS or the events a bridge needs)",
    )
    parser.add_argument(
        "--webhook-hmac-key",
        default=os.environ.get("WHATSAPP_HOOK_HMAC_KEY"),
        help="sign webhooks with HMAC-SHA512 using this key (default: $WHATSAPP_HOOK_HMAC_KEY)",
    )
    parser.add_argument(
        "--webhook-retry-attempts",
        type=int,
        default=int(_env_float("WHATSAPP_HOOK_RETRIES_ATTEMPTS", 15)),
        help="retries after a failed delivery (default: $WHATSAPP_HOOK_RETRIES_ATTEMPTS or 15)",
    )
    parser.add_argument(
        "--webhook-retry-delay",
        type=float,
        default=_env_float("WHATSAPP_HOOK_RETRIES_DELAY_SECONDS", 2.0),
        help="seconds between retries (default: $WHATSAPP_HOOK_RETRIES_DELAY_SECONDS or 2)",
    )
    parser.add_argument(
        "--file-expiry",
        type=float,
        default=_env_float("WHATSAPP_FILES_LIFETIME", 180.0),
        help="seconds received media stays downloadable, 0 = forever "
        "(default: $WHATSAPP_FILES_LIFETIME or 180)",
    )
    parser.add_argument(
        "--status-step",
        type=float,
        default=1.0,
        help="seconds each automatic session transition takes (default: 1)",
    )
    parser.add_argument(
        "--not-working-wait",
        type=float,
        default=5.0,
        help="seconds a send waits for a STARTING session before answering 422 (default: 5)",
    )
    parser.add_argument(
        "--auto-pair",
        action="store_true",
        help="sessions created over the API reach WORKING without a QR scan",
    )
    parser.add_argument(
        "--check-contracts",
        action="store_true",
        help="validate requests, responses and webhooks against the vendored WAHA spec",
    )


def from_args(args: argparse.Namespace) -> FakeWaha:
    """Build a :class:`FakeWaha` from options parsed with :func:`add_arguments`."""
    events = [e.strip() for e in (args.webhook_events or "").split(",") if e.strip()]
    return FakeWaha(
        host=args.host,
        port=args.port,
        api_key=args.api_key or None,
        engine=args.engine,
        sessions=tuple(args.sessions or ("default",)),
        webhook_url=args.webhook_url or None,
        webhook_events=tuple(events),
        webhook_hmac_key=args.webhook_hmac_key or None,
        webhook_retry_attempts=args.webhook_retry_attempts,
        webhook_retry_delay=args.webhook_retry_delay,
        file_expiry=args.file_expiry,
        status_step=args.status_step,
        not_working_wait=args.not_working_wait,
        auto_pair=args.auto_pair,
        check_contracts=args.check_contracts,
    )
