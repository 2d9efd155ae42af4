"""Printing a `Config`: the effective YAML (``check-config``) and the reference table (docs).

Both walk the key table, so they use the canonical key names and show every key, including
the ones left at their defaults. Secrets are masked as ``***`` plus their last two characters,
or ``<unset>``; a secret shorter than 8 characters shows no characters at all.
"""

from __future__ import annotations

from typing import Any

import yaml

from whatsignal.config._convert import number
from whatsignal.config._keys import KEYS, SECRET_ENVS, Key, Kind, snake
from whatsignal.config._model import Channel, Config

CHANNELS = "channels[]"


def mask(secret: str | None) -> str:
    """``***`` plus the last two characters, or ``<unset>``."""
    if secret is None:
        return "<unset>"
    return "***" + (secret[-2:] if len(secret) >= 8 else "")


def _attribute(obj: object, key: Key) -> Any:
    for segment in key.parents:
        if segment != CHANNELS:
            obj = getattr(obj, snake(segment))
    value = getattr(obj, snake(key.name))
    if key.secret:
        return mask(value)
    return list(value) if isinstance(value, tuple) else value


def _set(tree: dict[str, Any], parents: tuple[str, ...], name: str, value: Any) -> None:
    for segment in parents:
        tree = tree.setdefault(segment, {})
    tree[name] = value


def effective_mapping(config: Config) -> dict[str, Any]:
    """The configuration as nested canonical keys (secrets masked), in table order."""
    out: dict[str, Any] = {}
    channel_keys = [key for key in KEYS if key.parents[:1] == (CHANNELS,)]
    for key in KEYS:
        if key in channel_keys:
            if "channels" not in out:
                out["channels"] = [_channel(channel, channel_keys) for channel in config.channels]
            continue
        _set(out, key.parents, key.name, _attribute(config, key))
    return out


def _channel(channel: Channel, keys: list[Key]) -> dict[str, Any]:
    return {key.name: _attribute(channel, key) for key in keys}


def dump_config(config: Config) -> str:
    """The effective configuration as YAML: canonical key names, secrets masked.

    The environment-only secrets follow as comments, so the text stays loadable YAML.
    """
    mode = "development" if config.development else "secure"
    lines = [f"# effective configuration from {config.source} ({mode} mode)"]
    body = yaml.safe_dump(
        effective_mapping(config), sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    lines.append(body.rstrip("\n"))
    lines.append("# secrets from the environment (masked):")
    for secret in SECRET_ENVS:
        lines.append(f"#   {secret.env}: {mask(getattr(config.secrets, secret.attr))}")
    return "\n".join(lines) + "\n"


def _default(key: Key) -> str:
    if key.required:
        return "**required**"
    value = key.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _type(key: Key) -> str:
    if key.kind is Kind.CHOICE:
        return " \\| ".join(key.choices)
    return str(key.kind.value)


def _range(key: Key) -> str:
    if key.lo is None or key.hi is None:
        return ""
    return f"{number(key.lo)} to {number(key.hi)}"


def reference_markdown() -> str:
    """The Markdown reference table of every key and environment secret."""
    rows = [
        "| Key | Type | Default | Range | Env override | Notes |",
        "|---|---|---|---|---|---|",
    ]
    for key in KEYS:
        notes = key.note
        if key.aliases:
            notes = f"alias: `{'`, `'.join(key.aliases)}`" + (f"; {notes}" if notes else "")
        if key.zero_default and "0 " not in notes:
            notes = (notes + "; " if notes else "") + "0 = default"
        if key.secret:
            notes = (notes + "; " if notes else "") + "secret (masked in dumps)"
        env = f"`{key.env}`" if key.env else ""
        rows.append(
            f"| `{key.path}` | {_type(key)} | {_default(key)} | {_range(key)} | {env} | {notes} |"
        )
    rows += ["", "| Environment variable | Notes |", "|---|---|"]
    rows += [f"| `{secret.env}` | {secret.note} |" for secret in SECRET_ENVS]
    return "\n".join(rows) + "\n"
