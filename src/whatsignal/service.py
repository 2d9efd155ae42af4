"""The root of the actor tree: :class:`Bridge`, and the CLI's signal-handling entry :func:`serve`.

``Bridge.run`` builds each collaborator once, in dependency order, hands each to exactly the
parts that use it, and starts the actors in that order too: store, then the registry (pollers
and receivers), the session monitor, the scheduler, and the HTTP server last, so that by the
time a webhook can arrive everything it needs exists. docs/architecture.md draws the tree.

Stopping is cancellation, made graceful by a grace deadline (``server.shutdownGraceSec``): the
HTTP server stops accepting and finishes the requests in flight, pollers start no new rows and
finish the ones in hand (:class:`~whatsignal.actors.session_poller.InFlight`), and whatever
still runs at the deadline is cancelled. An idle bridge stops at once.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import trio

from whatsignal import wiring
from whatsignal._serve import base_url
from whatsignal._version import __version__
from whatsignal.actors.alerts import Alerter
from whatsignal.actors.backfill import backfill
from whatsignal.actors.controller import (
    BridgeView,
    Controller,
    ControlSettings,
    control_channel,
)
from whatsignal.actors.doorbells import Doorbell, Doorbells
from whatsignal.actors.path_merge import PushLedger
from whatsignal.actors.preflight import check_sessions
from whatsignal.actors.receiver import Connect, SignalReceiver, open_websocket
from whatsignal.actors.registry import PollerRegistry
from whatsignal.actors.scheduler import Scheduler, dedupe_horizon
from whatsignal.actors.session_monitor import SessionMonitor, status_channel
from whatsignal.actors.session_poller import InFlight, SessionPoller
from whatsignal.actors.session_table import SessionTable
from whatsignal.actors.typist import typing_channel
from whatsignal.admin import Admin
from whatsignal.clock import Clock, wall_clock
from whatsignal.intake import Intake, signal_queue
from whatsignal.metrics import Metrics
from whatsignal.relay import Names, Notices, PortalKeeper, Router, Upstreams
from whatsignal.relay.mutes import MuteBook
from whatsignal.status_board import StatusBoard
from whatsignal.storage import SqliteStore
from whatsignal.web.admission import Admission
from whatsignal.web.app import create_app
from whatsignal.web.webhook_server import WebhookServer
from whatsignal.wiring import Tuning

if TYPE_CHECKING:
    from whatsignal.config import Config

__all__ = ["Bridge", "Parts", "Tuning"]

log = logging.getLogger("whatsignal.bridge")


@attrs.frozen
class Parts:
    """The running bridge's main parts, for those who embed it or test it to look at."""

    store: SqliteStore
    registry: PollerRegistry
    monitor: SessionMonitor
    sessions: SessionTable
    doorbells: Doorbells
    names: Names
    upstreams: Upstreams


@attrs.define(eq=False)
class Bridge:
    """The whole bridge as one actor.

    Use it inside your own nursery::

        bridge = Bridge(load_config("config.yaml"))
        await nursery.start(bridge.run)      # returns once HTTP listens; bridge.url is set
        ...
        bridge.stop()                        # graceful; or cancel the nursery for a hard stop

    ``run`` returns after a graceful stop has drained.

    Args:
        clock: the wall clock every part uses (tests hand in one they can move).
        websocket_connect: how the receivers open signal-cli's websocket (tests inject
            failures through it).
    """

    config: Config
    websocket_connect: Connect = open_websocket
    clock: Clock = wall_clock
    tuning: Tuning = attrs.field(factory=Tuning)
    url: str = attrs.field(init=False, default="")
    metrics: Metrics = attrs.field(init=False, factory=Metrics)
    parts: Parts | None = attrs.field(init=False, default=None)
    _stopping: trio.Event = attrs.field(init=False, factory=trio.Event)
    _scope: trio.CancelScope = attrs.field(init=False, factory=trio.CancelScope)

    async def run(self, *, task_status: trio.TaskStatus[Bridge] = trio.TASK_STATUS_IGNORED) -> None:
        config, clock, metrics, stopping = self.config, self.clock, self.metrics, self._stopping
        with self._scope:
            async with AsyncExitStack() as stack, trio.open_nursery() as nursery:
                store = wiring.store(config, clock)
                # The store opens (the key derivation, on its thread) while the clients are
                # built and signal-cli is asked its mode: in json-rpc mode every moment before
                # the receiver's websocket is up is one in which signal-cli drops envelopes.
                async with trio.open_nursery() as opening:
                    opening.start_soon(nursery.start, store.run)
                    waha, signal_client = await wiring.open_clients(stack, config)
                    channels = wiring.channel_map(config)
                    numbers = channels.bridge_numbers
                    modes = await wiring.receive_modes(config, signal_client, numbers)
                if store.encrypted:
                    log.info("the database is encrypted at rest (AES-256-GCM)")
                else:
                    log.warning(
                        "the database is NOT encrypted: WHATSIGNAL_ENCRYPTION_SECRET is not set "
                        "(development mode); messages and numbers are stored in clear"
                    )

                # Collaborators, each built once and handed to exactly those who use it.
                doorbells, in_flight = Doorbells(), InFlight()
                table = wiring.session_table(config, channels)
                upstreams = wiring.upstreams(waha, signal_client, metrics, self.tuning)
                names = wiring.names(config, store, waha, clock)
                notices = Notices(signal=signal_client)
                typing_door, typing_inbox = typing_channel()
                portals = PortalKeeper(
                    store=store,
                    groups=signal_client.group_api,
                    notices=notices,
                    clock=clock,
                    watch=typing_door,
                )
                mutes = MuteBook(store=store, clock=clock)
                statuses, inbox = status_channel()
                retention = config.retention_days * 86400.0
                pushes = PushLedger()
                intake = Intake(
                    store=store,
                    channels=channels,
                    doorbells=doorbells,
                    metrics=metrics,
                    clock=clock,
                    session_status=statuses,
                    horizon=dedupe_horizon(retention),
                    typing=typing_door,
                    pushes=pushes,
                )
                relay = wiring.relay(
                    config,
                    channels=channels,
                    upstreams=upstreams,
                    names=names,
                    notices=notices,
                    portals=portals,
                    mutes=mutes,
                    store=store,
                    engines=table,
                    metrics=metrics,
                    clock=clock,
                )
                router = Router(
                    store=store,
                    signal=signal_client,
                    channels=channels,
                    sessions=table,
                    metrics=metrics,
                    clock=clock,
                    portals=portals,
                    mutes=mutes,
                )
                settings = wiring.receiver_settings(config, self.websocket_connect)
                control_inbox, control_orders = control_channel()
                receivers = [
                    SignalReceiver(
                        number=number,
                        mode=mode,
                        signal=signal_client,
                        intake=intake,
                        journal=store,
                        router=router,
                        notices=notices,
                        control=control_inbox,
                        doorbell=doorbells.claim(signal_queue(number)),
                        ring=doorbells,
                        metrics=metrics,
                        clock=clock,
                        pushes=pushes,
                        settings=settings,
                    )
                    for number, mode in modes.items()
                    if config.signal.polling_enabled
                ]
                registry = PollerRegistry(
                    doorbells=doorbells,
                    sessions=tuple(channels.routes),
                    make_poller=partial(
                        _poller,
                        journal=store,
                        relay=relay,
                        sessions=table,
                        retry=wiring.retry_policy(config),
                        metrics=metrics,
                        clock=clock,
                        in_flight=in_flight,
                        stopping=stopping,
                    ),
                    receivers=receivers,
                    pending=store.queues_with_pending,
                    metrics=metrics,
                )

                # The actors, in dependency order: nothing can call into a part not yet running.
                await nursery.start(registry.run)
                monitor = wiring.session_monitor(
                    config,
                    waha=waha,
                    table=table,
                    control=registry,
                    inbox=inbox,
                    doorbells=doorbells,
                    journal=store,
                    forget=(doorbells, upstreams.whatsapp, names, metrics),
                    metrics=metrics,
                    working=typing_door,
                )
                await nursery.start(monitor.run)
                scheduler = Scheduler(
                    store=store,
                    clock=clock,
                    relay=relay,
                    running=registry,
                    metrics=metrics,
                    max_age=config.retry.max_age_hours * 3600.0,
                    retention=retention,
                    interval=config.server.cleanup_interval_hours * 3600.0,
                )
                await nursery.start(scheduler.run)
                alerter = Alerter(
                    store=store,
                    table=table,
                    channels=channels,
                    notices=notices,
                    clock=clock,
                    settings=wiring.alert_settings(config, self.tuning),
                    held=partial(_holding_replies, registry),
                    listing=config.whatsapp.session_api_enabled,
                )
                await nursery.start(alerter.run)
                view = BridgeView(
                    table=table,
                    has_poller=lambda session: registry.poller(session) is not None,
                    gate=upstreams.signal.gate,
                )
                controller = Controller(
                    inbox=control_orders,
                    waha=waha,
                    notices=notices,
                    store=store,
                    sessions=view,
                    mutes=mutes,
                    ring=doorbells.ring_all,
                    clock=clock,
                    settings=ControlSettings(
                        window=self.tuning.pair_window, poll=self.tuning.pair_poll
                    ),
                )
                await nursery.start(controller.run)
                typing = (router, portals, channels, store, waha, signal_client)
                await nursery.start(wiring.typist(typing_inbox, *typing).run)
                board = StatusBoard(
                    version=__version__,
                    journal=store,
                    waha=waha,
                    signal=signal_client,
                    gates=upstreams.signal,
                    registry=registry,
                    table=table,
                    metrics=metrics,
                    clock=clock,
                )
                admin = Admin(
                    board=board,
                    journal=store,
                    signal=signal_client,
                    gates=upstreams.signal,
                    doorbells=doorbells,
                    waha=waha,
                    alerts=store,
                )
                # WAHA's webhooks wait (503, WAHA retries) while the backlog is over its bound.
                admission = Admission(
                    bound=config.server.max_pending_backlog, pending=store.pending_count
                )
                web = wiring.web_settings(config, __version__, clock)
                server = WebhookServer(
                    app=create_app(web, intake, admin, admission),
                    admission=admission,
                    host=config.server.host,
                    port=config.server.port,
                    stopping=stopping,
                    grace=float(config.server.shutdown_grace_sec),
                    read_timeout=config.server.read_timeout_sec,
                    idle_timeout=float(config.server.idle_timeout_sec),
                )
                binds: list[str] = await nursery.start(server.run)
                self.url = base_url(binds)
                self.parts = Parts(store, registry, monitor, table, doorbells, names, upstreams)
                log.info("whatsignal %s listening on %s", __version__, ", ".join(binds))

                # One-time work after the start; none of it holds the start up.
                configured = sorted(channels.routes)
                wa = config.whatsapp
                nursery.start_soon(partial(backfill, store, waha, intake, configured))
                if wa.contact_sync_on_startup or wa.groups.sync_on_startup:
                    nursery.start_soon(
                        partial(
                            names.sync,
                            configured,
                            contacts=wa.contact_sync_on_startup,
                            groups=wa.groups.sync_on_startup,
                        )
                    )
                for warning in wiring.startup_warnings(config, channels):
                    log.warning("%s", warning)
                if wa.session_api_enabled:  # otherwise WAHA's session API is never asked
                    signed = bool(config.secrets.webhook_secret)
                    nursery.start_soon(partial(check_sessions, waha, configured, signed=signed))
                task_status.started(self)
                await stopping.wait()
                # Pollers start nothing new now; let the rows in hand finish (the scope's
                # deadline bounds this), then cancel what has no draining to do.
                await in_flight.idle()
                nursery.cancel_scope.cancel(reason="bridge stopped")
        log.info("whatsignal stopped")

    async def receiving(self) -> None:
        """Return once every Signal receiver actually receives (call after ``run`` started)."""
        if self.parts is None:
            raise RuntimeError("the bridge is not running")
        await self.parts.registry.receiving()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self, grace: float | None = None) -> None:
        """Begin a graceful stop: finish work in flight within ``grace`` seconds, then cancel."""
        if grace is None:
            grace = float(self.config.server.shutdown_grace_sec)
        if not self._stopping.is_set():
            self._stopping.set()
            self._scope.deadline = min(self._scope.deadline, trio.current_time() + grace)

    def stop_now(self) -> None:
        """Stop at once: cancel everything."""
        self._stopping.set()
        self._scope.cancel(reason="immediate stop requested")


def _poller(session: str, doorbell: Doorbell, **collaborators: Any) -> SessionPoller:
    """A session's poller (the registry's :data:`~whatsignal.actors.registry.PollerFactory`)."""
    return SessionPoller(session=session, doorbell=doorbell, **collaborators)


def _holding_replies(registry: PollerRegistry, session: str) -> bool:
    """Whether ``session``'s poller holds replies now (it tells the recovery itself)."""
    poller = registry.poller(session)
    return isinstance(poller, SessionPoller) and poller.holding_replies
