"""The typist under a virtual clock: when an indicator is shown, refreshed, moved and taken down."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from whatsignal.actors.typist import EXPIRY, REFRESH, TypingDoor, Typist, typing_channel
from whatsignal.convert.presence import ChatTyping, SignalTyping, Watch
from whatsignal.models.signal_api import SigEnvelope, SigReceived, SigTyping
from whatsignal.relay.typing_relay import Target

PORTAL = Target("signal", "+15550000001", "group.cG9ydGFs")
ONE_TO_ONE = Target("signal", "+15550000001", "+15551110001")
ALICE_CHAT = Target("whatsapp", "personal", "4917000000001@c.us")
BOB_CHAT = Target("whatsapp", "personal", "4917000000002@c.us")


@attrs.define
class FakeTargets:
    """Targets by chat, changeable mid-test; records every call with its (virtual) time."""

    targets: dict[str, Target | None] = attrs.field(factory=dict)
    reply_chat: Target | None = ALICE_CHAT
    calls: list[tuple[float, str, Target | tuple[str, str]]] = attrs.field(factory=list)
    portals: list[tuple[str, str]] = attrs.field(factory=list)

    async def whatsapp_target(self, news: SignalTyping) -> Target | None:
        return self.reply_chat

    async def signal_target(self, session: str, chat: str) -> Target | None:
        return self.targets.get(chat)

    async def show(self, target: Target, *, on: bool) -> None:
        self.calls.append((trio.current_time(), "show" if on else "hide", target))

    async def subscribe(self, session: str, chat: str) -> None:
        self.calls.append((trio.current_time(), "subscribe", (session, chat)))

    async def portal_chats(self) -> list[tuple[str, str]]:
        return self.portals


def typing_envelope(action: str) -> SignalTyping:
    env = SigEnvelope(timestamp=1, source_number="+15551110001", typing_message=SigTyping(action))
    return SignalTyping(SigReceived(envelope=env, account="+15550000001"), action == "STARTED")


@pytest.fixture
async def started(nursery: trio.Nursery) -> tuple[TypingDoor, FakeTargets]:
    relay = FakeTargets(targets={"alice": PORTAL}, portals=[("personal", "old@c.us")])
    door, inbox = typing_channel()
    await nursery.start(Typist(inbox=inbox, relay=relay).run)
    return door, relay


async def settle(seconds: float) -> None:
    await trio.sleep(seconds)
    await trio.testing.wait_all_tasks_blocked()


async def test_whatsapp_typing_shows_refreshes_every_ten_seconds_and_expires(
    autojump_clock: trio.testing.MockClock, started: tuple[TypingDoor, FakeTargets]
) -> None:
    door, relay = started
    start = trio.current_time()
    door.offer(ChatTyping("personal", "alice", on=True))
    await settle(60)
    shown = [(t - start, kind) for t, kind, target in relay.calls if target == PORTAL]
    # Shown at once, again after REFRESH, taken down EXPIRY after the only news.
    assert shown == [(0.0, "show"), (REFRESH, "show"), (EXPIRY, "hide")]
    assert (0.0, "subscribe", ("personal", "old@c.us")) in [
        (t - start, k, x) for t, k, x in relay.calls
    ]


async def test_news_keeps_it_up_and_paused_takes_it_down_at_once(
    autojump_clock: trio.testing.MockClock, started: tuple[TypingDoor, FakeTargets]
) -> None:
    door, relay = started
    start = trio.current_time()
    door.offer(ChatTyping("personal", "alice", on=True))
    await settle(8)
    door.offer(ChatTyping("personal", "alice", on=True))  # still typing: no second call yet
    await settle(11)
    door.offer(ChatTyping("personal", "alice", on=False))
    await settle(30)
    shown = [(round(t - start, 3), kind) for t, kind, target in relay.calls if target == PORTAL]
    assert shown == [(0.0, "show"), (REFRESH, "show"), (19.0, "hide")]


async def test_signal_typing_moves_with_the_reply_chat_and_never_stays_behind(
    autojump_clock: trio.testing.MockClock, started: tuple[TypingDoor, FakeTargets]
) -> None:
    door, relay = started
    door.offer(typing_envelope("STARTED"))
    await settle(1)
    relay.reply_chat = BOB_CHAT  # a message from Bob came in: replies go to Bob now
    await settle(REFRESH)
    kinds = [(kind, target) for _, kind, target in relay.calls if kind != "subscribe"]
    assert kinds == [("show", ALICE_CHAT), ("hide", ALICE_CHAT), ("show", BOB_CHAT)]
    door.offer(typing_envelope("STOPPED"))
    await settle(1)
    assert relay.calls[-1][1:] == ("hide", BOB_CHAT)


async def test_no_target_shows_nothing_and_a_watch_subscribes(
    autojump_clock: trio.testing.MockClock, started: tuple[TypingDoor, FakeTargets]
) -> None:
    door, relay = started
    door.offer(ChatTyping("personal", "nobody", on=True))  # not the latest chat, no portal
    door.offer(Watch("personal", "new@c.us"))
    await settle(60)
    assert [(kind, x) for _, kind, x in relay.calls] == [
        ("subscribe", ("personal", "old@c.us")),
        ("subscribe", ("personal", "new@c.us")),
    ]


async def test_a_full_inbox_drops_news_instead_of_waiting() -> None:
    door, inbox = typing_channel()
    for _ in range(1000):
        door.offer(ChatTyping("personal", "alice", on=True))  # never blocks
    door.offer(None)
    inbox.close()
    door.offer(Watch("personal", "x"))  # the typist is gone: dropped, no error
