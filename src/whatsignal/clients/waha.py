"""WahaClient: the WAHA (WhatsApp HTTP API) endpoints the bridge uses, one method per call.

The client is handed an :class:`httpx.AsyncClient` (see
:func:`~whatsignal.clients.open_http_client`) and owns nothing else: no retries, no
background tasks. Each method performs exactly one request; failures are raised as
:class:`~whatsignal.errors.TransportError` / :class:`~whatsignal.errors.ApiError` and
classified by :func:`whatsignal.reliability.classify_waha`.

Wire facts this module encodes (``shared/reference/api-contracts.md`` section 1):

- ``session`` travels in the body of the send endpoints, not in the path;
- ``PUT /api/reaction`` (not POST), ``""`` removes a reaction;
- path segments are percent-encoded (``@`` -> ``%40``) as WAHA's docs require.

The answers differ by engine; reading them is the job of
:mod:`whatsignal.clients._waha_parse`. Which URLs a received file may be downloaded from is
decided in :mod:`whatsignal.clients._waha_media`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import attrs
import httpx

from whatsignal.clients import _waha_media
from whatsignal.clients._http import (
    expect_dict,
    expect_list,
    fetch_capped,
    parse_json,
    path_segment,
    request,
)
from whatsignal.clients._spool import FileData, Spool
from whatsignal.clients._streamed import Base64, StreamedJson
from whatsignal.clients._waha_lids import WahaLids
from whatsignal.clients._waha_pairing import WahaPairing
from whatsignal.clients._waha_parse import (
    SessionInfo,
    WebhookConfig,
    read_new_message_id,
    read_sent_id,
    read_session,
)
from whatsignal.clients._waha_reads import WahaReads
from whatsignal.convert.safe import safe_filename

__all__ = ["MediaKind", "SessionInfo", "WahaClient", "WebhookConfig"]

MediaKind = Literal["image", "video", "voice", "file"]

_MEDIA_ENDPOINTS: dict[str, str] = {
    "image": "/api/sendImage",
    "video": "/api/sendVideo",
    "voice": "/api/sendVoice",
    "file": "/api/sendFile",
}


@attrs.define(eq=False)
class WahaClient(WahaReads, WahaPairing):
    """Typed calls to one WAHA server.

    Args:
        http: a client whose ``base_url`` is the WAHA root and which sends ``X-Api-Key``.
    """

    _http: httpx.AsyncClient
    sessions_path: str = "/api/sessions"
    """Where WAHA lists its sessions (``whatsapp.sessionApiPath``)."""

    # Server and sessions ---------------------------------------------------------------

    async def server_version(self) -> dict[str, Any]:
        """``GET /api/server/version``: ``{version, engine, tier, browser, ...}``."""
        op = "WAHA server version"
        response = await request(self._http, "GET", "/api/server/version", operation=op)
        return expect_dict(op, response, parse_json(op, response))

    async def list_sessions(self, *, all: bool = True) -> list[SessionInfo]:
        """``GET /api/sessions``; with ``all`` (the default) stopped sessions are listed too.

        Without ``all=true`` WAHA hides STOPPED sessions, which then look "not found" (a
        trap the Go version fell into).
        """
        op = "WAHA list sessions"
        response = await request(
            self._http,
            "GET",
            self.sessions_path,
            operation=op,
            params={"all": "true" if all else "false"},
        )
        items = expect_list(op, response, parse_json(op, response))
        return [read_session(op, response, item) for item in items]

    async def get_session(self, name: str) -> SessionInfo:
        """``GET /api/sessions/{name}``; an unknown session is an :class:`ApiError` 404."""
        op = "WAHA get session"
        response = await request(
            self._http, "GET", f"/api/sessions/{path_segment(name)}", operation=op
        )
        return read_session(op, response, parse_json(op, response))

    async def restart_session(self, name: str) -> None:
        """``POST /api/sessions/{name}/restart`` (stop, then start)."""
        await request(
            self._http,
            "POST",
            f"/api/sessions/{path_segment(name)}/restart",
            operation="WAHA restart session",
        )

    # Sending ---------------------------------------------------------------------------

    async def send_text(
        self,
        session: str,
        chat_id: str,
        text: str,
        *,
        reply_to: str | None = None,
        link_preview: bool = False,
        message_id: str | None = None,
    ) -> str:
        """``POST /api/sendText`` and return the new message's serialised id.

        Args:
            reply_to: the serialised id of the message to quote.
            link_preview: let WhatsApp render a preview of the first URL (WAHA's default
                is on; the bridge asks for it explicitly).
            message_id: a pre-generated id (:meth:`new_message_id`) the message is to carry;
                GOWS and NOWEB honour it, so sending it again is the same message.

        Returns:
            The id (``true_<chat>_<id>``) WhatsApp gave the message, or ``""`` when WAHA
            accepted the message but its engine reported no id (WEBJS versions answer 201
            with an empty body). The message was sent either way: never resend on ``""``.
        """
        body: dict[str, Any] = {
            "session": session,
            "chatId": chat_id,
            "text": text,
            "linkPreview": link_preview,
        }
        if reply_to is not None:
            body["reply_to"] = reply_to
        if message_id is not None:
            body["id"] = message_id
        op = "WAHA sendText"
        response = await request(self._http, "POST", "/api/sendText", operation=op, json_body=body)
        return read_sent_id(op, response, chat_id)

    async def new_message_id(self, session: str) -> str:
        """``GET /api/{session}/new-message-id``: an id to pre-generate a message with (its
        bare key, e.g. ``3EB0…``; the sent message's serialised id is ``true_<chat>_<key>``)."""
        op = "WAHA new message id"
        response = await request(
            self._http, "GET", f"/api/{path_segment(session)}/new-message-id", operation=op
        )
        return read_new_message_id(op, response)

    async def send_media(
        self,
        session: str,
        chat_id: str,
        kind: MediaKind,
        *,
        data: FileData,
        mimetype: str,
        filename: str | None,
        caption: str | None = None,
        reply_to: str | None = None,
        convert: bool = False,
    ) -> str:
        """Send a file inline (base64) with ``sendImage``/``sendVideo``/``sendVoice``/``sendFile``.

        The JSON body is streamed (:class:`~whatsignal.clients._streamed.StreamedJson`): the
        file's base64 is written in pieces as the request goes, read from ``data``'s spool.

        Args:
            data: the file's bytes, or the spool it was downloaded into.
            kind: picks the endpoint. ``voice`` must be OGG/Opus and ``video`` MP4/H.264
                unless ``convert`` asks WAHA to transcode (voice and video only).
            filename: required by WAHA for voice and video; a default is used when None. It
                is the sender's, so it is made safe first
                (:func:`~whatsignal.convert.safe.safe_filename`: no path, no control or bidi
                characters, bounded).
            caption: not supported for ``voice`` (WhatsApp voice notes have none): send it
                as a separate text.

        Returns:
            The new message's id, or ``""`` as for :meth:`send_text`.

        Raises:
            ValueError: a caption for a voice note, or an unknown kind.
        """
        endpoint = _MEDIA_ENDPOINTS.get(kind)
        if endpoint is None:
            raise ValueError(f"unknown media kind {kind!r}")
        if kind == "voice" and caption:
            raise ValueError("WhatsApp voice notes have no caption; send the text separately")
        file: dict[str, Any] = {"mimetype": mimetype}
        if filename:
            file["filename"] = safe_filename(filename, mimetype)
        elif kind in ("voice", "video"):
            file["filename"] = "voice.ogg" if kind == "voice" else "video.mp4"
        body: dict[str, Any] = {"session": session, "chatId": chat_id, "file": file}
        if kind in ("voice", "video"):
            body["convert"] = convert
        if kind == "video":
            body["asNote"] = False
        if caption and kind != "voice":
            body["caption"] = caption
        if reply_to is not None:
            body["reply_to"] = reply_to
        op = f"WAHA {endpoint.rsplit('/', 1)[-1]}"
        streamed = StreamedJson({**body, "file": {**file, "data": Base64("", data)}})
        response = await request(
            self._http, "POST", endpoint, operation=op, json_body=body, stream=streamed
        )
        return read_sent_id(op, response, chat_id)

    async def react(self, session: str, message_id: str, emoji: str) -> None:
        """``PUT /api/reaction`` on a message; an empty ``emoji`` removes the reaction."""
        body = {"session": session, "messageId": message_id, "reaction": emoji}
        await request(self._http, "PUT", "/api/reaction", operation="WAHA reaction", json_body=body)

    async def send_poll_vote(
        self, session: str, chat_id: str, poll_id: str, votes: Sequence[str]
    ) -> None:
        """``POST /api/sendPollVote``: vote on the poll message ``poll_id`` for the options
        named ``votes`` (none: withdraw the vote)."""
        body = {"session": session, "chatId": chat_id, "pollMessageId": poll_id, "votes": [*votes]}
        await request(
            self._http, "POST", "/api/sendPollVote", operation="WAHA sendPollVote", json_body=body
        )

    async def send_seen(
        self, session: str, chat_id: str, *, message_ids: Sequence[str] = ()
    ) -> None:
        """``POST /api/sendSeen``: mark messages read; with no ids, the chat's unread ones."""
        body: dict[str, Any] = {"session": session, "chatId": chat_id}
        if message_ids:
            body["messageIds"] = list(message_ids)
        await request(
            self._http, "POST", "/api/sendSeen", operation="WAHA sendSeen", json_body=body
        )

    async def start_typing(self, session: str, chat_id: str) -> None:
        """``POST /api/startTyping`` in a chat."""
        body = {"session": session, "chatId": chat_id}
        await request(
            self._http, "POST", "/api/startTyping", operation="WAHA startTyping", json_body=body
        )

    async def subscribe_presence(self, session: str, chat_id: str) -> None:
        """``POST /api/{session}/presence/{chatId}/subscribe``: WAHA sends the chat's
        ``presence.update`` events from now on (typing)."""
        path = f"/api/{path_segment(session)}/presence/{path_segment(chat_id)}/subscribe"
        await request(self._http, "POST", path, operation="WAHA presence subscribe")

    async def stop_typing(self, session: str, chat_id: str) -> None:
        """``POST /api/stopTyping`` in a chat."""
        body = {"session": session, "chatId": chat_id}
        await request(
            self._http, "POST", "/api/stopTyping", operation="WAHA stopTyping", json_body=body
        )

    async def edit_message(
        self,
        session: str,
        chat_id: str,
        message_id: str,
        text: str,
        *,
        link_preview: bool = False,
    ) -> None:
        """``PUT /api/{session}/chats/{chatId}/messages/{messageId}``: replace a text."""
        body = {"text": text, "linkPreview": link_preview}
        await request(
            self._http,
            "PUT",
            _message_path(session, chat_id, message_id),
            operation="WAHA edit message",
            json_body=body,
        )

    async def delete_message(self, session: str, chat_id: str, message_id: str) -> None:
        """``DELETE /api/{session}/chats/{chatId}/messages/{messageId}``: revoke for everyone."""
        await request(
            self._http,
            "DELETE",
            _message_path(session, chat_id, message_id),
            operation="WAHA delete message",
        )

    # LIDs ------------------------------------------------------------------------------

    @property
    def lids(self) -> WahaLids:
        """The ``@lid`` <-> phone number lookups (``/api/{session}/lids/...``)."""
        return WahaLids(self._http)

    # Media -----------------------------------------------------------------------------

    def media_url(self, url: str) -> httpx.URL:
        """The URL to fetch ``media.url`` from: the path under ``/api/files/`` and the query
        of ``url``, on the configured WAHA base URL, never on the host ``url`` names (the rule
        is stated in :mod:`whatsignal.clients._waha_media`).

        Raises:
            ClientError: the URL is refused (not one of WAHA's received files).
        """
        return _waha_media.media_url(self._http.base_url, url)

    async def download_media(self, url: str, *, max_bytes: int, into: Spool) -> str | None:
        """Download a received file from WAHA, streamed into the empty spool ``into``, at most
        ``max_bytes`` long.

        Returns:
            The content type as WAHA sent it, or None.

        Raises:
            ClientError: the URL is refused, and no request was made (see :meth:`media_url`).
            ApiError: an error answer (404 once the file expired: WAHA keeps files for
                ``WHATSAPP_FILES_LIFETIME``, 180 s by default), or a file over the cap.
            TransportError: no answer.
            ClientError: the temporary file cannot be written.
        """
        target = self.media_url(url)
        return await fetch_capped(
            self._http, target, operation="WAHA media download", max_bytes=max_bytes, into=into
        )


# Paths -------------------------------------------------------------------------------


def _message_path(session: str, chat_id: str, message_id: str) -> str:
    return (
        f"/api/{path_segment(session)}/chats/{path_segment(chat_id)}"
        f"/messages/{path_segment(message_id)}"
    )
