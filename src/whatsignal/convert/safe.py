"""Making what strangers write safe to pass on: text that encodes, file names that stay names.

Whatever crosses the bridge was written by someone else, on WhatsApp or on Signal, and reaches
the other side through JSON bodies, URL paths, the database and file systems. Two things in it
break those on their own:

- **Lone surrogates.** JSON may escape half of a UTF-16 pair (``"\\ud83d"``), which Python
  decodes to a string that cannot be encoded as UTF-8: the next JSON body, database write or
  URL made from it fails, and the message would become a dead letter. :func:`clean_text`
  replaces each one with U+FFFD (a pair split over two code points is joined again), and
  :func:`clean_strings` does so for every string of a decoded JSON value.
- **File names.** A file name is the sender's choice: ``../../etc/passwd``, a NUL, a right-to-left
  override that turns ``invoice‮fdp.exe`` into "invoiceexe.pdf", ``CON`` or 10,000 characters.
  :func:`safe_filename` keeps the last path component, drops control and bidi characters,
  replaces characters file systems refuse, bounds the length keeping the extension, and falls
  back to ``file`` plus an extension for the type when nothing is left. Both directions use it,
  at the last step before the wire (:class:`~whatsignal.clients.OutboundAttachment` and
  :meth:`WahaClient.send_media <whatsignal.clients.WahaClient.send_media>`).

Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["FALLBACK_NAME", "MAX_FILENAME_BYTES", "clean_strings", "clean_text", "safe_filename"]

FALLBACK_NAME = "file"
"""The stem of a file name when the sender's leaves nothing usable."""

MAX_FILENAME_BYTES = 200
"""The longest file name passed on, in UTF-8 bytes (file systems allow 255)."""

_MAX_EXTENSION = 16
"""An extension longer than this (characters, after the dot) is not kept whole."""

_SURROGATE = re.compile("[\ud800-\udfff]")

# Bidi embeddings, overrides and isolates, and the marks: they reorder how a name reads.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# Characters that file systems (Windows, or any, for "/") refuse in a name.
_RESERVED_CHARS = str.maketrans(dict.fromkeys('<>:"|?*', "_"))

# Names Windows reserves for devices, with or without an extension.
_DEVICE = re.compile(r"(?i)(?:con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)")

_TYPE_EXTENSIONS = {
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "audio/aac": ".aac",
    "audio/mp4": ".m4a",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "image/gif": ".gif",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "text/plain": ".txt",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
}


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so that it encodes as UTF-8.

    A high and a low surrogate next to each other are joined into the character they stand
    for. Text without surrogates is returned as it is.
    """
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def clean_strings(value: Any) -> Any:
    """A decoded JSON value with :func:`clean_text` applied to every string in it, keys too
    (dicts and lists are copied; other values are returned as they are)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_strings(k): clean_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_strings(v) for v in value]
    return value


def _allowed(char: str) -> bool:
    """Whether a character may stay in a file name (not a control, separator or bidi mark)."""
    if char in _BIDI:
        return False
    return unicodedata.category(char) not in ("Cc", "Zl", "Zp", "Cs")


def safe_filename(name: str | None, mimetype: str | None = None) -> str:
    """A file name fit to pass on, from what the sender called the file.

    - only the last path component is kept (``/`` and ``\\`` both separate);
    - control characters (NUL included), line separators and bidi controls are dropped, and
      ``< > : " | ? *`` become ``_``;
    - leading and trailing dots and spaces go (no ``..``, no hidden files: ``.pdf`` becomes
      ``file.pdf``);
    - a Windows device name (``CON``, ``nul.txt``, ``LPT1``) gets a ``_`` in front;
    - at most :data:`MAX_FILENAME_BYTES` UTF-8 bytes, cut from the stem so that the extension
      survives (an extension over 16 characters counts as part of the stem);
    - when nothing is left, ``file`` plus the extension of ``mimetype`` when it is a common
      one (``file.pdf``), else ``file``.
    """
    text = re.split(r"[/\\]", clean_text(name or ""))[-1]
    text = "".join(c for c in text if _allowed(c)).translate(_RESERVED_CHARS).strip()
    bare = text.lstrip(". ")
    text = f"{FALLBACK_NAME}.{bare}" if bare != text and bare and "." not in bare else bare
    text = text.rstrip(". ")
    if not text:
        return FALLBACK_NAME + _extension_for(mimetype)
    stem, dot, extension = text.rpartition(".")
    if not dot or len(extension) > _MAX_EXTENSION:
        stem, extension = text, ""
    if _DEVICE.fullmatch(stem.split(".", 1)[0].rstrip()):
        stem = "_" + stem
    suffix = "." + extension if extension else ""
    budget = MAX_FILENAME_BYTES - len(suffix.encode("utf-8"))
    stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip(". ")
    return (stem or FALLBACK_NAME) + suffix


def _extension_for(mimetype: str | None) -> str:
    kind = (mimetype or "").split(";", 1)[0].strip().lower()
    return _TYPE_EXTENSIONS.get(kind, "")
