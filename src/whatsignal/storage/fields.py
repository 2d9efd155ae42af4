"""Which stored fields are protected, and how: the one list the re-encryption walks.

Two kinds of protected field (see :mod:`whatsignal.storage.crypto`):

- *sealed*: the column holds ``codec.seal(value)``; read back with ``codec.open_*``;
- *looked up*: the column holds ``lookup(codec, value)`` (what ``WHERE``, ``UNIQUE`` and
  indexes compare) and its sibling ``<column>_enc`` holds ``codec.sibling(value)``, from which
  the value is read back (``codec.reveal(column, column_enc)``).

Adding a protected column is: the column (and for a looked-up one its ``_enc`` sibling) in a
migration, one line in :data:`FIELDS`, and the codec calls in the SQL that writes and reads
it. Rows already stored are then converted by the next key rotation; a new column of a new
table starts out written through the codec, so nothing needs converting.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from whatsignal.storage.crypto import Codec

SIGNAL_QUEUE = "signal:"
"""The prefix of the queues of Signal envelopes not yet routed (``signal:<bridge number>``)."""


def plain_lookup(codec: Codec, value: str) -> str:
    """The usual lookup: the codec's keyed hash of the whole value."""
    return codec.lookup(value)


def queue_lookup(codec: Codec, queue: str) -> str:
    """A journal queue's lookup: ``signal:`` stays visible in front of the hashed number, so
    that "every session queue" stays one ``NOT LIKE 'signal:%'`` (it tells no more than the
    row's ``source`` column already does)."""
    if queue.startswith(SIGNAL_QUEUE):
        return SIGNAL_QUEUE + codec.lookup(queue[len(SIGNAL_QUEUE) :])
    return codec.lookup(queue)


@attrs.frozen
class Field:
    """One protected column: ``looked_up`` ones also have a ``<column>_enc`` sibling."""

    table: str
    column: str
    looked_up: bool = False
    lookup: Callable[[Codec, str], str] = plain_lookup

    @property
    def sibling(self) -> str:
        return f"{self.column}_enc"


def _sealed(table: str, column: str) -> Field:
    return Field(table, column)


def _looked_up(
    table: str, column: str, lookup: Callable[[Codec, str], str] = plain_lookup
) -> Field:
    return Field(table, column, looked_up=True, lookup=lookup)


FIELDS: tuple[Field, ...] = (
    _looked_up("journal", "key"),
    _looked_up("journal", "queue", queue_lookup),
    _looked_up("journal", "chat"),
    _sealed("journal", "payload"),
    _sealed("journal", "last_error"),
    _looked_up("message_mappings", "session"),
    _looked_up("message_mappings", "whatsapp_id"),
    _looked_up("message_mappings", "chat_id"),
    _looked_up("message_mappings", "bridge_number"),
    _looked_up("message_mappings", "destination"),
    _looked_up("message_mappings", "sender_name"),
    _sealed("message_mappings", "signal_group"),
    _looked_up("contacts", "session"),
    _looked_up("contacts", "contact_id"),
    _sealed("contacts", "name"),
    _sealed("contacts", "number"),
    _looked_up("groups", "session"),
    _looked_up("groups", "group_id"),
    _sealed("groups", "name"),
    _looked_up("signal_identities", "number"),
    _looked_up("signal_identities", "uuid"),
    _looked_up("lid_pairings", "session"),
    _looked_up("lid_pairings", "lid"),
    _looked_up("lid_pairings", "pn"),
    _looked_up("send_parts", "row_key"),
    _sealed("send_parts", "message_id"),
    _sealed("send_parts", "sent_id"),
    _looked_up("alerts", "key"),
    _looked_up("portals", "bridge_number"),
    _looked_up("portals", "destination"),
    _looked_up("portals", "session"),
    _looked_up("portals", "chat_id"),
    _looked_up("portals", "internal_id"),
    _sealed("portals", "group_id"),
    _sealed("portals", "name"),
    _looked_up("muted_chats", "session"),
    _looked_up("muted_chats", "chat_id"),
    _looked_up("polls", "session"),
    _looked_up("polls", "whatsapp_id"),
    _sealed("polls", "options"),
    _sealed("polls", "voters"),
)
"""Every protected column, grouped by table in the order the re-encryption walks them."""


def tables() -> list[str]:
    """The tables that hold protected columns, in :data:`FIELDS` order."""
    return list(dict.fromkeys(field.table for field in FIELDS))


def fields_of(table: str) -> list[Field]:
    """The protected columns of ``table``."""
    return [field for field in FIELDS if field.table == table]
