"""Size classes of files, as the Go whatsignal's media config defines them."""

from __future__ import annotations

import pytest

from whatsignal.convert.media import MB, MediaPolicy

POLICY = MediaPolicy(
    max_bytes={"image": 5 * MB, "video": 100 * MB, "voice": 16 * MB, "document": 100 * MB},
    extensions={
        "image": ("jpg", "png"),
        "video": ("mp4",),
        "voice": ("ogg",),
        "document": ("pdf",),
    },
)


@pytest.mark.parametrize(
    ("mimetype", "filename", "expected"),
    [
        ("image/jpeg", None, "image"),
        ("video/mp4", "clip.bin", "video"),
        ("audio/ogg; codecs=opus", None, "voice"),
        ("application/pdf", "x.pdf", "document"),
        ("application/octet-stream", "photo.PNG", "image"),  # extension wins when listed
        ("image/gif", "anim.gif", "image"),  # not listed: the MIME type decides
        (None, None, "document"),
        ("", "no-extension", "document"),
    ],
)
def test_classify(mimetype: str | None, filename: str | None, expected: str) -> None:
    assert POLICY.classify(mimetype, filename) == expected


def test_limits_and_notes() -> None:
    assert POLICY.limit("image/png", None) == 5 * MB
    assert POLICY.limit("audio/mpeg", None) == 16 * MB
    assert POLICY.too_large_note("video/mp4", None) == (
        "[video too large to forward (limit 100 MB: media.maxSizeMB.video)]"
    )
