"""The root of the actor tree: :class:`Bridge`, and the CLI's signal-handling entry :func:`serve`.

Start order is dependency order: store, HTTP clients, registry (receivers and workers), HTTP
server last, so that by the time a webhook can arrive everything it needs exists.

Stopping is cancellation, made graceful by a grace deadline (``server.shutdownGraceSec``): the
HTTP server stops accepting and finishes the requests in flight, workers start no new rows and
finish the ones in hand, and whatever still runs at the deadline is cancelled. An idle bridge
stops at once.
"""

from __future__ import annotations

import logging
import signal
from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import attrs
import trio

from whatsignal import log as wlog
from whatsignal._version import __version__
from whatsignal.actors.backfill import backfill
from whatsignal.actors.context import BridgeContext, ChannelMap, Route
from whatsignal.actors.handlers import describe
from whatsignal.actors.preflight import check_sessions, sync_names
from whatsignal.actors.receiver import Connect, open_websocket
from whatsignal.actors.registry import PollerRegistry, ReceiverSettings
from whatsignal.actors.scheduler import Scheduler
from whatsignal.actors.session_monitor import SessionMonitor
from whatsignal.clients import SignalClient, WahaClient, open_http_client
from whatsignal.convert.media import MEDIA_CLASSES, MediaPolicy
from whatsignal.errors import ClientError, ConfigError
from whatsignal.intake import Intake
from whatsignal.metrics import CONTENT_TYPE_LATEST, Metrics
from whatsignal.reliability import Backoff
from whatsignal.storage import SqliteStore, Store
from whatsignal.web.app import Readiness, WebDeps, create_app
from whatsignal.web.server import base_url, serve_app

if TYPE_CHECKING:
    from whatsignal.config import Config

__all__ = ["Bridge", "serve"]

log = logging.getLogger("whatsignal.bridge")

ROUTE_SETTLE_SEC = 0.25
ReceiveMode = Literal["websocket", "poll"]
ReceiveSetting = Literal["websocket", "poll", "auto"]


def channel_map(config: Config) -> ChannelMap:
    routes: dict[str, Route] = {}
    default: Route | None = None
    for channel in config.channels:
        route = Route(
            channel.whatsapp_session_name,
            channel.signal_destination_phone_number,
            config.bridge_number_for(channel),
        )
        if channel.whatsapp_session_name == "*":
            default = route
        else:
            routes[route.session] = route
    return ChannelMap(routes, default)


def media_policy(config: Config) -> MediaPolicy:
    """``media.maxSizeMB`` / ``media.allowedTypes`` / ``media.downloadTimeoutSec``."""
    media = config.media
    return MediaPolicy(
        max_bytes={name: getattr(media.max_size_mb, name) * 1024 * 1024 for name in MEDIA_CLASSES},
        extensions={name: tuple(getattr(media.allowed_types, name)) for name in MEDIA_CLASSES},
        download_timeout=float(media.download_timeout_sec),
    )


def _queue_label(queue: str) -> str:
    """A queue as status pages and metrics show it: sessions by name (bounded by the
    configuration), Signal queues with the bridge number masked to its last four digits."""
    return queue if not queue.startswith("signal:") else "signal:" + queue[-4:]


def _mode_from_about(about_mode: str) -> ReceiveMode:
    return "websocket" if about_mode.startswith("json-rpc") else "poll"


@attrs.define(eq=False)
class Bridge:
    """The whole bridge as one actor.

    Use it inside your own nursery::

        bridge = Bridge(load_config("config.yaml"))
        await nursery.start(bridge.run)      # returns once HTTP listens; bridge.url is set
        ...
        bridge.stop()                        # graceful; or cancel the nursery for a hard stop

    ``run`` returns after a graceful stop has drained. ``websocket_connect`` replaces how the
    receivers open signal-cli's websocket (tests inject failures through it).
    """

    config: Config
    websocket_connect: Connect = open_websocket
    url: str = attrs.field(init=False, default="")
    metrics: Metrics = attrs.field(init=False, factory=Metrics)
    store: Store | None = attrs.field(init=False, default=None)
    registry: PollerRegistry | None = attrs.field(init=False, default=None)
    monitor: SessionMonitor | None = attrs.field(init=False, default=None)
    _stopping: trio.Event = attrs.field(init=False, factory=trio.Event)
    _scope: trio.CancelScope = attrs.field(init=False, factory=trio.CancelScope)

    async def run(self, *, task_status: trio.TaskStatus[Bridge] = trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        with self._scope:
            async with AsyncExitStack() as stack, trio.open_nursery() as nursery:
                store: SqliteStore = await nursery.start(
                    lambda task_status: SqliteStore(
                        config.database.path, synchronous=config.database.synchronous
                    ).run(task_status=task_status)
                )
                self.store = store
                waha_http = await stack.enter_async_context(
                    open_http_client(
                        config.whatsapp.api_base_url,
                        timeout=config.whatsapp.timeout_sec,
                        api_key=config.secrets.api_key,
                    )
                )
                signal_http = await stack.enter_async_context(
                    open_http_client(
                        config.signal.rpc_url, timeout=float(config.signal.http_timeout_sec)
                    )
                )
                waha = WahaClient(waha_http, sessions_path=config.whatsapp.session_api_path)
                signal_client = SignalClient(signal_http)
                channels = channel_map(config)
                modes = await self._receive_modes(signal_client, channels.bridge_numbers)
                retry = config.retry
                ctx = BridgeContext(
                    store=store,
                    waha=waha,
                    signal=signal_client,
                    channels=channels,
                    metrics=self.metrics,
                    retry_backoff=Backoff(
                        initial=retry.initial_backoff_ms / 1000, maximum=retry.max_backoff_ms / 1000
                    ),
                    max_attempts=retry.max_attempts,
                    max_age=retry.max_age_hours * 3600.0,
                    link_preview=config.whatsapp.link_preview,
                    contact_ttl=config.whatsapp.contact_cache_hours * 3600.0,
                    group_ttl=config.whatsapp.groups.cache_hours * 3600.0,
                    media=media_policy(config),
                )
                intake = Intake(
                    store=store,
                    session_configured=channels.configured,
                    bridge_numbers=channels.bridge_numbers,
                    ring=lambda queue: None,
                    metrics=self.metrics,
                )
                sig = config.signal
                registry = PollerRegistry(
                    ctx=ctx,
                    intake=intake,
                    sessions=tuple(channels.routes),
                    modes=modes,
                    receivers=ReceiverSettings(
                        enabled=sig.polling_enabled,
                        poll_timeout=float(sig.poll_timeout_sec),
                        poll_interval=float(sig.poll_interval_sec),
                        # With the push path on, an envelope may be journaled before an older
                        # one that comes over the websocket a moment later: let rows settle.
                        settle=ROUTE_SETTLE_SEC if sig.webhook_token else 0.0,
                        connect=self.websocket_connect,
                    ),
                    stopping=self._stopping,
                )
                ctx.ring = registry.ring
                ctx.running_sessions = registry.running_sessions
                intake.ring = registry.ring
                await nursery.start(registry.run)
                self.registry = registry
                wa = config.whatsapp
                discover = wa.session_api_enabled and sig.enable_dynamic_polling
                if discover or wa.session_auto_restart:
                    monitor = SessionMonitor(
                        waha=waha,
                        channels=channels,
                        ensure_worker=registry.ensure_worker,
                        stop_worker=registry.stop_worker,
                        running=registry.running_sessions,
                        static=frozenset(channels.routes),
                        interval=float(
                            sig.session_discovery_interval_sec
                            if discover
                            else wa.session_health_check_sec
                        ),
                        discover=discover,
                        auto_restart=wa.session_auto_restart,
                        startup_timeout=float(wa.session_startup_timeout_sec),
                        max_discovered=sig.max_concurrent_sessions,
                    )
                    intake.on_session_status = monitor.notify
                    await nursery.start(monitor.run)
                    self.monitor = monitor
                await nursery.start(
                    Scheduler(
                        store=store,
                        retention=config.retention_days * 86400.0,
                        interval=config.server.cleanup_interval_hours * 3600.0,
                    ).run
                )
                app = create_app(self._web_deps(ctx, intake, registry))
                binds: list[str] = await nursery.start(
                    lambda task_status: serve_app(
                        app,
                        host=config.server.host,
                        port=config.server.port,
                        shutdown_trigger=self._stopping.wait,
                        graceful_timeout=float(config.server.shutdown_grace_sec),
                        task_status=task_status,
                    )
                )
                self.url = base_url(binds)
                log.info("whatsignal %s listening on %s", __version__, ", ".join(binds))
                nursery.start_soon(partial(backfill, ctx, intake, sorted(channels.routes)))
                if wa.contact_sync_on_startup or wa.groups.sync_on_startup:
                    nursery.start_soon(
                        partial(
                            sync_names,
                            ctx,
                            sorted(channels.routes),
                            contacts=wa.contact_sync_on_startup,
                            groups=wa.groups.sync_on_startup,
                        )
                    )
                nursery.start_soon(
                    partial(
                        check_sessions,
                        waha,
                        sorted(channels.routes),
                        signed=bool(config.secrets.webhook_secret),
                    )
                )
                task_status.started(self)
                await self._stopping.wait()
                # Workers start nothing new now; let the rows in hand finish (the scope's
                # deadline bounds this), then cancel what has no draining to do.
                while registry.in_flight():  # noqa: ASYNC110 - bounded by the grace deadline
                    await trio.sleep(0.05)
                nursery.cancel_scope.cancel(reason="bridge stopped")
        log.info("whatsignal stopped")

    async def _receive_modes(
        self, client: SignalClient, numbers: frozenset[str]
    ) -> dict[str, ReceiveSetting]:
        """One receive mode for all bridge numbers (one signal-cli-rest-api), from ``/v1/about``
        unless ``signal.receiveMode`` says; a configured mode that contradicts the server is a
        startup error."""
        wanted = self.config.signal.receive_mode
        if self.config.signal.force_native_polling and wanted == "auto":
            wanted = "poll"
        detected: ReceiveMode | None = None
        try:
            with trio.fail_after(10):
                about = await client.about()
            detected = _mode_from_about(about.mode)
            log.info("signal-cli-rest-api %s in %s mode", about.version, about.mode)
        except (ClientError, trio.TooSlowError) as error:
            if self.config.signal.strict_init:
                raise ConfigError(
                    f"signal.rpc_url: signal-cli-rest-api did not answer /v1/about ({error}); "
                    "start it first or turn off signal.strictInit"
                ) from None
            log.warning("signal-cli-rest-api did not answer /v1/about: %s", error)
        mode: ReceiveSetting
        if wanted == "auto":
            # Not known yet when signal-cli did not answer: each receiver asks again itself.
            mode = detected or "auto"
        else:
            mode = "websocket" if wanted == "websocket" else "poll"
            if detected is not None and detected != mode:
                raise ConfigError(
                    f"signal.receiveMode: {wanted!r} contradicts signal-cli-rest-api, which runs "
                    f"in {'json-rpc' if detected == 'websocket' else 'normal/native'} mode "
                    f"(receive needs {detected!r}); set signal.receiveMode to 'auto' or "
                    f"{detected!r}"
                )
        return dict.fromkeys(sorted(numbers), mode)

    def _web_deps(self, ctx: BridgeContext, intake: Intake, registry: PollerRegistry) -> WebDeps:
        config = self.config
        store = ctx.store

        async def readiness() -> Readiness:
            checks: dict[str, str] = {}
            with trio.move_on_after(3):
                try:
                    await ctx.waha.server_version()
                    checks["whatsapp"] = "ok"
                except ClientError as error:
                    checks["whatsapp"] = f"unavailable: {type(error).__name__}"
            checks.setdefault("whatsapp", "timeout")
            with trio.move_on_after(3):
                try:
                    ok = await ctx.signal.health()
                    checks["signal"] = "ok" if ok else "unhealthy"
                except ClientError as error:
                    checks["signal"] = f"unavailable: {type(error).__name__}"
            checks.setdefault("signal", "timeout")
            return Readiness(all(v == "ok" for v in checks.values()), checks)

        async def status() -> dict[str, Any]:
            counts = await store.state_counts()
            queues: dict[str, dict[str, int]] = {}
            for (queue, state), n in counts.items():
                queues.setdefault(_queue_label(queue), {})[state] = n
            gates = {
                g.number[-4:]: {
                    "breaker": g.breaker.state.value,
                    "paused_for_sec": max(0.0, g.paused_until - trio.current_time()),
                    "rate_limit_challenge_pending": bool(g.challenge_tokens),
                }
                for g in ctx.gates()
            }
            return {
                "version": __version__,
                "sessions": dict(self.monitor.statuses) if self.monitor else {},
                **registry.snapshot(),
                "queues": queues,
                "signal": gates,
            }

        async def solve_rate_limit(captcha: str, number: str | None) -> dict[str, Any]:
            solved: list[str] = []
            failed: dict[str, str] = {}
            for gate in ctx.gates():
                if not gate.challenge_tokens or number not in (None, gate.number):
                    continue
                label = wlog.phone(gate.number)
                try:
                    await ctx.signal.rate_limit_challenge(
                        gate.number, challenge_token=gate.challenge_tokens[0], captcha=captcha
                    )
                except ClientError as error:
                    failed[label] = str(error)
                    continue
                gate.lift()
                solved.append(label)
            if solved:
                # What waited for the pause may go now.
                await store.retry_now()
                registry.ring_all()
            return {"solved": solved, "failed": failed}

        async def dead_letters() -> list[dict[str, Any]]:
            return [describe(row) for row in await store.dead_letters()]

        async def retry_dead(row_id: int) -> bool:
            if not await store.resurrect(row_id):
                return False
            registry.ring_all()  # whichever queue the row is in looks again
            return True

        async def already_journaled(event: Any, raw: bytes) -> bool:
            row = intake.whatsapp_event(event, raw)
            return not isinstance(row, str) and await store.has_key(row.key)

        async def metrics() -> tuple[bytes, str]:
            # Scraped often: read only the pending rows, never the retained done ones.
            pending: dict[str, int] = {}
            for queue, n in (await store.pending_by_queue()).items():
                name = _queue_label(queue)
                pending[name] = pending.get(name, 0) + n
            self.metrics.pending.clear()
            for name, n in pending.items():
                self.metrics.pending.labels(name).set(n)
            return self.metrics.render(), CONTENT_TYPE_LATEST

        secure = not config.development
        return WebDeps(
            version=__version__,
            readiness=readiness,
            intake=intake,
            webhook_secret=config.secrets.webhook_secret,
            max_body_bytes=config.server.webhook_max_bytes,
            max_skew_sec=config.server.webhook_max_skew_sec,
            already_journaled=already_journaled,
            signal_webhook_token=config.signal.webhook_token,
            admin_token=config.secrets.admin_token,
            admin_open=not secure,
            status=status,
            dead_letters=dead_letters,
            retry_dead_letter=retry_dead,
            metrics=metrics,
            solve_rate_limit=solve_rate_limit,
        )

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


async def _watch_signals(
    bridge: Bridge, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if not bridge.stopping:
                log.info(
                    "%s received: stopping gracefully (within %ss; send again to stop at once)",
                    name,
                    bridge.config.server.shutdown_grace_sec,
                )
                bridge.stop()
            else:
                log.warning("%s received again: stopping now", name)
                bridge.stop_now()


async def serve(config: Config) -> None:
    """Run the bridge until SIGINT/SIGTERM (the ``run`` command).

    The signal watcher lives outside the bridge's scope and is cancelled once the bridge has
    returned, so an idle bridge exits as soon as it has drained rather than at the deadline.
    """
    bridge = Bridge(config)
    async with trio.open_nursery() as root:
        await root.start(_watch_signals, bridge)
        await bridge.run()
        root.cancel_scope.cancel(reason="bridge finished")
