"""The portals' SQL: which Signal group mirrors which WhatsApp chat, per destination.

A portal is one row per (bridge number, destination, session, chat). Its ``state`` says what
the bridge knows of the group:

- ``creating``: a creation was started and its answer not yet stored. After a crash the group
  may exist upstream all the same; the relay looks for it by its description before making
  another (:mod:`whatsignal.relay.portals`);
- ``active``: the group exists and the destination is in it: the chat's messages go there;
- ``left``: the destination left the group (or it is gone): the chat's messages go to the
  one-to-one conversation until ``/portal`` makes a new one.

Plain functions of a sqlite3 connection and the store's codec, run on the store's thread like
:mod:`.mappings`' ones. The numbers, session, chat and the group's internal id are looked-up
fields; the REST group id and the name are sealed (:mod:`whatsignal.storage.fields`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import attrs

from whatsignal.storage.crypto import Codec

__all__ = [
    "PORTAL_STATES",
    "Portal",
    "PortalState",
    "PortalsSql",
    "active",
    "by_internal_id",
    "get",
    "put",
]

PortalState = Literal["creating", "active", "left"]
PORTAL_STATES: tuple[str, ...] = ("creating", "active", "left")


@attrs.frozen
class Portal:
    """The Signal group of one WhatsApp chat, as the destination sees it.

    ``group_id`` is the REST API's ``group.<base64>`` id (what ``recipients`` take),
    ``internal_id`` the id envelopes carry in ``groupInfo.groupId``; both are None while
    ``creating``.
    """

    bridge_number: str
    destination: str
    session: str
    chat_id: str
    state: PortalState = attrs.field(validator=attrs.validators.in_(PORTAL_STATES))
    updated_at: float
    group_id: str | None = None
    internal_id: str | None = None
    name: str | None = attrs.field(default=None, repr=False)


_COLUMNS = (
    "bridge_number, bridge_number_enc, destination, destination_enc, session, session_enc,"
    " chat_id, chat_id_enc, internal_id, internal_id_enc, group_id, name, state, updated_at"
)


def _row_to_portal(codec: Codec, row: tuple[Any, ...] | None) -> Portal | None:
    if row is None:
        return None
    clear = [codec.reveal(row[2 * i], row[2 * i + 1]) for i in range(5)]
    return Portal(
        bridge_number=clear[0] or "",
        destination=clear[1] or "",
        session=clear[2] or "",
        chat_id=clear[3] or "",
        internal_id=clear[4],
        group_id=codec.open_text(row[10]),
        name=codec.open_text(row[11]),
        state=row[12],
        updated_at=row[13],
    )


def put(conn: sqlite3.Connection, codec: Codec, portal: Portal) -> None:
    """Store (or replace) the portal of its chat."""
    looked_up = (
        portal.bridge_number,
        portal.destination,
        portal.session,
        portal.chat_id,
        portal.internal_id,
    )
    conn.execute(
        f"INSERT OR REPLACE INTO portals ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",
        (
            *[
                v
                for value in looked_up
                for v in (codec.lookup_or_none(value), codec.sibling(value))
            ],
            codec.seal(portal.group_id),
            codec.seal(portal.name),
            portal.state,
            portal.updated_at,
        ),
    )


def get(
    conn: sqlite3.Connection,
    codec: Codec,
    bridge_number: str,
    destination: str,
    session: str,
    chat_id: str,
) -> Portal | None:
    """The portal of one chat, or None when it never had one."""
    return _row_to_portal(
        codec,
        conn.execute(
            f"SELECT {_COLUMNS} FROM portals WHERE bridge_number = ? AND destination = ?"
            " AND session = ? AND chat_id = ?",
            tuple(codec.lookup(v) for v in (bridge_number, destination, session, chat_id)),
        ).fetchone(),
    )


def by_internal_id(
    conn: sqlite3.Connection, codec: Codec, bridge_number: str, internal_id: str
) -> Portal | None:
    """The portal whose Signal group has this internal id (what envelopes carry)."""
    return _row_to_portal(
        codec,
        conn.execute(
            f"SELECT {_COLUMNS} FROM portals WHERE bridge_number = ? AND internal_id = ?"
            " ORDER BY updated_at DESC LIMIT 1",
            (codec.lookup(bridge_number), codec.lookup(internal_id)),
        ).fetchone(),
    )


def active(conn: sqlite3.Connection, codec: Codec) -> list[Portal]:
    """Every active portal (the typist subscribes to their chats' presence at start)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM portals WHERE state = 'active'").fetchall()
    return [portal for row in rows if (portal := _row_to_portal(codec, row)) is not None]


class PortalsSql:
    """:class:`~whatsignal.storage.base.Portals` for a store that runs SQL functions on its
    thread (``_read``/``_write`` as :class:`~whatsignal.storage.sqlite.SqliteStore` has them)."""

    _read: Callable[..., Awaitable[Any]]
    _write: Callable[..., Awaitable[Any]]

    async def portal(
        self, bridge_number: str, destination: str, session: str, chat_id: str
    ) -> Portal | None:
        found: Portal | None = await self._read(get, bridge_number, destination, session, chat_id)
        return found

    async def portal_by_group(self, bridge_number: str, internal_id: str) -> Portal | None:
        found: Portal | None = await self._read(by_internal_id, bridge_number, internal_id)
        return found

    async def put_portal(self, portal: Portal) -> None:
        await self._write(put, portal)

    async def active_portals(self) -> list[Portal]:
        found: list[Portal] = await self._read(active)
        return found
