"""rotate-key's checks of the new secrets, in process (the command itself: tests/e2e)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from whatsignal.config import Config, config_from_mapping
from whatsignal.errors import ConfigError, StorageError
from whatsignal.rotate import rotate_key
from whatsignal.storage import KeyMaterial
from whatsignal.storage import keyring as _keyring

OLD = KeyMaterial("o" * 32, "old-salt-0123456789", "old-lookup-0123456789")


def _config(tmp_path: Path) -> Config:
    data = {
        "whatsapp": {"api_base_url": "http://127.0.0.1:9"},
        "signal": {"rpc_url": "http://127.0.0.1:9", "intermediaryPhoneNumber": "+15550000001"},
        "channels": [
            {"whatsappSessionName": "default", "signalDestinationPhoneNumber": "+15550000002"}
        ],
        "database": {"path": str(tmp_path / "r.db")},
    }
    return config_from_mapping(data, env={"WHATSIGNAL_ENV": "development"})


@pytest.mark.parametrize(
    ("old", "env", "message"),
    [
        (None, {}, "WHATSIGNAL_ENCRYPTION_SECRET: missing"),
        (OLD, {"WHATSIGNAL_NEW_ENCRYPTION_SECRET": "short"}, "5 characters is too short"),
        (
            OLD,
            {"WHATSIGNAL_NEW_ENCRYPTION_SECRET": "n" * 32, "WHATSIGNAL_NEW_ENCRYPTION_SALT": "s"},
            "WHATSIGNAL_NEW_ENCRYPTION_SALT: 1 characters is too short",
        ),
        (OLD, {"WHATSIGNAL_NEW_ENCRYPTION_SECRET": "o" * 32}, "the same as the current secret"),
    ],
)
def test_bad_new_secrets_are_refused_before_the_database_is_touched(
    tmp_path: Path, old: KeyMaterial | None, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        rotate_key(_config(tmp_path), old, env, io.StringIO())
    assert not (tmp_path / "r.db").exists()


def test_a_plaintext_database_is_not_rotated_and_a_busy_one_not_opened(tmp_path: Path) -> None:
    env = {"WHATSIGNAL_NEW_ENCRYPTION_SECRET": "n" * 32}
    with pytest.raises(ConfigError, match="not encrypted yet"):
        rotate_key(_config(tmp_path), OLD, env, io.StringIO(), iterations=1000)
    held = _keyring.lock_file(str(tmp_path / "r.db"), exclusive=False)
    try:
        with pytest.raises(StorageError, match="stop it first"):
            rotate_key(_config(tmp_path), OLD, env, io.StringIO())
    finally:
        _keyring.close_lock(held)


def test_an_unreadable_database_is_a_storage_error_saying_to_run_again(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "r.db").write_bytes(b"not a database, but long enough to be read as one" * 100)
    env = {"WHATSIGNAL_NEW_ENCRYPTION_SECRET": "n" * 32}
    with pytest.raises(StorageError, match="run it again"):
        rotate_key(config, OLD, env, io.StringIO())
