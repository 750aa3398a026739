"""Receipts against recorded parts: overtaking receipts, ids that collide or come back,
readings tried only after the grace, and the settling of multipart messages."""

from __future__ import annotations

import threading

from smsgate.domain.records import NewMessage, new_message_id, now_ms
from smsgate.store import open_store
from smsgate.store.db import transaction
from smsgate.store.delivery import RECEIPT_GRACE_MS, DeliveryStore, PartSubmitted, Receipt, Unmatched
from smsgate.store.orphans import _WAITING_LOCK
from tests.conftest import World

DAY = 24 * 3_600_000


def queued(world: World, fee_num: int = 2, e164: str = "+8613800138000") -> str:
    c = NewMessage(new_message_id(now_ms()), world.sign_id, e164, "+86", "【阿克米】x", fee_num, None, None)
    world.store.commit_batch(world.project_id, "req", "2026-11-25", 10, [c])
    return c.id


def sent(world: World, delivery: DeliveryStore, *carrier_ids: str, channel: str = "sim",
         at: int | None = None) -> list[str]:
    """One single-part message per id, claimed and answered with that id."""
    ids = [queued(world, 1, e164=f"+86138000{i:05d}") for i in range(len(carrier_ids))]
    delivery.claim(now_ms(), 100, 60_000)
    at = at or now_ms()
    delivery.record_parts([PartSubmitted(m, 1, 1, channel, c, at) for m, c in zip(ids, carrier_ids)])
    return ids


def part_of(world: World, message_id: str) -> tuple:
    return world.store.db.execute("SELECT carrier_id, stat, err FROM message_parts WHERE message_id=?",
                                  (message_id,)).fetchone()


def test_a_receipt_that_overtakes_its_part_is_applied_when_the_part_is_recorded(world: World) -> None:
    delivery = DeliveryStore(world.store.db)
    mid = queued(world)
    [claimed] = delivery.claim(now_ms(), 10, 60_000)
    now = now_ms()
    # both receipts arrive before we stored the submit_sm_resp of either part
    assert delivery.apply_receipts([Receipt("sim", "a1", "DELIVRD", "000", now),
                                    Receipt("sim", "00B2", "DELIVRD", "000", now)], now) == []
    [final] = delivery.record_parts([PartSubmitted(mid, 1, 2, "sim", "A1", now),
                                     PartSubmitted(mid, 2, 2, "sim", "B2", now)])
    assert (final.message_id, final.state, final.status_desc) == (claimed.id, "DELIVERED", "DELIVRD")
    assert world.store.db.execute("SELECT count(*) FROM orphan_receipts").fetchone() == (0,)
    assert delivery.match_waiting(now + RECEIPT_GRACE_MS).unmatched == []


def test_orphans_on_another_channel_do_not_match_and_old_ones_are_forgotten(world: World) -> None:
    delivery = DeliveryStore(world.store.db)
    now = now_ms()
    delivery.apply_receipts([Receipt("other", "A1", "DELIVRD", "000", now)], now)
    [mid] = sent(world, delivery, "A1")
    assert world.store.message(mid)["state"] == "SUBMITTED"
    assert delivery.match_waiting(now + RECEIPT_GRACE_MS).unmatched == [Unmatched("other", "A1", "unknown")]
    assert delivery.match_waiting(now + 2 * RECEIPT_GRACE_MS).unmatched == []  # counted once
    delivery.match_waiting(now + 8 * DAY)
    assert world.store.db.execute("SELECT count(*) FROM orphan_receipts").fetchone() == (0,)
    assert world.store.message(mid)["state"] == "SUBMITTED"


def test_intermediate_receipts_change_nothing(world: World) -> None:
    delivery = DeliveryStore(world.store.db)
    [mid] = sent(world, delivery, "A1")
    now = now_ms()
    assert delivery.apply_receipts([Receipt("sim", "a1", "ENROUTE", None, now)], now) == []
    assert world.store.message(mid)["state"] == "SUBMITTED"
    [final] = delivery.apply_receipts([Receipt("sim", "a1", "EXPIRED", "027", now)], now)
    assert (final.state, final.status_desc) == ("EXPIRED", "EXPIRED")


def test_a_duplicate_receipt_reports_nothing_twice_and_is_counted_as_one(world: World) -> None:
    delivery = DeliveryStore(world.store.db)
    [mid] = sent(world, delivery, "A1")
    now = now_ms()
    assert len(delivery.apply_receipts([Receipt("sim", "a1", "DELIVRD", "000", now)], now)) == 1
    assert delivery.apply_receipts([Receipt("sim", "a1", "UNDELIV", "001", now)], now) == []
    assert world.store.message(mid)["state"] == "DELIVERED" and part_of(world, mid)[1:] == ("DELIVRD", "000")
    waited = delivery.match_waiting(now + RECEIPT_GRACE_MS)
    assert (waited.finals, waited.unmatched) == ([], [Unmatched("sim", "a1", "duplicate")])


def test_sequential_hex_ids_each_get_their_own_receipt(world: World) -> None:
    """'10' (sixteen) looks decimal; read as decimal it is 'a' (ten).  Both are out at once."""
    delivery = DeliveryStore(world.store.db)
    ten, sixteen = sent(world, delivery, "a", "10")
    now = now_ms()
    [final] = delivery.apply_receipts([Receipt("sim", "a", "UNDELIV", "010", now)], now)
    assert final.message_id == ten and part_of(world, sixteen)[1] is None
    [final] = delivery.apply_receipts([Receipt("sim", "10", "DELIVRD", "016", now)], now)
    assert final.message_id == sixteen
    assert [part_of(world, m) for m in (ten, sixteen)] == [("a", "UNDELIV", "010"), ("10", "DELIVRD", "016")]


def test_sequential_decimal_ids_each_get_their_own_receipt(world: World) -> None:
    """'16' read as hex is twenty-two, and '10' read as hex is sixteen."""
    delivery = DeliveryStore(world.store.db)
    ids = sent(world, delivery, *(str(n) for n in range(1, 40)))
    now = now_ms()
    receipts = [Receipt("sim", str(n), "DELIVRD", f"{n:03d}", now) for n in range(39, 0, -1)]
    assert len(delivery.apply_receipts(receipts, now)) == 39
    assert [part_of(world, m) for m in ids] == [(str(n), "DELIVRD", f"{n:03d}") for n in range(1, 40)]


def test_an_id_handed_out_again_names_the_new_part_and_never_the_settled_one(world: World) -> None:
    delivery = DeliveryStore(world.store.db)
    now = now_ms()
    [old] = sent(world, delivery, "5", at=now - 60_000)
    delivery.apply_receipts([Receipt("sim", "5", "UNDELIV", "001", now)], now)
    [lost] = sent(world, delivery, "6", at=now - 50_000)  # its receipt never comes
    # the SMSC restarted: its counter hands out "5" and "6" again
    [new5, new6] = sent(world, delivery, "5", "6", at=now)
    [f5, f6] = sorted(delivery.apply_receipts([Receipt("sim", "5", "DELIVRD", "000", now),
                                               Receipt("sim", "6", "DELIVRD", "000", now)], now),
                      key=lambda f: f.message_id == new6)
    assert (f5.message_id, f6.message_id) == (new5, new6)
    assert part_of(world, old) == ("5", "UNDELIV", "001") and part_of(world, lost)[1] is None


def test_the_other_base_is_tried_only_after_the_grace_and_only_for_one_open_part(world: World) -> None:
    delivery = DeliveryStore(world.store.db)
    decimal, twenty_two, ten = sent(world, delivery, "2000000001", "22", "a")
    now = now_ms()
    # a carrier answering in decimal and reporting in hex; "16" is hex for 22
    assert delivery.apply_receipts([Receipt("sim", "77359401", "DELIVRD", "000", now),
                                    Receipt("sim", "16", "DELIVRD", "000", now)], now) == []
    assert delivery.match_waiting(now + RECEIPT_GRACE_MS - 1).finals == []
    waited = delivery.match_waiting(now + RECEIPT_GRACE_MS)
    assert sorted(f.message_id for f in waited.finals) == sorted([decimal, twenty_two])
    assert waited.unmatched == [] and part_of(world, ten)[1] is None
    # "10": sixteen in decimal (no such part) or ten in hex ("a"), or "16" in decimal...
    [sixteen] = sent(world, delivery, "16")
    assert delivery.apply_receipts([Receipt("sim", "10", "DELIVRD", "000", now)], now) == []
    waited = delivery.match_waiting(now + RECEIPT_GRACE_MS)
    assert waited.finals == [] and len(waited.unmatched) == 1
    [ambiguous] = waited.unmatched
    assert (ambiguous.reason, sorted(ambiguous.parts)) == ("ambiguous", sorted([(ten, 1), (sixteen, 1)]))
    assert part_of(world, ten)[1] is None and part_of(world, sixteen)[1] is None
    assert world.store.db.execute("SELECT count(*) FROM orphan_receipts").fetchone() == (0,)


def test_the_channels_format_says_which_spellings_are_one_id(world: World) -> None:
    delivery = DeliveryStore(world.store.db)
    hex_part, string_part, zero_a = sent(world, delivery, "0A1B2C", "Ab-1", "0A")
    now = now_ms()
    finals = delivery.apply_receipts([Receipt("sim", "000a1b2c", "DELIVRD", "000", now, "hex"),
                                      Receipt("sim", "ab-1", "DELIVRD", "000", now, "string"),
                                      Receipt("sim", "10", "DELIVRD", "000", now, "decimal")], now)
    assert [f.message_id for f in finals] == [hex_part]  # at once, no reading needed
    waited = delivery.match_waiting(now + RECEIPT_GRACE_MS)
    assert waited.finals == [] and sorted(u.reason for u in waited.unmatched) == ["unknown", "unknown"]
    assert part_of(world, string_part)[1] is None and part_of(world, zero_a)[1] is None


def test_a_receipt_given_up_as_unknown_is_still_applied_when_its_part_turns_up(world: World) -> None:
    delivery = DeliveryStore(world.store.db)
    now = now_ms()
    delivery.apply_receipts([Receipt("sim", "0000beef", "DELIVRD", "000", now)], now)
    assert [u.reason for u in delivery.match_waiting(now + RECEIPT_GRACE_MS).unmatched] == ["unknown"]
    mid = queued(world, 1)
    delivery.claim(now_ms(), 10, 60_000)
    [final] = delivery.record_parts([PartSubmitted(mid, 1, 1, "sim", "BEEF", now)])
    assert final.message_id == mid


def test_delivery_is_never_reported_before_submission(world: World) -> None:
    """Receipt dates have minute precision (and a carrier's clock its own error)."""
    delivery = DeliveryStore(world.store.db)
    mid = queued(world, 2)
    delivery.claim(now_ms(), 10, 60_000)
    submitted = now_ms()
    delivery.record_parts([PartSubmitted(mid, 1, 2, "sim", "A1", submitted - 500),
                           PartSubmitted(mid, 2, 2, "sim", "A2", submitted)])
    minute = submitted - submitted % 60_000
    [final] = delivery.apply_receipts([Receipt("sim", "A1", "DELIVRD", "000", minute),
                                       Receipt("sim", "A2", "DELIVRD", "000", minute)], submitted)
    assert final.submitted_at == submitted and final.done_at == submitted
    row = world.store.db.execute("SELECT submitted_at, done_at FROM messages WHERE id=?", (mid,)).fetchone()
    assert row == (submitted, submitted)
    parts = world.store.db.execute("SELECT submitted_at, done_at FROM message_parts WHERE message_id=?"
                                   " ORDER BY idx", (mid,)).fetchall()
    assert parts == [(submitted - 500, submitted - 500), (submitted, submitted)]


def test_one_worker_at_a_time_judges_the_waiting_receipts(world: World) -> None:
    """Two workers' passes at once would count and log every ambiguous receipt twice."""
    delivery = DeliveryStore(world.store.db)
    now = now_ms()
    delivery.apply_receipts([Receipt("sim", "beef", "DELIVRD", "000", now)], now)
    second = open_store(world.settings)  # another worker's connection to the same store
    other = DeliveryStore(second.db)
    if world.store.db.dialect == "postgresql":
        with transaction(other.db):  # the other worker is in the middle of its pass
            other.db.execute("SELECT pg_advisory_xact_lock(?)", (_WAITING_LOCK,))
            assert delivery.match_waiting(now + RECEIPT_GRACE_MS).unmatched == []
    assert [u.reason for u in delivery.match_waiting(now + RECEIPT_GRACE_MS).unmatched] == ["unknown"]
    assert other.match_waiting(now + RECEIPT_GRACE_MS).unmatched == []
    second.close()


def test_two_workers_with_a_receipt_each_for_one_message_settle_it_once(world: World) -> None:
    """The parts of one message answered on two binds held by two workers: each worker marks its
    part while the other's transaction is open.  The message must still be settled, and
    reported, exactly once."""
    mid = queued(world, fee_num=2)
    delivery = DeliveryStore(world.store.db)
    delivery.claim(now_ms(), 10, 60_000)
    at = now_ms()
    delivery.record_parts([PartSubmitted(mid, 1, 2, "sim", "a1", at), PartSubmitted(mid, 2, 2, "sim", "a2", at)])
    second = open_store(world.settings)  # the other worker's connection
    other = DeliveryStore(second.db)
    reported: list = []
    with transaction(delivery.db):  # the first worker's flush, still open ...
        reported += delivery.apply_receipts([Receipt("sim", "a1", "DELIVRD", "000", at)], at)
        if world.store.db.dialect == "postgresql":  # ... while the second worker's runs
            racer = threading.Thread(target=lambda: reported.extend(
                other.apply_receipts([Receipt("sim", "a2", "DELIVRD", "000", at)], at)))
            racer.start()
            racer.join(1.0)  # it waits for the first (or, unfixed, finishes seeing part 1 open)
    if world.store.db.dialect == "postgresql":
        racer.join(10)
    else:  # one writer at a time: the second flush comes after the first
        reported += other.apply_receipts([Receipt("sim", "a2", "DELIVRD", "000", at)], at)
    second.close()
    assert [f.message_id for f in reported] == [mid]
    state = world.store.db.execute("SELECT state FROM messages WHERE id=?", (mid,)).fetchone()[0]
    assert state == "DELIVERED"
