"""Micro-benchmark of the SqliteStore: journal and complete throughput (not a test).

Usage::

    python bench/store_bench.py [--rows 5000] [--tasks 100] [--synchronous FULL] [--path FILE]
                                [--encrypt]

``--tasks`` callers share the work, each awaiting one call at a time, the way webhook
handlers and session workers do; group commit turns their concurrent calls into few
transactions. Prints rows per second for each phase and how many transactions it took.
``--encrypt`` runs the store with encryption at rest (secure mode's codec) and first prints
what the codec costs per call (seal, open, lookup) and the one-off key derivation.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import trio

from whatsignal.clock import wall_clock
from whatsignal.storage import InboundEvent, KeyMaterial, MessageMapping, SqliteStore
from whatsignal.storage.crypto import derive

KEYS = KeyMaterial(secret="b" * 40, salt="bench-salt-0123456789", lookup_salt="bench-lookup-0123")


def codec_costs(calls: int = 20000) -> None:
    """Microseconds per codec call, and the key derivation's one-off cost."""
    began = time.perf_counter()
    codec = derive(KEYS)
    print(
        f"key derivation (PBKDF2-HMAC-SHA256, once at start): {time.perf_counter() - began:.3f} s"
    )
    payload = b'{"body": "' + b"x" * 200 + b'"}'
    sealed = codec.seal(payload)
    for name, call in (
        ("seal 212-byte payload", lambda: codec.seal(payload)),
        ("open 212-byte payload", lambda: codec.open_bytes(sealed)),
        ("lookup (HMAC) of a chat id", lambda: codec.lookup("4917000000001@c.us")),
    ):
        began = time.perf_counter()
        for _ in range(calls):
            call()
        print(f"{name:>28}: {(time.perf_counter() - began) / calls * 1e6:.2f} us")


async def bench(rows: int, tasks: int, path: str, synchronous: str, encrypt: bool) -> None:
    keys = KEYS if encrypt else None
    async with trio.open_nursery() as nursery:
        store: SqliteStore = await nursery.start(
            SqliteStore(path, synchronous=synchronous, keys=keys).run
        )
        ids: list[int] = []

        async def journal_part(start: int) -> None:
            for i in range(start, rows, tasks):
                event = InboundEvent(
                    source="whatsapp",
                    key=f"wa:msg:{i}",
                    queue="default",
                    chat=f"{i % 50}@c.us",
                    kind="message",
                    payload=b'{"body": "' + b"x" * 200 + b'"}',
                    received_at=wall_clock(),
                )
                [row_id] = await store.journal([event])
                assert row_id is not None
                ids.append(row_id)

        async def complete_part(start: int) -> None:
            for n in range(start, len(ids), tasks):
                row_id = ids[n]
                await store.complete(
                    row_id,
                    mappings=[
                        MessageMapping(
                            session="default",
                            whatsapp_id=f"wa-{row_id}",
                            chat_id=f"{row_id % 50}@c.us",
                            bridge_number="+15550001111",
                            destination="+15550002222",
                            signal_timestamp=1_700_000_000_000 + row_id,
                            direction="wa_to_signal",
                            created_at=wall_clock(),
                        )
                    ],
                )

        for name, part in (("journal", journal_part), ("complete", complete_part)):
            before = store.stats.transactions
            began = time.perf_counter()
            async with trio.open_nursery() as workers:
                for start in range(tasks):
                    workers.start_soon(part, start)
            elapsed = time.perf_counter() - began
            print(
                f"{name:>8}: {rows} rows in {elapsed:.3f} s = {rows / elapsed:,.0f} rows/s"
                f" ({store.stats.transactions - before} transactions)"
            )
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--path", help="database file (default: a fresh temporary file)")
    parser.add_argument("--encrypt", action="store_true", help="encryption at rest on")
    args = parser.parse_args()
    if args.encrypt:
        codec_costs()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or os.path.join(tmp, "bench.db")
        print(
            f"SqliteStore synchronous={args.synchronous} tasks={args.tasks} path={path}"
            f" encrypted={args.encrypt}"
        )
        trio.run(bench, args.rows, args.tasks, path, args.synchronous, args.encrypt)


if __name__ == "__main__":
    main()
