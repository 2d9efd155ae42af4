"""What the intake tells the session monitor (pure data and a small memory, no tasks).

A ``session.status`` webhook becomes a :class:`StatusEvent`. Every WAHA webhook also names the
engine behind its session (the envelope's ``engine``): the first one seen for a session, or a
different one, goes to the monitor as an engine-only :class:`StatusEvent`, so that the bridge
knows whether a send takes a pre-generated id (GOWS, NOWEB) even when it never lists sessions
(``whatsapp.sessionApiEnabled: false``) and no status change comes after a restart.
"""

from __future__ import annotations

import attrs
import trio

__all__ = ["EngineNotes", "StatusEvent"]


@attrs.frozen
class StatusEvent:
    """A ``session.status`` webhook for the session monitor: the session, its status, WAHA's
    time of the change (ms; None when the event did not say) and the engine the webhook named.
    ``status`` None: only the engine is news."""

    session: str
    status: str | None
    at: float | None = None
    engine: str | None = None


@attrs.define(eq=False)
class EngineNotes:
    """The engine last told to the monitor for each session (a session's engine changes only
    when it is made again, so this is one entry per session, told once)."""

    _told: dict[str, str] = attrs.field(factory=dict, init=False)

    def note(
        self, session: str, engine: str | None, inbox: trio.MemorySendChannel[StatusEvent]
    ) -> None:
        """Tell ``inbox`` of ``engine`` unless it was told already (a full inbox: the next
        webhook tries again)."""
        if not engine or self._told.get(session) == engine:
            return
        try:
            inbox.send_nowait(StatusEvent(session, None, engine=engine))
        except trio.WouldBlock:
            return
        self._told[session] = engine
