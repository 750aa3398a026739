"""The dispatcher hands the status events of the receipts it settles to the poster of its
process (``Settling.handoff``), and only once they are stored: written in the receipt's own
transaction, leased to that poster, before the receipt is acknowledged to the SMSC."""

from __future__ import annotations

import json

import pytest

from smsgate.callbacks.poster import lease_ms
from smsgate.domain.records import now_ms
from smsgate.store.outbox import OutboxStore, Pending
from tests.conftest import UNSUB, World
from tests.dispatch.fakes import FakeChannel
from tests.dispatch.test_dispatcher import dispatcher, queue, state


async def test_settled_receipts_hand_their_stored_leased_events_to_the_poster(world: World) -> None:
    OutboxStore(world.store.db).subscribe(world.project_id, [("sms_success_event", "http://127.0.0.1:9/cb")])
    channel = FakeChannel()
    d = dispatcher(world, channel)
    handed: list[list[Pending]] = []
    stored_when_handed: list = []

    def hand(events: list[Pending]) -> None:
        handed.append(events)
        stored_when_handed.extend(world.store.db.execute(
            "SELECT id, body, next_attempt_at, state FROM outbox ORDER BY id").fetchall())

    d.handoff = hand
    mids = queue(world, f"周末特惠{UNSUB}", f"双十一{UNSUB}")
    await d.drain()
    before = now_ms()
    for carrier_id, _part in channel.sent:
        channel.receipt(carrier_id, "DELIVRD")
    await d.flush()
    assert [state(world, m) for m in mids] == ["DELIVERED"] * 2
    [events] = handed
    assert sorted(json.loads(e.body)["message_id"] for e in events) == sorted(mids)
    assert [(e.id, e.body) for e in events] == [(r[0], bytes(r[1])) for r in stored_when_handed]
    assert all(r[3] == "PENDING" and r[2] >= before + lease_ms() for r in stored_when_handed)


async def test_nothing_is_handed_when_the_receipts_transaction_fails(world: World) -> None:
    OutboxStore(world.store.db).subscribe(world.project_id, [("sms_success_event", "http://127.0.0.1:9/cb")])
    channel = FakeChannel()
    d = dispatcher(world, channel)
    handed: list = []
    d.handoff = handed.append
    [mid] = queue(world, f"周末特惠{UNSUB}")
    await d.drain()
    [(carrier_id, _part)] = channel.sent

    async def failing(fn, *args):
        raise OSError("the disk is full")

    d._write = failing
    channel.receipt(carrier_id, "DELIVRD")
    with pytest.raises(OSError):
        await d.flush()
    assert handed == [] and world.store.db.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
    assert state(world, mid) == "SUBMITTED"
