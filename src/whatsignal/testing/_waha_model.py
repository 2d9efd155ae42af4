"""FakeWaha without its HTTP app: the phone side, and the messages and files it remembers.

:class:`WahaModel` is everything :class:`~whatsignal.testing.waha.FakeWaha` knows and does:
the layers below (fields, webhook emitter, session status machine) plus what arrives from
WhatsApp (``inject_*``), the received media it serves, the address book and the messages
that later quotes, edits, revokes and the chat history refer to. The route modules
(:mod:`._waha_app` and the ``_waha_api_*``/``_waha_control`` modules it wires) take a
``WahaModel``, so the HTTP surface depends on the model and never on ``FakeWaha``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import attrs
import trio

from whatsignal.testing._waha_events import (
    ack_payload,
    edited_payload,
    message_chat,
    reaction_payload,
    reply_summary,
    revoked_payload,
)
from whatsignal.testing._waha_payloads import (
    file_extension,
    incoming_message,
    new_message_key,
    now_ms,
    serialize_id,
)
from whatsignal.testing._waha_sessions import WahaSessions
from whatsignal.testing._waha_state import StoredFile, me_for

__all__ = ["InboundEvent", "WahaModel"]

InboundEvent = Literal["message", "message.any", "both"]


@attrs.define(eq=False, kw_only=True)
class WahaModel(WahaSessions):
    """Inbound events, media files, contacts and groups, and the messages the fake has seen."""

    # Media files -----------------------------------------------------------------------------

    def store_file(self, session: str, message_id: str, data: bytes, mimetype: str) -> str:
        """Keep ``data`` under ``/api/files/{session}/{message_id}.{ext}``; returns its URL.

        The URL is written with ``public_url`` when set (as WAHA writes its ``WAHA_BASE_URL``,
        whatever address its clients reach it at), else with the fake's own address. The file
        is served by the fake either way.
        """
        name = f"{message_id}.{file_extension(mimetype)}"
        expires = trio.current_time() + self.file_expiry if self.file_expiry > 0 else math.inf
        self._files[f"{session}/{name}"] = StoredFile(data, mimetype, expires)
        base = (self.public_url or self.url).rstrip("/")
        return f"{base}/api/files/{session}/{name}"

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
        view_once: bool = False,
        sticker: bool = False,
        poll: tuple[str, Sequence[str], bool] | None = None,
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
            view_once: WhatsApp's view-once media (WEBJS engine data ``_data.isViewOnce``).
            sticker: a sticker (WEBJS ``_data.type`` ``sticker``; send the webp as ``media``).
            poll: a poll ``(question, options, multiple answers)``, as WEBJS engine data
                (``_data.type`` ``poll_creation``, ``pollName``, ``pollOptions``).

        Returns:
            The payload (a ``WAMessage``), whose ``id`` tests can quote, react to or ack.
        """
        if event not in ("message", "message.any", "both"):
            raise ValueError("event must be 'message', 'message.any' or 'both'")
        if from_me and event == "message":
            raise ValueError("own messages (from_me) are only delivered as message.any")
        self.session(session)
        chat, participant = message_chat(from_, chat_id)
        key = new_message_key(self.engine_of(session))
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
        if view_once:
            payload["_data"]["isViewOnce"] = True
        if sticker:
            payload["_data"]["type"] = "sticker"
        if poll is not None:
            question, options, multiple = poll
            payload["_data"].update(
                type="poll_creation",
                pollName=question,
                pollOptions=[{"name": o, "localId": n} for n, o in enumerate(options)],
                pollSelectableOptionsCount=0 if multiple else 1,
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
            key=new_message_key(self.engine_of(session)),
            me_id=me_for(session)["id"],
            from_=from_,
            message_id=message_id,
            reaction=reaction,
            chat_id=chat_id,
        )
        self.emit("message.reaction", session, payload)
        return payload

    def inject_presence(
        self,
        session: str = "default",
        *,
        chat_id: str,
        presence: str = "typing",
        participant: str | None = None,
    ) -> dict[str, Any] | None:
        """``participant`` (the chat itself by default) shows ``presence`` (``typing``,
        ``recording``, ``paused``, ``online``, ``offline``) in ``chat_id``: a ``presence.update``
        event, emitted only when the chat's presence is subscribed to (else None), as WAHA."""
        self.session(session)
        if (session, chat_id) not in self.presence_subscriptions:
            return None
        who = {"participant": participant or chat_id, "lastKnownPresence": presence}
        payload = {"id": chat_id, "presences": [{**who, "lastSeen": None}]}
        self.emit("presence.update", session, payload)
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
            key=new_message_key(self.engine_of(session)),
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
            key=new_message_key(self.engine_of(session)),
            me_id=me_for(session)["id"],
            message_id=message_id,
            before=self.message(message_id),
        )
        self.forget(message_id)
        self.emit("message.revoked", session, payload)
        return payload

    def rename_group(
        self, group_id: str, subject: str, *, session: str = "default"
    ) -> dict[str, Any]:
        """Someone renames the group: its subject changes and ``group.v2.update`` carries
        the new one. ValueError when the session has no such group."""
        self.session(session)
        try:
            self.directory.rename_group(session, group_id, subject)
        except KeyError:
            raise ValueError(f"no group {group_id!r} in session {session!r}") from None
        payload = {
            "group": {"id": group_id, "subject": subject},
            "timestamp": now_ms() // 1000,
            "_data": {},
        }
        self.emit("group.v2.update", session, payload)
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

    def add_lid(
        self, lid: str, *, pn: str | None = None, session: str = "default"
    ) -> dict[str, Any]:
        """Pair a LID (``214748364701234@lid`` or digits) with a phone number (``pn``: digits,
        ``+49…`` or a ``@c.us`` id; None: the number is hidden). ``/api/{session}/lids*``
        answer from these pairings."""
        return self.directory.add_lid(lid, pn=pn, session=session)

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

    # Messages the fake has seen --------------------------------------------------------------

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
