"""The ``run`` command's process: the bridge until SIGINT/SIGTERM (twice: at once)."""

from __future__ import annotations

import gc
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
        await root.start(_bridge, bridge, root.cancel_scope)
        set_aside_startup_heap()


async def _bridge(
    bridge: Bridge,
    root: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[Bridge] = trio.TASK_STATUS_IGNORED,
) -> None:
    await bridge.run(task_status=task_status)
    root.cancel(reason="bridge finished")


def set_aside_startup_heap() -> None:
    """Collect once, then keep what start-up built out of the cyclic collector's later passes.

    A bridge that has started holds about 80,000 objects that live as long as the process
    (modules, classes, functions, the app, the clients, the store). Left in the collector's
    oldest generation, each full collection walked all of them: 35-57 ms with the event loop
    stopped, about once a second under load (issue 16's measurements), so every message that
    arrived meanwhile waited that long. ``gc.freeze`` moves them to a generation no collection
    walks; what the bridge creates later is collected as before. Only the ``run`` command's
    process does this (tests run many bridges in one process).
    """
    gc.collect()
    gc.freeze()
    log.info(
        "start-up heap set aside: %d objects",
        gc.get_freeze_count(),
        extra={"event": "heap.frozen"},
    )
