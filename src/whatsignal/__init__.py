"""whatsignal: read and answer your WhatsApp chats from Signal.

Public API::

    from whatsignal import Bridge, load_config
    config = load_config("config.yaml")
    async with trio.open_nursery() as nursery:
        bridge = await nursery.start(Bridge(config).run)

``Bridge`` and ``load_config`` are imported on first use, so that tools importing a small part of
the package (``whatsignal.log``, ``whatsignal.testing``) do not pay for the whole bridge.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from whatsignal._version import __version__ as __version__

if TYPE_CHECKING:
    from whatsignal.config import Config as Config
    from whatsignal.config import load_config as load_config
    from whatsignal.service import Bridge as Bridge

__all__ = ["Bridge", "Config", "__version__", "load_config"]

_LAZY = {
    "Bridge": "whatsignal.service",
    "Config": "whatsignal.config",
    "load_config": "whatsignal.config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'whatsignal' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
