"""Receipts that overtake their part, and the settling of multipart messages."""

from __future__ import annotations

from smsgate.domain.records import NewMessage, new_message_id, now_ms
from smsgate.store.delivery import DeliveryStore, PartSubmitted
from tests.conftest import World


def queued(world: World, fee_num: int = 2) -> str:
    c = NewMessage(new_message_id(now_ms()), world.sign_id, "+8613800138000", "+86", "【阿克米】x", fee_num, None, None)
    world.store.commit_batch(world.project_id, "req", "2026-11-25", 10, [c])
    return c.id


def test_a_receipt_that_overtakes_its_part_is_applied_when_the_part_is_recorded(world: World) -> None:
    delivery = DeliveryStore(world.store.db)
    mid = queued(world)
    [claimed] = delivery.claim(now_ms(), 10, 60_000)
    now = now_ms()
    # both receipts arrive before we stored the submit_sm_resp of either part
    assert delivery.apply_receipts([("sim", ("a1",), "DELIVRD", "000", now),
                                    ("sim", ("a2", "b2"), "DELIVRD", "000", now)], now) == []
    assert world.store.db.execute("SELECT count(*) FROM orphan_receipts").fetchone() == (3,)
    delivery.record_parts([PartSubmitted(mid, 1, 2, "sim", "A1", ("a1",), now),
                           PartSubmitted(mid, 2, 2, "sim", "B2", ("b2",), now)])
    [final] = delivery.adopt_orphans(now)
    assert (final.message_id, final.state, final.status_desc) == (claimed.id, "DELIVERED", "DELIVRD")
    assert world.store.db.execute("SELECT count(*) FROM orphan_receipts").fetchone() == (0,)


def test_orphans_on_another_channel_do_not_match_and_old_ones_are_forgotten(world: World) -> None:
    delivery = DeliveryStore(world.store.db)
    mid = queued(world, fee_num=1)
    delivery.claim(now_ms(), 10, 60_000)
    now = now_ms()
    delivery.apply_receipts([("other", ("a1",), "DELIVRD", "000", now)], now)
    delivery.record_parts([PartSubmitted(mid, 1, 1, "sim", "A1", ("a1",), now)])
    assert delivery.adopt_orphans(now) == []
    assert world.store.message(mid)["state"] == "SUBMITTED"
    delivery.adopt_orphans(now + 8 * 24 * 3_600_000)
    assert world.store.db.execute("SELECT count(*) FROM orphan_receipts").fetchone() == (0,)


def test_intermediate_receipts_change_nothing(world: World) -> None:
    delivery = DeliveryStore(world.store.db)
    mid = queued(world, fee_num=1)
    delivery.claim(now_ms(), 10, 60_000)
    now = now_ms()
    delivery.record_parts([PartSubmitted(mid, 1, 1, "sim", "A1", ("a1",), now)])
    assert delivery.apply_receipts([("sim", ("a1",), "ENROUTE", None, now)], now) == []
    assert world.store.message(mid)["state"] == "SUBMITTED"
    [final] = delivery.apply_receipts([("sim", ("a1",), "EXPIRED", "027", now)], now)
    assert (final.state, final.status_desc) == ("EXPIRED", "EXPIRED")


def test_a_duplicate_receipt_reports_nothing_twice(world: World) -> None:
    delivery = DeliveryStore(world.store.db)
    mid = queued(world, fee_num=1)
    delivery.claim(now_ms(), 10, 60_000)
    now = now_ms()
    delivery.record_parts([PartSubmitted(mid, 1, 1, "sim", "A1", ("a1",), now)])
    assert len(delivery.apply_receipts([("sim", ("a1",), "DELIVRD", "000", now)], now)) == 1
    assert delivery.apply_receipts([("sim", ("a1",), "UNDELIV", "001", now)], now) == []
    assert world.store.message(mid)["state"] == "DELIVERED"
