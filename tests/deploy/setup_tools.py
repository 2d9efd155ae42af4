"""Helpers of the ``whatsignal setup`` tests: the simulators, and the CLI run as a process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

from whatsignal.testing import FakeSignal, FakeWaha

API_KEY = "waha-api-key-for-tests"
BRIDGE = "+4915000000001"
ME = "+491701234567"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any whatsignal or WAHA variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSIGNAL_", "WHATSAPP_"))}
    for name in ("PORT", "DB_PATH"):
        env.pop(name, None)
    env.update(extra)
    return env


def read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


@attrs.define
class Upstreams:
    waha: FakeWaha
    signal: FakeSignal
    waha_url: str
    signal_url: str

    def flags(self, tmp: Path, public_url: str, *extra: str) -> list[str]:
        return [
            "--waha-url",
            self.waha_url,
            "--signal-url",
            self.signal_url,
            "--bridge-number",
            BRIDGE,
            "--destination",
            ME,
            "--public-url",
            public_url,
            "--config",
            str(tmp / "config.yaml"),
            *extra,
        ]


@asynccontextmanager
async def upstreams(sessions: Sequence[str] = ("default",)) -> AsyncIterator[Upstreams]:
    waha = FakeWaha(api_key=API_KEY, sessions=tuple(sessions), status_step=0.01)
    signal = FakeSignal(mode="json-rpc", numbers=(BRIDGE,))
    async with trio.open_nursery() as nursery:
        waha_url: str = await nursery.start(waha.run)
        signal_url: str = await nursery.start(signal.run)
        yield Upstreams(waha, signal, waha_url, signal_url)
        nursery.cancel_scope.cancel()


async def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """``python -m whatsignal ARGS``, stdin not a terminal, in a worker thread's process."""
    result: subprocess.CompletedProcess[bytes] = await trio.run_process(
        [sys.executable, "-m", "whatsignal", *args],
        env=env,
        stdin=b"",
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    return result


def bridge_hooks(waha: FakeWaha, session: str) -> list[dict[str, object]]:
    hooks = waha.session(session).config.get("webhooks") or []
    return [h for h in hooks if str(h.get("url", "")).endswith("/webhook/whatsapp")]


def status_events(waha: FakeWaha, session: str) -> int:
    return sum(1 for e in waha.events if e["event"] == "session.status" and e["session"] == session)
