"""Turning a file or a mapping plus the environment into a validated `Config`.

Order, as in Go: keys and values are checked, then the environment overrides apply, then the
required keys are checked (so ``WHATSAPP_API_URL`` alone satisfies ``whatsapp.api_base_url``),
then the rules that span several keys and the secure-mode rules. Unlike Go, nothing stops at
the first mistake: every problem is collected and `ConfigError` is raised once with all of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import cattrs

from whatsignal.config._convert import Invalid, convert, describe, from_env
from whatsignal.config._files import find_config_file, read_config_file
from whatsignal.config._keys import KEYS, KEYS_BY_PATH, Key, snake
from whatsignal.config._model import Config
from whatsignal.config._secure import secrets_from
from whatsignal.config._tree import TREE, Context, ListNode, Node, join, walk
from whatsignal.errors import ConfigError

_converter = cattrs.Converter()


def _apply_env(values: dict[str, Any], env: Mapping[str, str], ctx: Context) -> None:
    """Let the environment variables of the key table override the file's values."""
    for key in KEYS:
        text = env.get(key.env) if key.env else None
        if not text or key.secret:
            continue  # secrets are read with the others in `_secure`
        try:
            value = convert(key, from_env(key, text), ctx.warn)
        except Invalid as exc:
            ctx.problems.append(f"{key.env} (environment, overrides {key.path}): {exc}")
            continue
        if value is None:
            continue
        section = values
        for segment in key.parents:
            section = section.setdefault(segment, {})
        section[key.name] = value
        ctx.invalid.discard(key.path)


def _missing(key: Key, path: str) -> str:
    via = f" or the environment variable {key.env}" if key.env else ""
    return f"{path}: missing; this key is required, set it in the file{via}"


def _complete(
    section: Mapping[str, Node], values: Mapping[str, Any], where: str, ctx: Context
) -> dict[str, Any]:
    """Fill in defaults, report missing required keys; return attribute name -> value."""
    out: dict[str, Any] = {}
    for name, node in section.items():
        path = join(where, name)
        value = values.get(name)
        if isinstance(node, Key):
            if value is None:
                if node.required and not ctx.is_invalid(path):
                    ctx.problems.append(_missing(node, path))
                value = node.default
        elif isinstance(node, ListNode):
            value = [
                _complete(node.item, item, f"{path}[{i}]", ctx)
                for i, item in enumerate(value or [])
            ]
        else:
            value = _complete(node, value or {}, path, ctx)
        out[snake(name)] = value
    return out


def _check_channels(channels: list[dict[str, Any]], bridge: str | None, ctx: Context) -> None:
    if not channels and not ctx.is_invalid("channels"):
        ctx.problems.append(
            "channels: at least one channel is required; add one, e.g. "
            "{whatsappSessionName: default, signalDestinationPhoneNumber: '+491701234567'}"
        )
    first: dict[str, int] = {}
    for i, channel in enumerate(channels):
        name = channel["whatsapp_session_name"]
        if name is not None and name in first:
            hint = ' ("*" is the default channel; only one is allowed)' if name == "*" else ""
            ctx.problems.append(
                f"channels[{i}].whatsappSessionName: {name!r} is already used by "
                f"channels[{first[name]}]{hint}; session names must be unique"
            )
        elif name is not None:
            first[name] = i
        own = channel["signal_phone_number"] or bridge
        destination = channel["signal_destination_phone_number"]
        if own is not None and own == destination:
            ctx.problems.append(
                f"channels[{i}].signalDestinationPhoneNumber: the same number as the channel's "
                "bridge number; the destination must be your own phone, not the bridge"
            )


def _check_relations(data: dict[str, Any], ctx: Context) -> None:
    """Rules that involve more than one key."""
    retry, signal, database = data["retry"], data["signal"], data["database"]
    if retry["max_backoff_ms"] < retry["initial_backoff_ms"]:
        ctx.problems.append(
            f"retry.maxBackoffMs: {retry['max_backoff_ms']} is below retry.initialBackoffMs "
            f"({retry['initial_backoff_ms']}); make it at least as large"
        )
    if signal["http_timeout_sec"] < signal["poll_timeout_sec"] + 10:
        ctx.problems.append(
            f"signal.httpTimeoutSec: {signal['http_timeout_sec']} leaves no room for a "
            f"long poll of signal.pollTimeoutSec={signal['poll_timeout_sec']}; use at least "
            f"{signal['poll_timeout_sec'] + 10}"
        )
    if database["max_idle_connections"] > database["max_open_connections"]:
        ctx.problems.append(
            f"database.maxIdleConnections: {database['max_idle_connections']} exceeds "
            f"database.maxOpenConnections ({database['max_open_connections']}); lower it"
        )
    _check_channels(data["channels"], signal["intermediary_phone_number"], ctx)


def _unused_warnings(paths: list[str]) -> list[str]:
    """One warning for the keys set that are not used yet, and one per reason for those that
    mean nothing here (each key named once)."""
    by_reason: dict[str, list[str]] = {}
    for path in paths:
        key = KEYS_BY_PATH.get(path)
        by_reason.setdefault(key.ignored if key is not None else "", []).append(path)
    warnings = []
    if not_yet := by_reason.pop("", None):
        warnings.append(
            "accepted for compatibility with the Go whatsignal but not used yet: "
            + ", ".join(not_yet)
        )
    for reason, keys in by_reason.items():
        warnings.append(
            f"{', '.join(keys)}: accepted for compatibility with the Go whatsignal and "
            f"ignored: {reason}; remove {'them' if len(keys) > 1 else 'it'}"
        )
    return warnings


def config_from_mapping(
    data: Mapping[str, Any], *, env: Mapping[str, str] | None = None, source: str = "<mapping>"
) -> Config:
    """Validate already-parsed configuration data plus the environment into a `Config`.

    Args:
        data: the parsed file (nested mappings and lists, canonical or alias key spellings).
        env: the environment; defaults to ``os.environ``.
        source: where ``data`` came from, for messages and ``Config.source``.

    Raises:
        ConfigError: with one line per problem (key, bad value, fix), all at once.
    """
    env = os.environ if env is None else env
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: the configuration is {describe(data)}, not a mapping of keys; "
            "start from examples/config.yaml"
        )
    ctx = Context()
    values = walk(data, TREE, "", ctx)
    _apply_env(values, env, ctx)
    completed = _complete(TREE, values, "", ctx)
    _check_relations(completed, ctx)
    push_token = env.get("WHATSIGNAL_SIGNAL_WEBHOOK_TOKEN") or completed["signal"]["webhook_token"]
    development, secrets = secrets_from(
        env,
        completed["whatsapp"]["webhook_secret"],
        completed["log_level"],
        ctx,
        push_token=push_token,
    )
    if ctx.problems:
        raise ConfigError(ctx.problems)
    completed["whatsapp"]["webhook_secret"] = secrets["webhook_secret"]
    completed["signal"]["webhook_token"] = push_token
    server = completed["server"]
    if server["host"] is None:  # a development setup listens to this machine only
        server["host"] = "127.0.0.1" if development else "0.0.0.0"
    warnings = [*ctx.warnings, *_unused_warnings(ctx.unused)]
    completed.update(
        development=development,
        secrets=secrets,
        warnings=tuple(warnings),
        source=source,
    )
    return _converter.structure(completed, Config)


def load_config(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> Config:
    """Find, read and validate the configuration.

    Args:
        path: an explicit file (``--config``); else ``WHATSIGNAL_CONFIG``, else
            ``./config.yaml``, else ``./config.json``.
        env: the environment; defaults to ``os.environ``.

    Raises:
        ConfigError: no file, a syntax error (with line and column), or invalid contents
            (every problem at once).
    """
    env = os.environ if env is None else env
    file = find_config_file(path, env)
    data = read_config_file(file)
    if data is None:
        data = {}
    return config_from_mapping(data, env=env, source=str(file))


__all__ = ["config_from_mapping", "load_config"]
