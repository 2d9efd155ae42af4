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

import math
from collections.abc import Sequence
from typing import Any, Literal, cast

import attrs
import httpx
import trio

from whatsignal.testing._common import ASGIApp, Fault, Recorded, SimulatorBase
from whatsignal.testing._waha_cli import add_arguments, from_args
from whatsignal.testing._waha_contract import WahaChecker
from whatsignal.testing._waha_directory import Directory
from whatsignal.testing._waha_events import (
    ack_payload,
    edited_payload,
    message_chat,
    reaction_payload,
    reply_summary,
    revoked_payload,
)
from whatsignal.testing._waha_payloads import (
    ENGINES,
    environment,
    error_for_status,
    file_extension,
    incoming_message,
    new_message_key,
    new_ulid,
    now_ms,
    serialize_id,
)
from whatsignal.testing._waha_state import STATUSES, Session, StoredFile, me_for
from whatsignal.testing._waha_webhooks import (
    DEFAULT_EVENTS,
    Delivery,
    WebhookTarget,
    deliver,
    encode,
)
from whatsignal.testing.contract import ContractViolation

__all__ = ["DEFAULT_EVENTS", "FakeWaha", "add_arguments", "from_args"]

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
    _history: dict[str, list[str]] = attrs.field(init=False, factory=dict)
    directory: Directory = attrs.field(init=False)
    """Contacts and groups of every session (see also :meth:`add_contact`, :meth:`add_group`)."""
    _delivered: trio.Event = attrs.field(init=False, factory=trio.Event)
    _client: httpx.AsyncClient | None = attrs.field(init=False, default=None)
    _checker: WahaChecker | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self.directory = Directory(self.engine)
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
        self._history.clear()
        self.directory = Directory(self.engine)
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
        chat, participant = message_chat(from_, chat_id)
        key = new_message_key(self.engine)
        media_obj: dict[str, Any] | None = None
        if media is not None:
            mimetype = mimetype or "application/octet-stream"
            serialized = serialize_id(from_me, chat, key, participant)
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
            reply_to=reply_summary(reply_to, self.message(reply_to)) if reply_to else None,
            source="app",
        )
        self.remember(payload, session)
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
        payload = reaction_payload(
            key=new_message_key(self.engine),
            me_id=me_for(session)["id"],
            from_=from_,
            message_id=message_id,
            reaction=reaction,
            chat_id=chat_id,
        )
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
        """A receipt for ``message_id`` (ack -1..4): ``message.ack``, or ``message.ack.group``
        when ``participant`` names the group member who read it."""
        self.session(session)
        event, payload = ack_payload(
            me_id=me_for(session)["id"], message_id=message_id, ack=ack, participant=participant
        )
        self.emit(event, session, payload)
        return payload

    def inject_edit(
        self, session: str = "default", *, message_id: str, body: str
    ) -> dict[str, Any]:
        """The author of ``message_id`` edits it to ``body`` (``message.edited``)."""
        self.session(session)
        original = self.message(message_id)
        payload = edited_payload(
            key=new_message_key(self.engine),
            me_id=me_for(session)["id"],
            message_id=message_id,
            body=body,
            original=original,
        )
        if original is not None:
            self.remember({**original, "body": body})
        self.emit("message.edited", session, payload)
        return payload

    def inject_revoke(self, session: str = "default", *, message_id: str) -> dict[str, Any]:
        """The author deletes ``message_id`` for everyone (``message.revoked``); ``before``
        holds the original when the fake saw it, else null."""
        self.session(session)
        payload = revoked_payload(
            key=new_message_key(self.engine),
            me_id=me_for(session)["id"],
            message_id=message_id,
            before=self.message(message_id),
        )
        self.forget(message_id)
        self.emit("message.revoked", session, payload)
        return payload

    # Contacts and groups (see Directory) -----------------------------------------------------

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
        return self.directory.add_contact(
            number, session=session, name=name, pushname=pushname, picture_url=picture_url
        )

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
        return self.directory.add_group(
            subject,
            session=session,
            participants=participants,
            admins=admins,
            group_id=group_id,
        )

    # Messages the fake has seen ---------------------------------------------------------------

    def remember(self, payload: dict[str, Any], session: str | None = None) -> None:
        """Keep a message so later quotes, edits and revokes can refer to it, and so the chat
        history (``GET /api/{session}/chats/{chatId}/messages``) lists it."""
        self._messages[payload["id"]] = payload
        if session is not None:
            self._history.setdefault(session, []).append(payload["id"])

    def history(
        self,
        session: str,
        chat_id: str,
        *,
        since: float | None = None,
        until: float | None = None,
        from_me: bool | None = None,
    ) -> list[dict[str, Any]]:
        """The session's messages of one chat, newest first (WAHA's default order)."""
        found: list[tuple[float, int, dict[str, Any]]] = []
        for order, message_id in enumerate(self._history.get(session, [])):
            message = self._messages.get(message_id)
            if message is None:
                continue
            chat = message.get("to") if message.get("fromMe") else message.get("from")
            if chat != chat_id:
                continue
            stamp = message.get("timestamp") or 0
            if since is not None and stamp < since:
                continue
            if until is not None and stamp > until:
                continue
            if from_me is not None and bool(message.get("fromMe")) != from_me:
                continue
            found.append((stamp, order, message))
        # Newest first; messages of the same second in the order they were written, reversed.
        return [message for _, _, message in sorted(found, key=lambda f: f[:2], reverse=True)]

    def message(self, message_id: str) -> dict[str, Any] | None:
        """A message the fake has seen (injected or sent), by serialized id."""
        return self._messages.get(message_id)

    def forget(self, message_id: str) -> None:
        self._messages.pop(message_id, None)
