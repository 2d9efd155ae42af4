"""Payloads of the events that come from "the phone": reactions, acks, edits and revokes.

Pure builders, shaped as WEBJS sends them (reference/api-contracts.md §1.7); FakeWaha's
``inject_*`` methods look up state, call one of these, and emit the result.
"""

from __future__ import annotations

from typing import Any

from whatsignal.testing._waha_payloads import (
    ACK_NAMES,
    bare_key,
    chat_id_of,
    normalize_chat_id,
    now_ms,
    serialize_id,
)

__all__ = [
    "ack_payload",
    "edited_payload",
    "message_chat",
    "reaction_payload",
    "reply_summary",
    "revoked_payload",
]


def message_chat(from_: str, chat_id: str | None) -> tuple[str, str | None]:
    """(chat id, group participant) for a message from ``from_``, optionally in a group."""
    sender = normalize_chat_id(from_)
    if chat_id is None:
        return sender, None
    chat = normalize_chat_id(chat_id)
    return chat, (sender if chat.endswith("@g.us") else None)


def chat_of(message_id: str) -> str:
    chat = chat_id_of(message_id)
    if chat is None:
        raise ValueError(f"not a serialized message id: {message_id!r}")
    return chat


def reply_summary(reply_to: str, quoted: dict[str, Any] | None) -> dict[str, Any]:
    """``replyTo`` (ReplyToMessage): the bare key, plus author and body when known."""
    quoted = quoted or {}
    out: dict[str, Any] = {
        "id": bare_key(reply_to),
        "participant": quoted.get("participant") or quoted.get("from"),
        "body": quoted.get("body"),
        "hasMedia": bool(quoted.get("hasMedia", False)),
        "_data": {},
    }
    return {k: v for k, v in out.items() if v is not None}


def reaction_payload(
    *, key: str, me_id: str, from_: str, message_id: str, reaction: str, chat_id: str | None
) -> dict[str, Any]:
    """``message.reaction`` (WAMessageReaction); ``reaction.text == ""`` removes one."""
    chat, participant = message_chat(from_, chat_id or chat_id_of(message_id))
    return {
        "id": serialize_id(False, chat, key, participant),
        "timestamp": now_ms() // 1000,
        "from": chat,
        "fromMe": False,
        "source": "app",
        "to": me_id,
        "participant": participant or normalize_chat_id(from_),
        "reaction": {"text": reaction, "messageId": message_id},
    }


def ack_payload(
    *, me_id: str, message_id: str, ack: int, participant: str | None
) -> tuple[str, dict[str, Any]]:
    """(event, WAMessageAckBody): ``message.ack.group`` when a group member is named."""
    if ack not in ACK_NAMES:
        raise ValueError(f"ack must be one of {sorted(ACK_NAMES)}")
    chat = chat_of(message_id)
    member = normalize_chat_id(participant) if participant else None
    payload: dict[str, Any] = {
        "id": message_id,
        "from": chat,
        "to": me_id,
        "participant": member,
        "fromMe": message_id.startswith("true_"),
        "ack": ack,
        "ackName": ACK_NAMES[ack],
        "_data": {},
    }
    event = "message.ack.group" if member and chat.endswith("@g.us") else "message.ack"
    return event, payload


def _action(
    *, key: str, me_id: str, message_id: str, participant: str | None, body: str
) -> dict[str, Any]:
    """The protocol message that carries an edit or a revoke (its own id, same chat)."""
    chat = chat_of(message_id)
    from_me = message_id.startswith("true_")
    return {
        "id": serialize_id(from_me, chat, key, participant),
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
    }


def edited_payload(
    *, key: str, me_id: str, message_id: str, body: str, original: dict[str, Any] | None
) -> dict[str, Any]:
    """``message.edited``: the edit action with the new ``body`` and ``editedMessageId``."""
    participant = (original or {}).get("participant")
    payload = _action(
        key=key, me_id=me_id, message_id=message_id, participant=participant, body=body
    )
    payload["editedMessageId"] = bare_key(message_id)
    payload["_data"] = {"type": "protocol", "subtype": "message_edit"}
    return payload


def revoked_payload(
    *, key: str, me_id: str, message_id: str, before: dict[str, Any] | None
) -> dict[str, Any]:
    """``message.revoked``: ``after`` is the revoke action (its id is not the revoked
    message's, waha#898), ``before`` the original or null, ``revokedMessageId`` the bare key."""
    participant = before.get("participant") if before else None
    after = _action(key=key, me_id=me_id, message_id=message_id, participant=None, body="")
    after["participant"] = participant
    after["_data"] = {"type": "revoked"}
    return {
        "revokedMessageId": bare_key(message_id),
        "after": after,
        "before": before,
        "_data": {},
    }
