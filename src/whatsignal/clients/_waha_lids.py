"""WAHA's LID lookups: the phone number behind a ``@lid`` id, and the other way round.

``GET /api/{session}/lids/{lid}`` and ``GET /api/{session}/lids/pn/{phoneNumber}`` both answer
``LidToPhoneNumber`` ``{lid, pn}`` (``shared/reference/api-contracts.md`` section 1.5, trap 7).
Wire facts this module encodes:

- the id travels in the path, percent-encoded (``@`` -> ``%40``), as every WAHA path id;
- an unknown partner is ``null`` (``{"lid": "…@lid", "pn": null}``, the docs' example), and an
  engine that knows nothing at all may answer 404: both mean "no partner known";
- ``pn`` is a chat id (``3333333@c.us``); an engine that writes ``…@s.whatsapp.net`` or bare
  digits is read as the same chat id.
"""

from __future__ import annotations

import attrs
import httpx

from whatsignal.clients._http import expect_dict, malformed, parse_json, path_segment, request
from whatsignal.errors import ApiError

__all__ = ["LidAnswer", "WahaLids", "lid_id", "phone_chat_id"]


@attrs.frozen
class LidAnswer:
    """WAHA's answer: the ``@lid`` id and the phone number's ``@c.us`` chat id, either of
    which may be None (WAHA knows no partner)."""

    lid: str | None
    pn: str | None


def phone_chat_id(value: object) -> str | None:
    """``491701234567@c.us`` (also from ``…@s.whatsapp.net`` or bare digits); None when
    ``value`` is no phone number's chat id."""
    if not isinstance(value, str):
        return None
    user, _, domain = value.partition("@")
    user = user.split(":", 1)[0]  # a device suffix (``49170…:12@s.whatsapp.net``)
    if user.isdigit() and user.isascii() and domain in ("", "c.us", "s.whatsapp.net"):
        return f"{user}@c.us"
    return None


def lid_id(value: object) -> str | None:
    """``214748364701234@lid`` (also from bare digits); None when ``value`` is no LID."""
    if not isinstance(value, str):
        return None
    user, _, domain = value.partition("@")
    if user.isdigit() and user.isascii() and domain in ("", "lid"):
        return f"{user}@lid"
    return None


@attrs.define(eq=False)
class WahaLids:
    """The two lookups, on the WAHA client's connection pool (:attr:`WahaClient.lids`)."""

    _http: httpx.AsyncClient

    async def phone_of(self, session: str, lid: str) -> LidAnswer:
        """``GET /api/{session}/lids/{lid}``: the phone number behind a ``@lid`` id."""
        path = f"/api/{path_segment(session)}/lids/{path_segment(lid)}"
        return await self._ask("WAHA lid to phone number", path, LidAnswer(lid, None))

    async def lid_of(self, session: str, pn: str) -> LidAnswer:
        """``GET /api/{session}/lids/pn/{phoneNumber}``: the ``@lid`` id of a phone number."""
        path = f"/api/{path_segment(session)}/lids/pn/{path_segment(pn)}"
        return await self._ask("WAHA phone number to lid", path, LidAnswer(None, pn))

    async def _ask(self, op: str, path: str, unknown: LidAnswer) -> LidAnswer:
        """One lookup; ``unknown`` is the answer when WAHA knows no partner (404).

        Raises:
            ApiError: an error answer other than 404, or an answer that is not an object.
            TransportError: no answer.
        """
        try:
            response = await request(self._http, "GET", path, operation=op)
        except ApiError as exc:
            if exc.status == 404:
                return unknown
            raise
        data = expect_dict(op, response, parse_json(op, response))
        for key in ("lid", "pn"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise malformed(op, response, f"'{key}' is not a string or null")
        lid, pn = lid_id(data.get("lid")), phone_chat_id(data.get("pn"))
        # WAHA answers about the id it was asked for; keep that id when it echoes none.
        return LidAnswer(lid or unknown.lid, pn or unknown.pn)
