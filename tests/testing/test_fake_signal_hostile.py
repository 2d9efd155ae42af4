"""FakeSignal with envelopes signal-cli could never print, and with text no client should send.

- An injected envelope must be one signal-cli could print (an integer ms ``timestamp``, typed
  fields); anything else is refused at injection with the reason, unless the test asks for
  verbatim delivery (``as_is``). Either way ``/v1/receive`` keeps answering 200.
- Lone surrogates in injected text go out JSON-escaped (``\\ud83d``), on every path: the
  receive array, the json-rpc websocket frame, the receive webhook and the control answers.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest
import trio
from quart import Response, request
from quart_trio import QuartTrio
from trio_websocket import open_websocket_url

from whatsignal._serve import base_url, serve_app
from whatsignal.testing.contract import ContractViolation
from whatsignal.testing.signal_cli import FakeSignal

BRIDGE = "+4915000000001"
ALICE = "+4917600000042"
STAMP = 1_700_000_000_000


def envelope(**changes: Any) -> dict[str, Any]:
    """A complete envelope signal-cli could print, with ``changes`` applied."""
    out: dict[str, Any] = {
        "source": ALICE,
        "sourceNumber": ALICE,
        "sourceUuid": "5b8c2f0e-0000-4000-8000-00000000aa81",
        "sourceName": "Alice",
        "sourceDevice": 1,
        "timestamp": STAMP,
        "serverReceivedTimestamp": STAMP + 5,
        "serverDeliveredTimestamp": STAMP + 9,
        "dataMessage": {"timestamp": STAMP, "message": "raw", "expiresInSeconds": 0},
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not ...}


async def start(nursery: trio.Nursery, **kwargs: Any) -> tuple[FakeSignal, httpx.AsyncClient]:
    kwargs.setdefault("receive_time_scale", 0.01)
    fake = FakeSignal(**kwargs)
    url: str = await nursery.start(fake.run)
    return fake, httpx.AsyncClient(base_url=url)


async def post(client: httpx.AsyncClient, path: str, body: Any) -> httpx.Response:
    """POST ``body`` as ASCII JSON (httpx's ``json=`` cannot encode lone surrogates)."""
    return await client.post(path, content=json.dumps(body).encode())


async def receive(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get(f"/v1/receive/{BRIDGE}", params={"timeout": "0"})


# Envelopes signal-cli could never print -------------------------------------------------------


@pytest.mark.parametrize("check_contracts", [True, False])
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (envelope(timestamp="abc"), "envelope.timestamp must be an integer"),
        (envelope(timestamp=1.5), "envelope.timestamp must be an integer"),
        (envelope(timestamp=True), "envelope.timestamp must be an integer"),
        (envelope(timestamp=...), "envelope.timestamp is missing"),
        (envelope(timestamp=None), "envelope.timestamp is missing"),
        (envelope(timestamp=-5), "must not be negative"),
        (envelope(timestamp=2**64), "must fit a Java long"),
        (envelope(sourceDevice="1"), "envelope.sourceDevice must be an integer"),
        (envelope(dataMessage={"timestamp": "x"}), "envelope.dataMessage.timestamp"),
        (envelope(dataMessage={"timestamp": STAMP, "message": 5}), "dataMessage.message"),
        (["not", "an", "object"], "the envelope must be an object"),
    ],
)
async def test_envelopes_signal_cli_never_prints_are_refused_at_injection(
    nursery: trio.Nursery, raw: Any, reason: str, check_contracts: bool
) -> None:
    fake, client = await start(nursery, check_contracts=check_contracts)
    with pytest.raises(ValueError, match="signal-cli never prints") as refused:
        fake.inject_envelope(ALICE, raw=raw)
    assert reason in str(refused.value)
    assert "as_is=True" in str(refused.value)
    async with client:
        answer = await client.post("/_sim/inbound", json={"envelope": raw, "account": BRIDGE})
        assert answer.status_code == 400
        # Over HTTP a number beyond 64 bits is refused earlier, by the JSON parser.
        assert reason in answer.json()["error"] or "out of range" in answer.json()["error"]
        received = await receive(client)
    assert fake.queued() == {}
    assert (received.status_code, received.json()) == (200, [])


async def test_a_test_may_deliver_any_envelope_as_is_and_receiving_goes_on(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start(nursery)
    odd = [
        envelope(timestamp="abc"),
        envelope(timestamp=...),
        envelope(timestamp=10**30, dataMessage={"timestamp": [], "message": {"x": None}}),
        "not even an object",
        [],
    ]
    for raw in odd:
        fake.inject_envelope(ALICE, raw=raw, as_is=True)
    async with client:
        over_http = await client.post(
            "/_sim/inbound", json={"envelope": envelope(timestamp="soon"), "as_is": True}
        )
        first = await receive(client)
        fake.inject_envelope(ALICE, message="after the odd ones")
        second = await receive(client)
        third = await receive(client)
    assert over_http.status_code == 200
    assert first.status_code == 200
    assert [item["envelope"] for item in first.json()] == [
        *odd,
        envelope(timestamp="soon"),
    ]
    assert second.status_code == 200
    (item,) = second.json()
    assert item["envelope"]["dataMessage"]["message"] == "after the odd ones"
    assert (third.status_code, third.json()) == (200, [])
    # Envelopes without an integer timestamp count as 0 in the receive log.
    assert fake.handed_out[0][1] == [0, 0, 10**30, 0, 0, 0]


async def test_as_is_needs_a_raw_envelope_and_json(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    with pytest.raises(ValueError, match="as_is delivers a raw envelope"):
        fake.inject_envelope(ALICE, message="x", as_is=True)
    for not_json in ({"timestamp": math.nan}, {"timestamp": {1, 2}}, {"k": object()}):
        with pytest.raises(ValueError, match="not JSON"):
            fake.inject_envelope(ALICE, raw=not_json, as_is=True)
    async with client:
        bad_flag = await client.post("/_sim/inbound", json={"envelope": {}, "as_is": "yes"})
        bad_account = await client.post("/_sim/inbound", json={"envelope": {}, "account": 5})
        received = await receive(client)
    assert bad_flag.status_code == bad_account.status_code == 400
    assert received.json() == []


async def test_malformed_arguments_are_refused_before_anything_is_built(
    nursery: trio.Nursery,
) -> None:
    fake, _ = await start(nursery, check_contracts=False)
    calls: list[dict[str, Any]] = [
        {"message": "x", "timestamp": "now"},
        {"message": "x", "timestamp": 1.5},
        {"message": "x", "quote_timestamp": "then"},
        {"message": "x", "quote": {"timestamp": "then"}},
        {"message": "x", "quote": {"timestamp": 1, "author": 5}},
        {"reaction": "x", "reaction_target": -1},
        {"message": "x", "edit": True},
        {"receipt": "read", "receipt_timestamps": ["1"]},
    ]
    for kwargs in calls:
        with pytest.raises(ValueError, match=r"timestamp|quote|reaction_target|edit"):
            fake.inject_envelope(ALICE, **kwargs)
    assert fake.queued() == {}


async def test_contract_checks_still_apply_to_envelopes_signal_cli_could_print(
    nursery: trio.Nursery,
) -> None:
    fake, _ = await start(nursery)
    with pytest.raises(ContractViolation, match="serverReceivedTimestamp"):
        fake.inject_envelope(ALICE, raw=envelope(serverReceivedTimestamp=...))


# Lone surrogates in injected text -----------------------------------------------------------


async def test_lone_surrogates_are_delivered_json_escaped(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    fake.inject_envelope(ALICE, message="broken \ud83d pair", sender_name="\udc00Alice")
    async with client:
        short = await post(
            client,
            "/_sim/inbound",
            {"from": ALICE, "message": "\ud83d", "quote": {"timestamp": 1, "text": "\udfff"}},
        )
        group = await post(client, "/_sim/groups", {"name": "Team \ud83d"})
        received = await receive(client)
        status = await client.get("/_sim/status")
    assert short.status_code == 200
    assert short.json()["message"]["envelope"]["dataMessage"]["message"] == "\ud83d"
    assert group.status_code == 201
    assert group.json()["name"] == "Team \ud83d"
    assert received.status_code == status.status_code == 200
    raw = received.content
    raw.decode("utf-8")  # well-formed UTF-8: the surrogates are escapes, not bytes
    assert b"broken \\ud83d pair" in raw
    assert b"\\udc00Alice" in raw
    first, second = received.json()
    assert first["envelope"]["dataMessage"]["message"] == "broken \ud83d pair"
    assert second["envelope"]["dataMessage"]["quote"]["text"] == "\udfff"


async def _hook_receiver(nursery: trio.Nursery) -> tuple[str, list[bytes]]:
    bodies: list[bytes] = []
    app = QuartTrio("hook")

    @app.post("/hook")
    async def hook() -> Response:
        bodies.append(await request.get_data(as_text=False))
        return Response("", status=200)

    binds: list[str] = await nursery.start(
        lambda task_status: serve_app(app, host="127.0.0.1", port=0, task_status=task_status)
    )
    return base_url(binds) + "/hook", bodies


async def test_json_rpc_frames_and_webhook_carry_surrogates_and_as_is_envelopes(
    nursery: trio.Nursery,
) -> None:
    hook_url, posted = await _hook_receiver(nursery)
    fake, client = await start(nursery, mode="json-rpc", receive_webhook_url=hook_url)
    url = str(client.base_url).replace("http://", "ws://") + f"/v1/receive/{BRIDGE}"
    async with client, open_websocket_url(url) as socket:
        with trio.fail_after(5):
            while not fake.sockets():
                await trio.sleep(0.01)
        fake.inject_envelope(ALICE, message="\ud83d")
        fake.inject_envelope(ALICE, raw=envelope(timestamp="abc"), as_is=True)
        frames = [await socket.get_message() for _ in range(2)]
        with trio.fail_after(5):
            while len(posted) < 2:
                await trio.sleep(0.01)
    assert isinstance(frames[0], str)
    assert "\\ud83d" in frames[0]
    assert json.loads(frames[0])["envelope"]["dataMessage"]["message"] == "\ud83d"
    assert json.loads(frames[1])["envelope"]["timestamp"] == "abc"
    lines = sorted((json.loads(body) for body in posted), key=lambda line: str(line))
    assert all(line["method"] == "receive" for line in lines)
    assert any(b"\\ud83d" in body for body in posted)
    assert fake.webhook_results == [200, 200]
