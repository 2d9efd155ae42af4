"""What the bridge tells the user, in Signal, when a session or WAHA needs them (the alerts),
and the answers to the control commands that steer sessions and pair WhatsApp."""

from __future__ import annotations

__all__ = [
    "messages_stuck",
    "session_needs_you",
    "session_works_again",
    "stuck_cleared",
    "waha_back",
    "waha_unreachable",
]


def session_needs_you(session: str, status: str) -> str:
    """A session of theirs needs a human (logged out, failed, stopped)."""
    if status == "SCAN_QR_CODE":
        state = "logged out of WhatsApp (it waits for a QR code scan)"
        step = f"Write /pair {session} to get the QR code here, or /pair {session} +<your number>"
        step += " for a pairing code."
    elif status == "STOPPED":
        state = "STOPPED"
        step = f"Write /start {session} to start it."
    else:
        state = status
        step = f"Write /restart {session} to restart it; if that does not help, /pair {session}."
    return (
        f"🚨 whatsignal: WhatsApp session {session!r} is {state}. Messages are not bridged "
        f"until it works again. {step}"
    )


def session_works_again(session: str) -> str:
    return f"✅ whatsignal: WhatsApp session {session!r} is WORKING again."


def waha_unreachable(minutes: float) -> str:
    return (
        "🚨 whatsignal: WAHA (the WhatsApp server) has not answered for "
        f"{minutes:.0f} min. WhatsApp messages may not arrive until it does; check that it runs."
    )


def waha_back() -> str:
    return "✅ whatsignal: WAHA answers again."


def messages_stuck(session: str, count: int, minutes: int) -> str:
    noun = "1 message has" if count == 1 else f"{count} messages have"
    return (
        f"⏳ whatsignal: {noun} waited more than {minutes} min in session {session!r}. "
        f"/status shows why."
    )


def stuck_cleared(session: str) -> str:
    return f"✅ whatsignal: the messages that waited in session {session!r} have gone."
