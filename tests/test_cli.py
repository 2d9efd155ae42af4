"""The command line: exit codes, messages a user can act on, and the run/stop lifecycle."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from whatsignal import __version__
from whatsignal.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, main

REPO = Path(__file__).resolve().parents[1]
DEV = {"WHATSIGNAL_ENV": "development", "WHATSAPP_API_KEY": "k"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSIGNAL_", "WHATSAPP_"))}
    env.pop("PORT", None)
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, port: int, **overrides: object) -> Path:
    data: dict[str, object] = {
        # Nothing listens on these: the bridge must start and stay up anyway.
        "whatsapp": {"api_base_url": "http://127.0.0.1:9"},
        "signal": {"rpc_url": "http://127.0.0.1:9", "intermediaryPhoneNumber": "+15550000001"},
        "channels": [
            {"whatsappSessionName": "default", "signalDestinationPhoneNumber": "+15550000002"}
        ],
        "database": {"path": str(tmp_path / "db.sqlite")},
        "server": {"host": "127.0.0.1", "port": port},
    }
    data.update(overrides)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == f"whatsignal {__version__}"


def test_check_config_of_the_example_passes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in DEV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET", "s" * 40)
    assert main(["check-config", "--config", str(REPO / "examples" / "config.yaml")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "the configuration is valid" in out
    assert "(development mode)" in out
    assert "intermediaryPhoneNumber" in out  # canonical names
    assert "s" * 40 not in out  # secrets masked


def test_check_config_names_a_typo_and_its_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in DEV.items():
        monkeypatch.setenv(key, value)
    path = _config(tmp_path, 8082, retentionDayz=3)
    assert main(["check-config", "--config", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "retentionDayz" in err
    assert "retentionDays" in err
    assert "Traceback" not in err


def test_development_mode_listens_on_loopback_and_still_wants_a_full_length_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in DEV.items():
        monkeypatch.setenv(key, value)
    path = _config(tmp_path, 8082, server={"port": 8082})  # no server.host
    assert main(["check-config", "--config", str(path)]) == EXIT_OK
    effective = yaml.safe_load(capsys.readouterr().out)
    assert effective["server"]["host"] == "127.0.0.1"  # not the admin API for the whole LAN

    monkeypatch.setenv("WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET", "abcde")
    assert main(["check-config", "--config", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET (or whatsapp.webhook_secret)" in err
    assert "use at least 32" in err
    assert "abcde" not in err


def test_missing_config_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "--config", str(tmp_path / "nope.yaml")]) == EXIT_CONFIG
    assert "nope.yaml" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_healthcheck_fails_when_nothing_listens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", str(_free_port()))
    monkeypatch.chdir(tmp_path)  # no config here: the probe falls back to $PORT
    assert main(["--healthcheck"]) == EXIT_FAILURE
    assert "unhealthy" in capsys.readouterr().err


def test_run_serves_healthz_and_stops_on_sigterm_when_idle(tmp_path: Path) -> None:
    port = _free_port()
    path = _config(tmp_path, port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "whatsignal", "run", "--config", str(path), "--log-format", "json"],
        env=_env(**DEV),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                status = response.status_code
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert status == 200
        # Readiness is honest: neither upstream answers, so it is degraded; but the bridge
        # journals what arrives meanwhile, so it is ready (a container must not be restarted
        # because WAHA is away).
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["storage"] == "ok"
        assert ready.json()["checks"]["whatsapp"] != "ok"
        assert ready.json()["checks"]["signal"] != "ok"
        assert (
            subprocess.run(
                [sys.executable, "-m", "whatsignal", "--healthcheck", "--config", str(path)],
                env=_env(**DEV),
                capture_output=True,
                timeout=30,
            ).returncode
            == EXIT_OK
        )
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        assert code == EXIT_OK
        assert time.monotonic() - began < 2.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in err
    assert "+15550000002" not in err  # numbers are masked in logs
    # Once started, what start-up built is kept out of the collector's full passes.
    (frozen,) = [e for e in map(json.loads, err.splitlines()) if e.get("event") == "heap.frozen"]
    assert int(frozen["msg"].split()[-2]) > 10_000


def _closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes ``sock`` (at most ``limit``, else the test fails)."""
    sock.settimeout(limit)
    began = time.monotonic()
    with contextlib.suppress(ConnectionResetError):  # closed, one way or the other
        assert sock.recv(1024) == b""
    return time.monotonic() - began


def test_run_honours_the_server_read_and_idle_timeouts(tmp_path: Path) -> None:
    port = _free_port()
    server = {"host": "127.0.0.1", "port": port, "readTimeoutSec": 5, "idleTimeoutSec": 1}
    path = _config(tmp_path, port, server=server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "whatsignal", "run", "--config", str(path)],
        env=_env(**DEV),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        with (
            socket.create_connection(("127.0.0.1", port)) as idle,
            socket.create_connection(("127.0.0.1", port)) as slow,
        ):
            # A request whose body never comes: not idle, so only the read timeout ends it.
            slow.sendall(
                b"POST /webhook/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
            )
            assert _closed_after(idle, 10) < 4  # idleTimeoutSec (hypercorn's default: 75 s)
            # readTimeoutSec, counted from the last byte it sent (about 4 s after the idle one).
            assert 2 < _closed_after(slow, 10) < 8
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_run_with_a_port_in_use_fails_cleanly(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        path = _config(tmp_path, busy.getsockname()[1])
        result = subprocess.run(
            [sys.executable, "-m", "whatsignal", "run", "--config", str(path)],
            env=_env(**DEV),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == EXIT_FAILURE
    assert "Traceback" not in result.stderr
    assert "in use" in result.stderr.lower()


def test_secure_mode_without_secrets_exits_2_listing_them_all(tmp_path: Path) -> None:
    path = _config(tmp_path, 8082)
    result = subprocess.run(
        [sys.executable, "-m", "whatsignal", "run", "--config", str(path)],
        env=_env(WHATSAPP_API_KEY="k"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == EXIT_CONFIG
    assert "WHATSIGNAL_ADMIN_TOKEN" in result.stderr
    assert "WHATSIGNAL_ENCRYPTION_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_logging_is_refused_in_secure_mode(tmp_path: Path) -> None:
    path = _config(tmp_path, 8082)
    secure = _env(
        WHATSAPP_API_KEY="k",
        WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET="s" * 40,
        WHATSIGNAL_ADMIN_TOKEN="a" * 40,
        WHATSIGNAL_ENCRYPTION_SECRET="e" * 40,
        WHATSIGNAL_ENCRYPTION_SALT="t" * 20,
        WHATSIGNAL_ENCRYPTION_LOOKUP_SALT="u" * 20,
    )
    result = subprocess.run(
        [sys.executable, "-m", "whatsignal", "run", "--config", str(path), "--log-level", "debug"],
        env=secure,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == EXIT_CONFIG
    assert "refused in secure mode" in result.stderr
