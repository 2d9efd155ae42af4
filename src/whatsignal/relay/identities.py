"""Identities: one WhatsApp person behind two ids, ``…@lid`` and ``…@c.us``.

WhatsApp moves senders to linked ids (LIDs): WAHA delivers many messages from
``214748364701234@lid``, often without the phone number. The same person may write from their
``@c.us`` id as well, and the bridge must treat both as one person and one chat.

- **Lookups.** WAHA says which phone number is behind a LID (``GET /api/{session}/lids/{lid}``)
  and which LID a phone number has (``…/lids/pn/{phoneNumber}``). Answers go memory, then the
  store (table ``lid_pairings``), then WAHA. A known pairing is kept for good; "no partner
  known" is kept for :data:`LID_UNKNOWN_TTL` and then asked again.
- **Never blocking a message.** A lookup takes at most :data:`LID_TIMEOUT` seconds; when WAHA
  fails or is slow, the message goes on without the number (the push name names the sender),
  and that session's lookups pause for :data:`LID_DOWN_SEC` so that a WAHA without the endpoint
  costs one timeout, not one per message.
- **One chat.** :func:`canonical_chat` is the id a person's chat goes by for routing: the
  ``@c.us`` id when the number is known, the ``@lid`` id otherwise. It reads the store only, so
  the router never waits for WAHA; what the store knows was learned when the person's messages
  came in.
- **Names.** A LID is no name: :func:`lid_label` is what is shown for a person with neither
  a saved name, a push name nor a known number.
"""

from __future__ import annotations

import logging
import math

import attrs
import trio

from whatsignal import log as wlog
from whatsignal.clients import LidAnswer, WahaLids
from whatsignal.clock import Clock
from whatsignal.errors import ClientError
from whatsignal.storage import Caches, LidPairing

__all__ = [
    "LID_DOWN_SEC",
    "LID_TIMEOUT",
    "LID_UNKNOWN_TTL",
    "Identities",
    "canonical_chat",
    "is_lid",
    "lid_label",
]

log = logging.getLogger("whatsignal.names")

LID_TIMEOUT = 3.0
"""Seconds one lookup of WAHA's lids API may take before the message goes on without it."""
LID_UNKNOWN_TTL = 6 * 3600.0
"""How long "WAHA knows no partner for this id" is believed before WAHA is asked again."""
LID_DOWN_SEC = 60.0
"""After a failed or slow lookup, the session's lookups pause this long (answers from the
store still count)."""
MEMORY_MAX = 50_000


def is_lid(chat_id: str) -> bool:
    """Whether ``chat_id`` is a WhatsApp linked id (``214748364701234@lid``)."""
    return chat_id.endswith("@lid")


def lid_label(lid: str) -> str:
    """What a person known only by a LID is called: ``WhatsApp contact …1234`` (the last four
    digits tell two such people apart; the LID itself is never shown as a name)."""
    digits = lid.partition("@")[0]
    return f"WhatsApp contact …{digits[-4:]}" if digits else "WhatsApp contact"


async def canonical_chat(store: Caches, session: str, chat_id: str) -> str:
    """The one id a person's chat goes by: the ``@c.us`` id of a ``@lid`` chat whose number
    the store knows, else ``chat_id`` itself. Reads the store only, never WAHA."""
    if not is_lid(chat_id):
        return chat_id
    pairing = await store.lid_pairing(session, lid=chat_id)
    return pairing.pn if pairing is not None and pairing.pn is not None else chat_id


@attrs.define(eq=False, kw_only=True)
class Identities:
    """LID <-> phone number lookups of every session, bounded in time and cached.

    Raises (from every lookup):
        StorageError: the store failed (the poller retries the row; WAHA's failures never
            raise).
    """

    store: Caches
    lids: WahaLids
    clock: Clock
    timeout: float = LID_TIMEOUT
    _memory: dict[tuple[str, str], tuple[str | None, float]] = attrs.field(factory=dict, init=False)
    """``(session, id)`` -> (its partner or None, believed until)."""
    _down_until: dict[str, float] = attrs.field(factory=dict, init=False)

    async def phone_of(self, session: str, lid: str) -> str | None:
        """The ``@c.us`` id of the phone number behind ``lid``, or None (not known, or WAHA
        could not say in time)."""
        return await self._partner(session, lid, lid_side=True)

    async def lid_of(self, session: str, pn: str) -> str | None:
        """The ``@lid`` id of the phone number's chat id ``pn``, or None."""
        return await self._partner(session, pn, lid_side=False)

    def forget(self, session: str) -> None:
        """The session is gone: what memory holds of it goes (the store keeps its pairings)."""
        for key in [k for k in self._memory if k[0] == session]:
            del self._memory[key]
        self._down_until.pop(session, None)

    async def _partner(self, session: str, key: str, *, lid_side: bool) -> str | None:
        now = self.clock()
        known = self._memory.get((session, key))
        if known is not None and known[1] >= now:
            return known[0]
        if lid_side:
            stored = await self.store.lid_pairing(session, lid=key)
        else:
            stored = await self.store.lid_pairing(session, pn=key)
        if stored is not None:
            partner = stored.pn if lid_side else stored.lid
            if partner is not None:
                self._remember(session, key, partner, math.inf)
                return partner
            if now - stored.updated_at < LID_UNKNOWN_TTL:
                self._remember(session, key, None, stored.updated_at + LID_UNKNOWN_TTL)
                return None
        if self._down_until.get(session, 0.0) > now:
            return None
        answer = await self._ask(session, key, lid_side=lid_side)
        if answer is None:
            self._down_until[session] = self.clock() + LID_DOWN_SEC
            return None
        now = self.clock()
        await self.store.put_lid_pairing(LidPairing(session, answer.lid, answer.pn, now))
        partner = answer.pn if lid_side else answer.lid
        self._remember(session, key, partner, math.inf if partner else now + LID_UNKNOWN_TTL)
        return partner

    async def _ask(self, session: str, key: str, *, lid_side: bool) -> LidAnswer | None:
        """WAHA's answer, or None when it failed or took longer than :attr:`timeout`."""
        try:
            with trio.fail_after(self.timeout):
                if lid_side:
                    return await self.lids.phone_of(session, key)
                return await self.lids.lid_of(session, key)
        except trio.TooSlowError:
            problem = f"no answer within {self.timeout:g} s"
        except ClientError as error:
            problem = str(error)
        log.warning(
            "WAHA could not say who %s is (%s); going on without it, lookups paused for %g s",
            wlog.chat(key),
            wlog.mask_text(problem),
            LID_DOWN_SEC,
            extra={"session": session},
        )
        return None

    def _remember(self, session: str, key: str, partner: str | None, until: float) -> None:
        if len(self._memory) >= MEMORY_MAX:
            self._memory.clear()  # bounded; the store still has every answer
        self._memory[(session, key)] = (partner, until)
