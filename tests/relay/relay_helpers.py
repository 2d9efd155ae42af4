"""Helpers shared by the relay tests (a uniquely named module, imported by name)."""

from __future__ import annotations


class KnownEngines(dict[str, str]):
    """The engine of each session as a test sets it (none: not known, as before a listing)."""

    def engine(self, session: str) -> str | None:
        return self.get(session)
