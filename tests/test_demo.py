"""The demo is the newcomer's first contact: it must show both directions and say it worked."""

from __future__ import annotations

import io
import logging

from whatsignal.demo import run_demo


def test_demo_shows_both_directions_and_succeeds() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        code = run_demo(log_level="error", log_format="json", out=out)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    text = out.getvalue()
    assert code == 0
    # WhatsApp's *bold* arrives as a Signal style, without the stars.
    assert "bridge -> you: 'Carol: Hi! Are we still on for lunch?' [bold: 'lunch']" in text
    assert "bridge -> Carol's chat replying to a message: 'Yes! 12:30 at the usual place'" in text
    assert "bridge -> the 'Book club' group: 'Count me in'" in text
    assert "bridge -> a new chat with Erin: 'Hi Erin, are you coming too?'" in text
    assert "replies went to the right chats: yes" in text
    assert "let me in" in text
    assert "2 Book club (group)" in text and "3 +4917012345678" in text  # /chats, newest first
    assert "default: WhatsApp WORKING" in text  # /status
    assert "is logged out of WhatsApp" in text and "Write /pair default" in text  # the alert
    # Session 'work' has portals: Frank's chat gets a Signal group, answered there unquoted.
    assert "bridge -> the portal group 'Frank': 'Welcome aboard!'" in text
    assert "bridge -> Frank's chat (session 'work'): 'Thanks, Frank!'" in text
    forwarded = [line for line in text.splitlines() if "WhatsApp" in line and "let me in" in line]
    assert forwarded == []  # the stranger's message never reached WhatsApp
