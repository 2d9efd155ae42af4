"""Builders shared by the storage tests (a uniquely named module, imported by name)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import attrs
import trio
import trio.testing

from whatsignal.errors import StorageError
from whatsignal.storage import InboundEvent, MessageMapping
from whatsignal.storage._thread import DbThread
from whatsignal.storage.crypto import KeyMaterial

BRIDGE = "+15550001111"
ME = "+15550002222"

FAST_KDF = 1000
"""KDF iterations of the tests' encrypted databases (the real cost is paid once per start,
which the tests do not need to pay hundreds of times)."""

KEYS = KeyMaterial(secret="s" * 32, salt="salt-" * 4, lookup_salt="lookup-" * 3)


def event(
    key: str,
    *,
    queue: str = "default",
    chat: str | None = "111@c.us",
    kind: str = "message",
    source: str = "whatsapp",
    payload: object = b'{"body": "hi"}',
    received_at: float = 1000.0,
) -> InboundEvent:
    return InboundEvent(
        source=source,  # type: ignore[arg-type]
        key=key,
        queue=queue,
        chat=chat,
        kind=kind,
        payload=payload,  # type: ignore[arg-type]
        received_at=received_at,
    )


def mapping(
    whatsapp_id: str,
    *,
    session: str = "default",
    chat_id: str = "111@c.us",
    bridge_number: str = BRIDGE,
    destination: str = ME,
    signal_timestamp: int = 1_700_000_000_000,
    direction: str = "wa_to_signal",
    created_at: float = 1000.0,
    sender_name: str | None = "Alice",
    delivery_status: int | None = None,
) -> MessageMapping:
    return MessageMapping(
        session=session,
        whatsapp_id=whatsapp_id,
        chat_id=chat_id,
        bridge_number=bridge_number,
        destination=destination,
        signal_timestamp=signal_timestamp,
        direction=direction,  # type: ignore[arg-type]
        created_at=created_at,
        sender_name=sender_name,
        delivery_status=delivery_status,
    )


@attrs.define
class HandClock:
    """A wall clock that moves only when the test says so (a ``whatsignal.clock.Clock``).

    It starts far from today's time, so that a stamp taken from the real clock instead of
    this one cannot pass for one of its readings.
    """

    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward; returns the new time."""
        self.now += seconds
        return self.now


# The database thread's tests ------------------------------------------------------------


def insert(value: object) -> Callable[[sqlite3.Connection], int]:
    def work(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
        return int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])

    return work


class Gate:
    """Holds the database thread inside one job until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def job(self, conn: sqlite3.Connection) -> None:
        self.entered.set()
        self.release.wait(10)

    async def wait_entered(self) -> None:
        await trio.to_thread.run_sync(self.entered.wait, 10)


async def run_batched(
    db: DbThread,
    gate: Gate,
    jobs: list[Callable[[sqlite3.Connection], Any]],
    *,
    stop: bool = False,
) -> list[Any]:
    """Queue ``jobs`` (then a stop request, if ``stop``) while the thread is held."""
    outcomes: list[Any] = [None] * len(jobs)

    async def call(i: int) -> None:
        try:
            outcomes[i] = await db.call(jobs[i], write=True)
        except StorageError as exc:
            outcomes[i] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(db.call, gate.job, write=False))
        await gate.wait_entered()
        for i in range(len(jobs)):
            nursery.start_soon(call, i)
            await trio.testing.wait_all_tasks_blocked()  # queued in list order
        if stop:
            db.stop_nowait()
        gate.release.set()
    return outcomes
