"""Encryption at rest, end to end: what a conversation leaves in the database files, and a
restart with the wrong secret (refused, exit code 2) then the right one (what waited goes)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import trio
import yaml
from bridge_harness import ALICE_PHONE, API_KEY, BRIDGE, SECRET, make_config, wait_for, world

from whatsignal.config import Config
from whatsignal.service import Bridge
from whatsignal.testing import FakeSignal, FakeWaha, Fault

ENCRYPTION = {
    "WHATSIGNAL_ENCRYPTION_SECRET": "e" * 40,
    "WHATSIGNAL_ENCRYPTION_SALT": "salt-of-this-bridge",
    "WHATSIGNAL_ENCRYPTION_LOOKUP_SALT": "lookup-salt-of-this-bridge",
}
CAROL = "+4917000000071"


def _encrypted(config: Config) -> Config:
    secrets = attrs.evolve(
        config.secrets,
        encryption_secret=ENCRYPTION["WHATSIGNAL_ENCRYPTION_SECRET"],
        encryption_salt=ENCRYPTION["WHATSIGNAL_ENCRYPTION_SALT"],
        encryption_lookup_salt=ENCRYPTION["WHATSIGNAL_ENCRYPTION_LOOKUP_SALT"],
    )
    return attrs.evolve(config, secrets=secrets)


def _database_files(tmp_path: Path) -> bytes:
    """Everything SQLite keeps of the database: the file, its WAL and its SHM."""
    files = sorted(tmp_path.glob("bridge.db*"))
    assert tmp_path / "bridge.db" in files
    return b"".join(path.read_bytes() for path in files)


async def _run(bridge: Bridge, done: trio.Event) -> None:
    try:
        await bridge.run()
    finally:
        done.set()


async def _fakes(nursery: trio.Nursery, tmp_path: Path) -> tuple[FakeWaha, FakeSignal, Config]:
    """Both simulators running, and an encrypting bridge's configuration for them."""
    waha = FakeWaha(
        api_key=API_KEY,
        sessions=("personal", "business"),
        webhook_hmac_key=SECRET,
        webhook_retry_attempts=20,
        webhook_retry_delay=0.05,
        status_step=0.01,
    )
    signal = FakeSignal(mode="json-rpc", numbers=(BRIDGE,), receive_time_scale=0.05)
    waha_url: str = await nursery.start(waha.run)
    signal_url: str = await nursery.start(signal.run)
    return waha, signal, _encrypted(make_config(tmp_path, waha_url, signal_url))


async def _start(
    nursery: trio.Nursery, config: Config, waha: FakeWaha
) -> tuple[Bridge, trio.Event]:
    bridge, done = Bridge(config), trio.Event()
    nursery.start_soon(_run, bridge, done)
    await wait_for(lambda: bridge.parts is not None)
    waha.webhook_url = f"{bridge.url}/webhook/whatsapp"
    with trio.fail_after(10):
        await bridge.receiving()
    return bridge, done


async def _stop(bridge: Bridge, done: trio.Event) -> None:
    bridge.stop(grace=2)
    with trio.fail_after(10):
        await done.wait()


async def test_a_conversation_both_ways_leaves_no_text_or_number_in_the_database(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        waha, signal, config = await _fakes(nursery, tmp_path)
        bridge, done = await _start(nursery, config, waha)
        assert bridge.parts is not None
        assert bridge.parts.store.encrypted
        msg = waha.inject_message(
            "personal", from_=CAROL, body="the lunch plan is secret", notify_name="Carolina"
        )
        await wait_for(lambda: len(signal.messages) == 1)
        sent = signal.messages[0]
        assert sent.message == "Carolina: the lunch plan is secret"
        signal.inject_envelope(
            ALICE_PHONE,
            message="meet me at the harbour",
            quote_timestamp=sent.timestamp,
            quote_author=BRIDGE,
        )
        await wait_for(lambda: any(c.path == "/api/sendText" for c in waha.sent))
        reply = next(c.body for c in waha.sent if c.path == "/api/sendText")
        assert (reply["chatId"], reply["reply_to"]) == (msg["from"], msg["id"])
        store = bridge.parts.store
        await wait_for(lambda: _nothing_pending(store))
        await _stop(bridge, done)
        nursery.cancel_scope.cancel()

    content = _database_files(tmp_path)
    clear = [
        b"lunch plan",
        b"harbour",
        b"Carolina",
        CAROL[1:].encode(),  # the number, with or without its +
        ALICE_PHONE[1:].encode(),
        BRIDGE[1:].encode(),
        msg["id"].encode(),
    ]
    assert [value for value in clear if value in content] == []
    # ... and the bridge did keep its journal and mappings (encrypted), not nothing.
    assert content.count(b"wa_to_signal") + content.count(b"signal_to_wa") >= 2


async def _nothing_pending(store: object) -> bool:
    return await store.pending_count() == 0  # type: ignore[attr-defined, no-any-return]


def _secure_cli_config(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "cli.yaml"
    data = {
        "whatsapp": {"api_base_url": "http://127.0.0.1:9"},
        "signal": {"rpc_url": "http://127.0.0.1:9", "intermediaryPhoneNumber": BRIDGE},
        "channels": [
            {"whatsappSessionName": "personal", "signalDestinationPhoneNumber": ALICE_PHONE}
        ],
        "database": {"path": str(tmp_path / "bridge.db")},
        "server": {"host": "127.0.0.1", "port": 0},
    }
    path.write_text(yaml.safe_dump(data))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSIGNAL_", "WHATSAPP_"))}
    env.update(
        ENCRYPTION,
        WHATSAPP_API_KEY=API_KEY,
        WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET=SECRET,
        WHATSIGNAL_ADMIN_TOKEN="a" * 40,
    )
    return path, env


async def test_another_secret_is_refused_with_exit_2_and_the_right_one_delivers_what_waited(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        waha, signal, config = await _fakes(nursery, tmp_path)
        signal.add_fault(Fault(path="/v2/send", status=503))  # Signal is down: it waits
        bridge, done = await _start(nursery, config, waha)
        waha.inject_message("personal", from_=CAROL, body="are you there?", notify_name="Ca")
        await wait_for(lambda: any(f.hits for f in signal.injector.faults))
        await _stop(bridge, done)
        assert not signal.messages

        before = hashlib.sha256(_database_files(tmp_path)).hexdigest()
        cli_config, env = _secure_cli_config(tmp_path)
        env["WHATSIGNAL_ENCRYPTION_SECRET"] = "x" * 40
        refused = await trio.run_process(
            [sys.executable, "-m", "whatsignal", "run", "--config", str(cli_config)],
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert refused.returncode == 2, refused.stderr
        assert b"WHATSIGNAL_ENCRYPTION_SECRET" in refused.stderr
        assert b"Traceback" not in refused.stderr
        assert hashlib.sha256(_database_files(tmp_path)).hexdigest() == before

        signal.injector.faults.clear()  # Signal is back; the right secret again
        bridge, done = await _start(nursery, config, waha)
        await wait_for(lambda: len(signal.messages) == 1)
        assert signal.messages[0].message == "Ca: are you there?"
        await _stop(bridge, done)
        nursery.cancel_scope.cancel()


def test_rotate_key_re_encrypts_with_progress_and_the_old_secret_is_then_refused(
    tmp_path: Path,
) -> None:
    cli_config, env = _secure_cli_config(tmp_path)
    run = [sys.executable, "-m", "whatsignal"]

    async def fill() -> None:
        async with trio.open_nursery() as nursery:
            waha, signal, config = await _fakes(nursery, tmp_path)
            bridge, done = await _start(nursery, config, waha)
            waha.inject_message("personal", from_=CAROL, body="rotate me", notify_name="Ro")
            await wait_for(lambda: len(signal.messages) == 1)
            await _stop(bridge, done)
            nursery.cancel_scope.cancel()

    trio.run(fill)
    missing = subprocess.run(
        [*run, "rotate-key", "--config", str(cli_config)], env=env, capture_output=True, check=False
    )
    assert missing.returncode == 2
    assert b"WHATSIGNAL_NEW_ENCRYPTION_SECRET: missing" in missing.stderr
    new = {**env, "WHATSIGNAL_NEW_ENCRYPTION_SECRET": "n" * 40}
    rotated = subprocess.run(
        [*run, "rotate-key", "--config", str(cli_config)], env=new, capture_output=True, check=False
    )
    assert rotated.returncode == 0, rotated.stderr
    assert b"journal: 1/1 rows re-encrypted" in rotated.stdout
    assert b"done: start the bridge" in rotated.stdout
    old = subprocess.run(
        [*run, "run", "--config", str(cli_config)], env=env, capture_output=True, check=False
    )
    assert old.returncode == 2
    assert b"WHATSIGNAL_ENCRYPTION_SECRET" in old.stderr
    assert b"rotate me" not in _database_files(tmp_path)


async def test_development_mode_without_a_secret_works_in_clear_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(tmp_path) as w:
        w.waha.inject_message("personal", from_=CAROL, body="in clear", notify_name="Dev")
        await w.until(lambda: len(w.to_signal()) == 1)
        assert not w.parts.store.encrypted
    assert any("NOT encrypted" in record.getMessage() for record in caplog.records)
