"""The media URL rule against SSRF tricks: a ``media.url`` is fetched from the configured WAHA
base (its path under ``/api/files/`` and its query only) or refused with no request made; it is
never fetched anywhere else, whatever host, encoding or shape it has."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from client_helpers import Upstream, download

from whatsignal.clients import WahaClient
from whatsignal.clients._waha_media import media_url
from whatsignal.errors import ApiError, ClientError, TransportError

BASE = "http://waha:3000"
MAX_URL_LENGTH = 8192
FILE = "/api/files/personal/3EB0.jpeg"


FETCHED = [
    # the host, however it is written, is never used
    pytest.param(f"http://evil\\{FILE}", f"{BASE}{FILE}", id="backslash in the host"),
    pytest.param(f"http://[::1]{FILE}", f"{BASE}{FILE}", id="IPv6 loopback"),
    pytest.param(f"http://[fe80::1%25eth0]{FILE}", f"{BASE}{FILE}", id="IPv6 with a zone"),
    pytest.param(f"http://[::ffff:169.254.169.254]{FILE}", f"{BASE}{FILE}", id="IPv4 in IPv6"),
    pytest.param(f"http://w\u0430ha{FILE}", f"{BASE}{FILE}", id="unicode look-alike host"),
    pytest.param(f"http://\u00e9vil.example{FILE}", f"{BASE}{FILE}", id="unicode host"),
    pytest.param(f"http://xn--vil-dma.example{FILE}", f"{BASE}{FILE}", id="punycode host"),
    pytest.param(f"HTTP://EVIL{FILE}", f"{BASE}{FILE}", id="upper-case scheme"),
    pytest.param(f"http://evil:99999{FILE}", f"{BASE}{FILE}", id="impossible port"),
    pytest.param("//evil/api/files/x", f"{BASE}/api/files/x", id="scheme-relative"),
    pytest.param("///evil/api/files/x", f"{BASE}/api/files/x", id="three slashes"),
    pytest.param(f"http://evil{FILE}#@other", f"{BASE}{FILE}", id="fragment with an at"),
    pytest.param(
        f"http://evil{FILE}?next=http://other/", f"{BASE}{FILE}?next=http://other/", id="URL query"
    ),
    pytest.param("http://h/%61pi/files/x", f"{BASE}/api/files/x", id="encoded letter"),
    pytest.param("http://h/x/../api/files/y", f"{BASE}/api/files/y", id="dots before"),
    pytest.param(
        "http://h/api/files/%2e/x.jpeg", f"{BASE}/api/files/x.jpeg", id="encoded dot segment"
    ),
    pytest.param(
        "http://h/api/files/" + "a" * 4000, f"{BASE}/api/files/" + "a" * 4000, id="long path"
    ),
]


@pytest.mark.parametrize(("url", "fetched"), FETCHED)
async def test_a_trick_url_is_fetched_from_the_configured_waha_only(
    waha: WahaClient, upstream: Upstream, url: str, fetched: str
) -> None:
    upstream.answer(httpx.Response(200, content=b"JPEG"))
    assert await download(waha, url, max_bytes=100) == (b"JPEG", None)
    (request,) = upstream.requests
    assert str(request.url) == fetched
    assert request.url.host == "waha" and request.url.port == 3000
    assert request.url.raw_path.startswith(b"/api/files/")


REFUSED = [
    pytest.param("http://waha@evil/api/files/x", "credentials", id="userinfo"),
    pytest.param(f"http://waha:3000@evil{FILE}", "credentials", id="userinfo with a port"),
    pytest.param(f"http://evil\\@waha{FILE}", "credentials", id="backslash before an at"),
    pytest.param(f"http://h;@evil{FILE}", "credentials", id="semicolon before an at"),
    pytest.param("http:\\\\evil\\api\\files\\x", "separator", id="backslashes for slashes"),
    pytest.param("\\\\evil\\api\\files\\x", "separator", id="UNC path"),
    pytest.param("/\\evil/api/files/x", "separator", id="slash backslash"),
    pytest.param("/api/files\\..\\..\\api\\sessions", "separator", id="backslash traversal"),
    pytest.param("http://h/api/files/%2e%2e/%2e%2e/api/sessions", "not under", id="encoded dots"),
    pytest.param("http://h/api/files/%2E%2e/x", "not under", id="encoded dots, mixed case"),
    pytest.param("http://h/api/files/x/..", "not under", id="dots after the name"),
    pytest.param(
        "http://h/api/files/%252e%252e/%252e%252e/api/sessions", "encoded twice", id="2x dots"
    ),
    pytest.param("http://h/api/files/%252f..%252fapi", "encoded twice", id="2x slash"),
    pytest.param("http://h/api/files/a%255cb", "encoded twice", id="2x backslash"),
    pytest.param("http://h/api/files/%25252e%25252e/x", "encoded twice", id="3x dots"),
    pytest.param("http://h/api/files/%c0%ae%c0%ae/x", "not UTF-8", id="overlong dots"),
    pytest.param("http://h/api/files/%00", "control character", id="NUL"),
    pytest.param("http://h/api/files/a%0d%0aX-Api-Key:%20x", "control character", id="CRLF"),
    pytest.param("http://h/API/files/x", "not under", id="upper-case API"),
    pytest.param("http://h/Api/Files/x", "not under", id="mixed-case path"),
    pytest.param("http://h/api/files", "not under", id="no slash after files"),
    pytest.param("http://h/" + "a" * MAX_URL_LENGTH + FILE, "longer than", id="very long"),
    pytest.param("data:text/plain,api/files/x", "scheme", id="data URL"),
    pytest.param("gopher://h/api/files/x", "scheme", id="gopher"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
async def test_a_trick_url_is_refused_with_no_request(
    waha: WahaClient, upstream: Upstream, url: str, why: str
) -> None:
    with pytest.raises(ClientError, match=why) as refused:
        await download(waha, url, max_bytes=100)
    assert not isinstance(refused.value, ApiError | TransportError)
    assert upstream.requests == []


@pytest.mark.parametrize("url", [123, None, {"url": FILE}, [FILE], FILE.encode(), 1.5, True])
async def test_a_media_url_that_is_no_string_is_refused(
    waha: WahaClient, upstream: Upstream, url: Any
) -> None:
    with pytest.raises(ClientError, match="not a string"):
        await download(waha, url, max_bytes=100)
    assert upstream.requests == []


@pytest.mark.parametrize("url", [str(p.values[0]) for p in FETCHED + REFUSED])
def test_no_url_names_another_origin(url: str) -> None:
    """Whatever the base's path prefix, the URL to fetch is on the base's origin, under it."""
    base = httpx.URL("https://proxy.example/waha")
    try:
        target = media_url(base, url)
    except ClientError:
        return
    assert (target.scheme, target.host, target.port) == ("https", "proxy.example", None)
    assert target.raw_path.startswith(b"/waha/api/files/")
