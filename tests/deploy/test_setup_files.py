"""The env file setup writes is read back the same by a shell, compose and setup itself."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from whatsignal.errors import ConfigError
from whatsignal.setup._files import check_ours, env_text, read_env_file, write_file


def test_values_round_trip_through_the_file_and_a_shell(tmp_path: Path) -> None:
    values = {"PLAIN": "abc-_123", "SPACED": "two words", "EMPTY": ""}
    path = tmp_path / "env"
    assert write_file(path, env_text(values), private=True) == "created"
    assert read_env_file(path) == values
    shell = subprocess.run(
        ["sh", "-c", f'set -a && . "{path}" && printf %s "$SPACED"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout == "two words"
    path.write_text("# c\nexport A=\"q v\"\nnot a line\nB='x'\n")
    assert read_env_file(path) == {"A": "q v", "B": "x"}


def test_a_value_no_env_file_can_carry_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="QUOTED: its value holds a quote"):
        env_text({"QUOTED": "it's"})


def test_a_changed_private_file_keeps_a_private_backup(tmp_path: Path) -> None:
    path = tmp_path / "env"
    write_file(path, "A=1\n", private=True)
    assert write_file(path, "A=1\n", private=True) == "unchanged"
    assert write_file(path, "A=2\n", private=True) == "changed"
    backup = tmp_path / "env.bak"
    assert backup.read_text() == "A=1\n"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unreadable_and_unwritable_paths_are_config_errors(tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        read_env_file(folder)
    with pytest.raises(ConfigError, match=r"--config .*cannot be read"):
        check_ours(folder)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot be written"):
        write_file(blocker / "inside", "A=1\n", private=True)
