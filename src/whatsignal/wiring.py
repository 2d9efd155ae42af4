"""From the configuration to the parts of the bridge that are built from it.

Each function maps one slice of :class:`~whatsignal.config.Config` onto the settings or the
collaborator that takes it, so that :mod:`whatsignal.service` reads as the actor tree and its
dependency order, and nothing else. The functions with I/O are :func:`open_clients` (HTTP
connection pools, closed with the stack) and :func:`receive_modes` (asks signal-cli which
receive mode it runs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import attrs
import trio

from whatsignal.actors.alerts import AlertSettings
from whatsignal.actors.doorbells import Doorbells
from whatsignal.actors.receiver import Connect, ReceiverSettings
from whatsignal.actors.registry import SessionControl
from whatsignal.actors.session_monitor import Forget, SessionMonitor
from whatsignal.actors.session_poller import RetryPolicy
from whatsignal.actors.session_table import SessionTable
from whatsignal.actors.typist import Typist
from whatsignal.channels import ChannelMap, Route
from whatsignal.clients import SignalClient, WahaClient, open_http_client
from whatsignal.clock import Clock
from whatsignal.convert.media import MEDIA_CLASSES, MediaPolicy
from whatsignal.convert.presence import TypingInbox, TypingNews
from whatsignal.metrics import Metrics
from whatsignal.relay import (
    Names,
    Notices,
    Relay,
    Router,
    SignalUpstream,
    ToSignal,
    ToWhatsApp,
    Upstreams,
    WhatsAppUpstream,
)
from whatsignal.relay.identities import Identities
from whatsignal.relay.mutes import MuteBook
from whatsignal.relay.portals import PortalKeeper
from whatsignal.relay.send_once import Engines
from whatsignal.relay.typing_relay import TypingRelay
from whatsignal.reliability import Backoff
from whatsignal.session_news import StatusEvent
from whatsignal.storage import Journal, Store
from whatsignal.web.app import WebSettings
from whatsignal.wiring_signal import receive_modes
from whatsignal.wiring_store import encryption_keys, store

if TYPE_CHECKING:
    from whatsignal.config import Config

__all__ = [
    "Tuning",
    "alert_settings",
    "channel_map",
    "discovers",
    "encryption_keys",
    "media_policy",
    "names",
    "open_clients",
    "receive_modes",
    "receiver_settings",
    "relay",
    "retry_policy",
    "session_monitor",
    "session_table",
    "startup_warnings",
    "store",
    "upstreams",
    "web_settings",
]

log = logging.getLogger("whatsignal.bridge")


@attrs.frozen
class Tuning:
    """Timings that are not configuration, for embedding and tests.

    Args:
        rate_limit_pause: how long a bridge number pauses after a signal-cli 429 that names no
            wait of its own.
        breaker_reset: how long an open circuit breaker (a WAHA session's, a bridge number's)
            waits before it lets a trial call through.
    """

    rate_limit_pause: float = 60.0
    breaker_reset: float = 15.0
    alert_settle: float = 10.0
    """How long a condition an alert told must be false before it clears (flapping folds)."""
    pair_poll: float = 2.0
    """How often ``/pair`` looks for a new QR code and for the session to work."""
    pair_window: float = 120.0
    """How long ``/pair`` keeps sending QR codes before it says it timed out."""


async def open_clients(stack: AsyncExitStack, config: Config) -> tuple[WahaClient, SignalClient]:
    """The two upstream clients (``whatsapp.*``, ``signal.*``), their pools closed by ``stack``."""
    wa, sig = config.whatsapp, config.signal
    waha_http = await stack.enter_async_context(
        open_http_client(wa.api_base_url, timeout=wa.timeout_sec, api_key=config.secrets.api_key)
    )
    signal_http = await stack.enter_async_context(
        open_http_client(sig.rpc_url, timeout=float(sig.http_timeout_sec))
    )
    return WahaClient(waha_http, sessions_path=wa.session_api_path), SignalClient(signal_http)


def upstreams(
    waha: WahaClient, signal: SignalClient, metrics: Metrics, tuning: Tuning
) -> Upstreams:
    """The guarded upstreams, one breaker per session and one gate per bridge number."""
    return Upstreams(
        whatsapp=WhatsAppUpstream(client=waha, breaker_reset=tuning.breaker_reset),
        signal=SignalUpstream(
            client=signal,
            metrics=metrics,
            rate_limit_pause=tuning.rate_limit_pause,
            breaker_reset=tuning.breaker_reset,
        ),
    )


def names(config: Config, store: Store, waha: WahaClient, clock: Clock) -> Names:
    """``whatsapp.contactCacheHours`` / ``whatsapp.groups.cacheHours``; LIDs resolved through
    WAHA's lids API (``relay/identities.py``)."""
    return Names(
        store=store,
        waha=waha,
        clock=clock,
        identities=Identities(store=store, lids=waha.lids, clock=clock),
        contact_ttl=config.whatsapp.contact_cache_hours * 3600.0,
        group_ttl=config.whatsapp.groups.cache_hours * 3600.0,
    )


def relay(
    config: Config,
    *,
    channels: ChannelMap,
    upstreams: Upstreams,
    names: Names,
    notices: Notices,
    portals: PortalKeeper,
    mutes: MuteBook,
    store: Store,
    engines: Engines,
    metrics: Metrics,
    clock: Clock,
) -> Relay:
    """Both directions (``media.*``, ``whatsapp.linkPreview``) behind the pollers' relay."""
    media = media_policy(config)
    return Relay(
        channels=channels,
        mutes=mutes,
        to_signal=ToSignal(
            upstreams=upstreams,
            names=names,
            store=store,
            metrics=metrics,
            clock=clock,
            portals=portals,
            media=media,
        ),
        to_whatsapp=ToWhatsApp(
            upstreams=upstreams,
            store=store,
            engines=engines,
            metrics=metrics,
            clock=clock,
            media=media,
            link_preview=config.whatsapp.link_preview,
            notices=notices,
        ),
        names=names,
        notices=notices,
    )


def discovers(config: Config) -> bool:
    """Whether sessions are discovered (``whatsapp.sessionApiEnabled`` and
    ``signal.enableDynamicPolling``); otherwise exactly the configured sessions run."""
    return config.whatsapp.session_api_enabled and config.signal.enable_dynamic_polling


def session_table(config: Config, channels: ChannelMap) -> SessionTable:
    """Which sessions may have a poller (``signal.maxConcurrentSessions`` for discovered ones)."""
    return SessionTable(
        configured=frozenset(channels.routes),
        serves=channels.configured,
        discover=discovers(config),
        cap=config.signal.max_concurrent_sessions,
    )


def session_monitor(
    config: Config,
    *,
    waha: WahaClient,
    table: SessionTable,
    control: SessionControl,
    inbox: trio.MemoryReceiveChannel[StatusEvent],
    doorbells: Doorbells,
    journal: Journal,
    forget: Sequence[Forget],
    metrics: Metrics,
    working: TypingInbox | None = None,
) -> SessionMonitor:
    """The monitor: lists sessions every ``signal.sessionDiscoveryIntervalSec`` (discovery) or
    ``whatsapp.sessionHealthCheckSec`` (configured sessions only); no listing at all without
    ``whatsapp.sessionApiEnabled`` (then only ``session.status`` webhooks tell)."""
    wa, sig = config.whatsapp, config.signal
    return SessionMonitor(
        waha=waha,
        table=table,
        control=control,
        inbox=inbox,
        doorbells=doorbells,
        journal=journal,
        forget=forget,
        metrics=metrics,
        interval=float(
            sig.session_discovery_interval_sec if discovers(config) else wa.session_health_check_sec
        ),
        listing=wa.session_api_enabled,
        auto_restart=wa.session_auto_restart and wa.session_api_enabled,
        startup_timeout=float(wa.session_startup_timeout_sec),
        working=working,
    )


def alert_settings(config: Config, tuning: Tuning) -> AlertSettings:
    """``alerts.graceSec`` / ``stuckAfterMinutes``; WAHA's session API is told after failing
    for three listing intervals."""
    interval = float(
        config.signal.session_discovery_interval_sec
        if discovers(config)
        else config.whatsapp.session_health_check_sec
    )
    return AlertSettings(
        grace=float(config.alerts.grace_sec),
        stuck_after=config.alerts.stuck_after_minutes * 60.0,
        api_after=3 * interval,
        settle=tuning.alert_settle,
    )


def startup_warnings(config: Config, channels: ChannelMap) -> list[str]:
    """Settings that quietly do nothing, said once at start-up."""
    found: list[str] = []
    if channels.default is not None and not discovers(config):
        found.append(
            "the '*' channel serves no session: session discovery is off "
            "(whatsapp.sessionApiEnabled and signal.enableDynamicPolling must both be true); "
            "only the sessions named in channels run"
        )
    if not config.signal.polling_enabled:
        found.append(
            "signal.pollingEnabled is false: replies written in Signal are not received "
            "(unless signal-cli pushes them to /webhook/signal with signal.webhookToken)"
        )
    return found


def channel_map(config: Config) -> ChannelMap:
    """``channels``: each session's route; the ``"*"`` channel becomes the default."""
    routes: dict[str, Route] = {}
    default: Route | None = None
    for channel in config.channels:
        route = Route(
            channel.whatsapp_session_name,
            channel.signal_destination_phone_number,
            config.bridge_number_for(channel),
            channel.portals,
        )
        if channel.whatsapp_session_name == "*":
            default = route
        else:
            routes[route.session] = route
    return ChannelMap(routes, default)


def media_policy(config: Config) -> MediaPolicy:
    """``media.maxSizeMB`` / ``media.allowedTypes`` / ``media.downloadTimeoutSec`` /
    ``media.tempDir``."""
    media = config.media
    return MediaPolicy(
        max_bytes={name: getattr(media.max_size_mb, name) * 1024 * 1024 for name in MEDIA_CLASSES},
        extensions={name: tuple(getattr(media.allowed_types, name)) for name in MEDIA_CLASSES},
        download_timeout=float(media.download_timeout_sec),
        temp_dir=media.temp_dir,
    )


def retry_policy(config: Config) -> RetryPolicy:
    """``retry.*``."""
    retry = config.retry
    return RetryPolicy(
        backoff=Backoff(
            initial=retry.initial_backoff_ms / 1000, maximum=retry.max_backoff_ms / 1000
        ),
        max_attempts=retry.max_attempts,
        max_age=retry.max_age_hours * 3600.0,
    )


def receiver_settings(config: Config, connect: Connect) -> ReceiverSettings:
    """``signal.pollTimeoutSec`` / ``pollIntervalSec``, and how the websocket is opened."""
    sig = config.signal
    return ReceiverSettings(
        poll_timeout=float(sig.poll_timeout_sec),
        poll_interval=float(sig.poll_interval_sec),
        connect=connect,
    )


def web_settings(config: Config, version: str, clock: Clock) -> WebSettings:
    """``server.webhookMaxBytes`` / ``webhookMaxSkewSec``, the webhook secret, the push-path
    token and the admin token (the admin endpoints are open only in development mode without
    a token), and the limit on failed authentication (``server.rateLimitPerMinute``,
    ``rateLimitCleanupMinutes``, ``trustedProxies``)."""
    server = config.server
    return WebSettings(
        version=version,
        clock=clock,
        webhook_secret=config.secrets.webhook_secret,
        max_body_bytes=config.server.webhook_max_bytes,
        max_skew_sec=config.server.webhook_max_skew_sec,
        signal_webhook_token=config.signal.webhook_token,
        admin_token=config.secrets.admin_token,
        admin_open=config.development,
        rate_limit_per_minute=server.rate_limit_per_minute,
        rate_limit_cleanup_sec=server.rate_limit_cleanup_minutes * 60.0,
        trusted_proxies=server.trusted_proxies,
    )


def typist(
    inbox: trio.MemoryReceiveChannel[TypingNews],
    router: Router,
    portals: PortalKeeper,
    channels: ChannelMap,
    store: Store,
    waha: WahaClient,
    signal: SignalClient,
) -> Typist:
    """The typist, with where typing shows and the clients that show it."""
    relay = TypingRelay(
        router=router, portals=portals, channels=channels, store=store, waha=waha, signal=signal
    )
    return Typist(inbox=inbox, relay=relay)
