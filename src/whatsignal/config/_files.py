"""Finding the configuration file and parsing it into plain Python data.

Discovery order: an explicit path (``--config``), else ``WHATSIGNAL_CONFIG``, else
``./config.yaml``, else ``./config.json``. A ``.json`` file is JSONC (see `_jsonc`), anything
else YAML. Syntax errors and keys written twice in one mapping are reported with file, line and
column: both parsers would otherwise silently keep the last value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml

from whatsignal.config._jsonc import JsoncError, strip_comments
from whatsignal.config._keys import ENV_CONFIG
from whatsignal.errors import ConfigError

DEFAULT_NAMES = ("config.yaml", "config.json")


def find_config_file(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path:
    """The configuration file to read, by the discovery order above.

    Raises:
        ConfigError: naming the path(s) tried when there is no such file.
    """
    if path is not None:
        explicit, origin = Path(path), "--config"
    elif env.get(ENV_CONFIG):
        explicit, origin = Path(env[ENV_CONFIG]), ENV_CONFIG
    else:
        for name in DEFAULT_NAMES:
            candidate = Path(name)
            if candidate.is_file():
                return candidate
        tried = ", ".join(f"./{name}" for name in DEFAULT_NAMES)
        raise ConfigError(
            f"no configuration file found (tried {tried}); pass --config PATH or set "
            f"{ENV_CONFIG}; examples/config.yaml is a starting point"
        )
    if not explicit.is_file():
        raise ConfigError(f"{explicit}: configuration file not found (from {origin})")
    return explicit


def _duplicate(source: str, key: object, line: int, column: int) -> ConfigError:
    return ConfigError(
        f"{source}:{line}:{column}: key {key!r} appears twice in the same mapping; keep one"
    )


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping."""

    source = "<yaml>"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                mark = key_node.start_mark
                raise _duplicate(self.source, key, mark.line + 1, mark.column + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, source: str) -> Any:
    loader_cls = type("_Loader", (_StrictLoader,), {"source": source})
    try:
        loader = loader_cls(text)  # the reader checks characters here already
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(
            f"{where}: YAML syntax error: {exc.problem or exc.context}; fix the file"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {exc}; fix the file") from None


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(strip_comments(text), object_pairs_hook=_unique_pairs)
    except JsoncError as exc:
        line, column, message = exc.line, exc.column, exc.message
    except json.JSONDecodeError as exc:
        line, column, message = exc.lineno, exc.colno, exc.msg
    except _DuplicateKey as exc:
        # json offers no position here; the key name is enough to find it.
        raise ConfigError(
            f"{source}: key {exc.key!r} appears twice in the same object; keep one"
        ) from None
    raise ConfigError(
        f"{source}:{line}:{column}: JSON syntax error: {message}; fix the file "
        "(// and /* */ comments and trailing commas are allowed)"
    )


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def parse_text(text: str, source: str) -> Any:
    """Parse ``text`` as JSONC when ``source`` ends in ``.json``, else as YAML."""
    if source.lower().endswith(".json"):
        return _parse_json(text, source)
    return _parse_yaml(text, source)


def read_config_file(path: Path) -> Any:
    """Read and parse one configuration file.

    Raises:
        ConfigError: the file cannot be read, is not UTF-8, or has a syntax error.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the file: {exc.strerror or exc}") from None
    return parse_text(text, source)
