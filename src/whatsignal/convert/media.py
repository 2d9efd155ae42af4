"""Which size class a file belongs to, and how large it may be (``media.*`` config).

The classes are the Go whatsignal's: image, video, voice, document. A file's class comes from
its extension when ``media.allowedTypes`` lists it, else from its MIME type (``audio/*`` is
voice). Each class has its own limit (``media.maxSizeMB``); a file over it is not forwarded,
and the message says so instead of failing. Pure: no I/O.
"""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["MEDIA_CLASSES", "MediaPolicy", "whatsapp_kind"]

MEDIA_CLASSES = ("image", "video", "voice", "document")
_MIME_CLASS = {"image": "image", "video": "video", "audio": "voice"}
MB = 1024 * 1024


@attrs.frozen
class MediaPolicy:
    """Size limits (bytes) and extension lists per class, the download time limit, and where
    files in flight are kept (``media.tempDir``; None: the system's temporary directory)."""

    max_bytes: dict[str, int] = attrs.field(
        factory=lambda: {"image": 5 * MB, "video": 100 * MB, "voice": 16 * MB, "document": 100 * MB}
    )
    extensions: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    download_timeout: float = 30.0
    temp_dir: str | None = None

    def classify(self, mimetype: str | None, filename: str | None) -> str:
        """The size class of a file (``document`` when nothing says otherwise)."""
        if filename and "." in filename:
            extension = filename.rsplit(".", 1)[1].lower()
            for media_class in MEDIA_CLASSES:
                if extension in self.extensions.get(media_class, ()):
                    return media_class
        major = (mimetype or "").split("/", 1)[0].strip().lower()
        return _MIME_CLASS.get(major, "document")

    def limit(self, mimetype: str | None, filename: str | None) -> int:
        return self.max_bytes[self.classify(mimetype, filename)]

    def too_large_note(self, mimetype: str | None, filename: str | None) -> str:
        """What the recipient reads instead of a file that was over its class's limit."""
        media_class = self.classify(mimetype, filename)
        limit_mb = self.max_bytes[media_class] // MB
        setting = f"media.maxSizeMB.{media_class}"
        return f"[{media_class} too large to forward (limit {limit_mb} MB: {setting})]"


def whatsapp_kind(content_type: str) -> Literal["image", "video", "voice", "file"]:
    """How WAHA sends a file of this MIME type: ``sendImage``/``sendVideo``/``sendVoice``, or
    ``sendFile`` for anything else."""
    major = content_type.split("/", 1)[0].lower()
    if major == "image":
        return "image"
    if major == "video":
        return "video"
    if major == "audio":
        return "voice"
    return "file"
