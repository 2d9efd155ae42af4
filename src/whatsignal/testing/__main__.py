"""``python -m whatsignal.testing waha|signal``: run one simulator alone, until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence

import trio

from whatsignal.log import configure_logging
from whatsignal.testing import signal_cli, waha
from whatsignal.testing._common import SimulatorBase

log = logging.getLogger("whatsignal.testing")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m whatsignal.testing",
        description="Run a contract-faithful simulator of WAHA or signal-cli-rest-api. "
        "Its control API is listed at GET /_sim/.",
    )
    parser.add_argument(
        "--monotonic-clock",
        action="store_true",
        help="record times (the 'at' of GET /_sim/sent) on the system's monotonic clock, "
        "comparable between processes (benchmarks); default: trio's clock",
    )
    sub = parser.add_subparsers(dest="which", metavar="{waha,signal}", required=True)
    waha.add_arguments(sub.add_parser("waha", help="WAHA (WhatsApp HTTP API)"))
    signal_cli.add_arguments(sub.add_parser("signal", help="signal-cli-rest-api"))
    return parser


class MonotonicClock(trio.abc.Clock):
    """trio's clock without its random offset: ``time.monotonic()``, the same in every process
    of the machine, so a benchmark can subtract another process's timestamps from these."""

    def start_clock(self) -> None:
        """Nothing to start: the system clock runs anyway."""

    def current_time(self) -> float:
        return time.monotonic()

    def deadline_to_sleep_time(self, deadline: float) -> float:
        return deadline - time.monotonic()


async def _main(fake: SimulatorBase, name: str) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            url: str = await nursery.start(fake.run)
            print(f"{name} simulator listening on {url} (control API: {url}/_sim/)", flush=True)
            async for signum in signals:
                log.info("%s received: stopping", signal.Signals(signum).name)
                break
            nursery.cancel_scope.cancel(reason="stopped by signal")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("info", "auto")
    fake: SimulatorBase = (
        waha.from_args(args) if args.which == "waha" else signal_cli.from_args(args)
    )
    name = "WAHA" if args.which == "waha" else "signal-cli-rest-api"
    trio.run(_main, fake, name, clock=MonotonicClock() if args.monotonic_clock else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
