"""How the bridge receives from signal-cli: the mode, from the configuration and the server."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import trio

from whatsignal.actors.receiver import ReceiveMode
from whatsignal.clients import SignalClient
from whatsignal.errors import ClientError, ConfigError

if TYPE_CHECKING:
    from whatsignal.config import Config

__all__ = ["receive_modes"]

log = logging.getLogger("whatsignal.bridge")


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
