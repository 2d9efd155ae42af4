"""What FakeWaha says on the wire: ids, error bodies, message payloads, send responses.

Pure functions, no state and no I/O, so every shape is easy to read next to the upstream
source it imitates (cited per function; see also reference/api-contracts.md §1).
"""

from __future__ import annotations

import mimetypes
import secrets
import time
from typing import Any

__all__ = [
    "ACK_NAMES",
    "ENGINES",
    "ID_ENGINES",
    "VERSION",
    "bad_request",
    "bare_key",
    "chat_id_of",
    "environment",
    "file_extension",
    "file_not_found",
    "incoming_message",
    "new_message_key",
    "new_ulid",
    "not_found",
    "send_response",
    "serialize_id",
    "session_not_working",
    "unauthorized",
]

VERSION = "2026.7.1"
"""The WAHA release whose spec is vendored; reported by ``/api/server/version``."""

ENGINES = ("WEBJS", "NOWEB", "GOWS", "WPP")
ID_ENGINES = frozenset({"NOWEB", "GOWS"})
"""The engines that honour a pre-generated message ``id`` in a send (the others ignore it)."""

ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"

# WAHA names files with the `mime-types` package's extension (image/jpeg -> jpeg, voice -> oga).
_EXTENSIONS = {
    "image/jpeg": "jpeg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "audio/ogg": "oga",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "video/mp4": "mp4",
    "application/pdf": "pdf",
}


def now_ms() -> int:
    return int(time.time() * 1000)


def new_ulid(ms: int | None = None) -> str:
    """A lower-case ULID (48-bit ms time, 80 random bits, Crockford base32): WAHA's event ids."""
    value = ((now_ms() if ms is None else ms) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_message_key(engine: str) -> str:
    """A fresh engine-native message key.

    WEBJS/WPP keys are 32 upper-case hex digits (as in the docs' ``true_…@c.us_AAAA…`` ids);
    NOWEB (Baileys) and GOWS (whatsmeow) generate ``3EB0`` followed by 18 upper-case hex digits.
    """
    if engine in ("NOWEB", "GOWS"):
        return "3EB0" + secrets.token_hex(9).upper()
    return secrets.token_hex(16).upper()


def serialize_id(from_me: bool, chat_id: str, key: str, participant: str | None = None) -> str:
    """``{fromMe}_{chatId}_{key}[_{participant}]`` (WAMessage.id)."""
    base = f"{'true' if from_me else 'false'}_{chat_id}_{key}"
    return f"{base}_{participant}" if participant else base


def bare_key(message_id: str) -> str:
    """The engine key inside a serialized id (what ``replyTo.id`` and ``revokedMessageId`` hold)."""
    parts = message_id.split("_")
    if len(parts) >= 3 and parts[0] in ("true", "false"):
        return parts[2]
    return message_id


def chat_id_of(message_id: str) -> str | None:
    parts = message_id.split("_")
    if len(parts) >= 3 and parts[0] in ("true", "false"):
        return parts[1]
    return None


def normalize_chat_id(value: str) -> str:
    """``+49 171 1234567`` / ``491711234567`` -> ``491711234567@c.us``; ids with ``@`` pass."""
    if "@" in value:
        return value
    digits = "".join(ch for ch in value if ch.isdigit())
    if not digits:
        raise ValueError(f"not a phone number or chat id: {value!r}")
    return f"{digits}@c.us"


def file_extension(mimetype: str) -> str:
    base = mimetype.split(";")[0].strip().lower()
    if base in _EXTENSIONS:
        return _EXTENSIONS[base]
    guessed = mimetypes.guess_extension(base)
    return guessed.lstrip(".") if guessed else "bin"


def environment(engine: str) -> dict[str, Any]:
    """``WAHAEnvironment`` as ``/api/server/version`` and every webhook report it."""
    return {
        "version": VERSION,
        "engine": engine,
        "tier": "CORE",
        "browser": "/usr/bin/google-chrome-stable",
        "platform": "linux/x64",
        "worker": {"id": None},
    }


# Error bodies --------------------------------------------------------------------------------


def unauthorized() -> dict[str, Any]:
    """Nest ``UnauthorizedException`` as WAHA's API-key middleware raises it (waha#1802)."""
    return {"message": "Unauthorized", "statusCode": 401}


def bad_request(messages: list[str] | str) -> dict[str, Any]:
    """Nest ``ValidationPipe`` failure (WAHAValidationPipe): a list of class-validator messages."""
    return {"message": messages, "error": "Bad Request", "statusCode": 400}


def not_found(message: str) -> dict[str, Any]:
    return {"message": message, "error": "Not Found", "statusCode": 404}


def unprocessable(message: str) -> dict[str, Any]:
    return {"message": message, "error": "Unprocessable Entity", "statusCode": 422}


def session_not_working(name: str, status: str) -> dict[str, Any]:
    """422 for a session that did not reach WORKING in time (manager.abc.ts waitUntilStatus)."""
    return {
        "error": "Session status is not as expected. Try again later or restart the session",
        "session": name,
        "status": status,
        "expected": ["WORKING"],
    }


def file_not_found() -> dict[str, Any]:
    """404 of local media storage for an expired or unknown file (AllExceptionsFilter)."""
    return {
        "error": {
            "code": 404,
            "key": "FILE_NOT_FOUND",
            "message": "File not found",
            "details": "File not found or no longer available",
        }
    }


def error_for_status(status: int) -> dict[str, Any]:
    """A plausible WAHA error body for an injected fault status."""
    names = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        422: "Unprocessable Entity",
        429: "Too Many Requests",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
    }
    if status >= 500:
        return {
            "statusCode": status,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "exception": {"message": "injected fault", "name": "Error", "stack": ""},
            "version": VERSION,
        }
    return {"message": names.get(status, "Error"), "statusCode": status}


# Messages ------------------------------------------------------------------------------------


def _webjs_data(
    *,
    key: str,
    serialized: str,
    from_me: bool,
    chat_id: str,
    from_id: str,
    to_id: str,
    body: str,
    kind: str,
    ts: int,
    notify_name: str | None,
    participant: str | None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": {"fromMe": from_me, "remote": chat_id, "id": key, "_serialized": serialized},
        "body": body,
        "type": kind,
        "t": ts,
        "from": from_id,
        "to": to_id,
        "ack": 1,
        "isNewMsg": True,
    }
    if participant:
        data["id"]["participant"] = participant
        data["author"] = participant
    if notify_name is not None:
        data["notifyName"] = notify_name
    return data


def media_kind(mimetype: str | None) -> str:
    if not mimetype:
        return "chat"
    if mimetype.startswith("audio/ogg"):
        return "ptt"
    for prefix, kind in (("image/", "image"), ("video/", "video"), ("audio/", "audio")):
        if mimetype.startswith(prefix):
            return kind
    return "document"


def incoming_message(
    *,
    key: str,
    chat_id: str,
    me_id: str,
    from_me: bool,
    body: str,
    ts: int,
    participant: str | None,
    notify_name: str | None,
    media: dict[str, Any] | None,
    reply_to: dict[str, Any] | None,
    source: str,
) -> dict[str, Any]:
    """A WEBJS ``WAMessage`` as a ``message``/``message.any`` payload.

    Group messages carry the sender in ``participant`` and ``author`` and the ``_participant``
    suffix on the id; 1:1 messages have ``participant: null`` (waha#1073). ``mediaUrl`` appears
    only with media. ``timestamp`` is in seconds.
    """
    serialized = serialize_id(from_me, chat_id, key, participant)
    from_id, to_id = (me_id, chat_id) if from_me else (chat_id, me_id)
    payload: dict[str, Any] = {
        "id": serialized,
        "timestamp": ts,
        "from": from_id,
        "fromMe": from_me,
        "source": source,
        "to": to_id,
        "participant": participant,
        "body": body,
        "hasMedia": media is not None,
        "media": media,
        "ack": 1,
        "ackName": ACK_NAMES[1],
        "vCards": [],
        "replyTo": reply_to,
        "_data": _webjs_data(
            key=key,
            serialized=serialized,
            from_me=from_me,
            chat_id=chat_id,
            from_id=from_id,
            to_id=to_id,
            body=body,
            kind=media_kind(media["mimetype"] if media else None),
            ts=ts,
            notify_name=notify_name,
            participant=participant,
        ),
    }
    if participant:
        payload["author"] = participant
    if media is not None:
        payload["mediaUrl"] = media["url"]
    else:
        del payload["media"]
    if reply_to is None:
        del payload["replyTo"]
    return payload


def send_response(
    engine: str,
    *,
    key: str,
    chat_id: str,
    me_id: str,
    body: str,
    ts: int,
    kind: str,
    reply_to: str | None,
) -> dict[str, Any]:
    """The engine-native object a send endpoint answers (deviation engine-native-send-response).

    WEBJS answers whatsapp-web.js's serialized ``Message`` (``id._serialized``, waha#1464), NOWEB
    the Baileys ``WebMessageInfo`` (``key.id``, ``status: PENDING``, waha#760). GOWS and WPP, for
    which no upstream sample is at hand, answer the spec's ``WAMessage``.
    """
    serialized = serialize_id(True, chat_id, key)
    if engine == "WEBJS":
        return {
            "id": {"fromMe": True, "remote": chat_id, "id": key, "_serialized": serialized},
            "ack": 0,
            "hasMedia": kind != "chat",
            "body": body,
            "type": kind,
            "timestamp": ts,
            "from": me_id,
            "to": chat_id,
            "deviceType": "web",
            "isForwarded": False,
            "hasQuotedMsg": reply_to is not None,
            "_data": {
                "id": {"fromMe": True, "remote": chat_id, "id": key, "_serialized": serialized},
                "body": body,
                "type": kind,
                "t": ts,
                "ack": 0,
            },
        }
    if engine == "NOWEB":
        jid = chat_id.replace("@c.us", "@s.whatsapp.net")
        message: dict[str, Any] = (
            {"extendedTextMessage": {"text": body}}
            if kind == "chat"
            else {f"{kind}Message": {"caption": body}}
        )
        return {
            "key": {"remoteJid": jid, "fromMe": True, "id": key},
            "message": message,
            "messageTimestamp": str(ts),
            "status": "PENDING",
        }
    return {
        "id": serialized,
        "timestamp": ts,
        "from": me_id,
        "fromMe": True,
        "source": "api",
        "to": chat_id,
        "participant": None,
        "body": body,
        "hasMedia": kind != "chat",
        "ack": 0,
        "ackName": ACK_NAMES[0],
    }
