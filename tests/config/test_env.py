"""Environment overrides and the secure-mode rules."""

from __future__ import annotations

from typing import Any

import pytest

from whatsignal.config import config_from_mapping
from whatsignal.errors import ConfigError


def _problems(data: dict[str, Any], env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_from_mapping(data, env=env)
    return list(info.value.problems)


FROM_ENV = "webhook-secret-from-the-environment"
FROM_FILE = "webhook-secret-from-the-config-file"


def test_env_overrides_win_over_the_file(minimal: dict[str, Any], dev_env: dict[str, str]) -> None:
    minimal["server"] = {"port": 9000, "trustedProxies": ["10.0.0.0/8"]}
    env = {
        **dev_env,
        "WHATSAPP_API_URL": "http://waha.internal:3000/",
        "SIGNAL_RPC_URL": "https://signal.internal",
        "DB_PATH": "/data/ws.db",
        "MEDIA_DIR": "/data/media",
        "PORT": "8099",
        "WHATSAPP_SESSION_STARTUP_TIMEOUT_SEC": "90",
        "WHATSIGNAL_TRUSTED_PROXIES": "172.16.0.0/12, 192.168.0.0/16,",
        "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET": FROM_ENV,
        "WHATSIGNAL_SIGNAL_WEBHOOK_TOKEN": "token-from-env-0123",
    }
    minimal["whatsapp"]["webhook_secret"] = FROM_FILE
    minimal["signal"]["webhookToken"] = "token-from-file-0123"
    config = config_from_mapping(minimal, env=env)
    assert config.whatsapp.api_base_url == "http://waha.internal:3000"
    assert config.signal.rpc_url == "https://signal.internal"
    assert config.database.path == "/data/ws.db"
    assert config.media.cache_dir == "/data/media"
    assert config.server.port == 8099
    assert config.whatsapp.session_startup_timeout_sec == 90
    assert config.server.trusted_proxies == ("172.16.0.0/12", "192.168.0.0/16")
    assert config.secrets.webhook_secret == config.whatsapp.webhook_secret == FROM_ENV
    assert config.signal.webhook_token == "token-from-env-0123"


def test_file_secrets_are_used_without_env(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["whatsapp"]["webhook_secret"] = FROM_FILE
    minimal["signal"]["webhookToken"] = "token-from-file-0123"
    config = config_from_mapping(minimal, env=dev_env)
    assert config.secrets.webhook_secret == FROM_FILE
    assert config.signal.webhook_token == "token-from-file-0123"


def test_env_satisfies_required_keys(minimal: dict[str, Any], dev_env: dict[str, str]) -> None:
    del minimal["whatsapp"]["api_base_url"]
    del minimal["signal"]["rpc_url"]
    del minimal["database"]
    env = {
        **dev_env,
        "WHATSAPP_API_URL": "http://w:3000",
        "SIGNAL_RPC_URL": "http://s:8080",
        "DB_PATH": "x.db",
        "MEDIA_DIR": "m",
    }
    assert config_from_mapping(minimal, env=env).database.path == "x.db"
    problems = _problems(minimal, dev_env)
    assert (
        "database.path: missing; this key is required, set it in the file or the "
        "environment variable DB_PATH" in problems
    )


def test_empty_env_values_are_ignored(minimal: dict[str, Any], dev_env: dict[str, str]) -> None:
    config = config_from_mapping(minimal, env={**dev_env, "PORT": "", "DB_PATH": ""})
    assert config.server.port == 8082
    assert config.database.path == "whatsignal.db"


def test_zero_startup_timeout_in_env_does_not_override(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["whatsapp"]["sessionStartupTimeoutSec"] = 45
    env = {**dev_env, "WHATSAPP_SESSION_STARTUP_TIMEOUT_SEC": "0"}
    assert config_from_mapping(minimal, env=env).whatsapp.session_startup_timeout_sec == 45


def test_invalid_env_values_name_the_variable(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    env = {
        **dev_env,
        "PORT": "http",
        "WHATSAPP_API_URL": "localhost",
        "WHATSIGNAL_TRUSTED_PROXIES": "10.0.0.0/8,nonsense",
    }
    problems = _problems(minimal, env)
    assert sorted(p.split(" ")[0] for p in problems) == [
        "PORT",
        "WHATSAPP_API_URL",
        "WHATSIGNAL_TRUSTED_PROXIES",
    ]
    assert "PORT (environment, overrides server.port): 'http' is a string" in " ".join(problems)


def test_complete_secure_environment_loads(
    minimal: dict[str, Any], secure_env: dict[str, str]
) -> None:
    config = config_from_mapping(minimal, env=secure_env)
    assert config.development is False
    assert config.secrets.api_key == secure_env["WHATSAPP_API_KEY"]
    assert config.secrets.admin_token == secure_env["WHATSIGNAL_ADMIN_TOKEN"]
    assert config.secrets.encryption_secret == secure_env["WHATSIGNAL_ENCRYPTION_SECRET"]
    assert config.secrets.encryption_salt == secure_env["WHATSIGNAL_ENCRYPTION_SALT"]
    assert config.secrets.encryption_lookup_salt == secure_env["WHATSIGNAL_ENCRYPTION_LOOKUP_SALT"]
    assert config.warnings == ()
    assert "w" * 40 not in repr(config)


@pytest.mark.parametrize("mode", [None, "production", "staging"])
def test_secure_mode_lists_every_missing_secret_at_once(
    minimal: dict[str, Any], mode: str | None
) -> None:
    env = {} if mode is None else {"WHATSIGNAL_ENV": mode}
    problems = _problems(minimal, env)
    assert [p.split(":")[0] for p in problems] == [
        "WHATSAPP_API_KEY",
        "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET (or whatsapp.webhook_secret)",
        "WHATSIGNAL_ADMIN_TOKEN",
        "WHATSIGNAL_ENCRYPTION_SECRET",
        "WHATSIGNAL_ENCRYPTION_SALT",
        "WHATSIGNAL_ENCRYPTION_LOOKUP_SALT",
    ]
    assert all("WHATSIGNAL_ENV=development" in p for p in problems)


def test_short_secrets_are_refused_without_echoing_them(
    minimal: dict[str, Any], secure_env: dict[str, str]
) -> None:
    env = {
        **secure_env,
        "WHATSIGNAL_ADMIN_TOKEN": "short-admin-token",
        "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET": "short-webhook",
        "WHATSIGNAL_ENCRYPTION_SALT": "salt",
    }
    problems = _problems(minimal, env)
    assert len(problems) == 3
    assert "WHATSIGNAL_ADMIN_TOKEN: 17 characters is too short; use at least 32" in problems[1]
    text = "\n".join(problems)
    assert "short-admin-token" not in text
    assert "short-webhook" not in text


def test_debug_log_level_is_refused_in_secure_mode_only(
    minimal: dict[str, Any], secure_env: dict[str, str], dev_env: dict[str, str]
) -> None:
    minimal["log_level"] = "debug"
    (problem,) = _problems(minimal, secure_env)
    assert problem.startswith("log_level: 'debug' is refused in secure mode")
    assert config_from_mapping(minimal, env=dev_env).log_level == "debug"


def test_placeholder_api_key_is_refused_in_production(
    minimal: dict[str, Any], secure_env: dict[str, str]
) -> None:
    env = {**secure_env, "WHATSAPP_API_KEY": "your-api-key"}
    assert config_from_mapping(minimal, env=env).secrets.api_key == "your-api-key"
    (problem,) = _problems(minimal, {**env, "WHATSIGNAL_ENV": "production"})
    assert problem.startswith("WHATSAPP_API_KEY: 'your-api-key' is the example placeholder")


def test_development_mode_warns_and_falls_back(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    config = config_from_mapping(minimal, env=dev_env)
    assert config.secrets.encryption_salt == "whatsignal-salt-v1"
    assert config.secrets.encryption_lookup_salt == "whatsignal-lookup-salt-v1"
    assert config.secrets.encryption_secret is None
    assert config.secrets.admin_token is None
    warnings = "\n".join(config.warnings)
    for name in (
        "WHATSAPP_API_KEY",
        "webhook secret",
        "WHATSIGNAL_ENCRYPTION_SECRET",
        "WHATSIGNAL_ENCRYPTION_SALT",
        "WHATSIGNAL_ENCRYPTION_LOOKUP_SALT",
    ):
        assert name in warnings


def test_development_mode_still_checks_lengths_of_secrets_that_are_set(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    env = {
        **dev_env,
        "WHATSIGNAL_ADMIN_TOKEN": "too-short",
        "WHATSIGNAL_ENCRYPTION_SECRET": "too-short",
        "WHATSIGNAL_ENCRYPTION_LOOKUP_SALT": "short",
    }
    problems = _problems(minimal, env)
    assert [p.split(":")[0] for p in problems] == [
        "WHATSIGNAL_ADMIN_TOKEN",
        "WHATSIGNAL_ENCRYPTION_SECRET",
        "WHATSIGNAL_ENCRYPTION_LOOKUP_SALT",
    ]


@pytest.mark.parametrize("mode", ["development", "secure"])
@pytest.mark.parametrize("where", ["file", "env"])
def test_a_short_webhook_secret_or_push_token_is_refused_in_either_mode(
    minimal: dict[str, Any],
    dev_env: dict[str, str],
    secure_env: dict[str, str],
    mode: str,
    where: str,
) -> None:
    env = dict(dev_env if mode == "development" else secure_env)
    if where == "file":
        env.pop("WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET", None)
        minimal["whatsapp"]["webhook_secret"] = "12345"
        minimal["signal"]["webhookToken"] = "tok"
    else:
        env["WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET"] = "12345"
        env["WHATSIGNAL_SIGNAL_WEBHOOK_TOKEN"] = "tok"
    problems = _problems(minimal, env)
    assert problems == [
        "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET (or whatsapp.webhook_secret): 5 characters is too "
        "short; use at least 32; generate one with: openssl rand -hex 32",
        "WHATSIGNAL_SIGNAL_WEBHOOK_TOKEN (or signal.webhookToken): 3 characters is too short; "
        "use at least 16; generate one with: openssl rand -hex 32",
    ]
    assert "12345" not in "\n".join(problems)


def test_env_defaults_to_the_process_environment(
    minimal: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHATSIGNAL_ENV", "development")
    monkeypatch.setenv("PORT", "8123")
    assert config_from_mapping(minimal).server.port == 8123
