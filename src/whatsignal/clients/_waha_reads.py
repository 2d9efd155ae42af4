"""The WAHA calls that read the address book and the chat history (names, messages), apart
from the sends: :class:`WahaClient` inherits them.
"""

from __future__ import annotations

from typing import Any

import httpx

from whatsignal.clients._http import expect_list, parse_json, path_segment, request
from whatsignal.clients._waha_parse import (
    read_contact_name,
    read_contact_names,
    read_group_names,
    read_group_subject,
)
from whatsignal.errors import ApiError

__all__ = ["WahaReads"]


class WahaReads:
    """Names and history, read through the client's ``_http`` (see :class:`WahaClient`)."""

    _http: httpx.AsyncClient

    # Names -----------------------------------------------------------------------------

    async def contact_name(self, session: str, contact_id: str) -> str | None:
        """The best display name WAHA knows for a contact, or None (unknown: 404 or no name).

        Prefers the saved contact name, then the contact's own push name, then the short name.
        """
        op = "WAHA get contact"
        try:
            response = await request(
                self._http,
                "GET",
                "/api/contacts",
                operation=op,
                params={"contactId": contact_id, "session": session},
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return read_contact_name(response)

    async def group_name(self, session: str, group_id: str) -> str | None:
        """A group's subject, or None (unknown group: 404, or no subject in the answer)."""
        op = "WAHA get group"
        try:
            response = await request(
                self._http,
                "GET",
                f"/api/{path_segment(session)}/groups/{path_segment(group_id)}",
                operation=op,
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return read_group_subject(response)

    async def chat_messages(
        self, session: str, chat_id: str, *, since: float, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Messages of one chat from ``since`` (unix seconds) on, newest first
        (``GET /api/{session}/chats/{chatId}/messages``; NOWEB needs its store enabled)."""
        op = "WAHA chat messages"
        response = await request(
            self._http,
            "GET",
            f"/api/{path_segment(session)}/chats/{path_segment(chat_id)}/messages",
            operation=op,
            params={
                "limit": str(limit),
                "filter.timestamp.gte": str(int(since)),
                "downloadMedia": "true",
            },
        )
        return [
            m for m in expect_list(op, response, parse_json(op, response)) if isinstance(m, dict)
        ]

    async def contact_names(self, session: str) -> dict[str, str]:
        """Every contact of the session that has a name: ``{contact_id: name}``
        (``GET /api/contacts/all``)."""
        op = "WAHA list contacts"
        response = await request(
            self._http, "GET", "/api/contacts/all", operation=op, params={"session": session}
        )
        return read_contact_names(op, response)

    async def group_names(self, session: str) -> dict[str, str]:
        """Every group of the session with its subject: ``{group_id: subject}``
        (``GET /api/{session}/groups``; an array in WEBJS/WPP, an object by id in NOWEB/GOWS)."""
        op = "WAHA list groups"
        response = await request(
            self._http, "GET", f"/api/{path_segment(session)}/groups", operation=op
        )
        return read_group_names(op, response)
