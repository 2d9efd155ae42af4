"""Reading WAHA's answers: sessions, the ids of sent messages, contact and group names.

WAHA's answers depend on the engine behind it (WEBJS, NOWEB, GOWS, WPP) more than its
docs say, so each reader here accepts the shapes the engines really send. Wire facts this
module encodes (``shared/reference/api-contracts.md`` section 1):

- send answers are engine-native, not the documented ``WAMessage``: the id is taken from
  ``id`` (string), ``id._serialized`` (WEBJS), ``id.{fromMe,remote,id}``, ``_data.id``, or
  ``key.id`` (NOWEB), and some WEBJS versions answer 201 with an empty body;
- ``GET /api/{session}/groups`` is an array in WEBJS/WPP and an object by group id in
  NOWEB/GOWS; a group's subject may sit in ``groupMetadata``.

Error handling: an answer the bridge relies on (a session, a list) that does not have the
promised shape is an :class:`~whatsignal.errors.ApiError` (see
:func:`~whatsignal.clients._http.malformed`). Names are best effort: an unreadable answer
gives no name rather than an error.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import attrs
import httpx

from whatsignal.clients._http import expect_dict, expect_list, malformed, parse_json

__all__ = [
    "SessionInfo",
    "WebhookConfig",
    "read_contact_name",
    "read_contact_names",
    "read_group_names",
    "read_group_subject",
    "read_sent_id",
    "read_session",
]

# Warnings are logged under the client's name: they are about what WahaClient was told, and
# that is the logger operators see and filter on.
log = logging.getLogger("whatsignal.clients.waha")


@attrs.frozen
class WebhookConfig:
    """One webhook of a session's config, as far as the bridge checks it at start-up."""

    url: str
    events: tuple[str, ...]
    has_hmac: bool = False


@attrs.frozen
class SessionInfo:
    """A WAHA session: its name, status (``WORKING``, ``STARTING``, ...), own account and
    engine (``WEBJS``, ``NOWEB``, ``GOWS``, ``WPP``; None when WAHA did not say)."""

    name: str
    status: str
    me_id: str | None = None
    webhooks: tuple[WebhookConfig, ...] = ()
    engine: str | None = None


# Sessions ------------------------------------------------------------------------------


def read_session(op: str, response: httpx.Response, data: Any) -> SessionInfo:
    """One session object (``GET /api/sessions`` items, ``GET /api/sessions/{name}``).

    Raises:
        ApiError: not an object, no string name and status, or a webhook without a url.
    """
    item = expect_dict(op, response, data)
    name, status = item.get("name"), item.get("status")
    if not isinstance(name, str) or not isinstance(status, str):
        raise malformed(op, response, "a session without a string name and status")
    me = item.get("me")
    me_id = me.get("id") if isinstance(me, dict) else None
    config = item.get("config")
    hooks = config.get("webhooks") if isinstance(config, dict) else None
    webhooks: list[WebhookConfig] = []
    for hook in hooks if isinstance(hooks, list) else ():
        if not isinstance(hook, dict) or not isinstance(hook.get("url"), str):
            raise malformed(op, response, f"session {name!r} has a webhook without a url")
        events = hook.get("events")
        webhooks.append(
            WebhookConfig(
                url=hook["url"],
                events=tuple(e for e in events if isinstance(e, str))
                if isinstance(events, list)
                else (),
                has_hmac=isinstance(hook.get("hmac"), dict) and bool(hook["hmac"].get("key")),
            )
        )
    return SessionInfo(
        name=name,
        status=status,
        me_id=me_id if isinstance(me_id, str) else None,
        webhooks=tuple(webhooks),
        engine=read_engine(item.get("engine")),
    )


def read_engine(value: Any) -> str | None:
    """A session's engine from its ``engine`` field: ``{"engine": "NOWEB"}`` as WAHA lists it
    (the docs' examples; the spec's ``SessionInfo`` does not declare it), or a plain string.
    Anything else is None: not known."""
    if isinstance(value, dict):
        value = value.get("engine")
    if isinstance(value, str) and value.strip():
        return value.strip().upper()
    return None


def read_new_message_id(op: str, response: httpx.Response) -> str:
    """The id of ``GET /api/{session}/new-message-id`` (``NewMessageIDResponse``).

    Raises:
        ApiError: no JSON object with a non-empty string ``id``.
    """
    data = expect_dict(op, response, parse_json(op, response))
    ident = data.get("id")
    if not isinstance(ident, str) or not ident.strip() or len(ident) > 128:
        raise malformed(op, response, "no message id in the answer")
    return ident


# Sent messages -------------------------------------------------------------------------


def read_sent_id(op: str, response: httpx.Response, chat_id: str) -> str:
    """The serialised id of a message WAHA just sent (see the module docstring).

    Returns:
        The id, or ``""`` (with a warning) when WAHA accepted the message but named no id.

    Raises:
        ApiError: a body that is not JSON.
    """
    if not response.content.strip():
        log.warning("%s: WAHA accepted the message but answered without an id", op)
        return ""
    data = parse_json(op, response)
    found = _id_from(data, chat_id) if isinstance(data, dict) else None
    if found is None:
        log.warning("%s: WAHA accepted the message but its answer names no id", op)
        return ""
    return found


def _id_from(data: dict[str, Any], chat_id: str) -> str | None:
    ident = data.get("id")
    if isinstance(ident, str) and ident:
        return ident
    if isinstance(ident, dict):
        serialised = ident.get("_serialized")
        if isinstance(serialised, str) and serialised:
            return serialised
        bare, remote = ident.get("id"), ident.get("remote")
        if isinstance(bare, str) and bare:
            chat = remote if isinstance(remote, str) and remote else chat_id
            return f"{_flag(ident.get('fromMe', True))}_{chat}_{bare}"
    raw = data.get("_data")
    if isinstance(raw, dict):
        found = _id_from(raw, chat_id)
        if found is not None:
            return found
    key = data.get("key")
    if isinstance(key, dict):
        bare = key.get("id")
        if isinstance(bare, str) and bare:
            # NOWEB: remoteJid uses @s.whatsapp.net; the chat id the bridge addressed is the
            # form WAHA's webhooks use for the same chat.
            return f"{_flag(key.get('fromMe', True))}_{chat_id}_{bare}"
    return None


def _flag(value: Any) -> str:
    return "false" if value is False else "true"


# Names ---------------------------------------------------------------------------------


def read_contact_name(response: httpx.Response) -> str | None:
    """The best name in a ``GET /api/contacts`` answer, or None.

    Prefers the saved contact name, then the contact's own push name, then the short name.
    """
    data = _json_or_none(response)
    if not isinstance(data, dict):
        return None
    return _first_text(data, "name", "pushname", "pushName", "shortName", "verifiedName")


def read_group_subject(response: httpx.Response) -> str | None:
    """The subject in a ``GET /api/{session}/groups/{id}`` answer, or None."""
    data = _json_or_none(response)
    if not isinstance(data, dict):
        return None
    name = _first_text(data, "subject", "name")
    if name is None and isinstance(data.get("groupMetadata"), dict):
        name = _first_text(data["groupMetadata"], "subject", "name")
    return name


def read_contact_names(op: str, response: httpx.Response) -> dict[str, str]:
    """``{contact_id: name}`` from ``GET /api/contacts/all``; contacts without a name are left out.

    Raises:
        ApiError: the answer is not a JSON array.
    """
    names: dict[str, str] = {}
    for item in expect_list(op, response, parse_json(op, response)):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        name = _first_text(item, "name", "pushname", "pushName", "shortName")
        if name:
            names[item["id"]] = name
    return names


def read_group_names(op: str, response: httpx.Response) -> dict[str, str]:
    """``{group_id: subject}`` from ``GET /api/{session}/groups`` in either engine's shape.

    Raises:
        ApiError: the answer is neither a JSON array nor an object.
    """
    data = parse_json(op, response)
    items = list(data.values()) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise malformed(op, response, "expected an array or an object of groups")
    names: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        raw_id = item.get("id")
        group_id = raw_id.get("_serialized") if isinstance(raw_id, dict) else raw_id
        meta_raw = item.get("groupMetadata")
        meta: dict[str, Any] = meta_raw if isinstance(meta_raw, dict) else {}
        name = _first_text(item, "subject", "name") or _first_text(meta, "subject", "name")
        if isinstance(group_id, str) and name:
            names[group_id] = name
    return names


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _first_text(data: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
