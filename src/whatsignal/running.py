"""The ``run`` command's process: the bridge until SIGINT/SIGTERM (twice: at once)."""

from __future__ import annotations

import logging
import signal

import trio

from whatsignal.config import Config
from whatsignal.service import Bridge

__all__ = ["serve"]

log = logging.getLogger("whatsignal.bridge")


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
