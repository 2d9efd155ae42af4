"""A JSON request body with files in it as base64 strings, streamed, never held whole.

signal-cli-rest-api takes files as ``base64_attachments`` (data URIs inside the JSON body),
WAHA as ``file.data``. Built as a string, a file would be held several times over (the base64
text, its cleaned copy, the encoded JSON) at once. :class:`StreamedJson` writes the same bytes
in pieces instead: the JSON around the files, and each file's base64 in chunks of a few dozen
kilobytes, read from memory or from its :class:`~whatsignal.clients._spool.Spool`, so a file
in flight costs one chunk (and, from a spool, one read). Its length is known in advance
(``Content-Length``, no chunked encoding), and every iteration starts again from the
beginning, so a repeated request sends the whole body again.

Every string of the body (keys, values, the heads of the files' strings) has its lone
surrogates replaced first (:func:`~whatsignal.convert.safe.clean_text`): they cannot be encoded.
"""

from __future__ import annotations

import json
from base64 import b64encode
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import attrs

from whatsignal.clients._spool import FileData, data_pieces, data_size
from whatsignal.convert.safe import clean_text

__all__ = ["Base64", "StreamedJson"]

CHUNK = 3 * 16 * 1024
"""Raw bytes per base64 piece (a multiple of 3, so the pieces join without padding)."""


@attrs.frozen
class Base64:
    """A JSON string in a :class:`StreamedJson`: ``head`` followed by the base64 of ``data``."""

    head: str
    data: FileData = attrs.field(repr=lambda data: f"<{data_size(data)} bytes>")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _parts(value: Any, out: list[bytes | Base64]) -> None:
    """``value`` as JSON text, each :class:`Base64` in it left as itself."""
    if isinstance(value, Base64):
        out.append(value)
    elif isinstance(value, Mapping):
        out.append(b"{")
        for index, (key, item) in enumerate(value.items()):
            out.append((b"," if index else b"") + _dumps(clean_text(str(key))) + b":")
            _parts(item, out)
        out.append(b"}")
    elif isinstance(value, list | tuple):
        out.append(b"[")
        for index, item in enumerate(value):
            if index:
                out.append(b",")
            _parts(item, out)
        out.append(b"]")
    elif isinstance(value, str):
        out.append(_dumps(clean_text(value)))
    else:
        out.append(_dumps(value))


@attrs.frozen
class StreamedJson:
    """The JSON of ``body``, where each :class:`Base64` value (at any depth) is the string
    ``head + base64(data)``."""

    body: Mapping[str, Any]

    def _frame(self) -> Sequence[bytes | Base64]:
        flat: list[bytes | Base64] = []
        _parts(self.body, flat)
        joined: list[bytes | Base64] = []
        for part in flat:
            if isinstance(part, bytes) and joined and isinstance(joined[-1], bytes):
                joined[-1] += part
            else:
                joined.append(part)
        return joined

    def __len__(self) -> int:
        size = 0
        for part in self._frame():
            if isinstance(part, bytes):
                size += len(part)
            else:
                size += len(_dumps(clean_text(part.head))) + 4 * ((data_size(part.data) + 2) // 3)
        return size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self._frame():
            if isinstance(part, bytes):
                yield part
                continue
            yield _dumps(clean_text(part.head))[:-1]  # without its closing quote
            async for piece in data_pieces(part.data, CHUNK):
                yield b64encode(piece)
            yield b'"'
