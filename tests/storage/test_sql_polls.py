"""The bridged polls' SQL under both codecs: a poll is found by its session and WhatsApp id,
its options come back in order, nothing that names someone or what they were asked is stored
in clear, a native vote is remembered, and retention takes polls with the mappings."""

from __future__ import annotations

import sqlite3

import attrs
import pytest

from whatsignal.storage import SqliteStore, _units, polls
from whatsignal.storage.crypto import Codec, PlainCodec
from whatsignal.storage.polls import BridgedPoll

POLL = BridgedPoll(
    session="personal",
    whatsapp_id="false_491701234567@c.us_AAAA",
    options=("Pizza", "Sushi, or not", "Pizza!"),
    multiple=False,
    native=True,
    created_at=10.0,
)


def test_a_poll_is_kept_with_its_options_in_order(conn: sqlite3.Connection, codec: Codec) -> None:
    polls.put(conn, codec, POLL)
    assert polls.get(conn, codec, "personal", POLL.whatsapp_id) == POLL
    assert polls.get(conn, codec, "business", POLL.whatsapp_id) is None  # another session
    polls.voted(conn, codec, "personal", POLL.whatsapp_id)
    assert polls.get(conn, codec, "personal", POLL.whatsapp_id) == attrs.evolve(POLL, voted=True)
    # Bridged again (a retry after a crash): the options are replaced, the vote stays known.
    polls.put(conn, codec, attrs.evolve(POLL, native=False, created_at=11.0))
    again = polls.get(conn, codec, "personal", POLL.whatsapp_id)
    assert again == attrs.evolve(POLL, native=False, created_at=11.0, voted=True)
    assert conn.execute("SELECT COUNT(*) FROM polls").fetchone()[0] == 1


def test_nothing_about_a_poll_is_readable_when_sealed(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    polls.put(conn, codec, POLL)
    row = conn.execute("SELECT * FROM polls").fetchone()
    stored = " ".join(str(value) for value in row)
    clear = isinstance(codec, PlainCodec)
    for secret in ("personal", "491701234567", "Pizza", "Sushi"):
        assert (secret in stored) is clear, secret


@pytest.mark.parametrize("codec", ["plain"], indirect=True)
def test_retention_prunes_polls_with_the_mappings(conn: sqlite3.Connection, codec: Codec) -> None:
    polls.put(conn, codec, POLL)
    polls.put(conn, codec, attrs.evolve(POLL, whatsapp_id="later", created_at=30.0))
    assert _units.prune(conn, codec, done_before=0.0, mappings_before=20.0) == 1
    assert polls.get(conn, codec, "personal", POLL.whatsapp_id) is None
    assert polls.get(conn, codec, "personal", "later") is not None


async def test_the_store_keeps_polls_durably(store: SqliteStore) -> None:
    await store.put_poll(POLL)
    await store.mark_poll_voted("personal", POLL.whatsapp_id)
    assert await store.poll("personal", POLL.whatsapp_id) == attrs.evolve(POLL, voted=True)
    assert await store.poll("personal", "unknown") is None


def test_a_voters_older_vote_is_out_of_date_once_a_later_one_was_shown(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    polls.put(conn, codec, POLL)
    carol, dan = "491701111111@c.us", "491702222222@c.us"
    assert polls.newest(conn, codec, "personal", POLL.whatsapp_id, carol, 200.0)
    assert not polls.newest(conn, codec, "personal", POLL.whatsapp_id, carol, 100.0)  # late
    assert polls.newest(conn, codec, "personal", POLL.whatsapp_id, dan, 100.0)  # someone else
    assert polls.newest(conn, codec, "personal", POLL.whatsapp_id, carol, 200.0)  # same instant
    assert polls.newest(conn, codec, "personal", POLL.whatsapp_id, carol, 300.0)
    assert not polls.newest(conn, codec, "personal", POLL.whatsapp_id, carol, 250.0)
    # A poll the bridge does not know has nothing to compare with.
    assert polls.newest(conn, codec, "personal", "unknown", carol, 1.0)
    # Who voted is sealed with the rest.
    stored = " ".join(str(value) for value in conn.execute("SELECT * FROM polls").fetchone())
    assert ("491701111111" in stored) is isinstance(codec, PlainCodec)
