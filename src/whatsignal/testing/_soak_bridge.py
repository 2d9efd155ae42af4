"""The bridge under the fault soak: ``python -m whatsignal run`` as a child process in secure
mode, started, SIGKILLed and stopped on demand, and what ``/proc`` says about it.

Secure mode means no ``WHATSIGNAL_ENV=development``: the webhook secret, the admin token and
the three encryption secrets are set, so the journal is encrypted at rest, as in production.
The environment is otherwise inherited (coverage's subprocess hook travels in it), minus the
variables that would point the child somewhere its configuration file does not.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio

__all__ = ["ADMIN", "API_KEY", "BRIDGE", "SECRET", "BridgeProcess", "write_config"]

BRIDGE = "+15550000001"
"""The bridge's own Signal number."""
API_KEY = "soak-api-key"
SECRET = "s" * 40
"""The WAHA webhook HMAC key."""

ADMIN = {"Authorization": "Bearer " + "a" * 40}
"""The header the admin endpoints (``/session/status``, ``/metrics``) want in secure mode."""

_SECURE_ENV = {
    "WHATSAPP_API_KEY": API_KEY,
    "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET": SECRET,
    "WHATSIGNAL_ADMIN_TOKEN": "a" * 40,
    "WHATSIGNAL_ENCRYPTION_SECRET": "e" * 40,
    "WHATSIGNAL_ENCRYPTION_SALT": "soak-salt-0123456789",
    "WHATSIGNAL_ENCRYPTION_LOOKUP_SALT": "soak-lookup-0123",
}


def write_config(
    folder: Path, waha_url: str, signal_url: str, port: int, channels: list[dict[str, str]]
) -> Path:
    """The child's configuration (JSON): short retries that never give up within a soak."""
    data: dict[str, Any] = {
        "whatsapp": {"api_base_url": waha_url, "timeout_ms": 5000},
        "signal": {
            "rpc_url": signal_url,
            "intermediaryPhoneNumber": BRIDGE,
            "httpTimeoutSec": 30,
        },
        "channels": channels,
        "database": {"path": str(folder / "bridge.db")},
        "retry": {"initialBackoffMs": 10, "maxBackoffMs": 200, "maxAttempts": 100},
        "server": {"host": "127.0.0.1", "port": port, "shutdownGraceSec": 2},
        "log_level": "warn",
    }
    path = folder / "config.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _proc_status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


@attrs.define(eq=False)
class BridgeProcess:
    """The bridge as a child process on a fixed port (WAHA's pending retries target it)."""

    config: Path
    url: str
    log_path: Path
    process: trio.Process | None = None
    starts: int = 0

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("WHATSIGNAL_", "WHATSAPP_", "SIGNAL_"))
            and k not in ("DB_PATH", "MEDIA_DIR", "PORT")
        }
        env.update(_SECURE_ENV)
        return env

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def memory(self) -> tuple[float, int]:
        """The running child's resident memory (MiB) and thread count; (0, 0) if none."""
        if self.process is None:
            return 0.0, 0
        status = _proc_status(self.process.pid)
        rss_kib = int(status.get("VmRSS", "0 kB").split()[0])
        return rss_kib / 1024, int(status.get("Threads", "0"))

    async def start(self, client: httpx.AsyncClient, *, within: float = 60.0) -> None:
        """Spawn the bridge and wait until ``/readyz`` answers 200."""
        with self.log_path.open("ab") as log_file:
            self.process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "whatsignal", "run", "--config", str(self.config)],
                env=self.env(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        with trio.fail_after(within):
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the bridge exited early:\n{self.log_tail()}")
                try:
                    response = await client.get(f"{self.url}/readyz", timeout=1.0)
                except httpx.HTTPError:
                    pass
                else:
                    if response.status_code == 200:
                        return
                await trio.sleep(0.02)  # polling interval of a wait for /readyz

    async def kill(self) -> None:
        """SIGKILL: no cleanup of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            with trio.CancelScope(shield=True):
                await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM (a graceful stop, so the child writes its coverage data), SIGKILL if stuck."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        with trio.CancelScope(shield=True):
            with trio.move_on_after(10):
                await process.wait()
            if process.poll() is None:
                process.kill()
                await process.wait()

    async def pending(self, client: httpx.AsyncClient) -> int:
        """Journal rows not yet done, over every queue (``/session/status``)."""
        response = await client.get(f"{self.url}/session/status", headers=ADMIN, timeout=5.0)
        response.raise_for_status()
        queues: dict[str, dict[str, int]] = response.json().get("queues", {})
        return sum(states.get("pending", 0) for states in queues.values())
