"""``whatsignal setup``: check both services, write the config and the secrets, wire WAHA.

The order is the order of what can go wrong: flags, then WAHA and signal-cli answering (and
the bridge number being signal-cli's), then the files, then WAHA's webhooks, the only step
that changes anything outside this machine. Every step is safe to repeat: a second run finds
the files and webhooks as the first left them and changes nothing.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from whatsignal.config import ANY_SESSION, config_from_mapping
from whatsignal.errors import ConfigError
from whatsignal.log import phone
from whatsignal.setup._files import (
    check_ours,
    config_text,
    env_text,
    merged_env,
    read_env_file,
    write_file,
)
from whatsignal.setup._options import Ask, SetupOptions
from whatsignal.setup._upstreams import Waha, open_clients
from whatsignal.waha_hooks import bridge_hook, with_bridge_hook

__all__ = ["RESTART_NOTE", "run_setup"]

RESTART_NOTE = (
    "WAHA restarts a running session when its config is updated: it reconnects within "
    "seconds and stays paired (no new QR scan); WhatsApp keeps what arrives meanwhile."
)


def _choose_sessions(
    opts: SetupOptions, known: Sequence[str], ask: Ask | None, out: TextIO
) -> tuple[str, ...]:
    if opts.sessions:
        return opts.sessions
    print(f"WAHA's sessions: {', '.join(known) or 'none yet'}", file=out)
    if ask is None:
        return (ANY_SESSION,)
    answer = ask("Sessions to bridge (comma-separated, * for every session)", ANY_SESSION)
    chosen = tuple(name.strip() for name in answer.split(",") if name.strip())
    return chosen or (ANY_SESSION,)


def _write_files(
    opts: SetupOptions, sessions: Sequence[str], env: Mapping[str, str], out: TextIO
) -> dict[str, str]:
    """Write (or, dry, only check) both files; returns the env file's variables."""
    database = str(opts.config.resolve().parent / "whatsignal.db")
    text = config_text(
        waha_url=opts.waha_url,
        signal_url=opts.signal_url,
        bridge_number=opts.bridge_number,
        destination=opts.destination,
        sessions=sessions,
        database=database,
        portals=opts.portals,
    )
    check_ours(opts.config)
    values, made = merged_env(env, read_env_file(opts.env_file), opts.api_key)
    # What check-config will say of them, before anything is written.
    config_from_mapping(yaml.safe_load(text), env={**env, **values})
    fresh = f" ({len(made)} secrets generated)" if made else " (secrets kept)"
    if opts.dry_run:
        print(f"would write {opts.config}", file=out)
        print(f"would write {opts.env_file}, mode 0600{fresh}", file=out)
        return values
    print(f"{opts.config}: {write_file(opts.config, text, private=False)}", file=out)
    done = write_file(opts.env_file, env_text(values), private=True)
    print(f"{opts.env_file}: {done}, mode 0600{fresh if done != 'unchanged' else ''}", file=out)
    return values


def _wire(
    waha: Waha,
    opts: SetupOptions,
    targets: Sequence[str],
    known: Sequence[str],
    hmac_key: str,
    ask: Ask | None,
    out: TextIO,
) -> None:
    wanted = bridge_hook(opts.public_url, hmac_key)
    updates: list[tuple[str, dict[str, Any]]] = []
    creates: list[str] = []
    for name in targets:
        if name not in known:
            creates.append(name)
            continue
        info = waha.session(name)
        config = dict(info.get("config") or {})
        hooks = with_bridge_hook(list(config.get("webhooks") or []), wanted)
        if hooks is None:
            print(f"session {name}: its webhook to the bridge is already set", file=out)
            continue
        body: dict[str, Any] = {"config": {**config, "webhooks": hooks}}
        if info.get("apps") is not None:
            body["apps"] = info["apps"]
        updates.append((name, body))
    for name in creates:
        verb = "would create" if opts.dry_run else "creating"
        print(
            f"session {name}: {verb} it with the bridge's webhook (then scan its QR code "
            "in WAHA's dashboard)",
            file=out,
        )
        if not opts.dry_run:
            waha.create(name, {"webhooks": [wanted]})
    if not updates:
        return
    names = ", ".join(name for name, _ in updates)
    print(f"{RESTART_NOTE}", file=out)
    if opts.dry_run:
        for name, body in updates:
            count = len(body["config"]["webhooks"])
            print(
                f"session {name}: would set its webhook to {wanted['url']} "
                f"({count} webhook{'s' if count != 1 else ''} in all)",
                file=out,
            )
        return
    if ask is not None and ask(f"Update {names} now? [y/n]", "y").strip().lower() not in (
        "y",
        "yes",
    ):
        print("webhooks left as they were; run setup again to set them", file=out)
        return
    for name, body in updates:
        waha.update(name, body)
        print(f"session {name}: webhook set to {wanted['url']}", file=out)


def run_setup(opts: SetupOptions, env: Mapping[str, str], ask: Ask | None, out: TextIO) -> int:
    """Do the setup; returns the exit code (errors are raised, for the CLI to report)."""
    waha, signal = open_clients(opts.waha_url, opts.signal_url, opts.api_key)
    with waha.client, signal.client:
        sessions = waha.sessions()
        known = [str(s["name"]) for s in sessions]
        mode = signal.mode()
        signal.check_account(opts.bridge_number)
        print(f"WAHA at {opts.waha_url}: {len(known)} session(s)", file=out)
        print(
            f"signal-cli at {opts.signal_url}: {mode} mode, bridge number "
            f"{phone(opts.bridge_number)} registered",
            file=out,
        )
        chosen = _choose_sessions(opts, known, ask, out)
        wildcard = ANY_SESSION in chosen
        if wildcard and len(chosen) > 1:
            raise ConfigError("--session: '*' already means every session; give it alone")
        values = _write_files(opts, chosen, env, out)
        targets = known if wildcard else chosen
        if wildcard and not known:
            print(
                "WAHA has no session yet: create one (its dashboard), then run setup again "
                "to give it the bridge's webhook",
                file=out,
            )
        _wire(waha, opts, targets, known, values["WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET"], ask, out)
    if opts.dry_run:
        print("dry run: nothing was written and nothing changed in WAHA", file=out)
        return 0
    env_file = shlex.quote(str(opts.env_file.resolve()))
    config = shlex.quote(str(Path(opts.config).resolve()))
    print(f"Destination {phone(opts.destination)}. Start the bridge with:", file=out)
    print(
        f"  set -a && . {env_file} && set +a && {shlex.quote(sys.executable)} -m whatsignal "
        f"run --config {config}",
        file=out,
    )
    return 0
