"""FakeWaha's session status machine, as WAHA's session manager runs it.

Sessions move STOPPED -> STARTING -> WORKING (paired) or SCAN_QR_CODE (not paired), one
``status_step`` per automatic transition; stop, logout and forced changes cancel a scheduled
one. Every change is announced as a ``session.status`` event while the fake runs, and wakes
the sends that wait for a STARTING session (``not_working_wait``).

The operations follow WAHA's sessions controller: ``restart`` is stop then start, ``logout``
of a running session is stop, drop the auth data, start (so STOPPED, STARTING,
SCAN_QR_CODE), and ``delete`` is stop, log out and forget. Deleting sends no event of its own:
a running session's last word is STOPPED, a stopped one says nothing; afterwards the session is
404 and missing from the list. As WAHA, a repeated WORKING with the same ``data`` is not
announced again (its status stream drops consecutive WORKINGs), while a repeated SCAN_QR_CODE
is (WAHA sends one per QR code refresh).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import trio

from whatsignal.testing._waha_emitter import WahaEmitter
from whatsignal.testing._waha_state import STATUSES, Session, default_status_data
from whatsignal.testing._waha_webhooks import config_problems

__all__ = ["WahaSessions"]


@attrs.define(eq=False, kw_only=True)
class WahaSessions(WahaEmitter):
    """Creating, starting, stopping and forcing sessions, and waiting for their status."""

    @staticmethod
    def check_config(config: Any) -> None:
        """ValueError naming what makes a session config unusable (bad webhooks, ...)."""
        problems = config_problems(config)
        if problems:
            raise ValueError("; ".join(problems))

    def _change(self, session: Session, status: str, data: dict[str, Any] | None = None) -> None:
        """Move ``session`` to ``status`` and announce it (while the fake runs).

        The event's envelope ``timestamp`` is the change's own (the last of ``statuses``).
        """
        if status == "WORKING" and session.status == "WORKING" and data == session.data:
            return
        ms = session.set(status, data)
        if status != "WORKING":  # WAHA forgets presence subscriptions when a session stops
            self.presence_subscriptions.difference_update(
                [sub for sub in self.presence_subscriptions if sub[0] == session.name]
            )
        if self._nursery is not None:
            self.emit("session.status", session.name, session.status_payload(), timestamp_ms=ms)

    def _schedule(self, session: Session, steps: Sequence[str]) -> None:
        """Run ``steps`` one ``status_step`` apart, cancellable by the next change."""
        session.cancel_pending()
        scope = trio.CancelScope()
        session.pending = scope

        async def walk() -> None:
            with scope:
                for status in steps:
                    await trio.sleep(self.status_step)
                    self._change(session, status)
            if session.pending is scope:
                session.pending = None

        self.nursery.start_soon(walk)

    def start_session(self, name: str) -> Session:
        """STOPPED/FAILED -> STARTING -> WORKING (paired) or SCAN_QR_CODE; idempotent."""
        session = self.session(name)
        if session.status in ("STOPPED", "FAILED"):
            self._change(session, "STARTING")
            self._schedule(session, ["WORKING" if session.paired else "SCAN_QR_CODE"])
        return session

    def stop_session(self, name: str) -> Session:
        """-> STOPPED (keeps the auth data); idempotent."""
        session = self.session(name)
        session.cancel_pending()
        if session.status != "STOPPED":
            self._change(session, "STOPPED")
        return session

    def restart_session(self, name: str) -> Session:
        """Stop (STOPPED, when running), then start: STARTING -> WORKING / SCAN_QR_CODE."""
        self.stop_session(name)
        return self.start_session(name)

    def logout_session(self, name: str) -> Session:
        """Drop the auth data; a running session is stopped and started again, so it comes
        back at SCAN_QR_CODE (STOPPED, STARTING, SCAN_QR_CODE); a stopped one stays."""
        session = self.session(name)
        running = session.status != "STOPPED"
        self.stop_session(name)
        session.paired = False
        if running:
            self.start_session(name)
        return session

    def create_session(
        self,
        name: str,
        *,
        config: dict[str, Any] | None = None,
        start: bool = True,
        paired: bool | None = None,
    ) -> Session:
        """Create a STOPPED session and (by default) start it; ValueError when it exists or
        the config is unusable (see :func:`~._waha_webhooks.config_problems`)."""
        self.check_config(config)
        if name in self._sessions:
            raise ValueError(f"Session '{name}' already exists. Use PUT to update it.")
        session = Session(
            name,
            "STOPPED",
            paired=self.auto_pair if paired is None else paired,
            config=dict(config or {}),
        )
        self._sessions[name] = session
        if start:
            self.start_session(name)
        return session

    def update_session(self, name: str, config: dict[str, Any]) -> Session:
        """Replace the config; a running session restarts, as upstream."""
        self.check_config(config)
        session = self.session(name)
        session.config = dict(config)
        if session.status != "STOPPED":
            self.restart_session(name)
        return session

    def delete_session(self, name: str) -> None:
        """Stop, log out and forget; idempotent.

        Everything the fake keeps for the session goes with it: its status machine (a
        scheduled transition is cancelled, so its task ends), config and webhooks, its chat
        history and the messages only it knew, and its received media files. Contacts and
        groups added with :meth:`add_contact`/:meth:`add_group` stay until :meth:`reset`
        (they are the test's address book, as on the phone). Deliveries already under way
        finish, as WAHA's in-memory retries do.
        """
        if name not in self._sessions:
            return
        self.stop_session(name)
        del self._sessions[name]
        known = self._history.pop(name, [])
        if known:
            elsewhere = {mid for ids in self._history.values() for mid in ids}
            for message_id in known:
                if message_id not in elsewhere:
                    self._messages.pop(message_id, None)
        prefix = f"{name}/"
        for key in [key for key in self._files if key.startswith(prefix)]:
            del self._files[key]

    def set_session_status(
        self, session: str, status: str, *, data: dict[str, Any] | None = None
    ) -> Session:
        """Force a status (FAILED, SCAN_QR_CODE, a QR "scan" with WORKING, ...), with its event.

        Creates the session when it does not exist. ``data`` is the payload's ``data``: the
        PASSKEY_* statuses get a sample (a WebAuthn challenge, a confirmation code) when none
        is given, the others null. SCAN_QR_CODE again is a QR refresh and is announced again;
        WORKING again is announced only with different ``data`` (WAHA re-issues WORKING when,
        say, a reachout timelock starts or ends).
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        if data is not None and not isinstance(data, dict):
            raise ValueError("data must be an object (or None)")
        if session not in self._sessions:
            self._sessions[session] = Session(session, "STOPPED")
        target = self._sessions[session]
        target.cancel_pending()
        if status == "WORKING":
            target.paired = True
        elif status == "SCAN_QR_CODE":
            target.paired = False
        self._change(target, status, data if data is not None else default_status_data(status))
        return target

    async def wait_for_status(self, name: str, status: str) -> Session:
        """Wait until session ``name`` has ``status`` (wrap in ``trio.fail_after``)."""
        session = self.session(name)
        while session.status != status:
            await session.changed.wait()
        return session

    async def wait_working(self, name: str) -> Session:
        """Wait up to ``not_working_wait`` for a STARTING session to reach WORKING."""
        session = self.session(name)
        with trio.move_on_after(self.not_working_wait):
            while session.status == "STARTING":
                await session.changed.wait()
        return session
