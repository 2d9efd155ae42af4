"""Replays and a database that goes away, end to end.

A signed WAHA webhook (or a pushed Signal envelope) replayed after its journal row left the
retention is answered 200 and ignored, never forwarded a second time; a retry of a fresh event
is still the harmless duplicate it always was. The bridge's clock is moved past the retention
(the simulators keep real time, so what they stamp stays in the past).

A database file deleted or replaced under the running bridge makes ``/readyz`` answer 503 with
the reason, and is logged once as an error (the other ways a store stops writing are covered
in tests/test_admin.py and tests/storage/test_store_health.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bridge_harness import World, envelope_key, message_key, world
from e2e_tools import (
    WA_ALICE,
    forward,
    get,
    post_webhook,
    send_texts,
    server_stamped_line,
    signal_texts,
)

from whatsignal.actors.scheduler import Scheduler
from whatsignal.config import Config
from whatsignal.metrics import Metrics
from whatsignal.service import Bridge

DAY = 86400.0
PUSH_TOKEN = "q" * 32


class Shifted:
    """The bridge's wall clock: real time plus an offset a test moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def bridge(self, config: Config) -> Bridge:
        return Bridge(config, clock=self)


def _quiet_message(w: World, body: str) -> dict[str, Any]:
    """A WAHA ``message`` event, signed and built by the fake but not delivered."""
    url, w.waha.webhook_url = w.waha.webhook_url, None
    try:
        w.waha.inject_message("personal", from_=WA_ALICE, body=body, notify_name="Alice")
    finally:
        w.waha.webhook_url = url
    return w.waha.events[-1]


async def _retention_pass(w: World, clock: Shifted) -> int:
    """The scheduler's retention pass, as the bridge runs it every cleanupIntervalHours."""
    config = w.bridge.config
    scheduler = Scheduler(
        store=w.parts.store,
        clock=clock,
        relay=None,  # type: ignore[arg-type]  # a retention pass tells nobody
        running=None,  # type: ignore[arg-type]
        metrics=Metrics(),
        retention=config.retention_days * DAY,
        interval=DAY,
        max_age=DAY,
    )
    return await scheduler.prune_once()


async def test_a_webhook_replayed_after_the_retention_is_ignored_not_sent_again(
    tmp_path: Path,
) -> None:
    clock = Shifted()
    async with world(tmp_path, bridge_factory=clock.bridge) as w:
        event = _quiet_message(w, "only once")
        key = message_key("personal", event["payload"])
        assert (await post_webhook(w, event)).json()["status"] == "accepted"
        assert await w.row_done(key) == ["done"]
        retry = await post_webhook(w, event)  # WAHA's retry of a fresh event: never refused
        assert (retry.status_code, retry.json()["status"]) == (200, "duplicate")

        clock.offset = 31 * DAY  # past the default retention of 30 days
        assert await _retention_pass(w, clock) >= 1
        assert await w.row_state(key) is None  # the natural key is gone with its row

        replay = await post_webhook(w, event)
        # 200, so that WAHA does not retry it: a stale event never gets fresher.
        assert (replay.status_code, replay.json()["status"]) == (200, "ignored")
        # Ignored before journaling: no row, so nothing can be sent for it later.
        assert await w.row_state(key) is None
        assert signal_texts(w) == ["Alice: only once"]


async def test_a_pushed_envelope_older_than_the_horizon_is_ignored(tmp_path: Path) -> None:
    clock = Shifted()
    extra = {"signal": {"webhookToken": PUSH_TOKEN}}
    async with world(tmp_path, extra=extra, bridge_factory=clock.bridge) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        clock.offset = 29 * DAY  # beyond the 27-day horizon of a 30-day retention
        old = server_stamped_line("a month late", int(time.time() * 1000))
        path = f"/webhook/signal?token={PUSH_TOKEN}"

        answer = await post_webhook(w, old, signature=None, path=path)

        assert (answer.status_code, answer.json()["status"]) == (200, ["ignored"])
        assert await w.row_state(envelope_key(old["params"])) is None
        fresh = server_stamped_line("just now", int(clock() * 1000))
        answer = await post_webhook(w, fresh, signature=None, path=path)
        assert answer.json()["status"] == ["accepted"]
        assert await w.envelopes_done(fresh["params"]) == ["done"]
        assert [c["text"] for c in send_texts(w)] == ["just now"]


def _replace(path: Path) -> None:
    """A backup restored over the live file (a new inode at the same path)."""
    shutil.copyfile(path, path.with_suffix(".restored"))
    os.replace(path.with_suffix(".restored"), path)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(Path.unlink, "deleted or moved since the bridge opened it", id="deleted"),
        pytest.param(_replace, "replaced since the bridge opened it", id="replaced"),
    ],
)
async def test_readyz_is_503_when_the_database_file_is_deleted_or_replaced(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[Path], None],
    reason: str,
) -> None:
    caplog.set_level(logging.ERROR, logger="whatsignal.status")
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="before", name="Alice")
        damage(Path(w.bridge.config.database.path))

        for _ in range(3):  # scraped again and again: reported each time, logged once
            answer = await get(w, "/readyz")
            assert answer.status_code == 503
            body = answer.json()
            assert body["status"] == "unavailable"
            assert reason in body["checks"]["storage"]
            assert body["checks"]["whatsapp"] == body["checks"]["signal"] == "ok"
        assert (await get(w, "/healthz")).status_code == 200  # alive: restart it, not kill it
        errors = [r for r in caplog.records if r.name == "whatsignal.status"]
        assert len(errors) == 1
        assert reason in errors[0].getMessage()
