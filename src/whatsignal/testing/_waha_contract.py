"""WAHA contract checks that know where the OpenAPI spec is wrong.

The vendored spec (WAHA 2026.7.1) disagrees with what WAHA really sends in a handful of places:
it types string enums as objects, uses the OpenAPI 3.0 ``nullable`` keyword that a 3.1 validator
ignores, and marks fields required that real payloads leave out or set to ``null``. A checker
that enforced the spec literally would reject real traffic; one that skipped the checks would
prove nothing. :class:`WahaChecker` runs the full validator and then forgives exactly the
errors listed in :data:`DEVIATIONS` (each with its upstream source, mirrored in
docs/simulators.md); everything else is a :class:`ContractViolation`.

The same validator also produces the simulator's 400 answers: a request body that the spec
rejects gets NestJS's ``ValidationPipe`` error body, as WAHA would answer it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from whatsignal.testing.contract import Contract, ContractViolation, waha_contract

__all__ = ["DEVIATIONS", "Deviation", "WahaChecker", "webhook_pointer"]


@attrs.frozen
class Deviation:
    """One known disagreement between the WAHA spec and WAHA's behaviour."""

    key: str
    summary: str
    source: str


DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "event-typed-object",
        "Every webhook schema declares `event` as `type: object`; it is a string from the enum.",
        "waha.openapi.json components.schemas.WAHAWebhook*.event",
    ),
    Deviation(
        "nullable-keyword",
        "The spec marks nullable fields with OpenAPI 3.0's `nullable: true`, which OpenAPI 3.1 "
        "(JSON Schema 2020-12) ignores; `null` is accepted where the schema says nullable.",
        "waha.openapi.json, e.g. WASessionStatusBody.data, WAHAEnvironment.worker.id",
    ),
    Deviation(
        "null-to-participant",
        "`to` and `participant` are `null` in real payloads (1:1 chats, acks) although required "
        "strings.",
        "https://github.com/devlikeapro/waha/issues/1073; docs how-to/events §message.ack",
    ),
    Deviation(
        "null-media-fields",
        "`media.url`, `media.filename` and `media.error` are `null` (photos have no filename, "
        "`error` is null on success, `url` is null when the download failed).",
        "docs how-to/receive-messages §Media Files, how-to/config §Files; https://github.com/devlikeapro/waha/issues/1948",
    ),
    Deviation(
        "missing-media-url",
        "The deprecated `mediaUrl` is listed as required but is absent from messages "
        "without media.",
        "docs how-to/events §message (WEBJS example payload)",
    ),
    Deviation(
        "null-revoked-before",
        "`message.revoked` carries `before: null` when the engine kept no copy of the message.",
        "docs how-to/events §message.revoked",
    ),
    Deviation(
        "null-last-seen",
        "`presence.update` carries `lastSeen: null` for contacts that hide it.",
        "docs how-to/presence/-events-presence.update.md",
    ),
    Deviation(
        "webhook-events-typed-object",
        "`WebhookConfig.events` items are declared `type: object`; they are event-name strings.",
        "waha.openapi.json components.schemas.WebhookConfig; docs how-to/events §Session webhooks",
    ),
    Deviation(
        "file-fields-typed-object",
        "Voice and video file schemas declare `mimetype` and `filename` as `type: object`; "
        "they are strings (`audio/ogg; codecs=opus`, `video/mp4`).",
        "waha.openapi.json components.schemas.Voice*File, Video*File",
    ),
    Deviation(
        "null-lid-pn",
        "`LidToPhoneNumber.pn` is `null` for a LID whose phone number the account does not "
        "know (and `lid` is `null` for a number without a known LID), although typed string.",
        "docs how-to/contacts §Get Phone Number by LID; https://github.com/devlikeapro/waha/issues/1097",
    ),
    Deviation(
        "null-webhook-options",
        "`hmac`, `retries` and `customHeaders` of a session webhook are `null` when unused "
        "(the spec's own examples), although not declared nullable.",
        "waha.openapi.json components.schemas.WebhookConfig examples",
    ),
    Deviation(
        "session-default",
        "Send requests list `session` as required, but WAHA fills in `default` when it is missing.",
        "docs how-to/send-messages §Fields (`session` defaults to `default`)",
    ),
    Deviation(
        "message-waiting-no-schema",
        "`message.waiting` is in the event enum but has no entry in `webhooks`; it is checked "
        "as a `message` event (its payload is a WAMessage).",
        "waha.openapi.json webhooks; docs how-to/events §message.waiting",
    ),
    Deviation(
        "engine-native-send-response",
        "Send endpoints are documented to answer `WAMessage`; every engine answers its own "
        "native object (WEBJS `{id:{_serialized}}`, NOWEB `{key:{id}}`), some versions an empty "
        "body. Send responses are not checked against the spec.",
        "https://github.com/devlikeapro/waha/issues/760, /issues/1464, /issues/1087",
    ),
    Deviation(
        "poll-votes-flat",
        "`MessagePollVoteRequest.votes` declares its items as arrays of strings; WAHA takes the "
        'options\' texts, one string each (its own description and example: `"Awesome!"`).',
        "waha.openapi.json components.schemas.MessagePollVoteRequest.votes",
    ),
    Deviation(
        "engine-native-groups",
        "`GET /api/{session}/groups` is documented as an object; the shape is the engine's own "
        "(WEBJS: an array of chats, NOWEB/GOWS: an object keyed by group id).",
        "docs how-to/groups §Get groups",
    ),
    Deviation(
        "doc-example-abbreviated",
        "Documentation examples leave out required fields (ids, timestamps, `environment`); "
        "examples are checked for the types of the fields they show, not for completeness.",
        "waha-examples.json (devlikeapro/waha-docs content/docs/how-to)",
    ),
    Deviation(
        "doc-example-placeholder",
        "A few documentation examples hold placeholders instead of values "
        '(`"timestamp": "some-timestamp-here"`, `{"": null}`).',
        "docs how-to/receive-messages §message.revoked, how-to/sessions §engine.event",
    ),
)

_PLACEHOLDER_STRINGS = frozenset({"some-timestamp-here"})


def webhook_pointer(contract: Contract, event: str) -> str:
    """JSON pointer to the request schema of webhook ``event`` (see ``message-waiting``)."""
    hooks = contract.spec.get("webhooks", {})
    name = "message" if event == "message.waiting" else event
    if name not in hooks:
        raise KeyError(f"waha: no webhook {event!r} in the spec")
    return f"webhooks/{name}/post/requestBody/content/application~1json/schema"


def _tolerated(error: Any, *, partial: bool) -> str | None:
    """The key of the deviation that explains ``error``, or None when it is a real violation."""
    path = list(error.absolute_path)
    last = path[-1] if path else None
    instance = error.instance
    keyword = error.validator
    if keyword == "type":
        if last == "event" and isinstance(instance, str):
            return "event-typed-object"
        if len(path) >= 2 and path[-2] == "events" and isinstance(instance, str):
            return "webhook-events-typed-object"
        if last in ("mimetype", "filename") and isinstance(instance, str):
            return "file-fields-typed-object"
        if len(path) == 2 and path[0] == "votes" and isinstance(instance, str):
            return "poll-votes-flat"
        if instance is None:
            if isinstance(error.schema, dict) and error.schema.get("nullable") is True:
                return "nullable-keyword"
            if last in ("to", "participant"):
                return "null-to-participant"
            if len(path) >= 2 and path[-2] == "media" and last in ("url", "filename", "error"):
                return "null-media-fields"
            if last == "before":
                return "null-revoked-before"
            if last == "lastSeen":
                return "null-last-seen"
            if last in ("hmac", "retries", "customHeaders"):
                return "null-webhook-options"
            if last in ("lid", "pn"):
                return "null-lid-pn"
    if keyword == "required":
        missing = [p for p in error.validator_value if p not in instance]
        if partial:
            return "doc-example-abbreviated"
        if missing == ["mediaUrl"] and not instance.get("media"):
            return "missing-media-url"
    if partial and (instance in _PLACEHOLDER_STRINGS or _is_placeholder_object(instance)):
        return "doc-example-placeholder"
    return None


def _explain(error: Any, *, partial: bool) -> set[str] | None:
    """Deviation keys that together excuse ``error``; None when it is a real violation.

    ``oneOf``/``anyOf`` errors carry the failures of each branch; the error is excused when the
    right number of branches pass once their own excusable errors are forgiven.
    """
    if error.validator in ("oneOf", "anyOf"):
        branches = len(error.validator_value)
        failures: dict[int, list[Any]] = {}
        for sub in error.context or ():
            failures.setdefault(sub.schema_path[0], []).append(sub)
        passing = branches - len(failures)
        used: set[str] = set()
        for subs in failures.values():
            keys = [_explain(sub, partial=partial) for sub in subs]
            if all(k is not None for k in keys):
                passing += 1
                used.update(*(k for k in keys if k is not None))
        good = passing == 1 if error.validator == "oneOf" else passing >= 1
        return used if good else None
    key = _tolerated(error, partial=partial)
    return None if key is None else {key}


def _is_placeholder_object(instance: Any) -> bool:
    return isinstance(instance, dict) and list(instance) == [""]


def _field(error: Any) -> str:
    return ".".join(str(p) for p in error.absolute_path)


def _nest_messages(errors: Iterable[Any]) -> list[str]:
    """class-validator style messages (``chatId should not be empty``) for schema errors."""
    out: list[str] = []
    for error in errors:
        where = _field(error)
        prefix = f"{where}." if where else ""
        if error.validator == "required":
            messages = [
                f"{prefix}{name} should not be empty"
                for name in error.validator_value
                if name not in error.instance
            ]
        elif error.validator == "type":
            wanted = error.validator_value
            article = "an" if str(wanted)[:1] in "aeiou" else "a"
            messages = [f"{where or 'body'} must be {article} {wanted}"]
        elif error.validator in ("oneOf", "anyOf"):
            messages = [f"{where or 'body'} must match one of the accepted shapes"]
        elif error.validator == "enum":
            allowed = ", ".join(str(v) for v in error.validator_value)
            messages = [f"{where} must be one of the following values: {allowed}"]
        else:
            messages = [f"{where or 'body'}: {error.message}"]
        out.extend(m for m in messages if m not in out)
    return out


@attrs.define(eq=False)
class WahaChecker:
    """Deviation-aware validation against the vendored WAHA spec."""

    contract: Contract = attrs.field(factory=waha_contract)

    def errors(
        self, pointer: str, instance: Any, *, partial: bool = False
    ) -> tuple[list[Any], set[str]]:
        """Untolerated schema errors at ``pointer``, and the deviation keys that were forgiven."""
        untolerated: list[Any] = []
        forgiven: set[str] = set()
        for error in self.contract.validator(pointer).iter_errors(instance):
            keys = _explain(error, partial=partial)
            if keys is None:
                untolerated.append(error)
            else:
                forgiven.update(keys)
        untolerated.sort(key=lambda e: [str(p) for p in e.absolute_path])
        return untolerated, forgiven

    def _raise(self, errors: list[Any], what: str) -> None:
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(root)"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise ContractViolation(
                f"waha: {what} violates the spec at {where}: {first.message}{more}"
            )

    def request_problems(self, method: str, path: str, body: Any) -> list[str]:
        """WAHA-style 400 messages for a request body; empty when the body is acceptable."""
        pointer = self.contract.request_pointer(method, path)
        if pointer is None:
            return []
        errors, _ = self.errors(pointer, body)
        return _nest_messages(errors)

    def check_response(self, method: str, path: str, status: int, body: Any) -> set[str]:
        """Raise :class:`ContractViolation` when a response body breaks the spec."""
        pointer = self.contract.response_pointer(method, path, status)
        if pointer is None:
            return set()
        errors, forgiven = self.errors(pointer, body)
        self._raise(errors, f"{status} response of {method.upper()} {path}")
        return forgiven

    def check_webhook(self, event: str, body: Any, *, partial: bool = False) -> set[str]:
        """Check a webhook body; returns the deviation keys it relied on.

        ``partial`` is for documentation examples, which are abbreviated (see
        ``doc-example-abbreviated``): field types are checked, completeness is not.
        """
        errors, forgiven = self.errors(webhook_pointer(self.contract, event), body, partial=partial)
        if event == "message.waiting":
            forgiven.add("message-waiting-no-schema")
        self._raise(errors, f"webhook {event}")
        return forgiven
