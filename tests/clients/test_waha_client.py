"""WahaClient against a scripted WAHA: requests as the spec wants them, answers as WAHA sends."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from client_helpers import Upstream, check_waha, check_waha_media, download

from whatsignal.clients import SessionInfo, WahaClient, WebhookConfig, open_http_client
from whatsignal.errors import ApiError, ClientError, TransportError
from whatsignal.testing.contract import waha_examples

BASE = "http://waha:3000"


def example(heading: str) -> Any:
    for item in waha_examples()["examples"]:
        if item.get("heading") == heading and item.get("parsed") is not None:
            return item["parsed"]
    raise LookupError(heading)


# Sessions and server -------------------------------------------------------------------


async def test_list_sessions_asks_for_all_and_parses_the_docs_example(
    waha: WahaClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(200, json=example("List Sessions")))
    sessions = await waha.list_sessions()
    assert upstream.last.method == "GET"
    assert upstream.last.url.path == "/api/sessions"
    assert upstream.last.url.params["all"] == "true"
    assert upstream.last.headers["X-Api-Key"] == "secret-key"
    assert sessions == [
        SessionInfo(
            name="default",
            status="WORKING",
            me_id="79111111@c.us",
            webhooks=(
                WebhookConfig(
                    url="https://webhook.site/11111111-1111-1111-1111-11111111",
                    events=("message", "session.status"),
                    has_hmac=False,
                ),
            ),
            engine="NOWEB",  # the docs' example says {"engine": {"engine": "NOWEB"}}
        )
    ]


async def test_list_sessions_can_leave_out_stopped_ones(
    waha: WahaClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(200, json=[]))
    assert await waha.list_sessions(all=False) == []
    assert upstream.last.url.params["all"] == "false"


async def test_get_session_without_config_or_me(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(
        httpx.Response(
            200,
            json={
                "name": "work",
                "status": "SCAN_QR_CODE",
                "me": None,
                "config": {
                    "webhooks": [
                        {"url": "http://bridge/webhook", "events": "*", "hmac": {"key": "k"}}
                    ]
                },
            },
        )
    )
    info = await waha.get_session("work")
    assert upstream.last.url.path == "/api/sessions/work"
    assert info == SessionInfo(
        "work", "SCAN_QR_CODE", None, (WebhookConfig("http://bridge/webhook", (), True),)
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"status": "WORKING"}, "name and status"),
        ([], "expected an object"),
        ({"name": "x", "status": "WORKING", "config": {"webhooks": [{"events": []}]}}, "url"),
    ],
)
async def test_malformed_session_answers_are_api_errors(
    waha: WahaClient, upstream: Upstream, body: Any, problem: str
) -> None:
    upstream.answer(httpx.Response(200, json=body))
    with pytest.raises(ApiError, match=problem) as caught:
        await waha.get_session("x")
    assert caught.value.status == 200


async def test_unknown_session_is_a_404_api_error(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(404, json={"statusCode": 404, "message": "Session not found"}))
    with pytest.raises(ApiError, match="WAHA get session failed: HTTP 404: Session not found"):
        await waha.get_session("nope")


async def test_restart_session(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(201, json={"name": "a b", "status": "STARTING"}))
    await waha.restart_session("a b")
    assert upstream.last.method == "POST"
    assert upstream.last.url.raw_path == b"/api/sessions/a%20b/restart"


async def test_server_version(waha: WahaClient, upstream: Upstream) -> None:
    version = {"version": "2024.2.3", "engine": "NOWEB", "tier": "CORE", "browser": None}
    upstream.answer(httpx.Response(200, json=version))
    assert await waha.server_version() == version
    assert upstream.last.url.path == "/api/server/version"


async def test_server_version_not_an_object(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, json=["x"]))
    with pytest.raises(ApiError, match="expected an object, got an array"):
        await waha.server_version()


# Sending ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param(
            {"id": {"fromMe": True, "remote": "49111@c.us", "id": "AAA", "_serialized": "S1"}},
            "S1",
            id="webjs-serialized",
        ),
        pytest.param({"id": "true_49111@c.us_BBB"}, "true_49111@c.us_BBB", id="id-string"),
        pytest.param(
            {"id": {"fromMe": True, "remote": "49111@c.us", "id": "CCC"}},
            "true_49111@c.us_CCC",
            id="webjs-parts",
        ),
        pytest.param({"_data": {"id": {"_serialized": "D1"}}}, "D1", id="webjs-_data"),
        pytest.param(
            {
                "key": {"remoteJid": "49111@s.whatsapp.net", "fromMe": True, "id": "3EB0"},
                "message": {"conversation": "hi"},
                "status": "PENDING",
            },
            "true_49111@c.us_3EB0",
            id="noweb-key",
        ),
        pytest.param({"status": "PENDING"}, "", id="no-id"),
        pytest.param(
            {"id": {"fromMe": True}, "_data": {"x": 1}, "key": {"remoteJid": "1@c.us"}},
            "",
            id="ids-without-values",
        ),
        pytest.param(
            {"id": {"fromMe": False, "id": "EEE"}}, "false_49111@c.us_EEE", id="webjs-no-remote"
        ),
        pytest.param(["odd"], "", id="not-an-object"),
    ],
)
async def test_send_text_takes_the_id_from_every_engine_shape(
    waha: WahaClient, upstream: Upstream, answer: Any, expected: str
) -> None:
    upstream.answer(httpx.Response(201, json=answer))
    assert await waha.send_text("default", "49111@c.us", "hello") == expected
    body = upstream.body()
    check_waha("POST", "/api/sendText", body)
    assert upstream.last.url.path == "/api/sendText"
    assert body == {
        "session": "default",
        "chatId": "49111@c.us",
        "text": "hello",
        "linkPreview": False,
    }


async def test_send_text_with_an_empty_201_means_sent_without_id(
    waha: WahaClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(201, content=b""))
    assert await waha.send_text("default", "49111@c.us", "hello") == ""


async def test_send_text_with_garbage_201_is_an_api_error(
    waha: WahaClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(201, content=b"<html>proxy</html>"))
    with pytest.raises(ApiError, match="not JSON") as caught:
        await waha.send_text("default", "49111@c.us", "hello")
    assert caught.value.status == 201


async def test_send_text_reply_and_preview(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(201, json={"id": "x"}))
    await waha.send_text(
        "s", "1@g.us", "see https://x.org", reply_to="false_1@g.us_Q", link_preview=True
    )
    body = upstream.body()
    check_waha("POST", "/api/sendText", body)
    assert body["reply_to"] == "false_1@g.us_Q"
    assert body["linkPreview"] is True


@pytest.mark.parametrize(
    ("kind", "path", "extra"),
    [
        ("image", "/api/sendImage", {"caption": "look"}),
        ("file", "/api/sendFile", {"caption": "look"}),
        ("video", "/api/sendVideo", {"caption": "look", "convert": True, "asNote": False}),
        ("voice", "/api/sendVoice", {"convert": True}),
    ],
)
async def test_send_media_per_kind(
    waha: WahaClient, upstream: Upstream, kind: Any, path: str, extra: dict[str, Any]
) -> None:
    upstream.answer(httpx.Response(201, json={"id": {"_serialized": "M1"}}))
    caption = "look" if kind != "voice" else None
    sent = await waha.send_media(
        "default",
        "49111@c.us",
        kind,
        data=b"\x00\x01bytes",
        mimetype="application/x-test",
        filename="a.bin",
        caption=caption,
        reply_to="false_49111@c.us_R",
        convert=True,
    )
    assert sent == "M1"
    assert upstream.last.url.path == path
    body = upstream.body()
    check_waha_media(path, body)
    assert body == {
        "session": "default",
        "chatId": "49111@c.us",
        "file": {
            "mimetype": "application/x-test",
            "data": base64.b64encode(b"\x00\x01bytes").decode(),
            "filename": "a.bin",
        },
        "reply_to": "false_49111@c.us_R",
        **extra,
    }


@pytest.mark.parametrize(("kind", "name"), [("voice", "voice.ogg"), ("video", "video.mp4")])
async def test_voice_and_video_get_a_filename_because_waha_requires_one(
    waha: WahaClient, upstream: Upstream, kind: Any, name: str
) -> None:
    upstream.answer(httpx.Response(201, json={"id": "x"}))
    await waha.send_media("s", "1@c.us", kind, data=b"x", mimetype="m/m", filename=None)
    body = upstream.body()
    check_waha_media(f"/api/send{kind.capitalize()}", body)
    assert body["file"]["filename"] == name
    assert body["convert"] is False


async def test_image_without_filename_or_caption(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(201, json={"id": "x"}))
    await waha.send_media("s", "1@c.us", "image", data=b"x", mimetype="image/jpeg", filename=None)
    body = upstream.body()
    assert "filename" not in body["file"]
    assert "caption" not in body
    assert "convert" not in body


async def test_send_media_refuses_a_voice_caption_and_unknown_kinds(waha: WahaClient) -> None:
    with pytest.raises(ValueError, match="caption"):
        await waha.send_media(
            "s", "1@c.us", "voice", data=b"x", mimetype="audio/ogg", filename=None, caption="hi"
        )
    with pytest.raises(ValueError, match="unknown media kind"):
        await waha.send_media(
            "s",
            "1@c.us",
            "sticker",  # type: ignore[arg-type]
            data=b"x",
            mimetype="image/webp",
            filename=None,
        )


async def test_react_is_a_put_and_empty_removes(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, json={}), httpx.Response(200, content=b""))
    await waha.react("default", "false_1@c.us_A", "👍")
    await waha.react("default", "false_1@c.us_A", "")
    assert [r.method for r in upstream.requests] == ["PUT", "PUT"]
    assert upstream.last.url.path == "/api/reaction"
    check_waha("PUT", "/api/reaction", upstream.body(0))
    assert upstream.body(0) == {
        "session": "default",
        "messageId": "false_1@c.us_A",
        "reaction": "👍",
    }
    assert upstream.body(1)["reaction"] == ""


async def test_send_seen_with_and_without_ids(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(201, json={}), httpx.Response(201, json={}))
    await waha.send_seen("s", "1@c.us")
    await waha.send_seen("s", "1@c.us", message_ids=["false_1@c.us_A", "false_1@c.us_B"])
    for index in (0, 1):
        check_waha("POST", "/api/sendSeen", upstream.body(index))
    assert upstream.body(0) == {"session": "s", "chatId": "1@c.us"}
    assert upstream.body(1)["messageIds"] == ["false_1@c.us_A", "false_1@c.us_B"]


async def test_typing(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(201), httpx.Response(201))
    await waha.start_typing("s", "1@c.us")
    await waha.stop_typing("s", "1@c.us")
    assert [r.url.path for r in upstream.requests] == ["/api/startTyping", "/api/stopTyping"]
    for index, path in ((0, "/api/startTyping"), (1, "/api/stopTyping")):
        check_waha("POST", path, upstream.body(index))
        assert upstream.body(index) == {"session": "s", "chatId": "1@c.us"}


async def test_edit_and_delete_escape_the_path(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, json={}), httpx.Response(200, json={}))
    await waha.edit_message("s", "49111@c.us", "true_49111@c.us_AAA", "fixed")
    await waha.delete_message("s", "49111@c.us", "true_49111@c.us_AAA")
    expected = b"/api/s/chats/49111%40c.us/messages/true_49111%40c.us_AAA"
    assert [r.method for r in upstream.requests] == ["PUT", "DELETE"]
    assert all(r.url.raw_path == expected for r in upstream.requests)
    check_waha("PUT", "/api/{session}/chats/{chatId}/messages/{messageId}", upstream.body(0))
    assert upstream.body(0) == {"text": "fixed", "linkPreview": False}
    assert upstream.requests[1].content == b""


# Names -----------------------------------------------------------------------------------


async def test_contact_name_prefers_the_saved_name(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, json=example("Get contact")))
    assert await waha.contact_name("default", "11231231231@c.us") == "Contact Name"
    assert upstream.last.url.path == "/api/contacts"
    assert dict(upstream.last.url.params) == {
        "contactId": "11231231231@c.us",
        "session": "default",
    }


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(200, json={"name": None, "pushname": " Bob "}), "Bob"),
        (httpx.Response(200, json={"name": "", "shortName": "Bo"}), "Bo"),
        (httpx.Response(200, json={"id": "1@c.us"}), None),
        (httpx.Response(200, content=b""), None),
        (httpx.Response(200, content=b"not json"), None),
        (httpx.Response(200, json=[]), None),
        (httpx.Response(404, json={"message": "Not Found"}), None),
    ],
)
async def test_contact_name_fallbacks(
    waha: WahaClient, upstream: Upstream, answer: httpx.Response, expected: str | None
) -> None:
    upstream.answer(answer)
    assert await waha.contact_name("default", "1@c.us") == expected


async def test_contact_name_other_errors_propagate(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(500, json={"exception": {"message": "boom"}}))
    with pytest.raises(ApiError, match="boom"):
        await waha.contact_name("default", "1@c.us")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(200, json={"id": "1@g.us", "subject": "Work Group"}), "Work Group"),
        (httpx.Response(200, json={"groupMetadata": {"subject": "Meta"}}), "Meta"),
        (httpx.Response(200, json={"name": "Named"}), "Named"),
        (httpx.Response(200, json={"groupMetadata": "odd"}), None),
        (httpx.Response(200, json=None), None),
        (httpx.Response(404, json={"message": "Not Found"}), None),
    ],
)
async def test_group_name(
    waha: WahaClient, upstream: Upstream, answer: httpx.Response, expected: str | None
) -> None:
    upstream.answer(answer)
    assert await waha.group_name("default", "1231231232@g.us") == expected
    assert upstream.last.url.raw_path == b"/api/default/groups/1231231232%40g.us"


async def test_group_name_other_errors_propagate(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.ConnectError("refused"), httpx.Response(403, json={"message": "no"}))
    with pytest.raises(TransportError):
        await waha.group_name("default", "1@g.us")
    with pytest.raises(ApiError, match="HTTP 403"):
        await waha.group_name("default", "1@g.us")


# Media download --------------------------------------------------------------------------


FILE = "/api/files/default/false_1@c.us_A.jpeg"
"""A received file's path as WAHA writes it (``@`` is kept: it is legal in a path)."""


@pytest.mark.parametrize(
    ("url", "fetched"),
    [
        pytest.param(f"{BASE}{FILE}", f"{BASE}{FILE}", id="the WAHA host"),
        pytest.param(f"http://WAHA:3000{FILE}", f"{BASE}{FILE}", id="the WAHA host, upper case"),
        pytest.param(f"http://localhost:3000{FILE}", f"{BASE}{FILE}", id="localhost"),
        pytest.param(f"https://127.0.0.1{FILE}", f"{BASE}{FILE}", id="127.0.0.1"),
        pytest.param(f"http://[::1]:3000{FILE}", f"{BASE}{FILE}", id="::1"),
        pytest.param(f"http://10.0.0.5:3000{FILE}", f"{BASE}{FILE}", id="another IP"),
        pytest.param(f"http://evil.example{FILE}", f"{BASE}{FILE}", id="another host"),
        pytest.param(f"https://waha.example.org:8443{FILE}", f"{BASE}{FILE}", id="public name"),
        pytest.param(f"http://waha:3001{FILE}", f"{BASE}{FILE}", id="another port"),
        pytest.param(FILE, f"{BASE}{FILE}", id="relative"),
        pytest.param(f"//evil.example{FILE}", f"{BASE}{FILE}", id="scheme-relative"),
        pytest.param(
            f"http://localhost:3000{FILE}?x=1&y=%20",
            f"{BASE}{FILE}?x=1&y=%20",
            id="query kept",
        ),
        pytest.param(f"http://localhost:3000{FILE}#frag", f"{BASE}{FILE}", id="fragment dropped"),
        pytest.param(
            f"https://example.org/waha{FILE}", f"{BASE}{FILE}", id="public base path dropped"
        ),
        pytest.param(
            "http://h/api/files/a/./b/../c.jpeg", f"{BASE}/api/files/a/c.jpeg", id="dots resolved"
        ),
        pytest.param(f"/..{FILE}", f"{BASE}{FILE}", id="dots above the root"),
    ],
)
async def test_download_media_always_from_the_configured_waha(
    waha: WahaClient, upstream: Upstream, url: str, fetched: str
) -> None:
    upstream.answer(httpx.Response(200, content=b"JPEG", headers={"content-type": "image/jpeg"}))
    data, content_type = await download(waha, url, max_bytes=100)
    assert (data, content_type) == (b"JPEG", "image/jpeg")
    assert str(upstream.last.url) == fetched
    assert upstream.last.headers["X-Api-Key"] == "secret-key"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        pytest.param(f"{BASE}/api/files/../api/sessions", "not under", id="traversal, absolute"),
        pytest.param("/api/files/../api/sessions", "not under", id="traversal, relative"),
        pytest.param(
            f"{BASE}/api/files/%2e%2e/%2E%2E/api/sessions", "not under", id="traversal, encoded"
        ),
        pytest.param(f"{BASE}/api/files%2f..%2fsessions", "separator", id="encoded slash"),
        pytest.param(f"{BASE}/api/files/a%5c..%5c/x", "separator", id="encoded backslash"),
        pytest.param(f"{BASE}/api/sendText", "not under", id="another API"),
        pytest.param(f"{BASE}/api/files/", "not under", id="no file name"),
        pytest.param(f"{BASE}/api/filesx/y.jpeg", "not under", id="files prefix only"),
        pytest.param("http://169.254.169.254/latest/meta-data", "not under", id="metadata"),
        pytest.param("file:///api/files/x.jpeg", "scheme", id="file"),
        pytest.param("ftp://waha:3000/api/files/x", "scheme", id="ftp"),
        pytest.param("javascript:alert(1)", "scheme", id="javascript"),
        pytest.param(f"http://user:pw@waha:3000{FILE}", "credentials", id="credentials"),
        pytest.param(f"http://user@localhost:3000{FILE}", "credentials", id="user only"),
        pytest.param("http://[::1", "not a valid URL", id="garbage"),
        pytest.param("", "not under", id="empty"),
    ],
)
async def test_download_media_refuses_without_a_request(
    waha: WahaClient, upstream: Upstream, url: str, why: str
) -> None:
    with pytest.raises(ClientError, match=why) as caught:
        await download(waha, url, max_bytes=100)
    assert not isinstance(caught.value, ApiError | TransportError)
    assert upstream.requests == []


async def test_download_media_expired_file_is_a_404(waha: WahaClient, upstream: Upstream) -> None:
    expired = {
        "error": {
            "code": 404,
            "key": "FILE_NOT_FOUND",
            "message": "File not found",
            "details": "File not found or no longer available",
        }
    }
    upstream.answer(httpx.Response(404, json=expired))
    with pytest.raises(ApiError, match="File not found") as caught:
        await download(waha, f"{BASE}/api/files/s/x.jpeg", max_bytes=100)
    assert caught.value.status == 404


async def test_download_media_size_cap(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, content=b"x" * 101))
    with pytest.raises(ApiError, match="larger than the limit of 100 bytes"):
        await download(waha, f"{BASE}/api/files/s/x.jpeg", max_bytes=100)
    upstream.answer(httpx.Response(200, content=b"x" * 100))
    data, content_type = await download(waha, f"{BASE}/api/files/s/x.jpeg", max_bytes=100)
    assert len(data) == 100
    assert content_type is None


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://localhost:3000/api/files/s/x.jpeg?a=b", id="WAHA's default base"),
        pytest.param("https://proxy.example/waha/api/files/s/x.jpeg?a=b", id="the proxy itself"),
        pytest.param("https://public.example/wa/api/files/s/x.jpeg?a=b", id="another prefix"),
    ],
)
async def test_download_media_keeps_a_base_path_prefix(url: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "x"})

    async with open_http_client(
        "https://proxy.example/waha",
        timeout=5,
        api_key="secret-key",
        transport=httpx.MockTransport(handler),
    ) as http:
        waha = WahaClient(http)
        await download(waha, url, max_bytes=10)
        assert await waha.send_text("s", "1@c.us", "x") == "x"
    assert str(seen[0].url) == "https://proxy.example/waha/api/files/s/x.jpeg?a=b"
    assert seen[0].headers["X-Api-Key"] == "secret-key"
    assert seen[1].url.path == "/waha/api/sendText"


# Errors ----------------------------------------------------------------------------------


async def test_session_not_working_422_keeps_waha_words(
    waha: WahaClient, upstream: Upstream
) -> None:
    body = {
        "error": "Session status is not as expected. Try again later or restart the session",
        "session": "default",
        "status": "STARTING",
        "expected": ["WORKING"],
    }
    upstream.answer(httpx.Response(422, json=body))
    with pytest.raises(ApiError) as caught:
        await waha.send_text("default", "4915112345678@c.us", "secret text")
    error = caught.value
    assert error.status == 422
    assert str(error) == (
        "WAHA sendText failed: HTTP 422: Session status is not as expected. Try again later"
        " or restart the session (session status STARTING)"
    )
    assert json.loads(error.body)["expected"] == ["WORKING"]


async def test_500_body_loses_the_request_echo_and_the_stack(
    waha: WahaClient, upstream: Upstream
) -> None:
    body = {
        "statusCode": 500,
        "timestamp": "2026-01-01T00:00:00.000Z",
        "exception": {
            "message": "Could not get the quoted message.",
            "name": "Error",
            "stack": "Error: at x.js:1",
        },
        "request": {
            "path": "/api/sendText",
            "method": "POST",
            "body": {"chatId": "4915112345678@c.us", "text": "secret text"},
        },
        "version": {"version": "2026.7.1"},
    }
    upstream.answer(httpx.Response(500, json=body))
    with pytest.raises(ApiError) as caught:
        await waha.send_text("default", "4915112345678@c.us", "secret text", reply_to="q")
    error = caught.value
    assert "Could not get the quoted message." in str(error)
    assert "secret text" not in error.body
    assert "4915112345678" not in error.body
    assert "stack" not in error.body
    assert json.loads(error.body)["exception"]["message"] == "Could not get the quoted message."


async def test_401_from_a_wrong_api_key(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(401, json={"message": "Unauthorized", "statusCode": 401}))
    with pytest.raises(ApiError, match="HTTP 401: Unauthorized"):
        await waha.list_sessions()


async def test_redirects_are_not_followed(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(302, headers={"location": "http://evil.example/"}))
    with pytest.raises(ApiError) as caught:
        await download(waha, f"{BASE}/api/files/x", max_bytes=10)
    assert caught.value.status == 302
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
async def test_transport_failures(waha: WahaClient, upstream: Upstream, exc: Exception) -> None:
    upstream.answer(exc)
    with pytest.raises(TransportError, match=f"WAHA sendText: no answer \\({type(exc).__name__}"):
        await waha.send_text("default", "4915112345678@c.us", "secret text")
