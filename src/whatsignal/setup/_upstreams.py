"""The few calls ``setup`` makes to WAHA and signal-cli-rest-api, one request each.

Setup is one short, sequential conversation, so it uses httpx's blocking client. Every failure
becomes an error that says which service, what went wrong and which flag or variable to fix:
`ConfigError` (exit 2) when the user's input is wrong (a refused API key, a bridge number
signal-cli does not have), `WhatsignalError` (exit 1) when a service does not answer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import attrs
import httpx

from whatsignal.errors import ConfigError, WhatsignalError
from whatsignal.log import phone

__all__ = ["Signal", "Waha"]

TIMEOUT = httpx.Timeout(15.0)


def _call(client: httpx.Client, what: str, flag: str, method: str, path: str, **kw: Any) -> Any:
    try:
        response = client.request(method, path, **kw)
    except httpx.TransportError as exc:
        raise WhatsignalError(
            f"{what} at {client.base_url} does not answer ({exc.__class__.__name__}): "
            f"check {flag} and that {what} runs"
        ) from None
    if response.status_code in (401, 403) and flag == "--waha-url":
        raise ConfigError(
            f"WHATSAPP_API_KEY: {what} refused it ({response.status_code}); set it to the "
            "API key WAHA was started with (its WAHA_API_KEY)"
        )
    if response.status_code >= 400:
        raise WhatsignalError(
            f"{what} answered {method} {path} with {response.status_code}: "
            f"{response.text.strip()[:200]}"
        )
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise WhatsignalError(
            f"{what} at {client.base_url} answered {method} {path} with something that is not "
            f"JSON: is {flag} the right address?"
        ) from None


@attrs.frozen
class Waha:
    """WAHA's sessions API."""

    client: httpx.Client

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        return _call(self.client, "WAHA", "--waha-url", method, path, **kw)

    def sessions(self) -> list[dict[str, Any]]:
        """Every session, stopped ones too."""
        found = self._call("GET", "/api/sessions", params={"all": "true"})
        if not isinstance(found, list):
            raise WhatsignalError("WAHA's GET /api/sessions is not a list: is --waha-url WAHA?")
        return [s for s in found if isinstance(s, dict) and isinstance(s.get("name"), str)]

    def session(self, name: str) -> dict[str, Any]:
        found = self._call("GET", f"/api/sessions/{quote(name, safe='')}")
        if not isinstance(found, dict):
            raise WhatsignalError(f"WAHA's GET /api/sessions/{name} is not an object")
        return found

    def update(self, name: str, body: dict[str, Any]) -> None:
        self._call("PUT", f"/api/sessions/{quote(name, safe='')}", json=body)

    def create(self, name: str, config: dict[str, Any]) -> None:
        self._call("POST", "/api/sessions", json={"name": name, "start": True, "config": config})


@attrs.frozen
class Signal:
    """signal-cli-rest-api's about and accounts."""

    client: httpx.Client

    def _call(self, method: str, path: str) -> Any:
        return _call(self.client, "signal-cli-rest-api", "--signal-url", method, path)

    def mode(self) -> str:
        """The mode signal-cli runs in (``json-rpc``, ``normal``, ``native``)."""
        about = self._call("GET", "/v1/about")
        mode = about.get("mode") if isinstance(about, dict) else None
        if not isinstance(mode, str):
            raise WhatsignalError(
                "signal-cli-rest-api's GET /v1/about has no mode: is --signal-url "
                "signal-cli-rest-api?"
            )
        return mode

    def check_account(self, number: str) -> None:
        accounts = self._call("GET", "/v1/accounts")
        if not isinstance(accounts, list) or number not in accounts:
            known = ", ".join(phone(str(a)) for a in accounts or []) or "none"
            raise ConfigError(
                f"--bridge-number {phone(number)}: not an account of signal-cli at "
                f"{self.client.base_url} (it has: {known}); register or link that number "
                "in signal-cli first, or pass the number it has"
            )


def open_clients(waha_url: str, signal_url: str, api_key: str) -> tuple[Waha, Signal]:
    """The two clients; the caller closes them (``.client.close()``)."""
    waha = httpx.Client(base_url=waha_url, headers={"X-Api-Key": api_key}, timeout=TIMEOUT)
    signal = httpx.Client(base_url=signal_url, timeout=TIMEOUT)
    return Waha(waha), Signal(signal)
