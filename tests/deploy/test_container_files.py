"""The Dockerfile, the compose file and the systemd unit, checked without a container runtime:
hadolint, the wiring between the three services, and the bridge's config they lead to."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from whatsignal.config import config_from_mapping
from whatsignal.waha_hooks import BRIDGE_EVENTS, RETRIES, WEBHOOK_PATH

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def _final_stage() -> list[tuple[str, str]]:
    steps = _dockerfile()
    last = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last:]


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for op, rest in _final_stage():
        if op == "ENV":
            env.update(dict(re.findall(r"([A-Z_]+)=(\S+)", rest)))
    return env


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def _plain(value: str) -> str:
    """A compose value with every ``${VAR...}`` written as ``$VAR``."""
    return VAR.sub(lambda m: f"${m.group(1)}", value)


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    binary = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert binary, "hadolint is part of the test extra: pip install -e '.[test]'"
    result = subprocess.run(
        [binary, "--format", "json", str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], findings


def test_the_image_is_pinned_multi_stage_non_root_and_healthchecked() -> None:
    steps = _dockerfile()
    base = next(rest for op, rest in steps if op == "ARG" and rest.startswith("PYTHON_IMAGE="))
    image = base.split("=", 1)[1]
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", image), image  # no latest, no floating
    assert sum(op == "FROM" for op, _ in steps) == 2
    final = _final_stage()
    ops = dict(final)
    user = ops["USER"].split(":")[0]
    uid = next(rest.split("=")[1] for op, rest in final if op == "ARG" and rest.startswith("UID="))
    assert user in ("${UID}", uid) and int(uid) >= 1000
    assert "--healthcheck" in ops["HEALTHCHECK"]
    assert "whatsignal" in ops["ENTRYPOINT"]
    assert json.loads(ops["CMD"])[0] == "run"
    assert ops["EXPOSE"] == "8082"
    # No compiler or build step in the runtime stage: the wheels come from the first one.
    assert not any("apt-get" in rest or "pip wheel" in rest for op, rest in final if op == "RUN")


def test_the_images_environment_gives_a_bridge_on_every_interface_with_data_in_data() -> None:
    env = {**_image_env(), "WHATSIGNAL_ENV": "development"}
    minimal = {
        "whatsapp": {"api_base_url": "http://waha:3000"},
        "signal": {"rpc_url": "http://signal:8080", "intermediaryPhoneNumber": "+4915000000001"},
        "channels": [{"whatsappSessionName": "*", "signalDestinationPhoneNumber": "+4917012345"}],
        "database": {"path": "ignored.db"},
    }
    config = config_from_mapping(minimal, env=env)
    assert config.server.host == "0.0.0.0"  # even in development mode
    assert config.server.port == 8082
    assert config.database.path == "/data/whatsignal.db"
    assert env["WHATSIGNAL_CONFIG"] == "/config/config.yaml"


def test_the_build_context_is_only_what_the_image_needs() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"  # everything out (secrets, databases, .venv) ...
    assert {"!pyproject.toml", "!README.md", "!src/"} <= set(rules)  # ... but these


def test_compose_runs_the_three_services_wired_to_each_other() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"waha", "signal-cli-rest-api", "whatsignal"}
    assert services["waha"]["image"].startswith("devlikeapro/waha:")
    assert services["signal-cli-rest-api"]["image"].startswith("bbernhard/signal-cli-rest-api:")
    for name in ("waha", "signal-cli-rest-api"):
        tag = services[name]["image"].rsplit(":", 1)[1]
        assert re.fullmatch(r"\d[\d.]*", tag), f"{name}: pin a release, not {tag!r}"
    waha = services["waha"]["environment"]
    signal = services["signal-cli-rest-api"]["environment"]
    bridge = services["whatsignal"]
    port = _image_env()["PORT"]
    assert waha["WHATSAPP_HOOK_URL"] == f"http://whatsignal:{port}{WEBHOOK_PATH}"
    assert tuple(waha["WHATSAPP_HOOK_EVENTS"].split(",")) == BRIDGE_EVENTS
    assert waha["WHATSAPP_HOOK_RETRIES_POLICY"] == RETRIES["policy"]
    assert int(waha["WHATSAPP_HOOK_RETRIES_ATTEMPTS"]) == RETRIES["attempts"]
    assert int(waha["WHATSAPP_HOOK_RETRIES_DELAY_SECONDS"]) == RETRIES["delaySeconds"]
    # One variable signs on WAHA's side and checks on the bridge's.
    secret = "$WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET"
    assert _plain(waha["WHATSAPP_HOOK_HMAC_KEY"]) == secret
    assert _plain(bridge["environment"]["WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET"]) == secret
    assert _plain(waha["WAHA_API_KEY"]) == "$WHATSAPP_API_KEY"  # the bridge has it (env_file)
    assert signal["MODE"] == "json-rpc"
    token = "$WHATSIGNAL_SIGNAL_WEBHOOK_TOKEN"
    assert _plain(signal["RECEIVE_WEBHOOK_URL"]) == (
        f"http://whatsignal:{port}/webhook/signal?token={token}"
    )
    assert _plain(bridge["environment"]["WHATSIGNAL_SIGNAL_WEBHOOK_TOKEN"]) == token
    assert bridge["environment"]["WHATSAPP_API_URL"] == "http://waha:3000"
    assert bridge["environment"]["SIGNAL_RPC_URL"] == "http://signal-cli-rest-api:8080"
    assert (DEPLOY / bridge["build"]["context"] / bridge["build"]["dockerfile"]).is_file()
    assert f"./config.yaml:{_image_env()['WHATSIGNAL_CONFIG']}:ro" in bridge["volumes"]


def test_compose_keeps_data_in_named_volumes_restarts_checks_health_and_publishes_locally() -> None:
    compose = _compose()
    services = compose["services"]
    mounts = {
        "waha": "/app/.sessions",
        "signal-cli-rest-api": "/home/.local/share/signal-cli",
        "whatsignal": "/data",
    }
    for name, target in mounts.items():
        service = services[name]
        volume = next(v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == target)
        assert volume in compose["volumes"], f"{name}: {target} must be a named volume"
        assert service["restart"] == "unless-stopped"
        assert service["healthcheck"]["test"][0] == "CMD"
        for published in service.get("ports", []):
            assert published.startswith("127.0.0.1:"), f"{name} publishes {published}"
    assert "--healthcheck" in services["whatsignal"]["healthcheck"]["test"]


def test_every_variable_compose_reads_is_documented_in_env_example() -> None:
    used = set(VAR.findall((DEPLOY / "compose.yaml").read_text()))
    example = (DEPLOY / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert used, "compose reads its secrets from .env"
    assert used <= documented, used - documented


def test_init_writes_private_secrets_and_a_config_the_bridge_accepts(tmp_path: Path) -> None:
    here = tmp_path / "deploy"
    shutil.copytree(DEPLOY, here)
    bad = subprocess.run(
        ["sh", str(here / "init.sh"), "0151", "+491701234567"], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "international form" in bad.stderr
    assert not (here / ".env").exists()

    run = ["sh", str(here / "init.sh"), "+4915000000001", "+491701234567"]
    assert subprocess.run(run, capture_output=True, check=False).returncode == 0
    env_file = here / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = dict(
        line.split("=", 1)
        for line in env_file.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert "change-me" not in values.values()
    secrets = [v for k, v in values.items() if k != "WAHA_DASHBOARD_USERNAME"]
    assert len(set(secrets)) == len(secrets)  # each made on its own
    first = env_file.read_text()
    assert subprocess.run(run, capture_output=True, check=False).returncode == 0
    assert env_file.read_text() == first  # kept: it encrypts the database

    # The bridge container's environment: the image's, compose's, then the .env file.
    bridge = _compose()["services"]["whatsignal"]["environment"]
    env = {**_image_env(), **values}
    env.update({k: VAR.sub(lambda m: values[m.group(1)], v) for k, v in bridge.items()})
    config = config_from_mapping(yaml.safe_load((here / "config.yaml").read_text()), env=env)
    assert not config.development  # secure mode, every secret present
    assert config.whatsapp.api_base_url == "http://waha:3000"
    assert [c.whatsapp_session_name for c in config.channels] == ["*"]


def test_the_readme_subscribes_waha_to_the_bridges_events() -> None:
    readme = (REPO / "README.md").read_text()
    listed = re.findall(r"WHATSAPP_HOOK_EVENTS=([a-z0-9.,]+)", readme)
    assert listed, "README shows WAHA's webhook events"
    for line in listed:
        assert tuple(line.split(",")) == BRIDGE_EVENTS
    for events in re.findall(r'"events": (\[[^\]]*\])', readme):
        assert tuple(json.loads(events)) == BRIDGE_EVENTS


def test_the_systemd_unit_is_hardened_and_keeps_its_state_in_one_directory() -> None:
    unit: dict[str, str] = {}
    for line in (DEPLOY / "whatsignal.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            unit.setdefault(key.strip(), value.strip())
    assert unit["DynamicUser"] == "yes"
    assert unit["ProtectSystem"] == "strict"
    assert unit["StateDirectory"] == "whatsignal"
    assert unit["NoNewPrivileges"] == "yes"
    assert unit["Environment"] == "DB_PATH=/var/lib/whatsignal/whatsignal.db"
    assert " run --config " in unit["ExecStart"]
    assert unit["EnvironmentFile"].endswith(".env")


def _docker_problem() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no docker command on this machine"
    info = subprocess.run([docker, "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return "no Docker daemon answers here (docker info failed)"
    base = next(r.split("=", 1)[1] for op, r in _dockerfile() if op == "ARG" and "PYTHON" in r)
    pulled = subprocess.run([docker, "image", "inspect", base], capture_output=True, check=False)
    if pulled.returncode != 0:
        return f"the base image {base} is not pulled (this test downloads nothing)"
    return None


def test_the_image_builds_and_its_healthcheck_runs() -> None:
    problem = _docker_problem()
    if problem:
        pytest.skip(f"needs a Docker daemon: {problem}; hadolint and the file checks ran")
    build = subprocess.run(
        ["docker", "build", "-q", "-t", "whatsignal:test", str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    probe = subprocess.run(
        ["docker", "run", "--rm", "whatsignal:test", "--healthcheck"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 1  # nothing runs in that container: unhealthy, not a crash
    assert "unhealthy" in probe.stderr
    user = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", "whatsignal:test", "-u"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert user.stdout.strip() != "0"
