"""The fault soak, long (not a test): ``whatsignal.testing.soak`` with a bench's numbers.

Usage::

    python bench/soak.py [--messages 10000] [--chats 50] [--kills 10] [--gap 0.01] [--seed 17]

Both directions at ``1 / gap`` messages per second each through a bridge process in secure
mode (its one session on GOWS, Signal in json-rpc mode), SIGKILLed ``--kills`` times at random
points, with bursts of 5xx from both simulators, a websocket cut and WAHA webhook redeliveries
after every restart. The report: what was lost (only Signal envelopes signal-cli dropped while
no websocket was open, or handed to a socket that a kill ended before the bridge journaled
them, may be; anything else fails the run with exit status 1), duplicates on each side, the
json-rpc window at each kill and cut, and the bridge's memory, threads and journal. The last
line is machine readable::

    soak kills=<n> wa_missing=<n> wa_dupes=<n> sg_dropped=<n> sg_lost_unexplained=<n>
         sg_shown_twice=<n> window_s=<median> rss_mb=<max>
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import trio

from whatsignal.testing.soak import SoakPlan, SoakReport, run_soak


async def soak(plan: SoakPlan) -> SoakReport:
    with tempfile.TemporaryDirectory() as name:
        return await run_soak(plan, Path(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="per direction")
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between messages")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    plan = SoakPlan(
        messages=args.messages,
        chats=args.chats,
        kills=args.kills,
        gap=args.gap,
        seed=args.seed,
        settle_within=600.0,
    )
    report = trio.run(soak, plan)
    for line in report.lines():
        print(line)
    window = statistics.median(report.kill_windows_s) if report.kill_windows_s else 0.0
    print(
        f"soak kills={report.kills} wa_missing={len(report.wa_missing)}"
        f" wa_dupes={report.wa_duplicates} sg_dropped={report.sg_dropped_upstream}"
        f" sg_lost_unexplained={len(report.sg_lost_unexplained)}"
        f" sg_shown_twice={report.sg_shown_twice} window_s={window:.2f}"
        f" rss_mb={max(report.rss_mb, default=0):.0f}",
        flush=True,
    )
    failed = [
        f"{what}: {', '.join(items[:10])}"
        for what, items in (
            ("Signal envelopes lost outside every window", report.sg_lost_unexplained),
            ("WhatsApp messages missing", report.wa_missing),
        )
        if items
    ]
    if report.sg_shown_twice:
        failed.append(f"{report.sg_shown_twice} replies shown twice on WhatsApp")
    if failed:
        raise SystemExit("SOAK FAILED: " + "; ".join(failed))


if __name__ == "__main__":
    main()
