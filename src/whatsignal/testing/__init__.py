"""Contract-faithful in-process simulators of WAHA and signal-cli-rest-api.

Used by the test suite, by ``python -m whatsignal demo``, and by anyone embedding the bridge
who wants to try it without a phone::

    async with trio.open_nursery() as nursery:
        waha_url = await nursery.start(FakeWaha(webhook_url=...).run)
        signal_url = await nursery.start(FakeSignal(mode="json-rpc").run)

Both serve real HTTP (hypercorn), validate what they accept and emit against the vendored
upstream specs, and offer a control API in Python and over HTTP under ``/_sim/``. See
docs/simulators.md.
"""

from __future__ import annotations

from whatsignal.testing._common import Fault as Fault
from whatsignal.testing._common import Recorded as Recorded
from whatsignal.testing._files import FDS_VISIBLE as FDS_VISIBLE
from whatsignal.testing._files import open_files_under as open_files_under
from whatsignal.testing.contract import ContractViolation as ContractViolation
from whatsignal.testing.signal_cli import FakeSignal as FakeSignal
from whatsignal.testing.waha import FakeWaha as FakeWaha

__all__ = [
    "FDS_VISIBLE",
    "ContractViolation",
    "FakeSignal",
    "FakeWaha",
    "Fault",
    "Recorded",
    "open_files_under",
]
