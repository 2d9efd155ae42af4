"""``whatsignal setup``: from two running services to a configured bridge in one command.

It checks that WAHA and signal-cli-rest-api answer (and that the bridge number is one of
signal-cli's accounts), writes the configuration and an env file with the secrets, and sets each
WhatsApp session's webhook to the bridge (the events of :mod:`whatsignal.waha_hooks`, signed
with the webhook secret), keeping the session's other webhooks. Run twice, it changes nothing.
"""

from __future__ import annotations

from whatsignal.setup._options import Ask, SetupOptions, add_arguments, resolve
from whatsignal.setup._run import RESTART_NOTE, run_setup

__all__ = ["RESTART_NOTE", "Ask", "SetupOptions", "add_arguments", "resolve", "run_setup"]
