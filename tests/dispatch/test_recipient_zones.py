"""The dispatcher holds a message until the sending window opens in its recipient's time zones,
and an English opt-out reply from a handset abroad opts the number out (issue 13)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from smsgate.domain import segments
from smsgate.domain.records import NewMessage, new_message_id, now_ms
from smsgate.domain.window import SendWindow
from tests.conftest import World
from tests.dispatch.fakes import FakeChannel
from tests.dispatch.test_dispatcher import dispatcher, state

NY = ZoneInfo("America/New_York")
DEFAULT = SendWindow.parse("08:00-20:00")


def queue_to(world: World, e164: str, nation_code: str, text: str) -> str:
    candidate = NewMessage(new_message_id(now_ms()), world.sign_id, e164, nation_code, text,
                           segments.fee_num(text), None, None)
    assert world.store.commit_batch(world.project_id, "req", "2026-11-25", 100, [candidate]) == [None]
    return candidate.id


def due_at(world: World, message_id: str) -> int:
    return world.store.db.execute("SELECT next_attempt_at FROM messages WHERE id=?", (message_id,)).fetchone()[0]


def next_ten_beijing() -> datetime:
    """The next 10:00 in Beijing (the service's zone), when New York is at 21:00 or 22:00."""
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    ten = now.replace(hour=10, minute=0, second=0, microsecond=0)
    return ten if ten > now else ten + timedelta(days=1)


async def test_a_us_message_at_ten_beijing_time_waits_for_eight_in_new_york(world: World) -> None:
    channel = FakeChannel()
    d = dispatcher(world, channel, window=DEFAULT)
    us = queue_to(world, "+12125551234", "+1", "[Acme] Winter sale. Reply STOP to opt out")
    cn = queue_to(world, "+8613800138000", "+86", "【Acme】冬季大促，拒收请回复R")
    ten = next_ten_beijing()
    await d.step(now=int(ten.timestamp() * 1000))
    assert [s.destination for _, s in channel.sent] == ["8613800138000"]  # mainland: open
    assert state(world, us) == "QUEUED" and state(world, cn) != "QUEUED"
    local = ten.astimezone(NY)
    eight = datetime.combine(local.date() + timedelta(days=local.hour >= 8), time(8), NY)
    assert due_at(world, us) == int(eight.timestamp() * 1000)
    await d.step(now=due_at(world, us))
    assert [s.destination for _, s in channel.sent][1:] == ["12125551234"]


async def test_an_english_stop_from_a_handset_abroad_opts_it_out(world: World) -> None:
    channel = FakeChannel()
    d = dispatcher(world, channel)
    queue_to(world, "+447911123456", "+44", "[Acme] Winter sale. Reply STOP to opt out")
    await d.drain()
    for reply in ("Thanks", "UNSUBSCRIBE"):
        channel.mo("447911123456", reply)
    await d.flush()
    assert world.store.db.execute("SELECT e164, sign_id FROM optouts").fetchall() == [
        ("+447911123456", world.sign_id)]
    assert len(world.store.db.execute("SELECT text FROM replies").fetchall()) == 2
