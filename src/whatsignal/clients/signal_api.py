"""SignalClient: the signal-cli-rest-api endpoints the bridge uses, one method per call.

Like :class:`~whatsignal.clients.WahaClient` it is handed an :class:`httpx.AsyncClient`, does
one request per method and never retries; failures are classified by
:func:`whatsignal.reliability.classify_signal` (signal-cli answers 400 for transient
failures too, and a 429 may come after the message was delivered, so the status alone
decides nothing).

Wire facts this module encodes (``shared/reference/api-contracts.md`` section 2):

- ``/v1/receive/{number}`` is a long poll in normal/native mode, and a websocket in
  json-rpc mode (:meth:`SignalClient.receive_websocket_url`);
- numbers in paths are percent-encoded (``+`` -> ``%2B``), which the server unescapes;
- attachments go out as ``data:<mime>;filename=<name>;base64,<data>`` strings, the only
  form that carries a file name (made safe by :func:`~whatsignal.convert.safe.safe_filename`);
- a received attachment is fetched by its id only when the id is one signal-cli could have
  given (:func:`attachment_id_ok`): ``GET /v1/attachments/.`` would be the list of every file.

The answers of ``/v1/about``, ``/v2/send`` (two shapes) and ``/v1/receive`` (sometimes
broken) are read by :mod:`whatsignal.clients._signal_parse`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Literal, TypeGuard

import attrs
import httpx

from whatsignal.clients._http import expect_list, fetch_capped, parse_json, path_segment, request
from whatsignal.clients._signal_groups import SignalGroups
from whatsignal.clients._signal_parse import About, read_about, read_received, read_send_timestamp
from whatsignal.clients._spool import FileData, Spool, data_size
from whatsignal.clients._streamed import Base64, StreamedJson
from whatsignal.convert.safe import safe_filename
from whatsignal.errors import ClientError

__all__ = ["About", "OutboundAttachment", "SignalClient", "attachment_id_ok"]

# Characters that would let a file name break out of its part of the data URI, which
# signal-cli-rest-api splits on ";" and on the last "base64,".
_FILENAME_UNSAFE = str.maketrans(dict.fromkeys(';,/\\"\r\n\t\x00', "_"))

# signal-cli stores a received file as <attachments>/<base><extension> (AttachmentStore): the
# base is the remote id with everything outside [A-Za-z0-9_.-] replaced by "_", the extension
# is "." and what follows the last dot of the sender's file name (or one guessed from the
# type). So an id starts with a base character, and its extension holds no dot, separator or
# control character.
_ATTACHMENT_ID = re.compile(
    r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:\.[^./\\\x00-\x1f\x7f-\x9f\ud800-\udfff]*)?"
)
ATTACHMENT_ID_MAX_BYTES = 255
"""The longest file name a file system holds, so the longest id signal-cli can give."""


def attachment_id_ok(attachment_id: str | None) -> TypeGuard[str]:
    """Whether ``attachment_id`` is an id signal-cli can have given a received file.

    Strict about what could leave the attachment directory or name it (empty, ``.``, ``..``,
    ``../x``, ``a/b``, ``a\\b``, a leading dot, control characters, over 255 bytes); lenient
    about the extension, which is the sender's (``Jq2f...Xf.pdf``, ``123.jpég``, ``id.my file``).
    """
    if not attachment_id or ".." in attachment_id:
        return False
    if _ATTACHMENT_ID.fullmatch(attachment_id) is None:
        return False
    return len(attachment_id.encode("utf-8")) <= ATTACHMENT_ID_MAX_BYTES


@attrs.frozen
class OutboundAttachment:
    """A file to send with :meth:`SignalClient.send`: its bytes, or the spool of a download
    (read in pieces while the request is sent)."""

    data: FileData = attrs.field(repr=lambda data: f"<{data_size(data)} bytes>")
    content_type: str
    filename: str | None = None

    def wire_head(self) -> str:
        """The ``base64_attachments`` item (``data:<mime>;filename=<name>;base64,<data>``) up
        to its base64 data.

        The file name is made safe (:func:`~whatsignal.convert.safe.safe_filename`: no path,
        no control or bidi characters, bounded), and characters that would end its part of the
        URI (``;``, ``,``) are replaced by ``_``.
        """
        mime = self.content_type.split(";", 1)[0].strip() or "application/octet-stream"
        name = ""
        if self.filename:
            name = f";filename={safe_filename(self.filename, mime).translate(_FILENAME_UNSAFE)}"
        return f"data:{mime}{name};base64,"


@attrs.define(eq=False)
class SignalClient:
    """Typed calls to one signal-cli-rest-api server.

    Args:
        http: a client whose ``base_url`` is the server root (no authentication exists).
    """

    _http: httpx.AsyncClient

    @property
    def group_api(self) -> SignalGroups:
        """The group and profile calls portals need (``/v1/groups/...``)."""
        return SignalGroups(self._http)

    async def about(self) -> About:
        """``GET /v1/about``: mode, version and capabilities (the receive mode comes from here)."""
        op = "signal-cli about"
        response = await request(self._http, "GET", "/v1/about", operation=op)
        return read_about(op, response)

    async def health(self) -> bool:
        """``GET /v1/health``: True on a 2xx answer, False on an error answer or none.

        A readiness probe, so it reports rather than raises :class:`ClientError`.
        """
        try:
            await request(self._http, "GET", "/v1/health", operation="signal-cli health")
        except ClientError:
            return False
        return True

    async def send(
        self,
        number: str,
        recipients: Sequence[str],
        message: str,
        *,
        quote_timestamp: int | None = None,
        quote_author: str | None = None,
        quote_message: str | None = None,
        attachments: Sequence[OutboundAttachment] = (),
        edit_timestamp: int | None = None,
        text_mode: str | None = None,
        view_once: bool = False,
    ) -> int:
        """``POST /v2/send`` and return the sent message's Signal timestamp (ms).

        Args:
            number: the bridge number that sends.
            recipients: numbers, uuids, or one ``group.<id>``.
            quote_timestamp, quote_author: the quoted message (signal-cli needs both).
            edit_timestamp: replace an earlier message of ours instead of sending anew.
            text_mode: ``"normal"`` or ``"styled"`` (``*italic*``, ``**bold**``, ...).
            view_once: the attachments can be viewed once (upstream refuses it without any).

        Returns:
            The timestamp, from either answer shape. When the newer array shape reports
            per-recipient errors but some direct recipient (or any group member) got the
            message, the timestamp is returned: a resend would duplicate it for them.

        Raises:
            ApiError: an error answer; also a 201 whose errors cover every direct
                recipient (the message reached nobody; the reasons, such as
                ``NETWORK_FAILURE`` or ``UNREGISTERED_FAILURE``, are in the message), or
                an answer without a usable timestamp.
            TransportError: no answer.
            ValueError: no recipients, or a quote timestamp without its author.
        """
        if not recipients:
            raise ValueError("send needs at least one recipient")
        if quote_timestamp is not None and not quote_author:
            raise ValueError("a quote needs quote_author as well as quote_timestamp")
        body: dict[str, Any] = {
            "number": number,
            "recipients": list(recipients),
            "message": message,
        }
        if quote_timestamp is not None:
            body["quote_timestamp"] = quote_timestamp
            body["quote_author"] = quote_author
            if quote_message is not None:
                body["quote_message"] = quote_message
        if edit_timestamp is not None:
            body["edit_timestamp"] = edit_timestamp
        if text_mode is not None:
            body["text_mode"] = text_mode
        if view_once and attachments:
            body["view_once"] = True
        op = "signal-cli send"
        if not attachments:
            response = await request(self._http, "POST", "/v2/send", operation=op, json_body=body)
            return read_send_timestamp(op, response, recipients)
        files = [Base64(a.wire_head(), a.data) for a in attachments]
        streamed = StreamedJson({**body, "base64_attachments": files})
        response = await request(
            self._http, "POST", "/v2/send", operation=op, json_body=body, stream=streamed
        )
        return read_send_timestamp(op, response, recipients)

    async def react(
        self,
        number: str,
        recipient: str,
        emoji: str,
        *,
        target_author: str,
        target_timestamp: int,
        remove: bool = False,
    ) -> None:
        """``POST`` (or with ``remove``, ``DELETE``) ``/v1/reactions/{number}``."""
        body = {
            "recipient": recipient,
            "reaction": emoji,
            "target_author": target_author,
            "timestamp": target_timestamp,
        }
        await request(
            self._http,
            "DELETE" if remove else "POST",
            f"/v1/reactions/{path_segment(number)}",
            operation="signal-cli reaction",
            json_body=body,
        )

    async def receipt(
        self,
        number: str,
        recipient: str,
        *,
        timestamp: int,
        receipt_type: Literal["read", "viewed"] = "read",
    ) -> None:
        """``POST /v1/receipts/{number}``: tell ``recipient`` we read their message."""
        body = {"recipient": recipient, "receipt_type": receipt_type, "timestamp": timestamp}
        await request(
            self._http,
            "POST",
            f"/v1/receipts/{path_segment(number)}",
            operation="signal-cli receipt",
            json_body=body,
        )

    async def typing(self, number: str, recipient: str, *, on: bool) -> None:
        """``PUT`` (start) or ``DELETE`` (stop) ``/v1/typing-indicator/{number}``."""
        await request(
            self._http,
            "PUT" if on else "DELETE",
            f"/v1/typing-indicator/{path_segment(number)}",
            operation="signal-cli typing",
            json_body={"recipient": recipient},
        )

    async def create_poll(
        self, number: str, recipient: str, question: str, answers: Sequence[str], *, multiple: bool
    ) -> int:
        """``POST /v1/polls/{number}``: a Signal poll; returns its timestamp (ms)."""
        op = "signal-cli poll"
        body = {
            "recipient": recipient,
            "question": question,
            "answers": list(answers),
            "allow_multiple_selections": multiple,
        }
        path = f"/v1/polls/{path_segment(number)}"
        response = await request(self._http, "POST", path, operation=op, json_body=body)
        return read_send_timestamp(op, response, [recipient])

    async def vote_poll(
        self, number: str, recipient: str, *, author: str, timestamp: int, answers: Sequence[int]
    ) -> None:
        """``POST /v1/polls/{number}/vote``: vote on the poll ``author`` sent at ``timestamp``
        for ``answers`` (numbered from 1; at least one)."""
        body = {
            "recipient": recipient,
            "poll_author": author,
            "poll_timestamp": str(timestamp),
            "selected_answers": list(answers),
        }
        path = f"/v1/polls/{path_segment(number)}/vote"
        await request(self._http, "POST", path, operation="signal-cli poll vote", json_body=body)

    async def rate_limit_challenge(
        self, number: str, *, challenge_token: str, captcha: str
    ) -> None:
        """``POST /v1/accounts/{number}/rate-limit-challenge``: lift a rate limit with a solved
        captcha (``signalcaptcha://...``) for the token of a failed send."""
        await request(
            self._http,
            "POST",
            f"/v1/accounts/{path_segment(number)}/rate-limit-challenge",
            operation="signal-cli rate-limit challenge",
            json_body={"challenge_token": challenge_token, "captcha": captcha},
        )

    async def remote_delete(self, number: str, recipient: str, *, timestamp: int) -> None:
        """``DELETE /v1/remote-delete/{number}``: delete one of our own sent messages."""
        await request(
            self._http,
            "DELETE",
            f"/v1/remote-delete/{path_segment(number)}",
            operation="signal-cli remote delete",
            json_body={"recipient": recipient, "timestamp": timestamp},
        )

    async def receive(
        self,
        number: str,
        *,
        timeout: float,  # noqa: ASYNC109 - the server-side poll length, not a client deadline
    ) -> list[dict[str, Any]]:
        """One long poll of ``GET /v1/receive/{number}`` (normal and native modes).

        The receive is destructive: what it returns is gone from signal-cli. So when the
        array is broken by stray output (a Java stack trace, issue #680) every
        ``{"envelope": ...}`` item that can still be read is returned rather than none.

        Args:
            timeout: seconds signal-cli waits for messages (rounded up to whole seconds);
                the HTTP read timeout is extended by as much.

        Returns:
            The raw items, each ``{"envelope": {...}, "account": "+..."}``.

        Raises:
            ApiError: an error answer (400 in json-rpc mode, where receiving is a websocket),
                or an answer with nothing readable in it.
            TransportError: no answer.
        """
        if timeout < 0:
            raise ValueError("timeout must not be negative")
        seconds = math.ceil(timeout)
        base = self._http.timeout
        poll_timeout = httpx.Timeout(
            connect=base.connect,
            read=None if base.read is None else base.read + seconds,
            write=base.write,
            pool=base.pool,
        )
        op = "signal-cli receive"
        response = await request(
            self._http,
            "GET",
            f"/v1/receive/{path_segment(number)}",
            operation=op,
            params={"timeout": str(seconds)},
            request_timeout=poll_timeout,
        )
        return read_received(op, response)

    def receive_websocket_url(self, number: str) -> str:
        """The ``ws://`` / ``wss://`` URL of ``/v1/receive/{number}`` for json-rpc mode."""
        base = self._http.base_url
        scheme = "wss" if base.scheme == "https" else "ws"
        prefix = base.raw_path.decode("ascii").split("?", 1)[0].rstrip("/")
        netloc = base.netloc.decode("ascii")
        return f"{scheme}://{netloc}{prefix}/v1/receive/{path_segment(number)}"

    async def attachment(self, attachment_id: str, *, max_bytes: int, into: Spool) -> None:
        """``GET /v1/attachments/{id}``, streamed into the empty spool ``into``, at most
        ``max_bytes`` long.

        The server's Content-Type is sniffed from the bytes, not the sender's; use the
        envelope's ``contentType`` instead.

        Raises:
            ClientError: the id is not one signal-cli gives (:func:`attachment_id_ok`); no
                request was made.
            ApiError: an error answer (404 ``No attachment with that name found``) or a file
                over the cap.
            TransportError: no answer.
            ClientError: the temporary file cannot be written.
        """
        if not attachment_id_ok(attachment_id):
            raise ClientError(
                "signal-cli attachment: refused an attachment id signal-cli does not give"
            )
        await fetch_capped(
            self._http,
            f"/v1/attachments/{path_segment(attachment_id)}",
            operation="signal-cli attachment",
            max_bytes=max_bytes,
            into=into,
        )

    async def contacts(self, number: str) -> list[dict[str, Any]]:
        """``GET /v1/contacts/{number}``: ``[{number, uuid, name, profile_name, ...}]``."""
        op = "signal-cli contacts"
        response = await request(
            self._http, "GET", f"/v1/contacts/{path_segment(number)}", operation=op
        )
        items = expect_list(op, response, parse_json(op, response))
        return [item for item in items if isinstance(item, dict)]

    async def groups(self, number: str) -> list[dict[str, Any]]:
        """``GET /v1/groups/{number}``: ``[{id: "group.<b64>", internal_id, name, ...}]``."""
        op = "signal-cli groups"
        response = await request(
            self._http, "GET", f"/v1/groups/{path_segment(number)}", operation=op
        )
        items = expect_list(op, response, parse_json(op, response))
        return [item for item in items if isinstance(item, dict)]
