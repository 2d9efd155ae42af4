"""The signal-cli-rest-api group calls portals need (``/v1/groups/...``, ``/v1/profiles``).

Wire facts (``shared/reference/api-contracts.md`` section 2.4):

- ``POST /v1/groups/{number}`` answers 201 ``{"id": "group.<base64>"}``: the REST id, which
  ``recipients`` and the group paths take. Envelopes carry the *internal* id (the base64
  inside), so both are kept; the internal id never goes into a URL or a recipient list;
- ``GET /v1/groups/{number}/{id}`` answers 404 for an unknown group, and 0.100 answers
  ``200 null``: both are "not found" here;
- a bridge number without a profile name cannot send to groups v2 (400 "please first update
  your profile"): ``PUT /v1/profiles/{number}`` sets one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import attrs
import httpx

from whatsignal.clients._http import (
    expect_dict,
    expect_list,
    malformed,
    parse_json,
    path_segment,
    request,
)
from whatsignal.errors import ApiError

__all__ = ["GROUP_PREFIX", "PORTAL_PERMISSIONS", "SignalGroups", "group_id_of", "internal_id_of"]

GROUP_PREFIX = "group."

PORTAL_PERMISSIONS = {
    "add_members": "only-admins",
    "edit_group": "only-admins",
    "send_messages": "every-member",
}
"""A portal's permissions: only the bridge number (its admin) adds people or edits it."""


def group_id_of(internal_id: str) -> str:
    """The REST id (``group.<base64>``) of the group an envelope names by its internal id."""
    return GROUP_PREFIX + base64.b64encode(internal_id.encode("ascii", "replace")).decode("ascii")


def internal_id_of(group_id: str) -> str | None:
    """The internal id (what envelopes carry) inside a REST ``group.<base64>`` id, or None
    when ``group_id`` is not one."""
    if not group_id.startswith(GROUP_PREFIX):
        return None
    try:
        return base64.b64decode(group_id[len(GROUP_PREFIX) :], validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None


@attrs.define(eq=False)
class SignalGroups:
    """Group and profile calls of one signal-cli-rest-api server (one request each)."""

    _http: httpx.AsyncClient

    async def create(
        self, number: str, *, name: str, members: Sequence[str], description: str
    ) -> str:
        """``POST /v1/groups/{number}``: a group with link off and admin-only changes; returns
        its REST id (``group.<base64>``).

        Raises:
            ApiError: an error answer (a 429 is a rate limit), or an answer without an id.
        """
        op = "signal-cli create group"
        response = await request(
            self._http,
            "POST",
            f"/v1/groups/{path_segment(number)}",
            operation=op,
            json_body={
                "name": name,
                "members": list(members),
                "description": description,
                "group_link": "disabled",
                "permissions": PORTAL_PERMISSIONS,
            },
        )
        answer = expect_dict(op, response, parse_json(op, response))
        group_id = answer.get("id")
        if not isinstance(group_id, str) or internal_id_of(group_id) is None:
            raise malformed(op, response, "the answer has no group id")
        return group_id

    async def get(self, number: str, group_id: str) -> dict[str, Any] | None:
        """``GET /v1/groups/{number}/{id}``: the group entry, or None when signal-cli knows
        no such group (404, or 0.100's ``200 null``)."""
        op = "signal-cli group"
        try:
            response = await request(
                self._http,
                "GET",
                f"/v1/groups/{path_segment(number)}/{path_segment(group_id)}",
                operation=op,
            )
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        data = parse_json(op, response)
        return None if data is None else expect_dict(op, response, data)

    async def all(self, number: str) -> list[dict[str, Any]]:
        """``GET /v1/groups/{number}``: every group the number belongs to."""
        op = "signal-cli groups"
        response = await request(
            self._http, "GET", f"/v1/groups/{path_segment(number)}", operation=op
        )
        items = expect_list(op, response, parse_json(op, response))
        return [item for item in items if isinstance(item, dict)]

    async def update(
        self,
        number: str,
        group_id: str,
        *,
        name: str | None = None,
        avatar: bytes | None = None,
    ) -> None:
        """``PUT /v1/groups/{number}/{id}``: rename the group, or give it a picture."""
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if avatar is not None:
            body["base64_avatar"] = base64.b64encode(avatar).decode("ascii")
        await request(
            self._http,
            "PUT",
            f"/v1/groups/{path_segment(number)}/{path_segment(group_id)}",
            operation="signal-cli update group",
            json_body=body,
        )

    async def set_profile_name(self, number: str, name: str) -> None:
        """``PUT /v1/profiles/{number}``: the name the bridge number shows (groups v2 need
        one)."""
        await request(
            self._http,
            "PUT",
            f"/v1/profiles/{path_segment(number)}",
            operation="signal-cli update profile",
            json_body={"name": name},
        )
