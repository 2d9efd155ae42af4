"""What a stranger can put into a request never escapes it, and what an upstream says back about
it is reduced before anyone keeps it.

- lone surrogates in a body, a query or a path segment are replaced (the request is made);
- an attachment id signal-cli cannot have given is refused before any request, and a segment of
  dots is encoded so that it cannot name the parent path;
- file names are made safe in both directions' send calls;
- an upstream error that quotes the message text or a number: neither is in the error's text.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from client_helpers import Upstream, attachment

from whatsignal.clients import OutboundAttachment, SignalClient, WahaClient, open_http_client
from whatsignal.clients._http import path_segment
from whatsignal.errors import ApiError, ClientError

BRIDGE = "+4915100000001"
ME = "+4915112345678"
SECRET_TEXT = "Alice: meet me at the old mill at nine, bring the documents"


@pytest.fixture
async def signal(upstream: Upstream) -> AsyncIterator[SignalClient]:
    async with open_http_client(
        "http://signal:8080", timeout=5, transport=upstream.transport()
    ) as h:
        yield SignalClient(h)


# Lone surrogates ---------------------------------------------------------------------------


async def test_a_lone_surrogate_in_a_send_is_replaced_not_fatal(
    signal: SignalClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(201, json={"timestamp": "5"}))
    stamp = await signal.send(
        BRIDGE, [ME], "Al\udc00ice: hi \ud83d", quote_timestamp=1, quote_author=ME,
        quote_message="q\ud83d",
    )  # fmt: skip
    assert stamp == 5
    body = json.loads(upstream.last.content)
    assert (body["message"], body["quote_message"]) == ("Al\ufffdice: hi \ufffd", "q\ufffd")


async def test_a_surrogate_pair_split_in_two_is_joined(
    waha: WahaClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(201, json={"id": "true_1@c.us_X"}))
    await waha.send_text("default", "1@c.us", "smile \ud83d\ude00")
    assert json.loads(upstream.last.content)["text"] == "smile \U0001f600"


async def test_lone_surrogates_in_paths_and_queries_are_replaced(
    waha: WahaClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(200, json={"subject": "G"}), httpx.Response(200, json=[]))
    assert await waha.group_name("s\ud83d", "1@g.us") == "G"
    assert upstream.last.url.raw_path == b"/api/s%EF%BF%BD/groups/1%40g.us"
    await waha.chat_messages("s", "x\udc00@c.us", since=0)
    assert b"x%EF%BF%BD%40c.us" in upstream.last.url.raw_path


# Attachment ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attachment_id",
    [".", "..", "../x", "a/b", "a\\b", "", "x" * 256, ".hidden", "a..b", "a\x00", "%2e%2e"],
)
async def test_an_attachment_id_signal_cli_cannot_give_is_never_requested(
    signal: SignalClient, upstream: Upstream, attachment_id: str
) -> None:
    with pytest.raises(ClientError, match="refused an attachment id") as refused:
        await attachment(signal, attachment_id, max_bytes=10)
    assert not isinstance(refused.value, ApiError)
    assert upstream.requests == []


@pytest.mark.parametrize(
    "attachment_id",
    [
        "Jq2fJ0qYs7KZbmUfNKXf.jpg",
        "Jq2fJ0qYs7KZbmUfNKXf",
        "4613285472934628479.pdf",
        "a_b-c.JPG",
        "Jq2fJ0qYs7KZbmUfNKXf.jpég",
        "Jq2fJ0qYs7KZbmUfNKXf.my file",
        "Jq2fJ0qYs7KZbmUfNKXf.",
        "x" * 255,
    ],
)
async def test_ids_signal_cli_gives_are_fetched_under_the_attachments_path(
    signal: SignalClient, upstream: Upstream, attachment_id: str
) -> None:
    upstream.answer(httpx.Response(200, content=b"data"))
    assert await attachment(signal, attachment_id, max_bytes=10) == b"data"
    (request,) = upstream.requests
    assert request.url.raw_path.startswith(b"/v1/attachments/")
    assert request.url.raw_path.count(b"/") == 3


@pytest.mark.parametrize(
    ("segment", "encoded"),
    [(".", "%2E"), ("..", "%2E%2E"), ("...", "%2E%2E%2E"), ("a.b", "a.b"), ("+49/1", "%2B49%2F1")],
)
def test_a_segment_of_dots_cannot_name_the_parent_path(segment: str, encoded: str) -> None:
    assert path_segment(segment) == encoded
    url = httpx.Client(base_url="http://signal").build_request("GET", f"/v1/x/{encoded}").url
    assert url.raw_path == f"/v1/x/{encoded}".encode()


# File names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "sent"),
    [
        ("../../etc/passwd\x00.pdf", "passwd.pdf"),
        ("..", "file.pdf"),
        ("C:\\Users\\me\\invoice\u202egpj.exe", "invoicegpj.exe"),
        ("CON.pdf", "_CON.pdf"),
        ("a;b,c.pdf", "a_b_c.pdf"),
        ("x" * 500 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
async def test_whatsapp_file_names_are_made_safe_for_signal(
    signal: SignalClient, upstream: Upstream, filename: str, sent: str
) -> None:
    upstream.answer(httpx.Response(201, json={"timestamp": "5"}))
    await signal.send(
        BRIDGE, [ME], "", attachments=[OutboundAttachment(b"%PDF", "application/pdf", filename)]
    )
    (item,) = json.loads(upstream.last.content)["base64_attachments"]
    encoded = base64.b64encode(b"%PDF").decode()
    assert item == f"data:application/pdf;filename={sent};base64,{encoded}"


@pytest.mark.parametrize(
    ("filename", "sent"),
    [
        ("../../etc/passwd\x00.pdf", "passwd.pdf"),
        ("../", "file.pdf"),
        ("\x00", "file.pdf"),
        ("report\u202efdp.exe", "reportfdp.exe"),
        ("nul", "_nul"),
        ("é" * 300 + ".pdf", "é" * 98 + ".pdf"),
        ("résumé (final).pdf", "résumé (final).pdf"),
    ],
)
async def test_signal_file_names_are_made_safe_for_whatsapp(
    waha: WahaClient, upstream: Upstream, filename: str, sent: str
) -> None:
    upstream.answer(httpx.Response(201, json={"id": "true_1@c.us_X"}))
    await waha.send_media(
        "default", "1@c.us", "file", data=b"%PDF", mimetype="application/pdf", filename=filename
    )
    assert json.loads(upstream.last.content)["file"]["filename"] == sent


# Upstream error texts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        # signal-cli names the recipient and quotes the message
        {"error": f'Failed to send message to "{ME}": "{SECRET_TEXT}"'},
        # an echo cut short, unquoted
        {"error": f"send failed: {SECRET_TEXT[:30]}..."},
        # Node's JSON parser quoting the start of the body
        {"message": f"Unexpected token 'A', \"{SECRET_TEXT[:10]}\"... is not valid JSON"},
        # a WAHA 500 with the request echoed and a stack trace
        {
            "statusCode": 500,
            "exception": {"message": f"cannot send {SECRET_TEXT} to {ME}", "stack": SECRET_TEXT},
            "request": {"body": {"text": SECRET_TEXT, "chatId": ME}},
        },
    ],
)
async def test_an_error_quoting_the_message_keeps_neither_text_nor_number(
    signal: SignalClient, upstream: Upstream, answer: dict[str, object]
) -> None:
    upstream.answer(httpx.Response(400, json=answer))
    with pytest.raises(ApiError) as failed:
        await signal.send(BRIDGE, [ME], SECRET_TEXT)
    # The message is what gets logged and stored: not even the start of the text is in it.
    message = str(failed.value)
    assert SECRET_TEXT[:10] not in message and "old mill" not in message
    assert ME[1:] not in message
    assert message.startswith("signal-cli send failed: HTTP 400")
    # The body stays in memory for the classifiers: no full text or number either.
    assert "old mill" not in failed.value.body and ME[1:] not in failed.value.body


async def test_an_error_keeps_the_upstreams_own_words(
    signal: SignalClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(400, json={"error": f'Unregistered user "{ME}"'}))
    with pytest.raises(ApiError) as failed:
        await signal.send(BRIDGE, [ME], "hi")
    assert str(failed.value) == 'signal-cli send failed: HTTP 400: Unregistered user "+***5678"'
