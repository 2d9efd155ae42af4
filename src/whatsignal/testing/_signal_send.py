"""What signal-cli-rest-api checks before it sends, with its error texts.

The REST API is a thin Go layer over signal-cli: gin decodes the JSON body into a struct (a
wrong JSON type fails the whole request with ``Couldn't process request - invalid request``; a
missing or ``null`` field becomes the Go zero value), the handler checks a few fields with its
own texts, and everything else is signal-cli's verdict, passed through as ``{"error": ...}``.
This module reproduces those three layers as pure functions.

Sources: signal-cli-rest-api ``src/api/api.go`` (handler texts), ``src/client/client.go``
(``getRecipientType``, recipient mixing rules, link preview checks), ``src/client/attachment.go``
(the three ``base64_attachments`` forms), signal-cli ``SendCommand`` (empty message text).
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from collections.abc import Mapping
from typing import Any

import attrs

from whatsignal.testing._signal_envelopes import GROUP_PREFIX, is_uuid

__all__ = [
    "INVALID_REQUEST",
    "DecodedAttachment",
    "RequestError",
    "SentMessage",
    "check_link_preview",
    "classify_recipients",
    "decode_attachment",
    "go_type_errors",
    "go_zero_fill",
    "sniff_mime",
]

INVALID_REQUEST = "Couldn't process request - invalid request"
EMPTY_MESSAGE = (
    "Sending empty message is not allowed, either a message, attachment or sticker must be given."
)
RATE_LIMIT = (
    "Failed to send message due to rate limiting. Use the attached challenge tokens to lift the "
    "rate limit restrictions via the '/v1/accounts/{number}/rate-limit-challenge' endpoint."
)

_PHONE = re.compile(r"^\+[0-9]{4,15}$")
_B64_ALPHABET = set(string.ascii_letters + string.digits + "+/=")


class RequestError(Exception):
    """A request upstream refuses: the status and the ``error`` text it answers with."""

    def __init__(self, text: str, status: int = 400) -> None:
        super().__init__(text)
        self.text = text
        self.status = status


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _type_ok(kind: str, value: Any) -> bool:
    if value is None:  # Go decodes null into the zero value without complaint.
        return True
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        # Go decodes an int64 from the number's text: `1.0` and `1e3` are refused like `1.5`.
        return False
    return isinstance(value, _JSON_TYPES.get(kind, (object,)))


def go_type_errors(schema: Mapping[str, Any], body: Any, resolve: Any) -> list[str]:
    """Where ``body`` could not be decoded into the Go struct the schema describes.

    Only JSON types matter here (that is all ``encoding/json`` checks); ``required`` lists and
    enums do not, see :func:`go_zero_fill`. ``resolve`` turns a ``$ref`` into its schema.
    """
    if "$ref" in schema:
        schema = resolve(schema["$ref"])
    kind = schema.get("type")
    if kind is not None and not _type_ok(kind, body):
        return [f"expected {kind}, got {type(body).__name__}"]
    problems: list[str] = []
    if isinstance(body, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in body:
                problems += [f"{key}: {p}" for p in go_type_errors(sub, body[key], resolve)]
    elif isinstance(body, list) and "items" in schema:
        for i, item in enumerate(body):
            problems += [f"[{i}]: {p}" for p in go_type_errors(schema["items"], item, resolve)]
    return problems


_ZERO: dict[str, Any] = {
    "string": "",
    "integer": 0,
    "number": 0,
    "boolean": False,
}


def go_zero_fill(schema: Mapping[str, Any], body: dict[str, Any], resolve: Any) -> dict[str, Any]:
    """``body`` as the Go handler sees it: absent or null scalar fields become zero values.

    The swagger was generated with ``--requiredByDefault``, so its top-level ``required`` lists
    name fields the handler treats as optional (``message`` of ``/v2/send``). Filling them the
    way Go does lets the rest of the schema (types, enums, nested objects) be checked strictly.
    Arrays and objects stay absent: Go leaves them nil and ``omitempty`` would not print them.
    """
    properties = schema.get("properties", {})
    # An empty string is Go's zero value: an enum field holding it is unset to the handler.
    out = {
        k: v
        for k, v in body.items()
        if v is not None and not (v == "" and "enum" in properties.get(k, {}))
    }
    for key, value in out.items():
        items = properties.get(key, {}).get("items", {})
        if isinstance(value, list) and items.get("type") in _ZERO:
            # A null inside a []string (or []int64) decodes to the zero value as well.
            out[key] = [_ZERO[items["type"]] if v is None else v for v in value]
    for key in schema.get("required", ()):
        if key in out:
            continue
        sub = schema.get("properties", {}).get(key, {})
        if "$ref" in sub:
            sub = resolve(sub["$ref"])
        kind = sub.get("type")
        if kind in _ZERO:
            out[key] = _ZERO[kind]
    return out


def classify_recipients(recipients: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Split recipients into (group ids, numbers or uuids, usernames) like upstream does.

    Raises:
        RequestError: a malformed group id, or a mix upstream refuses (groups with numbers,
            groups with usernames, numbers with usernames, more than one group).
    """
    groups: list[str] = []
    numbers: list[str] = []
    usernames: list[str] = []
    for recipient in recipients:
        if recipient.startswith(GROUP_PREFIX):
            rest = recipient.removeprefix(GROUP_PREFIX)
            try:
                once = base64.b64decode(rest, validate=True)
            except binascii.Error:
                if len(rest) <= 10:
                    usernames.append(recipient)
                    continue
                raise RequestError(f"Invalid identifier {recipient}") from None
            try:
                twice = base64.b64decode(once, validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(f"Invalid identifier {recipient}") from None
            if len(twice) != 32:
                # Sic: upstream's text has no closing parenthesis.
                raise RequestError(f"Invalid Signal group size ({len(twice)}")
            groups.append(recipient)
        elif _PHONE.match(recipient) or is_uuid(recipient):
            numbers.append(recipient)
        else:
            usernames.append(recipient)
    if numbers and groups:
        raise RequestError(
            "Signal Messenger Groups and phone numbers cannot be specified together in one "
            "request! Please split them up into multiple REST API calls."
        )
    if usernames and groups:
        raise RequestError(
            "Signal Messenger Groups and usernames cannot be specified together in one "
            "request! Please split them up into multiple REST API calls."
        )
    if numbers and usernames:
        raise RequestError(
            "Signal Messenger phone numbers and usernames cannot be specified together in one "
            "request! Please split them up into multiple REST API calls."
        )
    if len(groups) > 1:
        raise RequestError(
            "A signal message cannot be sent to more than one group at once! Please use "
            "multiple REST API calls for that."
        )
    return groups, numbers, usernames


def check_link_preview(message: str, preview: Any) -> None:
    """The link preview checks of ``client.go``, with their texts (no preview: no check)."""
    if not preview:
        return
    url = preview.get("url") or ""
    if not url:
        raise RequestError("Please provide a valid Link Preview URL")
    if not url.startswith("https"):
        raise RequestError("Link Preview URL must start with https://..")
    if not preview.get("title"):
        raise RequestError("Please provide a valid Link Preview Title")
    if url not in message:
        raise RequestError("Link Preview URL is missing in the message!")


@attrs.frozen
class DecodedAttachment:
    """One ``base64_attachments`` entry as the recipient's phone would get it."""

    data: bytes
    content_type: str
    filename: str | None


def _go_base64(text: str) -> bytes:
    """Strict standard base64 like Go's ``StdEncoding``; the error text is Go's."""
    for i, ch in enumerate(text):
        if ch not in _B64_ALPHABET:
            raise RequestError(f"illegal base64 data at input byte {i}")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise RequestError(f"illegal base64 data at input byte {len(text)}") from None


def decode_attachment(entry: str) -> DecodedAttachment:
    """Decode one entry in any of the three upstream forms.

    ``<base64>``, ``data:<mime>;base64,<base64>`` and ``data:<mime>;filename=<name>;base64,
    <base64>``. As upstream: the data starts after the LAST ``base64,``; the metadata before it
    is split on ``;`` and read for ``data:`` and ``filename=``. Without a mime type the content
    is sniffed; without a filename the recipient sees none (upstream names the temporary file
    ``<uuid><ext>``, which signal-cli does not transmit as a name).
    """
    cut = entry.rfind("base64,")
    if "data:" not in entry or cut == -1:
        data = _go_base64(entry)
        return DecodedAttachment(data, sniff_mime(data), None)
    data = _go_base64(entry[cut + len("base64,") :])
    mime = ""
    filename = ""
    for part in entry[:cut].split(";"):
        if "data:" in part:
            mime = part[part.index("data:") + len("data:") :]
        if "filename=" in part:
            filename = part[part.index("filename=") + len("filename=") :]
    return DecodedAttachment(data, mime or sniff_mime(data), filename or None)


_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
    (b"ftyp", 4, "video/mp4"),
    (b"PK\x03\x04", 0, "application/zip"),
)


def sniff_mime(data: bytes) -> str:
    """The content type from the bytes, as upstream serves attachments (it sniffs, too).

    Upstream uses gabriel-vasile/mimetype, which knows hundreds of formats; this knows the
    ones a chat bridge meets and says ``application/octet-stream`` otherwise.
    """
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, offset, mime in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return mime
    try:
        text = data[:512].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    if all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


@attrs.frozen
class SentMessage:
    """A message the bridge sent through ``POST /v2/send``, decoded for assertions."""

    timestamp: int
    number: str
    recipients: tuple[str, ...]
    message: str
    attachments: tuple[DecodedAttachment, ...] = ()
    quote_timestamp: int | None = None
    quote_author: str | None = None
    quote_message: str | None = None
    edit_timestamp: int | None = None
    text_styles: tuple[tuple[int, int, str], ...] = ()
    """With ``text_mode: "styled"``: the ``(start, length, style)`` ranges (UTF-16 units) the
    upstream parser read; ``message`` is then the text without its markers."""
    raw_message: str | None = None
    """The ``message`` field as the bridge sent it, markers included."""
    view_once: bool = False
    sticker: str | None = None
