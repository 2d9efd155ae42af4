"""Where a file WhatsApp sent is downloaded from: the one place that states the rule.

A received file arrives as ``media.url`` in a webhook. WAHA writes that URL with its own
public base, ``WAHA_BASE_URL`` (by default ``http://localhost:3000``, "WAHA itself" seen from
inside its container), which is rarely the address the bridge reaches WAHA at
(``whatsapp.api_base_url``, e.g. ``http://waha:3000``). And the URL comes from outside while
the download carries the bridge's WAHA API key. So the URL's host is never used:

- only WAHA's received files are fetched: the URL's path, once its dot segments are resolved,
  must contain ``/api/files/<name>``. What follows ``/api/files/`` and the URL's query are kept;
  everything before it (WAHA's public base path, e.g. ``/waha`` when ``WAHA_BASE_URL`` is
  ``https://example.org/waha``) is dropped;
- the file is always fetched from the configured WAHA base URL, with its path prefix kept
  (``https://example.org/waha`` fetches ``https://example.org/waha/api/files/...``) and with
  the API key, as every WAHA call: whatever scheme, host or port the URL names (localhost,
  the WAHA host, an IP address, a public name) and for relative URLs alike;
- anything else is refused before any request is made: a path with no ``/api/files/<name>``
  (``/api/sendText``, ``/API/files/x``, or ``/api/files/../api/sessions`` once resolved), an
  encoded ``/`` or ``\\`` in a segment, a separator or dot segment hidden under a second
  encoding (``%252e%252e``, ``%252f``), a control character or invalid UTF-8 in a segment, a
  scheme other than http(s), credentials in the URL (``http://waha@evil/``), a URL over
  8192 characters, a ``media.url`` that is no string, a URL that does not parse.

The worst a forged ``media.url`` can do is therefore name another of WAHA's received files.
Redirects are never followed (:func:`~whatsignal.clients.open_http_client`), so a download
cannot bounce elsewhere either. The download itself is
:meth:`WahaClient.download_media <whatsignal.clients.WahaClient.download_media>`; a refusal is
a plain :class:`~whatsignal.errors.ClientError` (neither an answer nor a lost connection),
which classifies as permanent, so the message goes on with a note instead of the file.
"""

from __future__ import annotations

from urllib.parse import unquote

import httpx

from whatsignal.errors import ClientError

__all__ = ["FILES_PATH", "media_url"]

FILES_PATH = "/api/files/"
"""Where WAHA serves the files it received (``{WAHA_BASE_URL}/api/files/{session}/{id}.{ext}``)."""

_OPERATION = "WAHA media download"

MAX_URL_LENGTH = 8192
"""The longest ``media.url`` considered (WAHA's own are a few dozen characters)."""

_DECODE_ROUNDS = 3
"""How many more percent-decodings a segment is looked through for hidden separators."""


def media_url(base: httpx.URL, url: str) -> httpx.URL:
    """The URL to fetch ``url`` (a ``media.url``) from, given the WAHA ``base`` URL.

    The rules are the module docstring's.

    Raises:
        ClientError: the URL is refused (not one of WAHA's files, not http(s), credentials,
            does not parse); no request may be made for it.
    """
    if not isinstance(url, str):
        raise ClientError(f"{_OPERATION}: the media URL is not a string")
    if len(url) > MAX_URL_LENGTH:
        raise ClientError(f"{_OPERATION}: the media URL is longer than {MAX_URL_LENGTH}")
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ClientError(f"{_OPERATION}: the media URL is not a valid URL") from exc
    if target.scheme not in ("", "http", "https"):
        raise ClientError(f"{_OPERATION}: scheme {target.scheme!r} refused")
    if target.userinfo:
        raise ClientError(f"{_OPERATION}: URLs with credentials are refused")
    path = target.raw_path.split(b"?", 1)[0].decode("ascii")
    name = _file_name(path)
    prefix = base.raw_path.split(b"?", 1)[0].rstrip(b"/")
    raw = prefix + FILES_PATH.encode() + name.encode("ascii")
    if target.query:
        raw += b"?" + target.query
    return base.copy_with(raw_path=raw)


def _file_name(path: str) -> str:
    """What follows ``/api/files/`` in ``path`` (still percent-encoded), dot segments resolved.

    Raises:
        ClientError: the resolved path has no ``/api/files/<name>``, or a segment hides a
            separator (``%2F``, ``\\``, or either encoded twice), a dot segment encoded twice,
            a control character or invalid UTF-8.
    """
    kept: list[tuple[str, str]] = []  # (as written, decoded)
    for segment in path.split("/"):
        plain = _decoded(segment)
        if "/" in plain or "\\" in plain:
            raise ClientError(f"{_OPERATION}: the media URL's path hides a separator")
        if plain in ("", "."):
            continue
        if plain == "..":
            if kept:
                kept.pop()
            continue
        kept.append((segment, plain))
    decoded = [plain for _, plain in kept]
    for i in range(len(kept) - 2):
        if decoded[i : i + 2] == ["api", "files"]:
            return "/".join(segment for segment, _ in kept[i + 2 :])
    raise ClientError(f"{_OPERATION}: the media URL is not under {FILES_PATH}")


def _decoded(segment: str) -> str:
    """A path segment percent-decoded once, after checking what further decodings would hide.

    Raises:
        ClientError: invalid UTF-8, a control character, or a separator or dot segment that
            only a second (or later) decoding reveals.
    """
    try:
        plain = unquote(segment, errors="strict")
        deeper = plain
        for _ in range(_DECODE_ROUNDS):
            if "%" not in deeper:
                break
            deeper = unquote(deeper, errors="strict")
    except UnicodeDecodeError as exc:
        raise ClientError(f"{_OPERATION}: the media URL's path is not UTF-8") from exc
    if any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in deeper):
        raise ClientError(f"{_OPERATION}: the media URL's path has a control character")
    if deeper != plain and ("/" in deeper or "\\" in deeper or deeper in (".", "..")):
        raise ClientError(f"{_OPERATION}: the media URL's path hides a separator, encoded twice")
    return plain
