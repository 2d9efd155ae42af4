"""The whatsignal configuration: loading, validating and printing it.

``load_config()`` finds the file (``--config``, ``WHATSIGNAL_CONFIG``, ``./config.yaml``,
``./config.json``), reads YAML or JSON with comments, matches key names the way the Go
whatsignal did (so its ``config.json`` loads unchanged), applies the environment overrides and
the secure-mode rules, and returns a frozen `Config`, or raises `ConfigError` listing every
problem at once. ``dump_config()`` prints the effective configuration with secrets masked.
"""

from __future__ import annotations

from whatsignal.config._convert import normalize_phone_number
from whatsignal.config._dump import dump_config, mask, reference_markdown
from whatsignal.config._keys import ENV_DEVELOPMENT, KEYS, SECRET_ENVS, Key, Kind
from whatsignal.config._load import config_from_mapping, load_config
from whatsignal.config._model import (
    ANY_SESSION,
    AlertsConfig,
    Channel,
    Config,
    DatabaseConfig,
    GroupsConfig,
    MediaConfig,
    MediaSizes,
    MediaTypes,
    RetryConfig,
    Secrets,
    ServerConfig,
    SignalConfig,
    TracingConfig,
    WhatsAppConfig,
)

__all__ = [
    "ANY_SESSION",
    "ENV_DEVELOPMENT",
    "KEYS",
    "SECRET_ENVS",
    "AlertsConfig",
    "Channel",
    "Config",
    "DatabaseConfig",
    "GroupsConfig",
    "Key",
    "Kind",
    "MediaConfig",
    "MediaSizes",
    "MediaTypes",
    "RetryConfig",
    "Secrets",
    "ServerConfig",
    "SignalConfig",
    "TracingConfig",
    "WhatsAppConfig",
    "config_from_mapping",
    "dump_config",
    "load_config",
    "mask",
    "normalize_phone_number",
    "reference_markdown",
]
