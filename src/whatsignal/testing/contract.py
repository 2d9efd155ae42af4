"""Check requests and responses against the vendored upstream specs.

The validators are compiled once per process (the WAHA spec is half a megabyte) and looked up
by operation. A simulator calls :meth:`Contract.check_request` on what it accepts and
:meth:`Contract.check_response` / :meth:`Contract.check_webhook` on what it emits; a mismatch
raises :class:`ContractViolation`, which the test that caused it sees as a failed request.
Checking is on in tests and off in ``demo`` and benchmarks (``check_contracts=False``).

Known upstream spec errors are not papered over here: the simulator that knows the real
behaviour skips the check for that field, and the deviation is listed in docs/simulators.md.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import attrs
from jsonschema import Draft4Validator, Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

__all__ = ["Contract", "ContractViolation", "signal_contract", "waha_contract"]


class ContractViolation(AssertionError):
    """A request or response does not match the upstream spec."""


def _load(name: str) -> Any:
    return json.loads(
        resources.files("whatsignal.testing").joinpath("specs").joinpath(name).read_text()
    )


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@attrs.define(eq=False)
class Contract:
    """One spec, with validators compiled on first use and cached."""

    name: str
    spec: dict[str, Any]
    _uri: str
    _registry: Registry[Any]
    _validator_cls: Any
    _cache: dict[str, Any] = attrs.Factory(dict)

    @classmethod
    def openapi31(cls, name: str, spec: dict[str, Any]) -> Contract:
        uri = f"urn:whatsignal:{name}"
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        return cls(name, spec, uri, Registry().with_resource(uri, resource), Draft202012Validator)

    @classmethod
    def swagger2(cls, name: str, spec: dict[str, Any]) -> Contract:
        uri = f"urn:whatsignal:{name}"
        resource = Resource.from_contents(spec, default_specification=DRAFT4)
        return cls(name, spec, uri, Registry().with_resource(uri, resource), Draft4Validator)

    def validator(self, pointer: str) -> Any:
        """A compiled validator for the schema at JSON pointer ``pointer`` of the spec."""
        found = self._cache.get(pointer)
        if found is None:
            found = self._validator_cls(
                {"$ref": f"{self._uri}#/{pointer}"}, registry=self._registry
            )
            self._cache[pointer] = found
        return found

    def validate(self, pointer: str, instance: Any, what: str) -> None:
        error = best_match(self.validator(pointer).iter_errors(instance))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise ContractViolation(
                f"{self.name}: {what} violates the spec at {where}: {error.message}"
            )

    def schema(self, pointer: str) -> Any:
        node: Any = self.spec
        for raw in pointer.split("/"):
            key = raw.replace("~1", "/").replace("~0", "~")
            node = node[int(key)] if isinstance(node, list) else node[key]
        return node

    # OpenAPI 3.1 (WAHA) -------------------------------------------------------------------

    def request_pointer(self, method: str, path: str) -> str | None:
        """Pointer to an operation's JSON request-body schema, or None when it has none."""
        op = self.spec["paths"].get(path, {}).get(method.lower())
        if op is None:
            raise KeyError(f"{self.name}: no operation {method.upper()} {path} in the spec")
        if "requestBody" in op:  # OpenAPI 3
            content = op["requestBody"].get("content", {})
            if "application/json" not in content:
                return None
            return _pointer(
                "paths",
                path,
                method.lower(),
                "requestBody",
                "content",
                "application/json",
                "schema",
            )
        for i, param in enumerate(op.get("parameters", [])):  # Swagger 2
            if param.get("in") == "body":
                return _pointer("paths", path, method.lower(), "parameters", str(i), "schema")
        return None

    def response_pointer(self, method: str, path: str, status: int) -> str | None:
        op = self.spec["paths"][path][method.lower()]
        responses = op.get("responses", {})
        response = responses.get(str(status))
        if response is None:
            return None
        if "content" in response:  # OpenAPI 3
            if "application/json" not in response["content"]:
                return None
            return _pointer(
                "paths",
                path,
                method.lower(),
                "responses",
                str(status),
                "content",
                "application/json",
                "schema",
            )
        if "schema" in response:  # Swagger 2
            return _pointer("paths", path, method.lower(), "responses", str(status), "schema")
        return None

    def check_request(self, method: str, path: str, body: Any) -> None:
        """Validate a request body for the operation ``method path`` (path as in the spec)."""
        pointer = self.request_pointer(method, path)
        if pointer is not None:
            self.validate(pointer, body, f"request body of {method.upper()} {path}")

    def check_response(self, method: str, path: str, status: int, body: Any) -> None:
        pointer = self.response_pointer(method, path, status)
        if pointer is not None:
            self.validate(pointer, body, f"{status} response of {method.upper()} {path}")

    def check_webhook(self, event: str, body: Any) -> None:
        """Validate a WAHA webhook POST body against the spec's ``webhooks`` section."""
        hooks = self.spec.get("webhooks", {})
        if event not in hooks:
            raise KeyError(f"{self.name}: no webhook {event!r} in the spec")
        self.validate(
            _pointer(
                "webhooks", event, "post", "requestBody", "content", "application/json", "schema"
            ),
            body,
            f"webhook {event}",
        )

    def check_definition(self, name: str, body: Any) -> None:
        """Validate against a named schema (``components/schemas`` or Swagger ``definitions``)."""
        if "definitions" in self.spec:
            pointer = _pointer("definitions", name)
        else:
            pointer = _pointer("components", "schemas", name)
        self.validate(pointer, body, name)


@functools.cache
def waha_contract() -> Contract:
    """The WAHA OpenAPI 3.1 spec (2026.7.1)."""
    return Contract.openapi31("waha", _load("waha.openapi.json"))


@functools.cache
def signal_contract() -> Contract:
    """The signal-cli-rest-api Swagger 2.0 spec (0.100)."""
    return Contract.swagger2("signal-cli-rest-api", _load("signal-cli-rest-api.swagger.json"))


@functools.cache
def waha_examples() -> dict[str, Any]:
    """The 188 JSON examples extracted from WAHA's documentation."""
    data: dict[str, Any] = _load("waha-examples.json")
    return data
