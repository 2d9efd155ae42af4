"""The fault soak, short: five SIGKILLs of a bridge in secure mode while both upstreams fail in
bursts, the Signal websocket is cut and WAHA redelivers webhooks (see
:mod:`whatsignal.testing.soak`; ``bench/soak.py`` runs it long).

Nothing may be lost but what signal-cli itself dropped or could have dropped while no websocket
was open (json-rpc mode cannot do better: measured and reported as the window), and on GOWS no
reply may be shown twice on WhatsApp: every resend carries the id of its first attempt.
"""

from __future__ import annotations

from pathlib import Path

from whatsignal.testing.soak import SoakPlan, run_soak


async def test_five_sigkills_under_faults_lose_nothing_and_show_nothing_twice(
    tmp_path: Path,
) -> None:
    report = await run_soak(SoakPlan(messages=150, chats=6, kills=5, gap=0.06), tmp_path)
    text = "\n".join(report.lines())
    assert report.kills == 5, text
    assert report.cuts >= 1, text
    assert not report.wa_missing, text
    assert not report.sg_lost_unexplained, text
    assert report.sg_shown_twice == 0, text
    assert report.pending_at_end == 0, text
    # Bounded: one process's worth of memory and threads at every kill and at the end.
    assert max(report.rss_mb) < 250, text
    assert max(report.threads) < 50, text
    assert report.journal_kb < 10_000, text
    # The json-rpc window is a restart plus a connect, never more than a few seconds.
    assert max(report.kill_windows_s) < 15, text
