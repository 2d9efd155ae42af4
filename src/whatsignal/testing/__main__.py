"""``python -m whatsignal.testing waha|signal``: run one simulator alone, until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
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
    sub = parser.add_subparsers(dest="which", metavar="{waha,signal}", required=True)
    waha.add_arguments(sub.add_parser("waha", help="WAHA (WhatsApp HTTP API)"))
    signal_cli.add_arguments(sub.add_parser("signal", help="signal-cli-rest-api"))
    return parser


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
    trio.run(_main, fake, "WAHA" if args.which == "waha" else "signal-cli-rest-api")
    return 0


if __name__ == "__main__":
    sys.exit(main())
