"""The one restart policy of the bridge: crash -> log -> back off -> restart.

A supervised child runs in a nursery of its own, so its crash ends that nursery only; the
supervisor catches it with ``except* Exception`` so that cancellation (a BaseException) always
passes through untouched and stopping the supervisor stops the child.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

__all__ = ["RestartPolicy", "supervise"]

log = logging.getLogger("whatsignal.supervisor")

RunFn = Callable[..., Awaitable[Any]]


@attrs.frozen
class RestartPolicy:
    """Capped exponential backoff between restarts.

    The delay starts at ``initial``, is multiplied by ``factor`` after each restart, never exceeds
    ``maximum``, and is reset once a run has stayed up for ``reset_after`` seconds.
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0
    reset_after: float = 60.0


async def supervise(
    name: str,
    run: RunFn,
    policy: RestartPolicy = RestartPolicy(),
    *,
    on_crash: Callable[[str], None] | None = None,
    fail_fast: bool = True,
    rests: bool = False,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``run`` (an actor's ``run``, started with ``nursery.start``) forever, restarting it.

    ``task_status.started()`` is reported once, after the first run has started. With
    ``fail_fast``, a failure before that point is raised to the caller, so a broken
    configuration fails fast instead of restarting forever; without it (an actor that reports
    started late, once an upstream answers) it is restarted like any later crash.
    ``on_crash(name)`` is called on every crash (metrics). With ``rests``, a run that returns
    (an idle session's poller resting) ends the supervision instead of being restarted.
    """
    delay = policy.initial
    first = True
    while True:
        began = trio.current_time()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(run)
                if first:
                    task_status.started()
                    first = False
        except* Exception as group:
            if first and fail_fast:
                raise
            if on_crash is not None:
                on_crash(name)
            log.error("%s crashed; restarting in %.1fs", name, delay, exc_info=group)
        else:
            if rests:
                return
            log.warning("%s exited; restarting in %.1fs", name, delay)
        if trio.current_time() - began >= policy.reset_after:
            delay = policy.initial
        await trio.sleep(delay)
        delay = min(delay * policy.factor, policy.maximum)
