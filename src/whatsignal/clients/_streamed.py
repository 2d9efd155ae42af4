"""A ``/v2/send`` JSON body with its attachments streamed as base64, never held whole.

signal-cli-rest-api takes files as ``base64_attachments``: data URIs inside the JSON body. Built
as a string, a file would be held several times over (the base64 text, its cleaned copy, the
encoded JSON) at once. :class:`StreamedJson` writes the same bytes in pieces instead: the JSON
around the attachments, and each file's base64 in chunks of a few dozen kilobytes, so a file in
flight costs its own size and one chunk. Its length is known in advance (``Content-Length``, no
chunked encoding), and every iteration starts again from the beginning, so a retried request
sends the whole body again.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import attrs

__all__ = ["StreamedJson"]

CHUNK = 3 * 16 * 1024
"""Raw bytes per base64 piece (a multiple of 3, so the pieces join without padding)."""

_HOLE = "\x00attachments\x00"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@attrs.frozen
class StreamedJson:
    """``body`` with ``body[key]`` set to ``[head + base64(data) for head, data in files]``.

    Args:
        body: the rest of the JSON object (already cleaned of unsafe characters).
        files: per attachment, the data URI's head (``data:<mime>;...;base64,``) and the file.
    """

    body: dict[str, Any]
    key: str
    files: Sequence[tuple[str, bytes]]

    def _frame(self) -> tuple[bytes, bytes]:
        text = _dumps({**self.body, self.key: _HOLE}).decode()
        before, after = text.split(_dumps(_HOLE).decode(), 1)
        return before.encode(), after.encode()

    def __len__(self) -> int:
        before, after = self._frame()
        size = len(before) + len(after) + 2 + max(len(self.files) - 1, 0)  # [ ] and commas
        for head, data in self.files:
            size += len(_dumps(head)) + 4 * ((len(data) + 2) // 3)
        return size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        before, after = self._frame()
        yield before + b"["
        for index, (head, data) in enumerate(self.files):
            yield (b"," if index else b"") + _dumps(head)[:-1]  # without its closing quote
            view = memoryview(data)
            for start in range(0, len(view), CHUNK):
                yield base64.b64encode(view[start : start + CHUNK])
            yield b'"'
        yield b"]" + after
