"""From the configuration to the settings each part of the bridge is built with.

Pure mapping of :class:`~whatsignal.config.Config` onto the small settings objects the actors
and the relay take, so that :mod:`whatsignal.service` reads as the actor tree and nothing else.
The one function with I/O, :func:`receive_modes`, asks signal-cli which receive mode it runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import trio

from whatsignal.actors.receiver import Connect, ReceiveMode, ReceiverSettings
from whatsignal.actors.session_poller import RetryPolicy
from whatsignal.channels import ChannelMap, Route
from whatsignal.clients import SignalClient
from whatsignal.clock import Clock
from whatsignal.convert.media import MEDIA_CLASSES, MediaPolicy
from whatsignal.errors import ClientError, ConfigError
from whatsignal.reliability import Backoff
from whatsignal.web.app import WebSettings

if TYPE_CHECKING:
    from whatsignal.config import Config

__all__ = [
    "channel_map",
    "media_policy",
    "receive_modes",
    "receiver_settings",
    "retry_policy",
    "web_settings",
]

log = logging.getLogger("whatsignal.bridge")

ROUTE_SETTLE_SEC = 0.25


def channel_map(config: Config) -> ChannelMap:
    """``channels``: each session's route; the ``"*"`` channel becomes the default."""
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
    """``signal.pollTimeoutSec`` / ``pollIntervalSec``; with the push path on
    (``signal.webhookToken``) an envelope may be journaled before an older one that comes over
    the websocket a moment later, so rows settle briefly before they are routed."""
    sig = config.signal
    return ReceiverSettings(
        poll_timeout=float(sig.poll_timeout_sec),
        poll_interval=float(sig.poll_interval_sec),
        settle=ROUTE_SETTLE_SEC if sig.webhook_token else 0.0,
        connect=connect,
    )


def web_settings(config: Config, version: str, clock: Clock) -> WebSettings:
    """``server.webhookMaxBytes`` / ``webhookMaxSkewSec``, the webhook secret, the push-path
    token and the admin token (the admin endpoints are open only in development mode without
    a token)."""
    return WebSettings(
        version=version,
        clock=clock,
        webhook_secret=config.secrets.webhook_secret,
        max_body_bytes=config.server.webhook_max_bytes,
        max_skew_sec=config.server.webhook_max_skew_sec,
        signal_webhook_token=config.signal.webhook_token,
        admin_token=config.secrets.admin_token,
        admin_open=config.development,
    )


def _mode_from_about(about_mode: str) -> Literal["websocket", "poll"]:
    return "websocket" if about_mode.startswith("json-rpc") else "poll"


async def receive_modes(
    config: Config, client: SignalClient, numbers: frozenset[str]
) -> dict[str, ReceiveMode]:
    """One receive mode for all bridge numbers (one signal-cli-rest-api), from ``/v1/about``
    unless ``signal.receiveMode`` says; a configured mode that contradicts the server is a
    startup error. When signal-cli does not answer, ``auto`` lets each receiver ask itself."""
    wanted = config.signal.receive_mode
    if config.signal.force_native_polling and wanted == "auto":
        wanted = "poll"
    detected: Literal["websocket", "poll"] | None = None
    try:
        with trio.fail_after(10):
            about = await client.about()
        detected = _mode_from_about(about.mode)
        log.info("signal-cli-rest-api %s in %s mode", about.version, about.mode)
    except (ClientError, trio.TooSlowError) as error:
        if config.signal.strict_init:
            raise ConfigError(
                f"signal.rpc_url: signal-cli-rest-api did not answer /v1/about ({error}); "
                "start it first or turn off signal.strictInit"
            ) from None
        log.warning("signal-cli-rest-api did not answer /v1/about: %s", error)
    mode: ReceiveMode
    if wanted == "auto":
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
