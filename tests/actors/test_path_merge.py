"""The push ledger stays bounded: beyond its limits a push is routed as if nothing could be
older (rather than memory growing without end while no receiver routes)."""

from __future__ import annotations

import pytest

from whatsignal.actors import path_merge
from whatsignal.actors.path_merge import PushLedger
from whatsignal.models.signal_api import SigReceived
from whatsignal.serde import parse_signal_received

NUMBER = "+15550000001"


def _item(stamp: int) -> SigReceived:
    return parse_signal_received(
        {
            "envelope": {
                "source": "+15550000002",
                "timestamp": stamp,
                "dataMessage": {"timestamp": stamp},
            },
            "account": NUMBER,
        }
    )


def test_beyond_its_limits_the_ledger_keeps_numbers_but_not_envelopes_then_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(path_merge, "PARSED_MAX", 1)
    monkeypatch.setattr(path_merge, "PENDING_MAX", 2)
    ledger = PushLedger()
    for stamp in (1, 2, 3):
        ledger.note(f"k{stamp}", _item(stamp))
    assert [ledger.seq(NUMBER, f"k{s}") for s in (1, 2, 3)] == [1, 2, None]
    assert ledger.parsed(NUMBER, "k1") is not None
    assert ledger.parsed(NUMBER, "k2") is None  # parsed again by the router
    assert ledger.total(NUMBER) == 3
    ledger.unnote(NUMBER, "k1", 7)  # not this push's number: kept
    assert ledger.seq(NUMBER, "k1") == 1
    ledger.unnote(NUMBER, "k1", 1)
    assert ledger.seq(NUMBER, "k1") is None
