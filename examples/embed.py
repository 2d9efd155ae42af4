"""Run whatsignal inside your own trio program, against the built-in simulators.

    python examples/embed.py

It starts FakeWaha and FakeSignal, a Bridge configured for them, sends one WhatsApp message
through, and prints what arrived in Signal. Replace the simulators' URLs with your real WAHA and
signal-cli-rest-api to embed the real thing.
"""

from __future__ import annotations

import tempfile

import trio

from whatsignal import Bridge
from whatsignal.config import config_from_mapping
from whatsignal.testing import FakeSignal, FakeWaha

BRIDGE_NUMBER = "+15550100000"
ME = "+15550100001"


async def main(workdir: str) -> None:
    waha = FakeWaha(sessions=("default",), check_contracts=False)
    signal = FakeSignal(numbers=(BRIDGE_NUMBER,), check_contracts=False)
    async with trio.open_nursery() as nursery:
        waha_url: str = await nursery.start(waha.run)
        signal_url: str = await nursery.start(signal.run)
        config = config_from_mapping(
            {
                "whatsapp": {"api_base_url": waha_url},
                "signal": {"rpc_url": signal_url, "intermediaryPhoneNumber": BRIDGE_NUMBER},
                "channels": [
                    {"whatsappSessionName": "default", "signalDestinationPhoneNumber": ME}
                ],
                "database": {"path": f"{workdir}/bridge.db"},
                "server": {"host": "127.0.0.1", "port": 0},
            },
            env={"WHATSIGNAL_ENV": "development"},
        )
        bridge: Bridge = await nursery.start(Bridge(config).run)
        waha.webhook_url = f"{bridge.url}/webhook/whatsapp"
        waha.inject_message("default", from_="+4917012345678", body="Hello!", notify_name="Carol")
        with trio.fail_after(10):
            while not signal.messages:  # noqa: ASYNC110 - watching a simulator's record
                await trio.sleep(0.01)
        print(f"Signal received: {signal.messages[0].message!r}")
        bridge.stop(grace=1)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        trio.run(main, tmp)
