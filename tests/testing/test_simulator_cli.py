"""``python -m whatsignal.testing waha|signal`` runs a simulator alone, as a user would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("which", "path", "expect"),
    [("waha", "/api/server/version", "version"), ("signal", "/v1/about", "mode")],
)
def test_simulator_runs_from_the_command_line(which: str, path: str, expect: str) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "RECEIVE_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "whatsignal.testing", which, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"listening on http://127.0.0.1:{port}" in line
        answer = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
        assert answer.status_code == 200
        assert expect in answer.json()
        routes = httpx.get(f"http://127.0.0.1:{port}/_sim/", timeout=5)
        assert routes.status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_simulator_cli_requires_a_choice() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "whatsignal.testing"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "waha" in result.stderr
