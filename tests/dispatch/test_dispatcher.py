"""The dispatcher against an in-memory channel and the real store."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime

import pytest

from smsgate.dispatch.dispatcher import Dispatcher, DispatchSettings
from smsgate.dispatch.router import Router
from smsgate.domain import segments
from smsgate.domain.records import NewMessage, new_message_id, now_ms
from smsgate.domain.errors import ServiceUnavailable
from smsgate.domain.window import SendWindow
from smsgate.limits.rate import TokenReserve
from smsgate.metrics import Metrics, unmatched_receipts
from smsgate.store.delivery import RECEIPT_GRACE_MS, DeliveryStore
from smsgate.store.outbox import OutboxStore
from tests.conftest import UNSUB, World
from tests.dispatch.fakes import FakeChannel
from tests.wait import wait_until_async

ALWAYS = SendWindow.parse("00:00-24:00")
def closed_now(world: World) -> SendWindow:
    """A one-hour window starting two hours from now: closed whenever the test runs."""
    hour = (datetime.now(world.settings.zone).hour + 2) % 24
    return SendWindow.parse(f"{hour:02d}:00-{hour + 1:02d}:00")


def queue(world: World, *texts: str, e164: str = "+8613800138000") -> list[str]:
    at = now_ms()
    cands = [
        NewMessage(new_message_id(at), world.sign_id, e164, "+86", f"【阿克米】{t}", segments.fee_num(f"【阿克米】{t}"), "ext-1", None)
        for t in texts
    ]
    outcomes = world.store.commit_batch(world.project_id, "req", "2026-11-25", 100, cands)
    assert outcomes == [None] * len(cands)
    return [c.id for c in cands]


async def write(fn, *args):
    return fn(*args)


def dispatcher(world: World, *channels: FakeChannel, window: SendWindow = ALWAYS,
               rates: dict[str, TokenReserve] | None = None, **settings) -> Dispatcher:
    db = world.store.db
    routes = [(c, ["*"]) for c in channels]
    return Dispatcher(write, DeliveryStore(db), OutboxStore(db), Router(routes), lambda _p: window,
                      world.settings.zone, DispatchSettings(**settings), rates=rates)


def state(world: World, message_id: str) -> str:
    return world.store.message(message_id)["state"]


async def test_a_message_is_submitted_then_delivered_and_reported(world: World) -> None:
    OutboxStore(world.store.db).subscribe(world.project_id, [("sms_success_event", "http://127.0.0.1:9/cb")])
    channel = FakeChannel()
    d = dispatcher(world, channel)
    [mid] = queue(world, f"周末特惠{UNSUB}")
    await d.drain()
    assert state(world, mid) == "SUBMITTED"
    [(carrier_id, part)] = channel.sent
    assert part.destination == "8613800138000" and part.source == "10690000"
    assert (part.encoding, part.index, part.total) == ("ucs2", 1, 1)
    assert part.text == f"【阿克米】周末特惠{UNSUB}"
    channel.receipt("000" + carrier_id.lower(), "DELIVRD")  # another spelling of the same id
    await d.flush()
    assert state(world, mid) == "DELIVERED"
    [(body,)] = world.store.db.execute("SELECT body FROM outbox").fetchall()
    event = json.loads(body)
    assert event["event_type"] == "sms_success_event" and event["message_id"] == mid
    assert (event["status"], event["status_desc"], event["mobile"]) == (1, "DELIVRD", "13800138000")
    assert event["extend_code"] == "ext-1" and event["deliver_time"].endswith("Z")


async def test_a_long_message_goes_in_parts_and_the_worst_part_wins(world: World) -> None:
    channel = FakeChannel()
    d = dispatcher(world, channel)
    text = "惠" * 150 + UNSUB
    [mid] = queue(world, text)
    await d.drain()
    fee = world.store.message(mid)["fee_num"]
    assert len(channel.sent) == fee == 3
    parts = [p for _, p in channel.sent]
    assert [(p.index, p.total) for p in parts] == [(1, 3), (2, 3), (3, 3)]
    assert len({p.reference for p in parts}) == 1
    assert "".join(p.text for p in parts) == f"【阿克米】{text}"
    channel.receipt(channel.sent[0][0], "DELIVRD")
    channel.receipt(channel.sent[1][0], "UNDELIV")
    await d.flush()
    assert state(world, mid) == "SUBMITTED"  # a part is still out
    channel.receipt(channel.sent[2][0], "DELIVRD")
    await d.flush()
    row = world.store.message(mid)
    assert (row["state"], row["status_desc"]) == ("FAILED", "UNDELIV")


async def test_a_receipt_read_in_the_other_base_waits_and_an_ambiguous_one_is_counted(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    OutboxStore(world.store.db).subscribe(world.project_id, [("sms_success_event", "http://127.0.0.1:9/cb")])
    channel = FakeChannel(ids=["A", "16", "B"])  # hex "A" and "B", and "16" (sixteen? twenty-two?)
    d = dispatcher(world, channel)
    ten, sixteen, eleven = queue(world, f"一{UNSUB}", f"二{UNSUB}", f"三{UNSUB}")
    await d.drain()
    channel.receipt("11", "DELIVRD")  # eleven in decimal: "B" in hex
    channel.receipt("10", "DELIVRD")  # ten ("A") in decimal, or sixteen ("16") in hex
    await d.flush()
    assert await d.check_waiting() == []  # not before the grace: their parts may be on the way
    caplog.set_level(logging.INFO, logger="smsgate.dispatch")
    [final] = await d.check_waiting(now_ms() + RECEIPT_GRACE_MS)
    assert final.message_id == eleven
    assert state(world, ten) == state(world, sixteen) == "SUBMITTED"  # credited to no one
    assert d.unmatched == {("fake", "ambiguous"): 1}
    [line] = [r for r in caplog.records if r.getMessage() == "receipt_ambiguous"]
    assert (line.channel, line.receipt_id, sorted(line.parts)) == ("fake", "10", sorted([f"{ten}/1", f"{sixteen}/1"]))
    [(body,)] = world.store.db.execute("SELECT body FROM outbox").fetchall()
    assert json.loads(body)["message_id"] == eleven
    metrics = Metrics()
    metrics.watch(unmatched_receipts(d.unmatched))
    assert b'smsgate_receipts_unmatched_total{channel="fake",reason="ambiguous"} 1.0' in metrics.render()


async def test_outside_the_window_nothing_is_sent_and_the_message_waits(world: World) -> None:
    channel = FakeChannel()
    d = dispatcher(world, channel, window=closed_now(world))
    [mid] = queue(world, f"夜间活动{UNSUB}")
    await d.drain()
    assert channel.sent == [] and state(world, mid) == "QUEUED"
    due = world.store.db.execute("SELECT next_attempt_at FROM messages WHERE id=?", (mid,)).fetchone()[0]
    assert due > now_ms()  # not before the window opens
    await d.step(now=due)  # the window is open then
    assert len(channel.sent) == 1


async def test_throttling_is_retried_until_it_goes_through_once(world: World) -> None:
    channel = FakeChannel()
    channel.throttle_next = 2
    d = dispatcher(world, channel, first_retry_ms=1)
    [mid] = queue(world, f"限时{UNSUB}")
    for _ in range(4):
        await d.step(now=now_ms() + 10_000)
    assert len(channel.sent) == 1 and state(world, mid) == "SUBMITTED"
    assert world.store.db.execute("SELECT attempts FROM messages").fetchone()[0] == 2


async def test_a_refused_part_fails_the_message(world: World) -> None:
    channel = FakeChannel()
    channel.refuse_next = 1
    d = dispatcher(world, channel)
    [mid] = queue(world, f"限时{UNSUB}")
    await d.drain()
    row = world.store.message(mid)
    assert (row["state"], row["status_desc"]) == ("FAILED", "ESME_RINVDSTADR")


async def test_failover_to_another_channel_when_one_is_down(world: World) -> None:
    down, backup = FakeChannel("primary", up=False), FakeChannel("backup")
    d = dispatcher(world, down, backup)
    [mid] = queue(world, f"限时{UNSUB}")
    await d.drain()
    assert down.sent == [] and len(backup.sent) == 1
    assert world.store.db.execute("SELECT channel FROM messages WHERE id=?", (mid,)).fetchone() == ("backup",)


async def test_a_dead_owners_claim_is_taken_over_without_resending_answered_parts(world: World) -> None:
    channel = FakeChannel()
    [mid] = queue(world, "惠" * 150 + UNSUB)
    delivery = DeliveryStore(world.store.db)
    [claimed] = delivery.claim(now_ms(), 10, lease_ms=1_000, owner="dead")
    # the dead owner had part 1 answered and stored before it died
    from smsgate.store.delivery import PartSubmitted

    delivery.record_parts([PartSubmitted(mid, 1, 3, "fake", "FF01", now_ms())])
    d = dispatcher(world, channel)
    assert await d.step() == 0  # the lease still holds
    await d.step(now=now_ms() + 2_000)  # it ran out
    assert [p.index for _, p in channel.sent] == [2, 3]
    assert state(world, mid) == "SUBMITTED"


async def test_a_claimed_message_whose_every_part_was_answered_is_submitted_not_sent_again(world: World) -> None:
    from smsgate.store.delivery import PartSubmitted

    channel = FakeChannel()
    [mid] = queue(world, f"周末特惠{UNSUB}")
    delivery = DeliveryStore(world.store.db)
    delivery.claim(now_ms(), 10, lease_ms=1_000, owner="dead")
    delivery.record_parts([PartSubmitted(mid, 1, 1, "fake", "FF01", now_ms())])
    # as a store restored from a backup, or an owner's write that lost a race, may leave it
    world.store.db.execute("UPDATE messages SET state='SENDING', owner='dead', lease_until=0")
    await dispatcher(world, channel).step()
    assert channel.sent == [] and state(world, mid) == "SUBMITTED"


async def test_a_message_past_its_validity_expires(world: World) -> None:
    OutboxStore(world.store.db).subscribe(world.project_id, [("sms_fail_event", "http://127.0.0.1:9/cb")])
    channel = FakeChannel()
    d = dispatcher(world, channel, validity_ms=1_000)
    [mid] = queue(world, f"限时{UNSUB}")
    world.store.db.execute("UPDATE messages SET accepted_at=accepted_at-5000")
    await d.drain()
    assert channel.sent == [] and state(world, mid) == "EXPIRED"
    [(body,)] = world.store.db.execute("SELECT body FROM outbox").fetchall()
    assert json.loads(body)["event_type"] == "sms_fail_event"


@pytest.mark.parametrize(("reply", "source"), [("TD", "8613800138000"), (" td ", "13800138000"),
                                               ("退订", "+8613800138000"), ("Stop", "8613800138000"),
                                               ("R", "13800138000")])
async def test_an_unsubscribe_reply_opts_the_number_out(world: World, reply: str, source: str) -> None:
    OutboxStore(world.store.db).subscribe(world.project_id, [("sms_reply_event", "https://example.invalid/mo")])
    channel = FakeChannel()
    d = dispatcher(world, channel)
    queue(world, f"限时{UNSUB}")
    await d.drain()
    channel.mo(source, reply)
    await d.flush()
    assert world.store.db.execute("SELECT e164, sign_id FROM optouts").fetchall() == [("+8613800138000", world.sign_id)]
    [(body,)] = world.store.db.execute("SELECT body FROM outbox").fetchall()
    assert json.loads(body) | {"deliver_time": None} == {
        "event_type": "sms_reply_event", "sign_id": world.sign_id, "nation_code": "+86",
        "mobile": "13800138000", "reply": reply, "deliver_time": None,
    }


async def test_an_ordinary_reply_does_not_opt_out(world: World) -> None:
    channel = FakeChannel()
    d = dispatcher(world, channel)
    queue(world, f"限时{UNSUB}")
    await d.drain()
    channel.mo("8613800138000", "好的，谢谢")
    await d.flush()
    assert world.store.db.execute("SELECT count(*) FROM optouts").fetchone()[0] == 0
    assert world.store.db.execute("SELECT text FROM replies").fetchall() == [("好的，谢谢",)]


async def test_a_receipt_that_never_comes_ends_as_expired_no_receipt(world: World) -> None:
    OutboxStore(world.store.db).subscribe(world.project_id, [("sms_fail_event", "http://127.0.0.1:9/cb")])
    channel = FakeChannel()
    d = dispatcher(world, channel, receipt_wait_ms=60_000)
    [mid] = queue(world, f"周末特惠{UNSUB}")
    await d.drain()
    assert state(world, mid) == "SUBMITTED"
    assert await d.sweep(now=now_ms() + 30_000) == 0  # still within the wait
    assert await d.sweep(now=now_ms() + 61_000) == 1
    row = world.store.message(mid)
    assert (row["state"], row["status_desc"]) == ("EXPIRED", "NO_RECEIPT")
    [(body,)] = world.store.db.execute("SELECT body FROM outbox").fetchall()
    assert json.loads(body)["event_type"] == "sms_fail_event"


async def finish(d: Dispatcher, run: asyncio.Task, world: World, ids: list[str]) -> None:
    """Until every message is SUBMITTED (30 s at most), then stop the running loop."""
    await wait_until_async(lambda: all(state(world, m) == "SUBMITTED" for m in ids), 30,
                           "every message is submitted")
    d.stop()
    await run


class SlowChannel(FakeChannel):
    """Each submit takes a little while, so batches overlap with the store's writes."""

    async def submit(self, submit):
        await asyncio.sleep(0.002)  # a slow peer (not synchronisation)
        return await super().submit(submit)


async def test_the_pipelined_loop_sends_every_message_once_across_batches(world: World) -> None:
    channel = SlowChannel()
    d = dispatcher(world, channel, batch=7)
    ids = [m for i in range(40) for m in queue(world, f"第{i}条{UNSUB}", e164=f"+86138{i:08d}")]
    run = asyncio.create_task(d.run())
    await finish(d, run, world, ids)
    destinations = [part.destination for _, part in channel.sent]
    assert sorted(destinations) == sorted(f"86138{i:08d}" for i in range(40))  # once each


async def test_stopping_gives_back_a_batch_claimed_ahead(world: World) -> None:
    channel = SlowChannel()
    d = dispatcher(world, channel, batch=5)
    ids = [m for i in range(30) for m in queue(world, f"第{i}条{UNSUB}", e164=f"+86139{i:08d}")]
    run = asyncio.create_task(d.run())
    await wait_until_async(lambda: channel.sent, 10, "sending starts")
    d.stop()
    await run
    states = {state(world, m) for m in ids}
    assert states <= {"SUBMITTED", "QUEUED"}  # nothing left claimed by a stopped dispatcher
    sent = {part.destination for _, part in channel.sent}
    assert all((state(world, m) == "SUBMITTED") == (f"86139{i:08d}" in sent) for i, m in enumerate(ids))


class SharedRate:
    """A channel's cluster-wide limiter (Redis) that can hang: while ``down``, every call takes
    its timeout and then fails, as a stalled Redis does."""

    def __init__(self) -> None:
        self.down = False

    def acquire(self, key: str, n: int, per_second: float) -> float:
        if self.down:
            time.sleep(0.3)  # (on the thread the dispatcher asks it from)
            raise ServiceUnavailable("rate limits cannot be checked: Redis is unreachable")
        return 0.0


async def test_a_shared_rate_that_cannot_answer_pauses_sending_and_nothing_goes_twice(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    channel, shared = SlowChannel(), SharedRate()
    d = dispatcher(world, channel, batch=20, rates={"fake": TokenReserve(shared, "channel:fake", 100.0)})
    ids = [m for i in range(60) for m in queue(world, f"第{i}条{UNSUB}", e164=f"+86137{i:08d}")]
    run = asyncio.create_task(d.run())
    await wait_until_async(lambda: len(channel.sent) >= 10, 10, "sending starts")
    shared.down = True
    # the step ends once the rate cannot be checked, every send of it over (tokens granted
    # before it went down may be spent meanwhile)
    await wait_until_async(lambda: "dispatch_paused" in caplog.messages, 10, "the dispatcher pauses")
    paused_at = len(channel.sent)
    await asyncio.sleep(1.5)  # not synchronisation: a window in which nothing may be sent
    assert len(channel.sent) == paused_at < 60  # fail closed: nothing sent past the rate
    assert run.done() is False
    shared.down = False
    await finish(d, run, world, ids)
    destinations = [part.destination for _, part in channel.sent]
    assert sorted(destinations) == sorted(f"86137{i:08d}" for i in range(60))  # once each


class GatedChannel(FakeChannel):
    """Submits wait until the gate opens (an SMSC that stalls)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = 0

    async def submit(self, submit):
        self.waiting += 1
        await self.gate.wait()
        return await super().submit(submit)


async def test_a_worker_that_finds_its_messages_taken_over_sends_none_of_their_other_parts(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    channel = GatedChannel()
    d = dispatcher(world, channel, lease_ms=300)  # renewed every 0.1 s
    ids = [m for i in range(5) for m in queue(world, "惠" * 150 + f"{i}{UNSUB}", e164=f"+86136{i:08d}")]
    run = asyncio.create_task(d.run())
    await wait_until_async(lambda: channel.waiting == 5, 10, "the first part of each waits on the SMSC")
    world.store.db.execute("UPDATE messages SET owner='other'")  # taken over meanwhile
    await wait_until_async(lambda: "leases_lost" in caplog.messages, 10, "the next renewal finds out")
    channel.gate.set()
    d.stop()  # the batch in hand is finished first
    await run
    assert len(channel.sent) == 5  # the parts already handed over, and no more
    assert {world.store.db.execute("SELECT owner FROM messages WHERE id=?", (m,)).fetchone()[0] for m in ids} == {"other"}


# --- what a crash can send twice -----------------------------------------------------------


def stored_parts(world: World) -> int:
    return world.store.db.execute("SELECT count(*) FROM message_parts WHERE carrier_id IS NOT NULL").fetchone()[0]


async def test_parts_sent_but_not_stored_never_exceed_the_bound_while_the_store_is_slow(world: World) -> None:
    """A part answered but not yet stored is sent again if the worker dies (its successor
    cannot know it went).  However slow the store's writes, no more than ``unrecorded_max``
    parts are ever in that state: sends wait for the store instead."""
    ids = queue(world, *(f"第{n}号特惠{UNSUB}" for n in range(60)))
    gate = asyncio.Event()

    async def slow_store(fn, *args):
        if getattr(fn, "__name__", "") == "_settle" and args[0]:  # answered parts, written late
            await gate.wait()
        return fn(*args)

    channel = FakeChannel()
    db = world.store.db
    d = Dispatcher(slow_store, DeliveryStore(db), OutboxStore(db), Router([(channel, ["*"])]),
                   lambda _p: ALWAYS, world.settings.zone, DispatchSettings(unrecorded_max=16, flush_s=0.01))
    run = asyncio.create_task(d.run())
    await wait_until_async(lambda: len(channel.sent) >= 16, 10, "the first parts go")
    for _ in range(20):  # the store stays stuck: sends stop at the bound
        await asyncio.sleep(0.01)
        assert len(channel.sent) - stored_parts(world) <= 16
    assert len(channel.sent) == 16
    gate.set()  # the store catches up, and everything goes, each part once
    await wait_until_async(lambda: stored_parts(world) == 60, 10, "every part stored")
    d.stop()
    await run
    assert len(channel.sent) == 60 and {state(world, i) for i in ids} == {"SUBMITTED"}


async def test_the_bound_on_unstored_parts_needs_no_settle_loop(world: World) -> None:
    """step()/drain() run without the background writer: a sender at the bound writes the
    answered parts itself rather than wait for a writer that is not there."""
    ids = queue(world, *(f"第{n}号特惠{UNSUB}" for n in range(50)))
    channel = FakeChannel()
    d = dispatcher(world, channel, unrecorded_max=4)
    await asyncio.wait_for(d.drain(), 10)
    assert len(channel.sent) == 50 and {state(world, i) for i in ids} == {"SUBMITTED"}
