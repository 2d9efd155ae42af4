"""Finding and reading the configuration file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from whatsignal.config import load_config
from whatsignal.errors import ConfigError

DEV_ENV = {"WHATSIGNAL_ENV": "development"}


def _write(path: Path, data: dict[str, Any]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(data))
    else:
        path.write_text(yaml.safe_dump(data))
    return path


def _with_session(minimal: dict[str, Any], name: str) -> dict[str, Any]:
    minimal["channels"][0]["whatsappSessionName"] = name
    return minimal


def test_go_config_json_loads_unchanged(fixtures: Path) -> None:
    config = load_config(fixtures / "go-config.json", env=DEV_ENV)
    assert config.source.endswith("go-config.json")
    assert config.whatsapp.api_base_url == "http://waha:3000"
    assert config.whatsapp.timeout_ms == 10000
    assert config.whatsapp.timeout_sec == 10.0
    assert any("Go nanoseconds" in w and "10 s" in w for w in config.warnings)
    # The snake_case retry keys Go silently ignored are honoured here.
    assert (config.retry.initial_backoff_ms, config.retry.max_backoff_ms) == (1000, 30000)
    assert config.retry.max_attempts == 5
    assert [c.whatsapp_session_name for c in config.channels] == ["default", "business"]
    assert config.media.allowed_types.voice == ("ogg",)
    assert config.server.trusted_proxies == ("10.0.0.0/8", "172.16.0.0/12")
    assert config.whatsapp.webhook_secret == config.secrets.webhook_secret
    (unused,) = [w for w in config.warnings if "not used yet" in w]
    assert "tracing.enabled" in unused
    assert "whatsapp.api_base_url" not in unused
    # Keys that mean nothing here say why, one warning per reason, each key named once.
    ignored = {
        w.split(": accepted")[0]: w.split("ignored: ")[1]
        for w in config.warnings
        if "and ignored: " in w
    }
    named = unused.split(": ")[1].split(", ") + [k for ks in ignored for k in ks.split(", ")]
    assert len(named) == len(set(named))
    assert ignored[
        "database.maxOpenConnections, database.maxIdleConnections, database.connMaxLifetimeSec,"
        " database.connMaxIdleTimeSec"
    ].startswith("connection-pool settings mean nothing to SQLite")
    assert {"signal.pollWorkers", "whatsapp.retry_count", "media.cache_dir"} <= set(named)
    # Honoured now: the server's read and idle timeouts (hypercorn's).
    assert (config.server.read_timeout_sec, config.server.idle_timeout_sec) == (15, 60)
    assert "server.readTimeoutSec" not in named
    assert "server.idleTimeoutSec" not in named


def test_explicit_path_wins_over_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minimal: dict[str, Any]
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "config.yaml", _with_session(minimal, "from-cwd"))
    _write(tmp_path / "env.yaml", _with_session(minimal, "from-env"))
    explicit = _write(tmp_path / "explicit.yaml", _with_session(minimal, "explicit"))
    env = {**DEV_ENV, "WHATSIGNAL_CONFIG": str(tmp_path / "env.yaml")}
    config = load_config(explicit, env=env)
    assert config.channels[0].whatsapp_session_name == "explicit"
    assert config.source == str(explicit)


def test_whatsignal_config_env_comes_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minimal: dict[str, Any]
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "config.yaml", _with_session(minimal, "from-cwd"))
    _write(tmp_path / "env.json", _with_session(minimal, "from-env"))
    config = load_config(env={**DEV_ENV, "WHATSIGNAL_CONFIG": str(tmp_path / "env.json")})
    assert config.channels[0].whatsapp_session_name == "from-env"


def test_config_yaml_is_preferred_to_config_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minimal: dict[str, Any]
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "config.json", _with_session(minimal, "json"))
    assert load_config(env=DEV_ENV).channels[0].whatsapp_session_name == "json"
    _write(tmp_path / "config.yaml", _with_session(minimal, "yaml"))
    assert load_config(env=DEV_ENV).channels[0].whatsapp_session_name == "yaml"


def test_no_file_names_every_path_tried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(env=DEV_ENV)
    assert "./config.yaml" in str(info.value)
    assert "./config.json" in str(info.value)


@pytest.mark.parametrize("origin", ["--config", "WHATSIGNAL_CONFIG"])
def test_missing_named_file_names_it(tmp_path: Path, origin: str) -> None:
    missing = tmp_path / "nope.yaml"
    path = missing if origin == "--config" else None
    env = {**DEV_ENV, "WHATSIGNAL_CONFIG": str(missing)}
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    assert str(missing) in str(info.value)
    assert origin in str(info.value)


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("whatsapp:\n  api_base_url: [unclosed\nsignal: {}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=DEV_ENV)
    message = str(info.value)
    assert message.startswith(f"{path}:")
    assert "YAML syntax error" in message
    assert message.split(":")[1].isdigit()


def test_json_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  // fine\n  "whatsapp": {"api_base_url": "http://x" "oops": 1}\n}')
    with pytest.raises(ConfigError) as info:
        load_config(path, env=DEV_ENV)
    assert str(info.value).startswith(f"{path}:3:")


def test_unterminated_comment_in_json_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"a": 1}\n/* open')
    with pytest.raises(ConfigError, match=r"bad\.json:2:1: .*unterminated"):
        load_config(path, env=DEV_ENV)


def test_key_written_twice_in_yaml_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("database:\n  path: a.db\n  path: b.db\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml:3:3: key 'path' appears twice"):
        load_config(path, env=DEV_ENV)


def test_key_written_twice_in_json_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text('{"database": {"path": "a.db", "path": "b.db"}}')
    with pytest.raises(ConfigError, match="'path' appears twice"):
        load_config(path, env=DEV_ENV)


def test_empty_file_reports_the_missing_required_keys(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=DEV_ENV)
    assert "whatsapp.api_base_url: missing" in str(info.value)
    assert "channels: at least one channel is required" in str(info.value)


def test_top_level_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="not a mapping"):
        load_config(path, env=DEV_ENV)


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("log_level: 'd\xe9bug'\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, env=DEV_ENV)


def test_unreadable_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path, env=DEV_ENV)  # a directory is not a file


def test_unquoted_yaml_words_and_keys(tmp_path: Path, minimal: dict[str, Any]) -> None:
    path = _write(tmp_path / "c.yaml", minimal)
    path.write_text(path.read_text() + "database:\n  path: x.db\n  synchronous: OFF\n")
    path.write_text(path.read_text().replace("database:\n  path: whatsignal.db\n", ""))
    assert load_config(path, env=DEV_ENV).database.synchronous == "OFF"
    path.write_text(path.read_text() + "1: one\n")
    with pytest.raises(ConfigError, match="1: unknown key; valid keys here are: whatsapp,"):
        load_config(path, env=DEV_ENV)


def test_read_failure_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minimal: dict[str, Any]
) -> None:
    path = _write(tmp_path / "c.yaml", minimal)

    def refuse(self: Path, encoding: str | None = None) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ConfigError, match=r"c\.yaml: cannot read the file: Permission denied"):
        load_config(path, env=DEV_ENV)


def test_yaml_error_without_position_still_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tag.yaml"
    path.write_text("a: !!python/object:os.system x\n")
    with pytest.raises(ConfigError, match=r"tag\.yaml:1:4: YAML syntax error"):
        load_config(path, env=DEV_ENV)


def test_control_character_in_yaml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "ctl.yaml"
    path.write_text("a: b\x07\n")
    with pytest.raises(ConfigError, match=r"ctl\.yaml: YAML error: .*special characters"):
        load_config(path, env=DEV_ENV)
