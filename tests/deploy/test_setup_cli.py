"""``whatsignal setup`` against the simulators, run as users run it: a process, real HTTP."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import trio
import yaml
from setup_tools import (
    API_KEY,
    BRIDGE,
    ME,
    bridge_hooks,
    clean_env,
    cli,
    free_port,
    read_env,
    status_events,
    upstreams,
)

from whatsignal.waha_hooks import BRIDGE_EVENTS, RETRIES

OTHER_HOOK = {"url": "http://127.0.0.1:9/crm", "events": ["message"], "retries": {"attempts": 0}}
STALE_HOOK = {"url": "http://old:8082/webhook/whatsapp", "events": ["message"]}


async def _wait_ready(port: int, bridge: trio.Process) -> None:
    async with httpx.AsyncClient() as http:
        with trio.fail_after(30):
            while True:
                assert bridge.returncode is None, "the bridge stopped"
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await trio.sleep(0.05)


async def test_setup_wires_waha_once_and_the_bridge_it_configures_bridges_a_message(
    tmp_path: Path,
) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    async with upstreams() as up:
        up.waha.update_session(
            "default", {"metadata": {"owner": "me"}, "webhooks": [OTHER_HOOK, STALE_HOOK]}
        )
        env = clean_env(WHATSAPP_API_KEY=API_KEY)
        first = await cli("setup", *up.flags(tmp_path, public, "--session", "default"), env=env)
        out = first.stdout.decode()
        assert first.returncode == 0, first.stderr.decode()
        assert "restarts a running session" in out  # said before the update

        env_file = tmp_path / ".env"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        secrets = read_env(env_file)
        key = secrets["WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET"]
        assert secrets["WHATSAPP_API_KEY"] == API_KEY
        for value in (key, secrets["WHATSIGNAL_ENCRYPTION_SECRET"], BRIDGE, ME):
            assert value not in out + first.stderr.decode()  # masked or never shown

        config = up.waha.session("default").config
        assert config["metadata"] == {"owner": "me"}  # the rest of the config sent back
        assert config["webhooks"][0] == OTHER_HOOK  # someone else's webhook kept, in place
        assert bridge_hooks(up.waha, "default") == [
            {
                "url": f"{public}/webhook/whatsapp",
                "events": list(BRIDGE_EVENTS),
                "hmac": {"key": key},
                "retries": dict(RETRIES),
            }
        ]

        # Run twice: nothing changes, and WAHA is not asked to update (an update restarts
        # the session, which the simulator announces at once).
        events = status_events(up.waha, "default")
        again = await cli("setup", *up.flags(tmp_path, public, "--session", "default"), env=env)
        assert again.returncode == 0, again.stderr.decode()
        assert "already set" in again.stdout.decode()
        assert status_events(up.waha, "default") == events
        assert len(bridge_hooks(up.waha, "default")) == 1
        assert read_env(env_file) == secrets  # the secrets are kept, not made anew

        run_env = clean_env(**secrets, PORT=str(port))
        checked = await cli("check-config", "--config", str(tmp_path / "config.yaml"), env=run_env)
        assert checked.returncode == 0, checked.stderr.decode()
        assert "(secure mode)" in checked.stdout.decode()

        # The command setup printed, as a user would run it.
        command = again.stdout.decode().strip().splitlines()[-1].strip()
        assert command.endswith(f"-m whatsignal run --config {tmp_path / 'config.yaml'}")
        bridge = await trio.lowlevel.open_process(
            [sys.executable, "-m", "whatsignal", "run", "--config", str(tmp_path / "config.yaml")],
            env=run_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await _wait_ready(port, bridge)
            up.waha.inject_message("default", from_="+491711234567", body="hi", notify_name="Ann")
            with trio.fail_after(20):
                while not any(m.message == "Ann: hi" for m in up.signal.messages):
                    await trio.sleep(0.05)
            assert up.signal.messages[-1].recipients == (ME,)
        finally:
            bridge.send_signal(signal.SIGTERM)
            with trio.move_on_after(15, shield=True):
                await bridge.wait()
            if bridge.returncode is None:
                bridge.kill()


async def test_without_sessions_it_serves_every_session_and_creates_a_named_missing_one(
    tmp_path: Path,
) -> None:
    async with upstreams(("default", "work")) as up:
        env = clean_env(WHATSAPP_API_KEY=API_KEY)
        every = await cli("setup", *up.flags(tmp_path, "http://whatsignal:8082"), env=env)
        assert every.returncode == 0, every.stderr.decode()
        assert "whatsappSessionName: '*'" in (tmp_path / "config.yaml").read_text()
        assert len(bridge_hooks(up.waha, "default")) == len(bridge_hooks(up.waha, "work")) == 1

        other = tmp_path / "other"
        named = await cli("setup", *up.flags(other, "http://whatsignal:8082", "--session",
                                             "fresh"), env=env)  # fmt: skip
        assert named.returncode == 0, named.stderr.decode()
        assert "scan its QR code" in named.stdout.decode()
        assert len(bridge_hooks(up.waha, "fresh")) == 1


async def test_portals_asks_for_a_signal_group_per_chat_and_check_config_agrees(
    tmp_path: Path,
) -> None:
    async with upstreams(("default",)) as up:
        env = clean_env(WHATSAPP_API_KEY=API_KEY)
        done = await cli(
            "setup", *up.flags(tmp_path, "http://whatsignal:8082", "--portals"), env=env
        )
        assert done.returncode == 0, done.stderr.decode()
        config = yaml.safe_load((tmp_path / "config.yaml").read_text())
        assert [channel.get("portals") for channel in config["channels"]] == [True]
        secure = clean_env(**read_env(tmp_path / ".env"))
        checked = await cli("check-config", "--config", str(tmp_path / "config.yaml"), env=secure)
        assert checked.returncode == 0, checked.stderr.decode()
        assert "(secure mode)" in checked.stdout.decode()


async def test_dry_run_writes_nothing_and_changes_nothing(tmp_path: Path) -> None:
    async with upstreams() as up:
        events = status_events(up.waha, "default")
        result = await cli(
            "setup",
            *up.flags(tmp_path, "http://whatsignal:8082", "--dry-run"),
            env=clean_env(WHATSAPP_API_KEY=API_KEY),
        )
        out = result.stdout.decode()
        assert result.returncode == 0, result.stderr.decode()
        assert "would set its webhook" in out
        assert "restarts a running session" in out
        assert os.listdir(tmp_path) == []
        assert bridge_hooks(up.waha, "default") == []
        assert status_events(up.waha, "default") == events


async def test_a_bridge_number_signal_cli_lacks_is_named_masked(tmp_path: Path) -> None:
    async with upstreams() as up:
        flags = up.flags(tmp_path, "http://whatsignal:8082")
        flags[flags.index(BRIDGE)] = "+4915999999999"
        result = await cli("setup", *flags, env=clean_env(WHATSAPP_API_KEY=API_KEY))
        err = result.stderr.decode()
        assert result.returncode == 2
        assert "--bridge-number +*********9999: not an account of signal-cli" in err
        assert "+4915999999999" not in err
        assert "Traceback" not in err
        assert os.listdir(tmp_path) == []

        wrong_key = await cli("setup", *up.flags(tmp_path, "http://whatsignal:8082"),
                              env=clean_env(WHATSAPP_API_KEY="wrong"))  # fmt: skip
        assert wrong_key.returncode == 2
        assert "WHATSAPP_API_KEY: WAHA refused it (401)" in wrong_key.stderr.decode()

        mine = tmp_path / "config.yaml"
        mine.write_text("# written by hand\n")
        kept = await cli("setup", *up.flags(tmp_path, "http://whatsignal:8082"),
                         env=clean_env(WHATSAPP_API_KEY=API_KEY))  # fmt: skip
        assert kept.returncode == 2
        assert "exists and was not written by setup" in kept.stderr.decode()
        assert mine.read_text() == "# written by hand\n"
        assert bridge_hooks(up.waha, "default") == []


async def test_services_that_do_not_answer_and_missing_flags_are_clear(tmp_path: Path) -> None:
    down = await cli(
        "setup", "--waha-url", "http://127.0.0.1:9", "--signal-url", "http://127.0.0.1:9",
        "--bridge-number", BRIDGE, "--destination", ME, "--config", str(tmp_path / "c.yaml"),
        env=clean_env(WHATSAPP_API_KEY=API_KEY),
    )  # fmt: skip
    assert down.returncode == 1
    assert "WAHA at http://127.0.0.1:9 does not answer" in down.stderr.decode()
    assert "check --waha-url" in down.stderr.decode()

    missing = await cli("setup", "--waha-url", "waha:3000", "--destination", "12", env=clean_env())
    err = missing.stderr.decode()
    assert missing.returncode == 2
    for flag in ("--signal-url: missing", "--bridge-number: missing", "WHATSAPP_API_KEY: not set"):
        assert flag in err
    assert "--waha-url 'waha:3000': not an http(s) URL" in err
    assert "--destination: not a phone number" in err
    assert "Traceback" not in err
