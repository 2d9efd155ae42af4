"""The channel map: which WAHA session's chats go to which Signal destination, and through
which bridge number.

Built once from the configuration (:func:`whatsignal.wiring.channel_map`) and read by the
intake, the router, the relay and the session monitor; nothing changes it at run time.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

__all__ = ["ChannelMap", "Route"]


@attrs.frozen
class Route:
    """Where one WAHA session's chats go in Signal."""

    session: str
    destination: str
    bridge_number: str
    portals: bool = False
    """Whether each WhatsApp chat gets a Signal group of its own (``channels[].portals``)."""


@attrs.frozen
class ChannelMap:
    """The configured channels, indexed both ways.

    ``default`` is the ``"*"`` channel's route template (its session name is replaced by the
    discovered session's), or None.
    """

    routes: dict[str, Route]
    default: Route | None = None

    def route(self, session: str) -> Route | None:
        found = self.routes.get(session)
        if found is None and self.default is not None:
            default = self.default
            return Route(session, default.destination, default.bridge_number, default.portals)
        return found

    def configured(self, session: str) -> bool:
        """Whether the session has a channel (its own, or the ``"*"`` default)."""
        return session in self.routes or self.default is not None

    def sessions_for(self, destination: str, bridge_number: str, known: Sequence[str]) -> list[str]:
        """Sessions whose chats reach ``destination`` through ``bridge_number``.

        ``known`` lists the sessions running now (for the ``"*"`` default channel).
        """
        found = [
            r.session
            for r in self.routes.values()
            if r.destination == destination and r.bridge_number == bridge_number
        ]
        if (
            self.default is not None
            and self.default.destination == destination
            and self.default.bridge_number == bridge_number
        ):
            found += [s for s in known if s not in self.routes and s not in found]
        return found

    @property
    def bridge_numbers(self) -> frozenset[str]:
        numbers = {r.bridge_number for r in self.routes.values()}
        if self.default is not None:
            numbers.add(self.default.bridge_number)
        return frozenset(numbers)

    def is_destination(self, number: str, bridge_number: str) -> bool:
        routes = [*self.routes.values(), *([self.default] if self.default else [])]
        return any(r.destination == number and r.bridge_number == bridge_number for r in routes)
