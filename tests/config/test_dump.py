"""The effective-config dump, the generated reference and the shipped config files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs
import yaml

from whatsignal.config import (
    KEYS,
    Config,
    Secrets,
    config_from_mapping,
    dump_config,
    load_config,
    mask,
    reference_markdown,
)
from whatsignal.config._keys import snake


def test_mask_keeps_at_most_the_last_two_characters() -> None:
    assert mask(None) == "<unset>"
    assert mask("short") == "***"
    assert mask("a-long-secret-xy") == "***xy"


def test_dump_masks_secrets_and_uses_canonical_names(
    minimal: dict[str, Any], secure_env: dict[str, str]
) -> None:
    minimal["retry"] = {"initial_backoff_ms": 200, "MAXATTEMPTS": 3}
    minimal["signal"]["webhookToken"] = "signal-token-value-42"
    env = {**secure_env, "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET": "x" * 38 + "ab"}
    config = config_from_mapping(minimal, env=env, source="my.yaml")
    text = dump_config(config)
    assert text.startswith("# effective configuration from my.yaml (secure mode)\n")
    for secret in (*secure_env.values(), "signal-token-value-42", "x" * 38):
        assert secret not in text
    data = yaml.safe_load(text)
    assert data["retry"]["initialBackoffMs"] == 200
    assert data["retry"]["maxAttempts"] == 3
    assert "initial_backoff_ms" not in text
    assert data["whatsapp"]["webhook_secret"] == "***ab"
    assert data["signal"]["webhookToken"] == "***42"
    assert "#   WHATSIGNAL_ADMIN_TOKEN: ***aa" in text
    assert "#   WHATSAPP_API_KEY: ***89" in text
    assert data["channels"] == [
        {
            "whatsappSessionName": "default",
            "signalDestinationPhoneNumber": "+491701234567",
            "signalPhoneNumber": None,
            "portals": False,
        }
    ]


def test_dump_shows_every_key_and_reloads_to_the_same_config(
    fixtures: Path, dev_env: dict[str, str]
) -> None:
    config = load_config(fixtures / "go-config.json", env=dev_env)
    text = dump_config(config)
    assert "(development mode)" in text
    assert "warning" not in text.lower()
    data = yaml.safe_load(text)
    for key in KEYS:
        node: Any = data
        for segment in key.path.split("."):
            node = node["channels"][0] if segment == "channels[]" else node[segment]
    del data["whatsapp"]["webhook_secret"]  # masked values are not the secrets
    del data["signal"]["webhookToken"]
    reloaded = config_from_mapping(data, env=dev_env)
    assert reloaded == attrs.evolve(
        config,
        whatsapp=attrs.evolve(config.whatsapp, webhook_secret=None),
        secrets=attrs.evolve(config.secrets, webhook_secret=None),
    )


def _fields(cls: type, prefix: str) -> set[str]:
    out: set[str] = set()
    attrs.resolve_types(cls)
    for field in attrs.fields(cls):
        kind = field.type
        if isinstance(kind, type) and attrs.has(kind):
            out |= _fields(kind, f"{prefix}{field.name}.")
        else:
            out.add(prefix + field.name)
    return out


def test_model_attributes_are_the_snake_case_of_the_key_table() -> None:
    expected = {".".join(snake(s) for s in key.path.split(".")) for key in KEYS}
    extra = {"channels", "development", "warnings", "source"} | {
        f"secrets.{f.name}" for f in attrs.fields(Secrets)
    }
    names = _fields(Config, "") - extra
    channel_names = {f"channels.{name}" for name in _channel_fields()}
    assert names | channel_names == expected


def _channel_fields() -> set[str]:
    from whatsignal.config import Channel

    return {f.name for f in attrs.fields(Channel)}


def test_snake_case_names() -> None:
    assert snake("intermediaryPhoneNumber") == "intermediary_phone_number"
    assert snake("maxSizeMB") == "max_size_mb"
    assert snake("api_base_url") == "api_base_url"
    assert snake("channels[]") == "channels"


def test_docs_reference_table_is_up_to_date(repo: Path) -> None:
    text = (repo / "docs" / "configuration.md").read_text()
    match = re.search(
        r"<!-- BEGIN GENERATED KEY TABLE -->\n(.*)<!-- END GENERATED KEY TABLE -->", text, re.S
    )
    assert match is not None
    assert match.group(1) == reference_markdown()


def test_top_level_config_yaml_documents_every_key_and_loads(
    repo: Path, dev_env: dict[str, str]
) -> None:
    path = repo / "config.yaml"
    text = path.read_text()
    for key in KEYS:
        assert re.search(rf"^[ #-]*{re.escape(key.name)}:", text, re.M), key.path
    config = load_config(path, env=dev_env)
    assert config.whatsapp.api_base_url == "http://localhost:3000"
    assert config.signal.rpc_url == "http://localhost:8080"
    assert not any("not used yet" in w for w in config.warnings)
    lines = text.splitlines()
    for i, line in enumerate(lines):  # every live key has a comment above it or its section
        if re.match(r"^\w+:", line):
            assert lines[i - 1].startswith("#") or lines[i + 1].lstrip().startswith("#"), line


def test_example_config_loads_with_two_channels(repo: Path, dev_env: dict[str, str]) -> None:
    config = load_config(repo / "examples" / "config.yaml", env=dev_env)
    assert [c.whatsapp_session_name for c in config.channels] == ["personal", "work"]
    assert config.bridge_numbers == ("+4915112345678",)
    assert config.media.max_size_mb.video == 64
    assert not any("not used yet" in w for w in config.warnings)
