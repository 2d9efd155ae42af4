"""Pairing against FakeWaha through the bridge's own WAHA client: start and stop a session,
its QR code (PNG, Base64File JSON, raw value; rotating), a pairing code, the refusals outside
SCAN_QR_CODE, and the control routes that play the phone. Every answer is checked against
WAHA's OpenAPI contract by the fake itself (``violations`` stays empty)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from whatsignal.clients import WahaClient, open_http_client
from whatsignal.errors import ApiError
from whatsignal.testing import FakeWaha
from whatsignal.testing._waha_api_auth import pairing_code, qr_png


@pytest.fixture
async def fake(nursery: trio.Nursery) -> AsyncIterator[FakeWaha]:
    waha = FakeWaha(sessions=("default",), status_step=0.01, not_working_wait=0.1, qr_refresh=0.2)
    await nursery.start(waha.run)
    yield waha
    assert waha.violations == []


@pytest.fixture
async def client(fake: FakeWaha) -> AsyncIterator[WahaClient]:
    async with open_http_client(fake.url, timeout=5) as http:
        yield WahaClient(http)


async def _until(fake: FakeWaha, status: str) -> None:
    with trio.fail_after(5):
        while fake.session("default").status != status:
            await fake.session("default").changed.wait()


async def test_stop_and_start_go_through_waha(fake: FakeWaha, client: WahaClient) -> None:
    await client.stop_session("default")
    assert (await client.get_session("default")).status == "STOPPED"
    fake.session("default").paired = False
    await client.start_session("default")
    await _until(fake, "SCAN_QR_CODE")  # not paired: it waits for a scan


async def test_the_qr_code_is_a_png_that_changes_when_whatsapp_rotates_it(
    fake: FakeWaha, client: WahaClient
) -> None:
    fake.logout_session("default")
    await _until(fake, "SCAN_QR_CODE")
    first = await client.qr_image("default")
    assert first == qr_png(fake.qr_served[-1][1])
    with trio.fail_after(5):
        while (later := await client.qr_image("default")) == first:
            await trio.sleep(0.05)
    assert later.startswith(b"\x89PNG")
    assert len({value for _, value in fake.qr_served}) >= 2


async def test_the_qr_code_in_its_other_shapes(fake: FakeWaha) -> None:
    fake.logout_session("default")
    await _until(fake, "SCAN_QR_CODE")
    async with httpx.AsyncClient(base_url=fake.url) as http:
        as_json = await http.get(
            "/api/default/auth/qr",
            params={"format": "image"},
            headers={"Accept": "application/json"},
        )
        raw = await http.get("/api/default/auth/qr", params={"format": "raw"})
        wrong = await http.get("/api/default/auth/qr", params={"format": "svg"})
    assert as_json.json()["mimetype"] == "image/png"
    assert base64.b64decode(as_json.json()["data"]).startswith(b"\x89PNG")
    assert raw.json()["value"].startswith("2@default.")
    assert wrong.status_code == 400


async def test_a_pairing_code_for_a_number(fake: FakeWaha, client: WahaClient) -> None:
    fake.logout_session("default")
    await _until(fake, "SCAN_QR_CODE")
    code = await client.request_code("default", "+49 170 1234-5678")
    assert code == pairing_code("default", "4917012345678")
    assert fake.pairing_codes == [("default", "4917012345678", code)]


async def test_outside_scan_qr_code_waha_refuses_both(fake: FakeWaha, client: WahaClient) -> None:
    await _until(fake, "WORKING")
    with pytest.raises(ApiError) as qr:
        await client.qr_image("default")
    assert qr.value.status == 422
    assert "SCAN_QR_CODE" in qr.value.body
    with pytest.raises(ApiError) as code:
        await client.request_code("default", "+4917012345678")
    assert code.value.status == 500
    assert fake.qr_served == [] and fake.pairing_codes == []


async def test_the_control_routes_log_out_and_complete_a_pairing(fake: FakeWaha) -> None:
    await _until(fake, "WORKING")
    async with httpx.AsyncClient(base_url=fake.url) as http:
        too_early = await http.post("/_sim/sessions/pair", json={"name": "default"})
        assert too_early.status_code == 400  # nothing to scan while WORKING
        logged_out = await http.post("/_sim/sessions/logout", json={"name": "default"})
        assert logged_out.status_code == 200
        await _until(fake, "SCAN_QR_CODE")
        assert not fake.session("default").paired
        paired = await http.post("/_sim/sessions/pair", json={"name": "default"})
        assert paired.status_code == 200
        assert paired.json()["status"] == "WORKING"
        unknown = await http.post("/_sim/sessions/logout", json={"name": "nosuch"})
        assert unknown.status_code == 400
