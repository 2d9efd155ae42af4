"""Which URL a file WhatsApp sent may be downloaded from.

A received file arrives as ``media.url`` in a webhook, so the URL comes from outside, while
the download carries the bridge's WAHA API key. The file is therefore only ever fetched
from the WAHA server the bridge is configured with:

- a URL on the WAHA base URL's scheme, host and port is used as it is;
- a relative URL is resolved against the base URL;
- a loopback URL is moved to the base URL's scheme, host and port: WAHA writes its own
  ``WAHA_BASE_URL`` into media URLs, and that defaults to ``http://localhost:3000``,
  which means "WAHA itself" seen from inside its container;
- anything else is refused before any request is made, so a forged webhook cannot make
  the bridge fetch from, or send its API key to, another host.

Redirects are never followed (:func:`~whatsignal.clients.open_http_client`), so an
accepted URL cannot bounce the download elsewhere either. The download itself is
:meth:`WahaClient.download_media <whatsignal.clients.WahaClient.download_media>`.
"""

from __future__ import annotations

import ipaddress

import httpx

from whatsignal.clients._http import mask_numbers
from whatsignal.errors import ClientError

__all__ = ["media_url"]

# Hosts that can only mean "the machine WAHA runs on" when WAHA writes them into a media URL
# (its WAHA_BASE_URL defaults to http://localhost:3000). Such URLs are rewritten to the base
# URL the bridge reaches WAHA at.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def media_url(base: httpx.URL, url: str) -> httpx.URL:
    """The URL to fetch ``url`` from, given the WAHA ``base`` URL (rules: module docstring).

    Raises:
        ClientError: the URL points anywhere else, or is not http(s).
    """
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ClientError("WAHA media download: the media URL is not a valid URL") from exc
    if not target.scheme and not target.host:
        return base.join(target)
    if target.scheme not in ("http", "https"):
        raise ClientError(f"WAHA media download: scheme {target.scheme!r} refused")
    if target.userinfo:
        raise ClientError("WAHA media download: URLs with credentials are refused")
    if _origin(target) == _origin(base):
        return target
    if _is_loopback(target.host):
        return target.copy_with(scheme=base.scheme, host=base.host, port=base.port)
    raise ClientError(
        f"WAHA media download: host {mask_numbers(target.host)!r} is not the WAHA server"
    )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host.lower(), url.port if url.port is not None else default


def _is_loopback(host: str) -> bool:
    host = host.lower().strip("[]")
    if host in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified
