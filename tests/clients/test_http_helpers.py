"""The shared request helpers: error texts, masking, streamed downloads with a cap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from client_helpers import Upstream, spooled

from whatsignal.clients import Spool, mask_numbers, open_http_client
from whatsignal.clients._http import (
    ERROR_BODY_READ_LIMIT,
    expect_dict,
    fetch_capped,
    upstream_error_text,
)
from whatsignal.errors import ApiError, ClientError


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ('Unregistered user "+4915112345678"', 'Unregistered user "+***5678"'),
        ("false_4915112345678@c.us_AAAA", "false_***5678@c.us_AAAA"),
        ("1234567", "***4567"),
        ("call 123456 now", "call 123456 now"),  # too short to be a number
        (
            "token 1b2c3d4e-0000-4000-8000-123456789012",
            "token 1b2c3d4e-0000-4000-8000-123456789012",
        ),
        ("version 2026.7.1234567", "version 2026.7.1234567"),
        ("uuid-part abc12345678", "uuid-part abc12345678"),
    ],
)
def test_mask_numbers(text: str, masked: str) -> None:
    assert mask_numbers(text) == masked


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ('{"error": "Invalid group id"}', "Invalid group id"),
        (
            '{"message": ["text must be a string", "chatId missing"]}',
            "text must be a string; chatId missing",
        ),
        ('{"error": {"code": 404, "message": "File not found"}}', "File not found"),
        ('{"statusCode": 500, "exception": {"message": "boom"}}', "boom"),
        (
            '{"error": "Not Found", "message": "File not found: X.jpeg"}',
            "Not Found File not found: X.jpeg",
        ),
        ('{"statusCode": 401}', ""),
        ("plain\n  text", "plain text"),
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_upstream_error_text(body: str, text: str) -> None:
    assert upstream_error_text(body) == text


def test_open_http_client_settings() -> None:
    http = open_http_client("http://waha:3000", timeout=7, api_key="k")
    assert http.headers["X-Api-Key"] == "k"
    assert http.timeout == httpx.Timeout(7)
    assert http.follow_redirects is False


def test_expect_dict_names_what_came() -> None:
    response = httpx.Response(200, json=None)
    with pytest.raises(ApiError, match="expected an object, got null"):
        expect_dict("op", response, None)
    with pytest.raises(ApiError, match="expected an object, got str"):
        expect_dict("op", response, "x")


async def _chunks(count: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * size


@pytest.fixture
async def http(upstream: Upstream) -> AsyncIterator[httpx.AsyncClient]:
    async with open_http_client("http://up", timeout=5, transport=upstream.transport()) as client:
        yield client


async def test_a_stream_without_length_is_cut_off_at_the_cap(
    http: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(200, content=_chunks(10, 4)))
    with Spool() as spool, pytest.raises(ApiError, match="larger than the limit of 10") as caught:
        await fetch_capped(http, "/f", operation="op", max_bytes=10, into=spool)
    assert caught.value.status == 200
    assert spool.size <= 10  # nothing past the cap was kept


async def test_a_stream_within_the_cap(http: httpx.AsyncClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, content=_chunks(3, 4)))
    with Spool() as spool:
        assert await fetch_capped(http, "/f", operation="op", max_bytes=12, into=spool) is None
        assert await spooled(spool) == b"x" * 12


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    http: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(200, content=b"x" * 11))
    with Spool() as spool, pytest.raises(ApiError, match="larger than the limit of 10"):
        await fetch_capped(http, "/f", operation="op", max_bytes=10, into=spool)
    assert spool.size == 0


async def test_a_huge_error_body_is_read_only_in_part(
    http: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(500, content=_chunks(1000, 1024)))
    with Spool() as spool, pytest.raises(ApiError) as caught:
        await fetch_capped(http, "/f", operation="op", max_bytes=10, into=spool)
    assert caught.value.status == 500
    assert len(caught.value.body) <= ERROR_BODY_READ_LIMIT
    assert spool.size == 0


async def test_a_temporary_file_that_cannot_be_made_is_a_client_error(
    http: httpx.AsyncClient, upstream: Upstream, tmp_path: Path
) -> None:
    """A missing directory or a full disk fails the download as the bridge's own problem (a
    plain ClientError: neither an answer nor a lost connection), with the reason, no path."""
    upstream.answer(httpx.Response(200, content=_chunks(2, 300 * 1024)))
    with Spool(str(tmp_path / "gone")) as spool, pytest.raises(ClientError) as caught:
        await fetch_capped(http, "/f", operation="op", max_bytes=10**6, into=spool)
    assert type(caught.value) is ClientError
    assert str(caught.value) == "op: the file could not be kept (No such file or directory)"


async def test_negative_cap_is_a_programming_error(http: httpx.AsyncClient) -> None:
    with Spool() as spool, pytest.raises(ValueError, match="negative"):
        await fetch_capped(http, "/f", operation="op", max_bytes=-1, into=spool)
