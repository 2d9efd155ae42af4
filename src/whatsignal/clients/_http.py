"""What both upstream clients share: the HTTP client factory, one request, one error mapping.

Every client method performs exactly one request through :func:`request` (or
:func:`fetch_capped` for downloads) and gets back a successful :class:`httpx.Response`;
everything else becomes one of the two :class:`~whatsignal.errors.ClientError` kinds:

- no HTTP answer at all (connect, read, write, pool timeout, protocol error)
  -> :class:`~whatsignal.errors.TransportError`;
- any answer outside 2xx (redirects included: they are never followed, so a media URL
  cannot bounce the bridge to another host) -> :class:`~whatsignal.errors.ApiError`, whose
  message names the operation and the upstream's own error text.

Privacy: error messages end up in logs, in the journal's ``last_error`` and on the admin
pages, so they never carry message text or full phone numbers. The upstream's error text in
an :class:`~whatsignal.errors.ApiError`'s message is reduced by
:func:`~whatsignal.clients._redact.redact_error` (the strings of the request body cut out,
quoted runs dropped, numbers masked, bounded). The body it keeps for the classifiers loses
WAHA's ``request`` echo and stack traces and the request body's strings, and its numbers are
masked.

Text that cannot be encoded never fails a request: lone surrogates in a JSON body, a query or a
path segment are replaced by U+FFFD first (:func:`~whatsignal.convert.safe.clean_text`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from whatsignal.clients._direct import NO_ANSWER, Direct
from whatsignal.clients._pool import lean_transport
from whatsignal.clients._redact import mask_numbers, redact_error, redact_sent
from whatsignal.clients._spool import Spool
from whatsignal.clients._streamed import StreamedJson
from whatsignal.convert.safe import clean_strings, clean_text
from whatsignal.errors import ApiError, ClientError, TransportError

__all__ = [
    "BODY_LIMIT",
    "ERROR_BODY_READ_LIMIT",
    "api_error",
    "expect_dict",
    "expect_list",
    "fetch_capped",
    "malformed",
    "mask_numbers",
    "open_http_client",
    "parse_json",
    "path_segment",
    "request",
    "sanitise_body",
    "transport_error",
    "upstream_error_text",
]

BODY_LIMIT = 2000
"""How many characters of a (sanitised) error body an :class:`ApiError` keeps."""

ERROR_BODY_READ_LIMIT = 64 * 1024
"""How many bytes of an error response a streamed download reads before giving up on it."""


def open_http_client(
    base_url: str,
    *,
    timeout: float,
    api_key: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """Create the :class:`httpx.AsyncClient` one upstream's client is built on.

    Use it as ``async with open_http_client(...) as http:``; the caller owns its lifetime.

    Args:
        base_url: the upstream's root, e.g. ``http://waha:3000`` (a path prefix is kept:
            request paths are appended to it).
        timeout: seconds for each of connect, read, write and pool acquisition.
        api_key: sent as ``X-Api-Key`` on every request when given (WAHA).
        transport: replaces the network transport, e.g. :class:`httpx.MockTransport` in tests.

    Redirects are not followed (a redirect is an :class:`ApiError`), and the connection pool
    is bounded so a burst of sends queues instead of opening hundreds of sockets. The pool is
    :class:`~whatsignal.clients._pool.LeanPool` (one idle connection checked per request,
    not all of them), unless the environment names a proxy; plain JSON requests then go
    straight to it (:class:`~whatsignal.clients._direct.Direct`).
    """
    headers = {"Accept": "application/json", "User-Agent": "whatsignal"}
    if api_key:
        headers["X-Api-Key"] = api_key
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30)
    timeouts = httpx.Timeout(timeout)
    direct: Direct | None = None
    if transport is None and (lean := lean_transport(limits)) is not None:
        transport, pool = lean
        direct = Direct.for_client(pool, base_url, headers, timeouts)
    return UpstreamHttp(
        base_url=base_url,
        headers=headers,
        timeout=timeouts,
        limits=limits,
        follow_redirects=False,
        transport=transport,
        direct=direct,
    )


class UpstreamHttp(httpx.AsyncClient):
    """httpx's client, and the direct path to its pool (:mod:`whatsignal.clients._direct`)
    that :func:`request` takes when it can; None: every request goes through the client."""

    def __init__(self, *, direct: Direct | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.direct = direct


def path_segment(value: str) -> str:
    """Percent-encode ``value`` as one URL path segment (``@`` -> ``%40``, ``+`` -> ``%2B``).

    A segment of dots only (``.``, ``..``) is encoded as ``%2E``s: left as it is, the URL
    would be normalised to the parent path (``/v1/attachments/.`` is the attachment list).
    """
    encoded = quote(clean_text(value), safe="")
    if encoded and encoded.strip(".") == "":
        return "%2E" * len(encoded)
    return encoded


async def request(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    operation: str,
    json_body: Any = None,
    params: Mapping[str, str] | None = None,
    request_timeout: httpx.Timeout | None = None,
    accept: str | None = None,
    stream: StreamedJson | None = None,
) -> httpx.Response:
    """Perform one request and return its response if the status is 2xx.

    Args:
        operation: a short name for messages, e.g. ``"WAHA sendText"``; never a URL (paths
            carry phone numbers).
        json_body: serialised as the JSON body when not None.
        request_timeout: overrides the client's timeout for this request (long polls).
        accept: the ``Accept`` header, when not the client's JSON (an image, say).
        stream: the JSON body, streamed with its length (``json_body`` then only names what
            an error message must not repeat).

    Raises:
        TransportError: no HTTP answer.
        ApiError: a non-2xx answer.
    """
    direct = http.direct if isinstance(http, UpstreamHttp) else None
    if stream is None and params is None and direct is not None and direct.takes(url):
        body = None if json_body is None else clean_strings(json_body)
        try:
            response = await direct.send(
                method, url, json_body=body, request_timeout=request_timeout, accept=accept
            )
        except NO_ANSWER as exc:
            raise transport_error(operation, exc) from exc
    else:
        response = await _through_client(
            http,
            method,
            url,
            operation=operation,
            json_body=json_body,
            params=params,
            request_timeout=request_timeout,
            accept=accept,
            stream=stream,
        )
    if not response.is_success:
        raise api_error(operation, response.status_code, response.text, sent=json_body)
    return response


async def _through_client(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    operation: str,
    json_body: Any,
    params: Mapping[str, str] | None,
    request_timeout: httpx.Timeout | None,
    accept: str | None,
    stream: StreamedJson | None,
) -> httpx.Response:
    """:func:`request` through httpx's client (anything the direct path does not take)."""
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if stream is not None:
        extra["content"] = stream
        headers = {"Content-Type": "application/json", "Content-Length": str(len(stream))}
    elif json_body is not None:
        extra["json"] = clean_strings(json_body)
    if params is not None:
        extra["params"] = {clean_text(k): clean_text(v) for k, v in params.items()}
    if request_timeout is not None:
        extra["timeout"] = request_timeout
    if accept is not None:
        headers["Accept"] = accept
    if headers:
        extra["headers"] = headers
    try:
        return await http.request(method, url, **extra)
    except httpx.RequestError as exc:
        raise transport_error(operation, exc) from exc


def transport_error(operation: str, exc: Exception) -> TransportError:
    """The :class:`TransportError` for a request that got no answer (httpx's ``RequestError``
    or, on the direct path, httpcore's exception of the same name), naming its kind."""
    detail = redact_error(str(exc))
    kind = type(exc).__name__
    return TransportError(f"{operation}: no answer ({kind}{': ' + detail if detail else ''})")


def api_error(operation: str, status: int, text: str, *, sent: Any = None) -> ApiError:
    """The :class:`ApiError` for an error answer: the upstream's own words, reduced to what
    may be logged and stored (``sent``: the request's JSON body, whose strings are cut out)."""
    body = sanitise_body(text, sent=sent)
    reason = redact_error(upstream_error_text(text), sent=sent)
    message = f"{operation} failed: HTTP {status}"
    if reason:
        message += f": {reason}"
    return ApiError(message, status=status, body=body)


def malformed(operation: str, response: httpx.Response, problem: str) -> ApiError:
    """The :class:`ApiError` for a 2xx answer whose body is not what the API promises."""
    return ApiError(
        f"{operation}: unexpected answer (HTTP {response.status_code}): {problem}",
        status=response.status_code,
        body=sanitise_body(response.text),
    )


def upstream_error_text(text: str) -> str:
    """Pull the human-readable error out of an error body.

    Understands signal-cli-rest-api's ``{"error": "..."}``, WAHA's Nest bodies
    (``{"message": ...}``, ``{"error": {"message": ...}}``, ``{"exception": {"message": ...}}``)
    and the 422 session-status body (``{"error": ..., "status": ...}``); falls back to the
    text itself. Whitespace runs are collapsed to one space.
    """
    data = _try_json(text)
    found: list[str] = []
    if isinstance(data, dict):
        for key in ("error", "message", "exception"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, list):
                value = "; ".join(str(v) for v in value)
            if isinstance(value, str) and value and value not in found:
                found.append(value)
        status = data.get("status")
        if isinstance(status, str) and found:
            found.append(f"(session status {status})")
        if not found:
            return ""
        result = " ".join(found)
    else:
        result = text
    return " ".join(result.split())


def _try_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def sanitise_body(text: str, *, sent: Any = None) -> str:
    """Drop request echoes and stack traces, cut out the strings of the request body ``sent``,
    mask numbers, truncate."""
    data = _try_json(text)
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "request"}
        exception = data.get("exception")
        if isinstance(exception, dict):
            data["exception"] = {k: v for k, v in exception.items() if k != "stack"}
        text = json.dumps(clean_strings(data), ensure_ascii=False, separators=(",", ":"))
    return mask_numbers(redact_sent(clean_text(text), sent))[:BODY_LIMIT]


def parse_json(operation: str, response: httpx.Response) -> Any:
    """The response body as JSON, whatever its Content-Type says.

    signal-cli-rest-api answers ``/v1/receive`` as ``text/plain``, so the header is ignored.

    Raises:
        ApiError: the body is not JSON (status kept).
    """
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise malformed(operation, response, "the body is not JSON") from exc


def expect_dict(operation: str, response: httpx.Response, data: Any) -> dict[str, Any]:
    """``data`` if it is a JSON object, else an :class:`ApiError`."""
    if not isinstance(data, dict):
        raise malformed(operation, response, f"expected an object, got {_kind(data)}")
    return data


def expect_list(operation: str, response: httpx.Response, data: Any) -> list[Any]:
    """``data`` if it is a JSON array, else an :class:`ApiError`."""
    if not isinstance(data, list):
        raise malformed(operation, response, f"expected an array, got {_kind(data)}")
    return data


def _kind(data: Any) -> str:
    if data is None:
        return "null"
    if isinstance(data, dict):
        return "an object"
    if isinstance(data, list):
        return "an array"
    return type(data).__name__


async def fetch_capped(
    http: httpx.AsyncClient,
    url: str | httpx.URL,
    *,
    operation: str,
    max_bytes: int,
    into: Spool,
) -> str | None:
    """GET ``url`` as a stream into the empty spool ``into``, refusing bodies over a cap;
    returns the answer's content type.

    Memory holds one chunk of the body at a time (the spool keeps it on disk), and never more
    than ``max_bytes`` (+ one chunk) is kept: a ``Content-Length`` over the cap is refused
    before reading, and a body that grows past it is cut off. The owner of ``into`` closes it,
    whatever this raises.

    Raises:
        TransportError: no HTTP answer, or the connection broke while reading.
        ApiError: a non-2xx answer, or the body is larger than ``max_bytes`` (status kept,
            so it classifies as permanent: a retry would fetch the same file).
        ClientError: the temporary file cannot be made or written (permanent: the message
            goes on without the file).
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must not be negative")
    try:
        async with http.stream("GET", url) as response:
            if not response.is_success:
                text = await _read_some(response, ERROR_BODY_READ_LIMIT)
                raise api_error(operation, response.status_code, text)
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(operation, response, max_bytes)
            async for chunk in response.aiter_bytes():
                if into.size + len(chunk) > max_bytes:
                    raise _too_large(operation, response, max_bytes)
                await into.write(chunk)
            await into.flush()
            content_type: str | None = response.headers.get("content-type")
            return content_type
    except httpx.RequestError as exc:
        raise transport_error(operation, exc) from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClientError(f"{operation}: the file could not be kept ({reason})") from exc


async def _read_some(response: httpx.Response, limit: int) -> str:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return bytes(data[:limit]).decode(response.encoding or "utf-8", errors="replace")


def _too_large(operation: str, response: httpx.Response, max_bytes: int) -> ApiError:
    return ApiError(
        f"{operation}: the file is larger than the limit of {max_bytes} bytes",
        status=response.status_code,
    )
