"""Controller: carries out the control commands a destination writes in Signal.

The router accepts a control command only from a channel's destination, and only for the
sessions of their own channels (:mod:`whatsignal.relay.control`); the receiver hands it here
through :class:`ControlInbox`, without waiting. Each command runs in a task of the
controller's own nursery, so a two-minute ``/pair`` holds up nothing else, and a command that
fails is answered in Signal and goes no further:

* ``/status``: each session's WAHA state, worker state, waiting messages and dead letters,
  its muted chats and the messages they held back, and whether the bridge number is paused
  by a Signal rate limit;
* ``/start``, ``/stop``, ``/restart``: through WAHA's session API, answered with the state
  the session reached (``/stop`` first records ``stopped-by-user:<session>`` so the STOPPED
  alert stays quiet; ``/start`` and ``/restart`` forget it);
* ``/retry``: the dead letters of the destination's sessions are made due again (their
  pollers are rung), answered with how many;
* ``/pair``: a STOPPED session is started first; then, every ``poll`` seconds until the
  session is WORKING or ``window`` seconds have passed, WAHA's QR code is fetched and sent as
  an image whenever it changed (or, with a phone number, one pairing code is asked for and
  sent); then "paired" or "timed out". A second ``/pair`` of the same session replaces the
  first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import NoReturn, Protocol

import attrs
import trio

from whatsignal.actors.alerts import stopped_by_user
from whatsignal.actors.session_table import WorkerState
from whatsignal.clients import OutboundAttachment, SessionInfo
from whatsignal.clock import Clock
from whatsignal.errors import ApiError, ClientError
from whatsignal.relay import control_texts as texts
from whatsignal.relay.decision import ControlRequest
from whatsignal.storage import Alerts, JournalRow, Mute

__all__ = ["BridgeView", "ControlInbox", "ControlSettings", "Controller", "control_channel"]

log = logging.getLogger("whatsignal.controller")

SCAN = "SCAN_QR_CODE"
STARTING = "STARTING"
WORKING = "WORKING"
INBOX_SIZE = 64
DEAD_LETTERS_READ = 1000


class SessionSteering(Protocol):
    """What the controller asks of WAHA (:class:`~whatsignal.clients.WahaClient`)."""

    async def get_session(self, name: str) -> SessionInfo: ...

    async def start_session(self, name: str) -> None: ...

    async def stop_session(self, name: str) -> None: ...

    async def restart_session(self, name: str) -> None: ...

    async def qr_image(self, name: str) -> bytes: ...

    async def request_code(self, name: str, phone: str) -> str: ...


class Teller(Protocol):
    """Sends a text, and files, to a user (:class:`~whatsignal.relay.Notices`)."""

    async def tell(
        self,
        bridge_number: str,
        recipient: str,
        text: str,
        *,
        attachments: Sequence[OutboundAttachment] = (),
    ) -> bool: ...


class ControlStore(Alerts, Protocol):
    """The ``stopped-by-user`` marks, and the journal's counts for ``/status``."""

    async def pending_stats(self) -> dict[str, tuple[int, float]]: ...

    async def dead_letters(self, *, limit: int = 100) -> list[JournalRow]: ...

    async def resurrect(self, row_id: int) -> bool: ...


class MuteCounts(Protocol):
    """The muted chats of some sessions (:class:`~whatsignal.relay.mutes.MuteBook`)."""

    async def of_sessions(self, sessions: Iterable[str]) -> dict[str, list[Mute]]: ...


class SessionsView(Protocol):
    """What ``/status`` reads of the bridge: a session's state and its worker's."""

    def status(self, session: str) -> str | None: ...

    def worker(self, session: str) -> str: ...

    def signal_state(self, bridge_number: str) -> str: ...


@attrs.frozen
class ControlSettings:
    """Args:
    window: how long ``/pair`` keeps sending QR codes (2 minutes).
    poll: how often ``/pair`` and the steering commands look at the session again.
    settle: how long a steering command waits for the session to leave STARTING.
    """

    window: float = 120.0
    poll: float = 2.0
    settle: float = 30.0


@attrs.define(eq=False)
class ControlInbox:
    """The receivers' way in: hands a request to the controller without ever waiting."""

    _send: trio.MemorySendChannel[ControlRequest]

    def submit(self, request: ControlRequest) -> bool:
        """False when the controller cannot take it now (too many commands at once, or the
        bridge is stopping): the caller tells the user to try again."""
        try:
            self._send.send_nowait(request)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True


def control_channel() -> tuple[ControlInbox, trio.MemoryReceiveChannel[ControlRequest]]:
    """The receivers' inbox and the controller's end of it."""
    send, receive = trio.open_memory_channel[ControlRequest](INBOX_SIZE)
    return ControlInbox(send), receive


@attrs.define(eq=False, kw_only=True)
class Controller:
    """Carries out control commands (see the module docstring)."""

    inbox: trio.MemoryReceiveChannel[ControlRequest]
    waha: SessionSteering
    notices: Teller
    store: ControlStore
    sessions: SessionsView
    mutes: MuteCounts
    ring: Callable[[], None]
    """Rings every queue's doorbell (``/retry`` made rows due)."""
    clock: Clock
    settings: ControlSettings = ControlSettings()
    _pairings: dict[str, trio.CancelScope] = attrs.field(factory=dict, init=False)

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        with self.inbox:
            async with trio.open_nursery() as nursery:
                task_status.started()
                async for request in self.inbox:
                    nursery.start_soon(self.handle, request)
        raise RuntimeError("the control inbox closed")  # pragma: no cover - the root owns it

    async def handle(self, request: ControlRequest) -> None:
        """Carry out one command and answer it. Whatever goes wrong ends here, answered: a
        failed command must not take the other commands (or the bridge) with it."""
        session = request.sessions[0]
        try:
            if request.action == "status":
                await self._status(request)
            elif request.action == "pair":
                await self._pair(request, session)
            elif request.action == "retry":
                await self._retry(request)
            else:
                await self._steer(request, session)
        except ClientError as error:
            log.warning("/%s failed: %s", request.action, error)
            await self._say(request, texts.control_failed(request.action, session, str(error)))
        except Exception:  # a bug: logged with its traceback, answered, and contained
            log.exception("/%s crashed", request.action)
            reason = "an internal error (see the bridge's log)"
            await self._say(request, texts.control_failed(request.action, session, reason))

    async def _say(
        self, request: ControlRequest, text: str, files: Sequence[OutboundAttachment] = ()
    ) -> None:
        await self.notices.tell(request.bridge_number, request.destination, text, attachments=files)

    # /status ------------------------------------------------------------------------------

    async def _status(self, request: ControlRequest) -> None:
        pending = await self.store.pending_stats()
        dead: dict[str, int] = {}
        for row in await self.store.dead_letters(limit=DEAD_LETTERS_READ):
            dead[row.queue] = dead.get(row.queue, 0) + 1
        muted = await self.mutes.of_sessions(request.sessions)
        lines = [
            texts.SessionLine(
                name=name,
                status=self.sessions.status(name),
                worker=self.sessions.worker(name),
                waiting=pending.get(name, (0, 0.0))[0],
                dead=dead.get(name, 0),
                muted=len(muted.get(name, ())),
                held=sum(mute.held for mute in muted.get(name, ())),
            )
            for name in request.sessions
        ]
        signal_state = self.sessions.signal_state(request.bridge_number)
        await self._say(request, texts.status_report(lines, signal_state))

    # /retry -------------------------------------------------------------------------------

    async def _retry(self, request: ControlRequest) -> None:
        again = 0
        for row in await self.store.dead_letters(limit=DEAD_LETTERS_READ):
            if row.queue in request.sessions and await self.store.resurrect(row.id):
                again += 1
        if again:
            self.ring()
        log.info("dead letters retried by their user", extra={"event": "control.retry"})
        await self._say(request, texts.retried(again))

    # /start, /stop, /restart --------------------------------------------------------------

    async def _steer(self, request: ControlRequest, session: str) -> None:
        action = request.action
        mark = stopped_by_user(session)
        if action == "stop":
            # Recorded first: the alerter must never see this STOPPED without the mark.
            await self.store.raise_alert(mark, at=self.clock())
            try:
                await self.waha.stop_session(session)
            except ClientError:
                await self.store.clear_alert(mark)
                raise
        else:
            await self.store.clear_alert(mark)
            steer = self.waha.start_session if action == "start" else self.waha.restart_session
            await steer(session)
        status = await self._settled(session)
        log.info("session steered by its user: /%s", action, extra={"event": "control.steer"})
        await self._say(request, texts.steered(action, session, status))

    async def _settled(self, session: str) -> str:
        """The session's state once it left STARTING, or after ``settle`` seconds."""
        with trio.move_on_after(self.settings.settle):
            while True:  # WAHA is asked: nothing in the bridge would say when it changed
                status = (await self.waha.get_session(session)).status
                if status != STARTING:
                    return status
                await trio.sleep(self.settings.poll)
        return STARTING

    # /pair --------------------------------------------------------------------------------

    async def _pair(self, request: ControlRequest, session: str) -> None:
        earlier = self._pairings.pop(session, None)
        if earlier is not None:
            earlier.cancel(reason="a newer /pair of the same session")
        scope = self._pairings[session] = trio.CancelScope()
        try:
            with scope:
                await self._pairing(request, session)
        finally:
            if self._pairings.get(session) is scope:
                del self._pairings[session]

    async def _pairing(self, request: ControlRequest, session: str) -> None:
        minutes = round(self.settings.window / 60)
        status = (await self.waha.get_session(session)).status
        if status == WORKING:
            await self._say(request, texts.already_working(session))
            return
        if status == "STOPPED":
            await self.store.clear_alert(stopped_by_user(session))
            await self.waha.start_session(session)
        elif status not in (SCAN, STARTING):
            await self._say(request, texts.cannot_pair(session, status))
            return
        log.info("pairing a session from Signal", extra={"event": "control.pair"})
        deadline = trio.current_time() + self.settings.window
        shown: bytes | None = None
        code_sent = False
        while True:
            status = (await self.waha.get_session(session)).status
            if status == WORKING:
                await self._say(request, texts.paired(session))
                return
            if status not in (SCAN, STARTING, "STOPPED"):
                await self._say(request, texts.pair_stopped(session, status))
                return
            left = deadline - trio.current_time()
            if left <= 0:
                await self._say(request, texts.pair_timed_out(session, minutes))
                return
            if status == SCAN and request.phone is not None and not code_sent:
                code = await self.waha.request_code(session, request.phone)
                await self._say(request, texts.pair_code(session, code))
                code_sent = True
            elif status == SCAN and request.phone is None:
                image = await self._qr(session)
                if image is not None and image != shown:
                    qr = OutboundAttachment(image, "image/png", f"whatsapp-{session}.png")
                    await self._say(request, texts.pair_qr(session, minutes), [qr])
                    shown = image
            await trio.sleep(min(self.settings.poll, left))

    async def _qr(self, session: str) -> bytes | None:
        """The QR code now, or None when WAHA has none to give (no QR yet, or the session
        left SCAN_QR_CODE in the meantime: the next look tells which)."""
        try:
            return await self.waha.qr_image(session)
        except ApiError as error:
            log.info("no QR code from WAHA this time: %s", error)
            return None


class _Table(Protocol):
    def status(self, session: str) -> str | None: ...

    def worker_state(self, session: str, has_poller: bool) -> WorkerState: ...


class _Gate(Protocol):
    @property
    def paused_until(self) -> float: ...

    @property
    def challenge_tokens(self) -> tuple[str, ...]: ...


@attrs.define(eq=False, kw_only=True)
class BridgeView:
    """:class:`SessionsView` of the running bridge: the session table, whether a session
    has a poller (the registry), and a bridge number's send gate."""

    table: _Table
    has_poller: Callable[[str], bool]
    gate: Callable[[str], _Gate]

    def status(self, session: str) -> str | None:
        return self.table.status(session)

    def worker(self, session: str) -> str:
        return self.table.worker_state(session, self.has_poller(session)).value

    def signal_state(self, bridge_number: str) -> str:
        gate = self.gate(bridge_number)
        if gate.challenge_tokens:
            return (
                "sends paused by a rate limit until an admin solves its challenge "
                "(POST /admin/signal/rate-limit-challenge)"
            )
        left = gate.paused_until - trio.current_time()
        if left > 0:
            return f"sends paused by a rate limit for {left:.0f} s more"
        return "sending normally"
