"""Key matching, types, ranges, phone numbers, sessions and channels."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from whatsignal.config import Channel, config_from_mapping, normalize_phone_number
from whatsignal.errors import ConfigError
from whatsignal.wiring import media_policy


def _problems(data: dict[str, Any], env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_from_mapping(data, env=env, source="test.yaml")
    assert str(info.value) == "\n".join(info.value.problems)
    return list(info.value.problems)


def test_minimal_config_gets_the_documented_defaults(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    config = config_from_mapping(minimal, env=dev_env)
    assert config.development is True
    assert config.signal.polling_enabled is True
    assert config.signal.poll_interval_sec == 1
    assert config.signal.receive_mode == "auto"
    assert config.retry.initial_backoff_ms == 1000
    assert config.retry.max_backoff_ms == 60000
    assert config.retry.max_attempts == 5
    assert config.server.port == 8082
    assert config.server.webhook_max_skew_sec is None
    assert config.server.webhook_max_bytes == 5 * 1024 * 1024
    assert config.database.synchronous == "FULL"
    assert config.whatsapp.timeout_sec == 30.0
    assert config.whatsapp.session_api_path == "/api/sessions/"
    assert config.retention_days == 30
    assert config.log_level == "info"
    assert config.source == "<mapping>"


def test_typo_names_the_key_and_the_nearest_spelling(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["signal"]["pollIntervalSecs"] = 2
    assert _problems(minimal, dev_env) == [
        "signal.pollIntervalSecs: unknown key; did you mean 'signal.pollIntervalSec'?"
    ]


def test_key_in_the_wrong_section_points_to_the_right_one(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["whatsapp"]["pollingEnabled"] = True
    minimal["channels"][0]["whatsappSession"] = "x"
    minimal["colour"] = "blue"
    problems = _problems(minimal, dev_env)
    assert "whatsapp.pollingEnabled: unknown key; did you mean 'signal.pollingEnabled'?" in problems
    assert (
        "channels[0].whatsappSession: unknown key; "
        "did you mean 'channels[0].whatsappSessionName'?" in problems
    )
    assert any(
        p.startswith("colour: unknown key; valid keys here are: whatsapp,") for p in problems
    )


def test_key_names_match_case_insensitively_but_underscores_matter(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["Signal"] = minimal.pop("signal")
    minimal["Signal"]["POLLINGENABLED"] = False
    minimal["LOG_LEVEL"] = "WARNING"
    config = config_from_mapping(minimal, env=dev_env)
    assert config.signal.polling_enabled is False
    assert config.log_level == "warn"
    minimal["Signal"]["polling_enabled"] = True
    assert _problems(minimal, dev_env) == [
        "signal.polling_enabled: unknown key; did you mean 'signal.pollingEnabled'?"
    ]


def test_snake_case_retry_aliases_are_accepted(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["retry"] = {"initial_backoff_ms": 200, "max_backoff_ms": 5000, "max_attempts": 3}
    retry = config_from_mapping(minimal, env=dev_env).retry
    assert (retry.initial_backoff_ms, retry.max_backoff_ms, retry.max_attempts) == (200, 5000, 3)


def test_both_spellings_at_once_is_an_error(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["retry"] = {"maxAttempts": 3, "max_attempts": 4, "MaxAttempts": 5}
    assert _problems(minimal, dev_env) == [
        "retry.maxAttempts: given twice, as 'maxAttempts' and 'max_attempts'; keep one",
        "retry.maxAttempts: given twice, as 'maxAttempts' and 'MaxAttempts'; keep one",
    ]


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("signal", "pollingEnabled", "false", "'false' is a string, not a boolean"),
        ("signal", "pollingEnabled", 1, "1 is a number, not a boolean"),
        ("server", "port", 8082.5, "8082.5 is a number, not a whole number"),
        ("server", "port", "8082", "'8082' is a string, not a whole number; write an integer "
         "without quotes"),
        ("server", "port", True, "True is a boolean, not a whole number"),
        ("server", "host", 127, "127 is a number, not a string; quote it"),
        ("tracing", "sample_rate", "0.5", "'0.5' is a string, not a number"),
        ("signal", "receiveMode", "push",
         "'push' is not allowed; use one of auto, websocket, poll"),
        ("database", "synchronous", "EXTRA", "use one of FULL, NORMAL, OFF"),
        ("whatsapp", "api_base_url", "waha:3000", "'waha:3000' is not an http(s) URL"),
        ("whatsapp", "sessionApiPath", "api/sessions", "start it with /"),
        ("media", "allowedTypes", {"image": "jpg"}, "'jpg' is a string, not a list"),
        ("media", "allowedTypes", {"image": [1]}, "item 1 is a number, not a string"),
        ("media", "allowedTypes", {"image": ["j p g"]}, "'j p g' is not a file extension"),
        ("server", "trustedProxies", ["10.0.0.0/33"], "'10.0.0.0/33' is not a CIDR"),
        ("whatsapp", "groups", ["x"], "groups: a list is not a mapping"),
        ("signal", "pollingEnabled", {}, "{} is a mapping, not a boolean"),
    ],
)  # fmt: skip
def test_wrong_types_and_values_are_errors(
    minimal: dict[str, Any],
    dev_env: dict[str, str],
    section: str,
    key: str,
    value: object,
    expected: str,
) -> None:
    minimal.setdefault(section, {})[key] = value
    problems = _problems(minimal, dev_env)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{section}.{key}")
    assert expected in problems[0]


@pytest.mark.parametrize(
    ("section", "key", "value", "range_text"),
    [
        ("server", "port", 70000, "0 to 65535"),
        ("retry", "maxAttempts", 0, "1 to 100"),
        ("retry", "initialBackoffMs", 5, "10 to 10000"),
        ("retry", "maxBackoffMs", 600001, "100 to 600000"),
        ("server", "webhookMaxSkewSec", 3601, "1 to 3600"),
        ("server", "webhookMaxBytes", 512, "1024 to 52428800"),
        ("tracing", "sample_rate", 1.5, "0 to 1"),
        ("whatsapp", "contactCacheHours", 169, "1 to 168"),
        ("retentionDays", None, -1, "1 to 3650"),
        ("signal", "maxConcurrentSessions", 100001, "1 to 100000"),
    ],
)
def test_out_of_range_names_the_range(
    minimal: dict[str, Any],
    dev_env: dict[str, str],
    section: str,
    key: str | None,
    value: int,
    range_text: str,
) -> None:
    if key is None:
        minimal[section] = value
    else:
        minimal.setdefault(section, {})[key] = value
    problems = _problems(minimal, dev_env)
    assert len(problems) == 1, problems
    assert f"{value!r} is out of range; use a value from {range_text}" in problems[0]


def test_tens_of_thousands_of_discovered_sessions_may_be_served(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    # bench/sessions.py: 10,000 sessions within the targets, and the cost per session is flat.
    minimal.setdefault("signal", {})["maxConcurrentSessions"] = 50000
    config = config_from_mapping(minimal, env=dev_env, source="test.yaml")
    assert config.signal.max_concurrent_sessions == 50000


def test_go_zero_means_default_and_null_means_unset(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["retentionDays"] = 0
    minimal["whatsapp"].update(timeout_ms=0, contactCacheHours=0, webhook_secret="")
    minimal["server"] = {"webhookMaxSkewSec": 0, "host": None}
    minimal["tracing"] = None
    config = config_from_mapping(minimal, env=dev_env)
    assert config.retention_days == 30
    assert config.whatsapp.timeout_ms == 30000
    assert config.whatsapp.contact_cache_hours == 24
    assert config.whatsapp.webhook_secret is None
    assert config.server.webhook_max_skew_sec is None
    assert config.server.host == "127.0.0.1"  # unset, in development mode


@pytest.mark.parametrize(
    ("mode", "host", "bound"),
    [
        ("development", None, "127.0.0.1"),
        ("development", "0.0.0.0", "0.0.0.0"),
        ("development", "::", "::"),
        ("secure", None, "0.0.0.0"),
        ("secure", "10.0.0.5", "10.0.0.5"),
    ],
)
def test_development_mode_listens_on_this_machine_only_unless_told_otherwise(
    minimal: dict[str, Any],
    dev_env: dict[str, str],
    secure_env: dict[str, str],
    mode: str,
    host: str | None,
    bound: str,
) -> None:
    env = dev_env if mode == "development" else secure_env
    if host is not None:
        minimal["server"] = {"host": host}
    assert config_from_mapping(minimal, env=env).server.host == bound


@pytest.mark.parametrize(
    ("value", "millis", "warned"),
    [(1000, 1000, False), (3_600_000, 3_600_000, False), (10_000_000_000, 10_000, True),
     (2_500_000_000, 2_500, True)],
)  # fmt: skip
def test_timeout_ms_is_milliseconds_or_go_nanoseconds(
    minimal: dict[str, Any], dev_env: dict[str, str], value: int, millis: int, warned: bool
) -> None:
    minimal["whatsapp"]["timeout_ms"] = value
    config = config_from_mapping(minimal, env=dev_env)
    assert config.whatsapp.timeout_ms == millis
    assert config.whatsapp.timeout_sec == millis / 1000
    assert any("Go nanoseconds" in w for w in config.warnings) is warned


@pytest.mark.parametrize("value", [999, 3_600_001, 999_999_999, 4_000_000_000_000])
def test_timeout_ms_between_an_hour_and_a_go_second_is_an_error(
    minimal: dict[str, Any], dev_env: dict[str, str], value: int
) -> None:
    minimal["whatsapp"]["timeout_ms"] = value
    (problem,) = _problems(minimal, dev_env)
    assert problem.startswith("whatsapp.timeout_ms:")
    assert "1000 to 3600000 (milliseconds; >= 1e9 is read as Go nanoseconds)" in problem


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+491701234567", "+491701234567"),
        ("491701234567", "+491701234567"),
        ("+49 (170) 123-45.67", "+491701234567"),
        ("0049 170 1234567", "+491701234567"),
        ("+12345678", "+12345678"),
        ("+123456789012345", "+123456789012345"),
        ("+1234567", None),
        ("+1234567890123456", None),
        ("+0491701234567", None),
        ("12ab", None),
        ("", None),
    ],
)
def test_phone_number_normalisation(raw: str, expected: str | None) -> None:
    assert normalize_phone_number(raw) == expected


def test_phone_numbers_in_the_config_are_normalised(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["signal"]["intermediaryPhoneNumber"] = "49 151 12345678"
    minimal["channels"][0]["signalDestinationPhoneNumber"] = "+49 170 1234567"
    minimal["channels"][0]["signalPhoneNumber"] = "4915199999999"
    config = config_from_mapping(minimal, env=dev_env)
    assert config.signal.intermediary_phone_number == "+4915112345678"
    assert config.channels[0].signal_destination_phone_number == "+491701234567"
    assert config.channels[0].signal_phone_number == "+4915199999999"


def test_bad_phone_numbers_name_the_key(minimal: dict[str, Any], dev_env: dict[str, str]) -> None:
    minimal["channels"].append(
        {"whatsappSessionName": "work", "signalDestinationPhoneNumber": "12ab"}
    )
    minimal["signal"]["intermediaryPhoneNumber"] = 4915112345678  # YAML's unquoted +49...
    assert _problems(minimal, dev_env) == [
        "signal.intermediaryPhoneNumber: 4915112345678 is a number, not a string; quote it, "
        "e.g. '+4915112345678'",
        "channels[1].signalDestinationPhoneNumber: '12ab' is not a phone number; use E.164, "
        "e.g. +491701234567",
    ]


@pytest.mark.parametrize("name", ["has space", "x" * 65, "ümlaut", "a/b"])
def test_bad_session_names_are_errors(
    minimal: dict[str, Any], dev_env: dict[str, str], name: str
) -> None:
    minimal["channels"][0]["whatsappSessionName"] = name
    (problem,) = _problems(minimal, dev_env)
    assert problem.startswith(f"channels[0].whatsappSessionName: {name!r} is not a session name")


def test_duplicate_sessions_are_an_error_but_shared_destinations_are_not(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    destination = minimal["channels"][0]["signalDestinationPhoneNumber"]
    minimal["channels"] += [
        {"whatsappSessionName": "work", "signalDestinationPhoneNumber": destination},
        {"whatsappSessionName": "default", "signalDestinationPhoneNumber": "+441234567890"},
    ]
    assert _problems(minimal, dev_env) == [
        "channels[2].whatsappSessionName: 'default' is already used by channels[0]; "
        "session names must be unique"
    ]
    del minimal["channels"][2]
    config = config_from_mapping(minimal, env=dev_env)
    assert {c.signal_destination_phone_number for c in config.channels} == {destination}


def test_star_channel_is_the_default_for_discovered_sessions(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["channels"].append(
        {
            "whatsappSessionName": "*",
            "signalDestinationPhoneNumber": "+441234567890",
            "signalPhoneNumber": "+4915199999999",
        }
    )
    config = config_from_mapping(minimal, env=dev_env)
    star = config.channels[1]
    assert star.is_default
    assert not config.channels[0].is_default
    assert config.default_channel == star
    assert config.channel_for("default") == config.channels[0]
    assert config.channel_for("discovered-later") == star
    assert config.bridge_number_for(star) == "+4915199999999"
    assert config.channels[0].bridge_number(config) == "+4915112345678"
    assert config.bridge_numbers == ("+4915112345678", "+4915199999999")
    minimal["channels"].append(dict(minimal["channels"][1]))
    (problem,) = _problems(minimal, dev_env)
    assert "only one is allowed" in problem


def test_without_star_channel_unknown_sessions_have_none(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    config = config_from_mapping(minimal, env=dev_env)
    assert config.default_channel is None
    assert config.channel_for("other") is None
    assert isinstance(config.channels[0], Channel)


def test_destination_equal_to_the_bridge_number_is_an_error(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["channels"][0]["signalDestinationPhoneNumber"] = "+4915112345678"
    (problem,) = _problems(minimal, dev_env)
    assert problem.startswith("channels[0].signalDestinationPhoneNumber: the same number")


def test_channels_must_be_a_non_empty_list_of_mappings(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["channels"] = []
    (problem,) = _problems(minimal, dev_env)
    assert problem.startswith("channels: at least one channel is required")
    minimal["channels"] = {"whatsappSessionName": "x"}
    assert _problems(minimal, dev_env) == ["channels: a mapping is not a list; write a list"]
    minimal["channels"] = ["default"]
    assert _problems(minimal, dev_env) == [
        "channels[0]: a string is not a mapping; write key: value pairs"
    ]
    minimal["channels"] = [{"whatsappSessionName": "default"}]
    assert _problems(minimal, dev_env) == [
        "channels[0].signalDestinationPhoneNumber: missing; this key is required, "
        "set it in the file"
    ]


def test_relations_between_keys_are_checked(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["retry"] = {"initialBackoffMs": 5000, "maxBackoffMs": 1000}
    minimal["signal"].update(pollTimeoutSec=60, httpTimeoutSec=60)
    minimal["database"].update(maxOpenConnections=2, maxIdleConnections=3)
    problems = _problems(minimal, dev_env)
    assert [p.split(":")[0] for p in problems] == [
        "retry.maxBackoffMs",
        "signal.httpTimeoutSec",
        "database.maxIdleConnections",
    ]
    assert "use at least 70" in problems[1]


def test_every_problem_is_reported_at_once(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    del minimal["whatsapp"]["api_base_url"]
    minimal["signal"]["pollingEnabled"] = "yes"
    minimal["server"] = {"port": -1}
    minimal["database"] = 5
    problems = _problems(minimal, dev_env)
    assert [p.split(":")[0] for p in problems] == [
        "signal.pollingEnabled",
        "database",
        "server.port",
        "whatsapp.api_base_url",
    ]


def test_invalid_value_is_not_also_reported_missing(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["whatsapp"]["api_base_url"] = "ftp://waha"
    (problem,) = _problems(minimal, dev_env)
    assert "not an http(s) URL" in problem


def test_values_are_normalised(minimal: dict[str, Any], dev_env: dict[str, str]) -> None:
    minimal["whatsapp"]["api_base_url"] = "http://localhost:3000/"
    minimal["media"] = {"allowedTypes": {"image": [".JPG", "png", "jpg"], "voice": []}}
    minimal["server"] = {"trustedProxies": ["10.1.2.3/8", "192.168.1.5", "::1"]}
    minimal["database"]["synchronous"] = "normal"
    config = config_from_mapping(minimal, env=dev_env)
    assert config.whatsapp.api_base_url == "http://localhost:3000"
    assert config.media.allowed_types.image == ("jpg", "png")
    assert config.media.allowed_types.voice == ()
    assert config.media.allowed_types.video == ("mp4", "mov")
    assert config.server.trusted_proxies == ("10.0.0.0/8", "192.168.1.5/32", "::1/128")
    assert config.database.synchronous == "NORMAL"


def test_unused_keys_are_listed_once_only_when_present(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    assert not any("not used yet" in w for w in config_from_mapping(minimal, env=dev_env).warnings)
    minimal["tracing"] = {"enabled": True, "sample_rate": 0.5}
    minimal["signal"]["pollWorkers"] = 3
    config = config_from_mapping(minimal, env=dev_env)
    (warning,) = [w for w in config.warnings if "not used yet" in w]
    assert warning.endswith(": tracing.enabled, tracing.sample_rate")
    assert config.tracing.sample_rate == 0.5
    (workers,) = [w for w in config.warnings if "pollWorkers" in w]
    assert workers == (
        "signal.pollWorkers: accepted for compatibility with the Go whatsignal and ignored: "
        "each bridge number has one receiver and each session one worker; remove it"
    )


def test_database_pool_keys_say_once_that_they_mean_nothing_to_sqlite(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["database"].update(maxOpenConnections=10, connMaxIdleTimeSec=30)
    config = config_from_mapping(minimal, env=dev_env)
    assert (
        config.warnings.count(
            "database.maxOpenConnections, database.connMaxIdleTimeSec: accepted for compatibility "
            "with the Go whatsignal and ignored: connection-pool settings mean nothing to SQLite: "
            "the bridge has one connection, on one thread; remove them"
        )
        == 1
    )
    assert not any("not used yet" in w for w in config.warnings)


def test_the_server_timeouts_are_used_and_the_read_timeout_outlasts_readiness(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    minimal["server"] = {"readTimeoutSec": 20, "idleTimeoutSec": 5}
    config = config_from_mapping(minimal, env=dev_env)
    assert (config.server.read_timeout_sec, config.server.idle_timeout_sec) == (20, 5)
    assert not any("TimeoutSec" in w for w in config.warnings)
    # Hypercorn's read timeout also runs while a request is handled: readiness takes up to 3 s.
    minimal["server"] = {"readTimeoutSec": 3}
    (problem,) = _problems(minimal, dev_env)
    assert problem.startswith("server.readTimeoutSec: 3 is out of range; use a value from 5 to")


@pytest.mark.parametrize(("data", "described"), [(None, "null"), (b"x", "bytes")])
def test_non_mapping_data_is_refused(dev_env: dict[str, str], data: object, described: str) -> None:
    with pytest.raises(ConfigError, match=f"is {described}, not a mapping of keys"):
        config_from_mapping(data, env=dev_env)  # type: ignore[arg-type]


def test_the_directory_for_files_in_flight_must_exist_and_be_writable(
    minimal: dict[str, Any],
    dev_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert config_from_mapping(minimal, env=dev_env).media.temp_dir is None  # the system's
    minimal["media"] = {"tempDir": str(tmp_path)}
    config = config_from_mapping(minimal, env=dev_env)
    assert media_policy(config).temp_dir == str(tmp_path)
    minimal["media"] = {"tempDir": ""}  # empty: unset
    assert config_from_mapping(minimal, env=dev_env).media.temp_dir is None
    a_file = tmp_path / "file"
    a_file.write_text("")
    for value, expected in [
        (str(tmp_path / "missing"), "is not an existing directory"),
        (str(a_file), "is not an existing directory"),
    ]:
        minimal["media"] = {"tempDir": value}
        (problem,) = _problems(minimal, dev_env)
        assert problem.startswith("media.tempDir: ")
        assert expected in problem
    # A directory the bridge may not write to (faked: the tests may run as root).
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    minimal["media"] = {"tempDir": str(tmp_path)}
    (problem,) = _problems(minimal, dev_env)
    assert (
        problem
        == f"media.tempDir: {str(tmp_path)!r} is not writable by the bridge; fix its permissions"
    )


def test_the_discovery_and_send_switches_default_as_documented(
    minimal: dict[str, Any], dev_env: dict[str, str]
) -> None:
    """Left out, each is on (and discovery serves ten sessions, listing every 30 s)."""
    config = config_from_mapping(minimal, env=dev_env)
    assert config.whatsapp.link_preview is True
    assert config.whatsapp.session_api_enabled is True
    assert config.signal.enable_dynamic_polling is True
    assert config.signal.session_discovery_interval_sec == 30
    assert config.signal.max_concurrent_sessions == 10
