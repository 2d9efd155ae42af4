"""WhatsApp polls, read from a message's engine data (pure).

WAHA's ``WAMessage`` has no poll field: a poll arrives as a ``message`` whose ``_data`` is the
engine's own. WEBJS gives ``type: "poll_creation"`` with ``pollName``, ``pollOptions``
(``[{"name": ..., "localId": n}]``) and ``pollSelectableOptionsCount``; NOWEB and GOWS give the
protocol message, ``message.pollCreationMessage`` (or ``...V2``/``V3``) with ``name``,
``options`` (``[{"optionName": ...}]``) and ``selectableOptionsCount``. A selectable count of
0 means any number of answers; 1 means one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Poll", "poll_text", "whatsapp_poll"]

_NOWEB_KEYS = ("pollCreationMessageV3", "pollCreationMessageV2", "pollCreationMessage")


@attrs.frozen
class Poll:
    """A poll's question and options, as the WhatsApp sender wrote them."""

    question: str
    options: tuple[str, ...]
    multiple: bool

    @property
    def native(self) -> bool:
        """Whether it can be a Signal poll: a question and at least two options."""
        return bool(self.question.strip()) and len(self.options) >= 2


def _names(items: object, key: str) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    names = (item.get(key) for item in items if isinstance(item, dict))
    return tuple(name for name in names if isinstance(name, str) and name.strip())


def _multiple(count: object) -> bool:
    return not isinstance(count, int) or isinstance(count, bool) or count != 1


def whatsapp_poll(data: Mapping[str, Any] | None, body: str | None = None) -> Poll | None:
    """The poll a message carries, or None when it is not a poll. ``body`` stands in for a
    question the engine data lacks."""
    if not data:
        return None
    inner = data.get("message")
    if isinstance(inner, dict):
        for key in _NOWEB_KEYS:
            found = inner.get(key)
            if isinstance(found, dict):
                name = found.get("name")
                return Poll(
                    question=name if isinstance(name, str) else body or "",
                    options=_names(found.get("options"), "optionName"),
                    multiple=_multiple(found.get("selectableOptionsCount")),
                )
    if data.get("type") != "poll_creation":
        return None
    name = data.get("pollName")
    return Poll(
        question=name if isinstance(name, str) else body or "",
        options=_names(data.get("pollOptions"), "name"),
        multiple=_multiple(data.get("pollSelectableOptionsCount")),
    )


def poll_text(poll: Poll) -> str:
    """The poll as readable text: a heading line, then the options numbered from 1."""
    kind = "several answers allowed" if poll.multiple else "one answer"
    head = f"📊 Poll ({kind}): {poll.question}" if poll.question else f"📊 Poll ({kind})"
    return "\n".join([head, *(f"{n}. {option}" for n, option in enumerate(poll.options, 1))])
