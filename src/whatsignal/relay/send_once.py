"""Sends shown once: the message ids a Signal row's WhatsApp sends carry, and their progress.

A send that outlasts the bridge's timeout may still have been carried out by WAHA; sending it
again would show it twice. Engines that accept a pre-generated message id (GOWS and NOWEB:
``id`` in ``sendText``) make a repeat harmless: the id is fetched from WAHA
(``GET /api/{session}/new-message-id``) and stored with the row *before* the first attempt,
so every retry (after a timeout, a 5xx, a crash and restart) carries the same id, and WhatsApp
shows one message. WAHA's file endpoints take no id, and WEBJS and WPP ignore it: those sends
are at least once. An engine the bridge does not know yet counts as one without ids.

A row may cause several sends (each file one, the text one more). Each is a *part*, indexed
by its attachment's position in the message (the text: after the last attachment). A part
WAHA answered is recorded as sent before the next part goes, so a retry of the row sends only
what is not known to have gone (the last part needs no record: the row's ``done`` follows).
"""

from __future__ import annotations

from typing import Protocol

import attrs

from whatsignal.relay.upstreams import WhatsAppUpstream
from whatsignal.storage import SendPart, SendParts

__all__ = ["ID_ENGINES", "Engines", "RowSends", "takes_ids"]

ID_ENGINES = frozenset({"GOWS", "NOWEB"})
"""The WAHA engines that send a message with the pre-generated id they are given."""


class Engines(Protocol):
    """Which engine runs a session (the session table, from WAHA's session listings)."""

    def engine(self, session: str) -> str | None: ...


def takes_ids(engine: str | None) -> bool:
    """Whether a session on ``engine`` honours a pre-generated message id (unknown: no)."""
    return engine in ID_ENGINES


@attrs.define(eq=False, kw_only=True)
class RowSends:
    """The WhatsApp sends of one journal row (see the module docstring).

    Built with :meth:`load` at the start of each attempt, from what earlier attempts stored.
    """

    store: SendParts
    whatsapp: WhatsAppUpstream
    row_key: str
    session: str
    chat: str
    ids: bool
    parts: dict[int, SendPart]

    @classmethod
    async def load(
        cls,
        store: SendParts,
        whatsapp: WhatsAppUpstream,
        *,
        row_key: str,
        session: str,
        chat: str,
        engine: str | None,
    ) -> RowSends:
        parts = await store.send_parts(row_key)
        return cls(
            store=store,
            whatsapp=whatsapp,
            row_key=row_key,
            session=session,
            chat=chat,
            ids=takes_ids(engine),
            parts=parts,
        )

    def sent(self, index: int) -> str | None:
        """The serialised id of a part an earlier attempt sent (``""``: sent, id unknown), or
        None when it is not known to have gone."""
        return self.parts.get(index, SendPart()).sent_id

    async def message_id(self, index: int) -> str | None:
        """The id part ``index`` (a text) is to carry: the one stored by an earlier attempt,
        else, on an engine that takes ids, a new one from WAHA, stored before it is used."""
        found = self.parts.get(index, SendPart())
        if found.message_id is not None or not self.ids:
            return found.message_id
        fresh = await self.whatsapp.new_message_id(self.session)
        part = SendPart(message_id=fresh)
        await self.store.put_send_part(self.row_key, index, part)
        self.parts[index] = part
        return fresh

    async def done(self, index: int, answered: str, *, last: bool) -> str:
        """Part ``index`` went out and WAHA answered ``answered`` (``""``: no id in the
        answer). Returns the message's serialised id: the answer's, else the one built from
        the pre-generated id. Unless it is the row's ``last`` part, it is recorded as sent."""
        message_id = self.parts.get(index, SendPart()).message_id
        if not answered and message_id is not None:
            answered = f"true_{self.chat}_{message_id}"
        if not last:
            part = SendPart(message_id=message_id, sent_id=answered)
            await self.store.put_send_part(self.row_key, index, part)
            self.parts[index] = part
        return answered
