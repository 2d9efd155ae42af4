"""What the bridge answers, in Signal, to the control commands (``/status``, ``/start``,
``/stop``, ``/restart``, ``/pair``, ``/retry``). Pure: texts only."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

__all__ = [
    "SessionLine",
    "already_working",
    "cannot_pair",
    "control_failed",
    "pair_code",
    "pair_qr",
    "pair_stopped",
    "pair_timed_out",
    "paired",
    "retried",
    "status_report",
    "steered",
]

LINKED_DEVICES = "WhatsApp > Settings > Linked devices > Link a device"


@attrs.frozen
class SessionLine:
    """One session as ``/status`` shows it."""

    name: str
    status: str | None
    worker: str
    waiting: int
    dead: int
    muted: int = 0
    held: int = 0


def pair_qr(session: str, minutes: int) -> str:
    return (
        f"📷 whatsignal: scan this QR code to link WhatsApp session {session!r}: on the phone, "
        f"{LINKED_DEVICES}. A new code follows when WhatsApp changes it; this ends after "
        f"{minutes} min."
    )


def pair_code(session: str, code: str) -> str:
    return (
        f"🔑 whatsignal: the pairing code for WhatsApp session {session!r} is {code}. On the "
        f"phone: {LINKED_DEVICES} > Link with phone number instead, then type the code."
    )


def paired(session: str) -> str:
    return f"✅ whatsignal: WhatsApp session {session!r} is paired and WORKING."


def already_working(session: str) -> str:
    return (
        f"✅ whatsignal: WhatsApp session {session!r} is already WORKING: nothing to pair. To "
        "link another phone, log it out in WhatsApp first."
    )


def pair_timed_out(session: str, minutes: int) -> str:
    return (
        f"⌛ whatsignal: pairing WhatsApp session {session!r} timed out after {minutes} min; "
        f"write /pair {session} to try again."
    )


def pair_stopped(session: str, status: str) -> str:
    return (
        f"⚠️ whatsignal: WhatsApp session {session!r} went {status} while pairing; pairing "
        f"stopped. Write /restart {session}, then /pair {session}."
    )


def cannot_pair(session: str, status: str) -> str:
    return (
        f"⚠️ whatsignal: WhatsApp session {session!r} is {status}, so it cannot be paired now. "
        f"Write /restart {session} first, then /pair {session}."
    )


def steered(action: str, session: str, status: str) -> str:
    done = {"start": "started", "stop": "stopped", "restart": "restarted"}[action]
    return f"▶️ whatsignal: WhatsApp session {session!r} {done}; it is {status} now."


def control_failed(action: str, session: str, reason: str) -> str:
    return (
        f"⚠️ whatsignal: /{action} {session} did not work: {reason}. Try again in a moment; "
        "/status shows the sessions."
    )


def retried(count: int) -> str:
    if not count:
        return "✅ whatsignal: you have no dead letters: nothing to retry."
    return (
        f"🔁 whatsignal: {count} dead letter(s) will be sent again now; you are told if one "
        "fails again."
    )


def status_report(lines: Sequence[SessionLine], signal_state: str) -> str:
    """``/status``: each session with its WAHA state, worker, queue and dead letters."""
    out = ["📋 whatsignal status"]
    for line in lines:
        out.append(
            f"{line.name}: WhatsApp {line.status or 'unknown'}; worker {line.worker}; "
            f"{line.waiting} waiting; {line.dead} dead letters"
            + (f"; {line.muted} muted chats ({line.held} messages held)" if line.muted else "")
        )
    out.append(f"Signal: {signal_state}")
    return "\n".join(out)
