"""Matching raw keys against the key table, the way Go's encoding/json does, but loudly.

Go matches a JSON key to a struct field exactly, else case-insensitively; underscores matter.
It ignores unknown keys, which is how ``initial_backoff_ms`` silently became 0 in the Go
version. Here an unknown key is an error naming the nearest valid spelling, and a field given
twice (``maxAttempts`` and ``max_attempts``, or two case variants) is an error too.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, TypeAlias

import attrs

from whatsignal.config._convert import Invalid, convert, describe
from whatsignal.config._keys import KEYS, Key


@attrs.frozen
class ListNode:
    """A list of objects (``channels``) whose items follow ``item``."""

    item: dict[str, Node]


Node: TypeAlias = "Key | ListNode | dict[str, Node]"


def build_tree(keys: tuple[Key, ...] = KEYS) -> dict[str, Node]:
    """The key table as nested sections: segment -> Key, section dict or ListNode."""
    root: dict[str, Node] = {}
    for key in keys:
        node = root
        for segment in key.parents:
            if segment.endswith("[]"):
                child = node.setdefault(segment[:-2], ListNode({}))
                assert isinstance(child, ListNode)
                node = child.item
            else:
                sub = node.setdefault(segment, {})
                assert isinstance(sub, dict)
                node = sub
        node[key.name] = key
    return root


TREE = build_tree()


@attrs.define
class Context:
    """What one load collects: problems (errors), warnings, unused keys, invalid paths."""

    problems: list[str] = attrs.Factory(list)
    warnings: list[str] = attrs.Factory(list)
    unused: list[str] = attrs.Factory(list)
    invalid: set[str] = attrs.Factory(set)

    def is_invalid(self, path: str) -> bool:
        """True when ``path`` or a section containing it had an invalid value."""
        return any(path == bad or path.startswith((bad + ".", bad + "[")) for bad in self.invalid)

    def warn(self, message: str) -> None:
        """Record a warning."""
        self.warnings.append(message)


def join(where: str, name: str) -> str:
    """A child's display path."""
    return f"{where}.{name}" if where else name


def _spellings(section: Mapping[str, Node]) -> dict[str, str]:
    """Every accepted spelling (canonical and aliases) -> canonical name."""
    out: dict[str, str] = {}
    for name, node in section.items():
        out[name] = name
        if isinstance(node, Key):
            out.update(dict.fromkeys(node.aliases, name))
    return out


def match(raw: object, section: Mapping[str, Node]) -> str | None:
    """The canonical name ``raw`` selects in ``section``: exact first, then ignoring case."""
    if not isinstance(raw, str):
        return None
    spellings = _spellings(section)
    if raw in spellings:
        return spellings[raw]
    folded = {spelling.lower(): name for spelling, name in spellings.items()}
    return folded.get(raw.lower())


def _display(path: str) -> str:
    return path.replace("[]", "[0]")


def suggest(raw: object, section: Mapping[str, Node], where: str) -> str:
    """The fix for an unknown key: the nearest valid key, or the valid keys of the section."""
    text = str(raw)
    elsewhere = [k.path for k in KEYS if text.lower() in (k.name.lower(), *k.aliases)]
    if elsewhere:
        return f"did you mean {_display(elsewhere[0])!r}?"
    spellings = _spellings(section)
    folded = {spelling.lower(): name for spelling, name in spellings.items()}
    close = difflib.get_close_matches(text.lower(), list(folded), n=1, cutoff=0.6)
    if close:
        return f"did you mean {join(where, folded[close[0]])!r}?"
    return f"valid keys here are: {', '.join(section)}"


def walk(data: object, section: Mapping[str, Node], where: str, ctx: Context) -> dict[str, Any]:
    """Validate ``data`` against ``section``; return canonical name -> normalised value.

    Keys that are absent, null or "not set" are left out; invalid values are recorded in
    ``ctx`` and left out too, so that one mistake does not hide the others.
    """
    if not isinstance(data, Mapping):
        ctx.problems.append(
            f"{where or '<top level>'}: {describe(data)} is not a mapping; write key: value pairs"
        )
        ctx.invalid.add(where)
        return {}
    out: dict[str, Any] = {}
    spelled: dict[str, object] = {}
    for raw_key, value in data.items():
        name = match(raw_key, section)
        if name is None:
            path = join(where, str(raw_key))
            ctx.problems.append(f"{path}: unknown key; {suggest(raw_key, section, where)}")
            continue
        path = join(where, name)
        if name in spelled:
            ctx.problems.append(
                f"{path}: given twice, as {spelled[name]!r} and {raw_key!r}; keep one"
            )
            continue
        spelled[name] = raw_key
        node = section[name]
        if isinstance(node, Key):
            try:
                converted = convert(node, value, ctx.warn)
            except Invalid as exc:
                ctx.problems.append(f"{path}: {exc}")
                ctx.invalid.add(path)
                continue
            if converted is not None:
                out[name] = converted
                if not node.used:
                    ctx.unused.append(path)
        elif value is None:
            continue
        elif isinstance(node, ListNode):
            if not isinstance(value, list):
                ctx.problems.append(f"{path}: {describe(value)} is not a list; write a list")
                ctx.invalid.add(path)
                continue
            out[name] = [walk(item, node.item, f"{path}[{i}]", ctx) for i, item in enumerate(value)]
        else:
            out[name] = walk(value, node, path, ctx)
    return out
