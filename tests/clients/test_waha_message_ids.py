"""WahaClient: pre-generated message ids and the engine of a session."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from client_helpers import Upstream, check_waha

from whatsignal.clients import WahaClient
from whatsignal.errors import ApiError


async def test_new_message_id_asks_the_session_and_returns_the_id(
    waha: WahaClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(200, json={"id": "3EB0ABCDEF0123456789AB"}))
    assert await waha.new_message_id("my session") == "3EB0ABCDEF0123456789AB"
    assert upstream.last.method == "GET"
    assert upstream.last.url.raw_path == b"/api/my%20session/new-message-id"


@pytest.mark.parametrize("answer", [{}, {"id": ""}, {"id": 7}, [], {"id": "x" * 129}])
async def test_new_message_id_without_a_usable_id_is_an_api_error(
    waha: WahaClient, upstream: Upstream, answer: Any
) -> None:
    upstream.answer(httpx.Response(200, json=answer))
    with pytest.raises(ApiError):
        await waha.new_message_id("default")


async def test_send_text_carries_a_given_id(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(201, content=b""))
    await waha.send_text("default", "49111@c.us", "hello", message_id="3EB0AA")
    body = upstream.body()
    check_waha("POST", "/api/sendText", body)
    assert body["id"] == "3EB0AA"


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ({"engine": "GOWS"}, "GOWS"),
        ("noweb", "NOWEB"),
        ({"engine": ""}, None),
        ({"engine": 3}, None),
        (None, None),
    ],
)
async def test_a_session_s_engine_is_read_from_its_info(
    waha: WahaClient, upstream: Upstream, engine: Any, expected: str | None
) -> None:
    info: dict[str, Any] = {"name": "s", "status": "WORKING"}
    if engine is not None:
        info["engine"] = engine
    upstream.answer(httpx.Response(200, json=info))
    assert (await waha.get_session("s")).engine == expected
