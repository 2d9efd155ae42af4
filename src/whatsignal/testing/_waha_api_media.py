"""FakeWaha's media endpoints: received files under ``/api/files`` (expiring like WAHA's) and
``/api/{session}/media/convert/{voice|video}``."""

from __future__ import annotations

import base64

import httpx
from quart import Response, request
from quart_trio import QuartTrio

from whatsignal.testing._common import http_url
from whatsignal.testing._waha_edge import Edge, Reject, json_response
from whatsignal.testing._waha_payloads import bad_request, file_not_found, not_found

__all__ = ["add_media_routes"]


def add_media_routes(app: QuartTrio, edge: Edge) -> None:
    """Register the file and media conversion endpoints on ``app``."""
    fake = edge.fake

    @app.route("/api/<name>/media/convert/<target>", methods=["POST"])
    async def convert(name: str, target: str) -> Response:
        if target not in ("voice", "video"):
            raise Reject(404, not_found(f"Cannot POST /api/{name}/media/convert/{target}"))
        edge.known(name)
        body = await edge.body()
        edge.validate("POST", f"/api/{{session}}/media/convert/{target}", body)
        if body.get("data"):
            try:
                data = base64.b64decode(str(body["data"]), validate=True)
            except ValueError:
                raise Reject(400, bad_request(["data must be base64 encoded"])) from None
        elif body.get("url"):
            data = await _fetch(edge, body["url"])
        else:
            raise Reject(400, bad_request(["url or data should not be empty"]))
        mimetype = "audio/ogg; codecs=opus" if target == "voice" else "video/mp4"
        if "application/json" in request.headers.get("Accept", ""):
            return json_response(
                {"mimetype": mimetype, "data": base64.b64encode(data).decode()}, 201
            )
        return Response(data, status=201, content_type=mimetype)

    # Files -----------------------------------------------------------------------------------

    @app.route("/api/files/<name>/<filename>", methods=["GET"])
    async def get_file(name: str, filename: str) -> Response:
        found = fake.get_file(name, filename)
        if found is None:
            raise Reject(404, file_not_found())
        return Response(found.data, status=200, content_type=found.mimetype)


async def _fetch(edge: Edge, url: object) -> bytes:
    """The bytes at ``url``; 400 when it is no http(s) URL or cannot be fetched.

    (WAHA would answer a download failure with a 500; the fake says what went wrong instead,
    so a test's mistake reads as one. A test that wants the 500 injects it as a fault.)
    """
    parsed = http_url(url)
    if parsed is None:
        raise Reject(400, bad_request(["url must be a URL address"]))
    try:
        fetched = await edge.fake.http.get(parsed)
    except httpx.HTTPError as exc:
        raise Reject(
            400, bad_request([f"url could not be fetched: {type(exc).__name__}"])
        ) from None
    if fetched.status_code >= 400:
        raise Reject(400, bad_request([f"url could not be fetched: HTTP {fetched.status_code}"]))
    return fetched.content
