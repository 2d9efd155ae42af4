"""The alerts' SQL functions: raised keys listed back (sealed in secure mode), cleared ones gone."""

from __future__ import annotations

import sqlite3

from whatsignal.storage import alerts
from whatsignal.storage.crypto import Codec


def test_raised_alerts_are_listed_until_cleared(conn: sqlite3.Connection, codec: Codec) -> None:
    assert alerts.raised(conn, codec) == []
    alerts.put(conn, codec, "session:personal", 1.0)
    alerts.put(conn, codec, "waha", 2.0)
    alerts.put(conn, codec, "waha", 3.0)  # told once: raising again changes nothing
    assert alerts.raised(conn, codec) == ["session:personal", "waha"]
    alerts.clear(conn, codec, "waha")
    assert alerts.raised(conn, codec) == ["session:personal"]
    assert alerts.is_raised(conn, codec, "session:personal")
    stored = conn.execute("SELECT key FROM alerts").fetchall()
    assert stored == [(codec.lookup("session:personal"),)]  # the key itself only as a lookup
