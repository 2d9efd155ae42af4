"""``python -m whatsignal.testing waha|signal`` runs a simulator alone, as a user would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from whatsignal.testing.__main__ import MonotonicClock


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


def test_monotonic_clock_stamps_calls_comparably_between_processes() -> None:
    """A benchmark in another process subtracts its own monotonic times from the records'."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "RECEIVE_"))}
    number = "+4915000000001"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "whatsignal.testing", "--monotonic-clock", "signal"),
            *("--port", str(port), "--number", number, "--mode", "normal"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "listening" in proc.stdout.readline()
        before = time.monotonic()
        sent = httpx.post(
            f"http://127.0.0.1:{port}/v2/send",
            json={"number": number, "recipients": ["+4917000000002"], "message": "hi"},
            timeout=5,
        )
        after = time.monotonic()
        assert sent.status_code == 201
        records = httpx.get(f"http://127.0.0.1:{port}/_sim/sent", timeout=5).json()
        assert before <= records[0]["at"] <= after
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_monotonic_clock_sleeps_until_its_deadlines() -> None:
    clock = MonotonicClock()
    clock.start_clock()
    now = clock.current_time()
    assert abs(now - time.monotonic()) < 1.0
    assert 0.5 < clock.deadline_to_sleep_time(now + 1.0) <= 1.0
