"""Build signal-cli receive envelopes the way signal-cli 0.14 prints them.

The shapes follow the ``receive.*`` definitions of the signal-cli-rest-api swagger and the JSON
that signal-cli's ``--output json`` / JSON-RPC ``receive`` notifications really carry. Where the
two disagree the real output wins: signal-cli prints absent optional values as ``null``
(``sourceNumber`` of a user who hides their number, ``message`` of a reaction, an attachment's
``filename``), while the swagger types them as plain strings. :func:`strip_nulls` removes those
before a contract check; docs/simulators.md lists the deviation.

Everything here is pure: no I/O, no trio. The simulator decides where an envelope goes;
:func:`dumps` prints it (or any JSON the fake answers) compactly, as upstream does.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from whatsignal.testing import _json

__all__ = [
    "GROUP_PREFIX",
    "Group",
    "Person",
    "dumps",
    "group_id_of",
    "internal_group_id",
    "strip_nulls",
]

GROUP_PREFIX = "group."

# A fixed namespace, so the uuid of a number is the same in every run and every process: a test
# can compute it without asking the simulator.
_UUID_NAMESPACE = uuid.UUID("6f0d7a7e-2b8e-4f57-9a0c-1d8f4b2a9c31")


def stable_uuid(number: str) -> str:
    """The service id (ACI) the simulator gives ``number``: stable across runs.

    ``uuid5`` of the number, computed on its UTF-8 bytes so that any string a test passes as a
    sender (lone surrogates included) gets one.
    """
    digest = hashlib.sha1(_UUID_NAMESPACE.bytes + _json.utf8(number), usedforsecurity=False)
    return str(uuid.UUID(bytes=digest.digest()[:16], version=5))


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def internal_group_id(name: str) -> str:
    """A realistic internal group id (base64 of 32 bytes) derived from a group name."""
    return base64.b64encode(hashlib.sha256(_json.utf8(name)).digest()).decode()


def group_id_of(internal_id: str) -> str:
    """The REST API's group id (``group.`` + base64 of the internal id), used to send."""
    return GROUP_PREFIX + base64.b64encode(_json.utf8(internal_id)).decode()


def internal_from_group_id(group_id: str) -> str | None:
    """The internal id inside a ``group.<...>`` id, or None when it is not a valid group id.

    A valid id decodes twice to 32 bytes (the rule signal-cli-rest-api's ``getRecipientType``
    applies), so an internal id passed by mistake is refused like upstream refuses it.
    """
    try:
        once = base64.b64decode(group_id.removeprefix(GROUP_PREFIX), validate=True).decode()
        twice = base64.b64decode(once, validate=True)
    except ValueError:
        return None
    return once if len(twice) == 32 else None


@attrs.frozen
class Person:
    """A Signal user the simulator knows: number (None when hidden), uuid, profile name."""

    number: str | None
    uuid: str
    name: str

    @property
    def address(self) -> str:
        """What signal-cli puts in ``source``: the number, or the uuid when it is hidden."""
        return self.number if self.number is not None else self.uuid


@attrs.frozen
class Group:
    """A Signal group the registered numbers are members of."""

    internal_id: str
    name: str
    members: tuple[str, ...] = ()
    description: str = ""
    pending_invites: tuple[str, ...] = ()
    admins: tuple[str, ...] | None = None
    """None: the first member (a group the test made); else as created or changed."""
    permissions: Mapping[str, str] = attrs.field(
        factory=lambda: {
            "add_members": "only-admins",
            "edit_group": "only-admins",
            "send_messages": "every-member",
        }
    )
    group_link: str = "disabled"
    avatar: bytes | None = attrs.field(default=None, repr=False)

    @property
    def id(self) -> str:
        return group_id_of(self.internal_id)

    def entry(self) -> dict[str, Any]:
        """The ``client.GroupEntry`` shape of ``GET /v1/groups/{number}``."""
        admins = self.admins if self.admins is not None else self.members[:1]
        link = "" if self.group_link == "disabled" else f"https://signal.group/#{self.internal_id}"
        return {
            "name": self.name,
            "description": self.description,
            "id": self.id,
            "internal_id": self.internal_id,
            "members": list(self.members),
            "blocked": False,
            "pending_invites": list(self.pending_invites),
            "pending_requests": [],
            "invite_link": link,
            "admins": list(admins),
            "member": True,
            "permissions": dict(self.permissions),
        }


def envelope(
    sender: Person,
    timestamp: int,
    *,
    device: int = 1,
    **content: Any,
) -> dict[str, Any]:
    """The envelope around one message; ``content`` is dataMessage, receiptMessage, ..."""
    env: dict[str, Any] = {
        "source": sender.address,
        "sourceNumber": sender.number,
        "sourceUuid": sender.uuid,
        "sourceName": sender.name,
        "sourceDevice": device,
        "timestamp": timestamp,
        # The server stamps arrival a little after the sender's clock, and delivery after that.
        "serverReceivedTimestamp": timestamp + 37,
        "serverDeliveredTimestamp": timestamp + 52,
    }
    env.update(content)
    return env


def data_message(
    timestamp: int,
    *,
    message: str | None = None,
    quote: Mapping[str, Any] | None = None,
    reaction: Mapping[str, Any] | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
    group: Group | None = None,
    remote_delete: int | None = None,
    mentions: Sequence[Mapping[str, Any]] = (),
    view_once: bool = False,
) -> dict[str, Any]:
    """A ``receive.DataMessage``: only the parts signal-cli prints for this kind of message."""
    data: dict[str, Any] = {
        "timestamp": timestamp,
        "message": message,
        "expiresInSeconds": 0,
        "viewOnce": view_once,
    }
    if reaction is not None:
        data["reaction"] = dict(reaction)
    if quote is not None:
        data["quote"] = dict(quote)
    if mentions:
        data["mentions"] = [dict(m) for m in mentions]
    if attachments:
        data["attachments"] = [dict(a) for a in attachments]
    if group is not None:
        data["groupInfo"] = {
            "groupId": group.internal_id,
            "groupName": group.name,
            "revision": 1,
            "type": "DELIVER",
        }
    if remote_delete is not None:
        data["remoteDelete"] = {"timestamp": remote_delete}
    return data


def quote(target: int, author: Person, text: str | None) -> dict[str, Any]:
    """A ``receive.Quote`` of the message ``target`` written by ``author``."""
    return {
        "id": target,
        "author": author.address,
        "authorNumber": author.number,
        "authorUuid": author.uuid,
        "text": text,
        "attachments": [],
    }


def reaction(emoji: str, target: int, author: Person, *, remove: bool) -> dict[str, Any]:
    """A ``receive.Reaction`` to the message ``target`` written by ``author``."""
    return {
        "emoji": emoji,
        "targetAuthor": author.address,
        "targetAuthorNumber": author.number,
        "targetAuthorUuid": author.uuid,
        "targetSentTimestamp": target,
        "isRemove": remove,
    }


def attachment(
    attachment_id: str, content_type: str, filename: str | None, size: int, uploaded: int
) -> dict[str, Any]:
    """A ``receive.Attachment`` pointing at a file ``GET /v1/attachments/{id}`` serves."""
    return {
        "contentType": content_type,
        "filename": filename,
        "id": attachment_id,
        "size": size,
        "uploadTimestamp": uploaded,
    }


def receipt(kind: str, when: int, timestamps: Sequence[int]) -> dict[str, Any]:
    """A ``receive.ReceiptMessage``: ``kind`` is delivery, read or viewed."""
    return {
        "when": when,
        "isDelivery": kind == "delivery",
        "isRead": kind == "read",
        "isViewed": kind == "viewed",
        "timestamps": list(timestamps),
    }


def typing(action: str, timestamp: int, group: Group | None) -> dict[str, Any]:
    """A ``receive.TypingMessage`` (``action`` STARTED or STOPPED)."""
    out: dict[str, Any] = {"action": action, "timestamp": timestamp}
    if group is not None:
        out["groupId"] = group.internal_id
    return out


def sync_sent(
    destination: Person, timestamp: int, message: str | None, group: Group | None
) -> dict[str, Any]:
    """A ``receive.SyncMessage`` for a message the account owner sent from another device."""
    sent: dict[str, Any] = {
        "destination": None if group else destination.address,
        "destinationNumber": None if group else destination.number,
        "destinationUuid": None if group else destination.uuid,
        "timestamp": timestamp,
        "message": message,
        "expiresInSeconds": 0,
        "viewOnce": False,
    }
    if group is not None:
        sent["groupInfo"] = {
            "groupId": group.internal_id,
            "groupName": group.name,
            "revision": 1,
            "type": "DELIVER",
        }
    return {"sentMessage": sent}


def strip_nulls(value: Any) -> Any:
    """A copy without ``null`` members, for checking against the swagger (see module doc)."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Compact UTF-8 JSON, as Go's encoding/json and Java's Jackson print it.

    Lone surrogates a test injected are written as ``\\udXXX`` escapes, so the text always
    encodes (see :func:`whatsignal.testing._json.dumps`); NaN and other non-JSON values raise
    :class:`~whatsignal.testing._json.JsonError`.
    """
    return _json.dumps(value, max_depth=None)
