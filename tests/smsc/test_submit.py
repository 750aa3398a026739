"""submit_sm policy: ids, receipts, faults and the record, driven with our own codec."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

from smsgate.smpp.dlr import is_receipt, normalize_id, parse_receipt
from smsgate.smpp.parts import decode_text
from smsgate.smpp.pdu import CommandId, Pdu, Status, Tag
from tests.smsc.raw import RawClient
from tests.wait import wait_until_async


async def read_all(client: RawClient, resps: int, receipts: int) -> tuple[list[Pdu], list[Pdu]]:
    """Read until ``resps`` submit_sm_resp and ``receipts`` deliver_sm arrived, acking each."""
    got_resps: list[Pdu] = []
    got_receipts: list[Pdu] = []
    while len(got_resps) < resps or len(got_receipts) < receipts:
        pdu = await client.read()
        if pdu.command_id == CommandId.DELIVER_SM:
            client.ack(pdu)
            got_receipts.append(pdu)
        else:
            assert pdu.command_id == CommandId.SUBMIT_SM_RESP, pdu
            got_resps.append(pdu)
    return got_resps, got_receipts


async def test_ids_are_spelt_differently_in_resp_and_receipt(simulator):
    async with simulator() as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        client.submit(b"hello world")
        (resp,), (receipt,) = await read_all(client, 1, 1)
        resp_id = str(resp.fields["message_id"])
        assert resp_id == resp_id.upper() and any(c.isalpha() for c in resp_id)
        text = bytes(receipt.fields["short_message"]).decode()
        tlv_id = receipt.tlv_str(Tag.RECEIPTED_MESSAGE_ID)
        assert tlv_id == tlv_id.lower() and tlv_id.startswith("0") and tlv_id != resp_id
        assert f"id:{tlv_id} " in text and "text:hello world" in text
        assert receipt.fields["esm_class"] == 0x04 and is_receipt(receipt)
        assert receipt.fields["source_addr"] == "8613800000001"  # addresses swapped
        assert normalize_id(resp_id) == parse_receipt(receipt).message_id
        assert receipt.tlv_int(Tag.MESSAGE_STATE) in (2, 3, 5, 8)
        await client.close()


async def test_receipts_only_when_asked(simulator):
    async with simulator(deliver_ratio=1.0) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        client.submit(registered_delivery=0)
        client.submit(registered_delivery=2)  # failures only, and everything is delivered
        await read_all(client, 2, 0)
        assert (await client.call(CommandId.ENQUIRE_LINK)).command_id == CommandId.ENQUIRE_LINK_RESP
        await asyncio.sleep(0.1)  # well past receipt_delay_ms: nothing more may come
        assert (await client.call(CommandId.ENQUIRE_LINK)).command_id == CommandId.ENQUIRE_LINK_RESP
        await client.close()


async def test_transmitter_receipts_go_to_a_receiver_of_the_same_system_id(simulator):
    async with simulator() as sim:
        tx, rx, other = [await RawClient.connect(sim.port) for _ in range(3)]
        await tx.bind(CommandId.BIND_TRANSMITTER)
        await other.bind(CommandId.BIND_RECEIVER, system_id="someone-else")
        tx.submit()
        await read_all(tx, 1, 0)
        # the receipt falls due while no receiver is bound: it waits for one
        await wait_until_async(lambda: sim._pending.get("esme"), 5, "the receipt falls due")
        await rx.bind(CommandId.BIND_RECEIVER)
        (receipt,) = (await read_all(rx, 0, 1))[1]
        assert is_receipt(receipt)
        for client in (tx, rx, other):
            await client.close()


async def test_throttle_every_nth_submit(simulator):
    async with simulator(throttle_every=3) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        for _ in range(6):
            client.submit(registered_delivery=0)
        resps, _ = await read_all(client, 6, 0)
        assert [r.status for r in resps] == [0, 0, Status.ESME_RTHROTTLED] * 2
        assert sim.accepted == 4
        await client.close()


async def test_drop_after_n_accepted_per_connection(simulator, tmp_path):
    record = tmp_path / "sent.jsonl"
    async with simulator(drop_after=2, record=record) as sim:
        for _ in range(2):  # a reconnect counts afresh
            client = await RawClient.connect(sim.port)
            await client.bind()
            for _ in range(4):
                client.submit(registered_delivery=0)
            resps, _ = await read_all(client, 2, 0)
            assert [r.status for r in resps] == [0, 0]
            assert await client.closed()
        assert sim.accepted == 4
    assert len(record.read_text().splitlines()) == 4


async def test_latency_delays_the_resp(simulator):
    async with simulator(latency_ms=150) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        start = time.monotonic()
        client.submit(registered_delivery=0)
        await read_all(client, 1, 0)
        assert time.monotonic() - start >= 0.14
        await client.close()


async def test_record_has_one_line_per_accepted_submit(simulator, tmp_path):
    record = tmp_path / "sent.jsonl"
    async with simulator(record=record, throttle_every=4) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind(system_id="shop")
        for i in range(40):
            client.submit(f"msg {i}".encode(), registered_delivery=0, data_coding=0)
        resps, _ = await read_all(client, 40, 0)
        await client.close()
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    accepted = [str(r.fields["message_id"]) for r in resps if r.status == 0]
    assert len(lines) == len(accepted) == 30
    assert [line["message_id"] for line in lines] == accepted
    assert len(set(accepted)) == 30
    first = lines[0]
    assert set(first) == {"time", "system_id", "source", "destination", "data_coding",
                          "esm_class", "message_hex", "message_id"}
    assert (first["system_id"], first["destination"], first["message_hex"]) == (
        "shop", "8613800000001", b"msg 0".hex())
    assert first["time"].endswith("+00:00")


async def test_deliver_ratio_is_roughly_honoured(simulator):
    async with simulator(deliver_ratio=0.8, receipt_delay_ms=0) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        for i in range(500):
            client.submit(f"m{i}".encode())
        _, receipts = await read_all(client, 500, 500)
        stats = Counter(parse_receipt(r).stat for r in receipts)
        assert 360 <= stats["DELIVRD"] <= 440, stats
        assert stats["UNDELIV"] > stats["EXPIRED"] > 0 and stats["REJECTD"] > 0, stats
        assert set(stats) <= {"DELIVRD", "UNDELIV", "EXPIRED", "REJECTD"}
        await client.close()


async def test_each_part_gets_its_own_id_and_receipt_and_parts_mostly_agree(simulator):
    async with simulator(deliver_ratio=0.5, receipt_delay_ms=0) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        ref_of_seq = {}
        for ref in range(100):
            for index in (1, 2, 3):
                udh = bytes((5, 0, 3, ref, 3, index))
                ref_of_seq[client.submit(udh + "部分".encode("utf-16-be"), esm_class=0x40, data_coding=8)] = ref
        resps, receipts = await read_all(client, 300, 300)
        await client.close()
    ref_of_id = {normalize_id(str(r.fields["message_id"])): ref_of_seq[r.sequence] for r in resps}
    assert len(ref_of_id) == 300
    outcomes: dict[int, set[str]] = {}
    for receipt in receipts:
        found = parse_receipt(receipt)
        outcomes.setdefault(ref_of_id[found.message_id], set()).add(found.stat == "DELIVRD")
    together = [o for o in outcomes.values() if len(o) == 1]
    assert len(together) >= 75
    assert {True} in together and {False} in together


def test_outcome_picker_keeps_parts_together_most_of_the_time():
    from smsgate.smsc.outcome import OutcomePicker

    picker = OutcomePicker(0.5, seed=3)
    same = mixed = delivered = failed = 0
    for ref in range(256):
        outcomes = {picker.pick("8613800000001", (ref, 3, i)).stat == "DELIVRD" for i in (1, 2, 3)}
        if len(outcomes) == 2:
            mixed += 1
        else:
            same += 1
            delivered += outcomes == {True}
            failed += outcomes == {False}
    assert same >= 200 and mixed >= 5 and delivered >= 60 and failed >= 60
    assert picker.pick("8613800000001", (7, 3, 1)) == picker.pick("8613800000001", (7, 3, 1))


async def test_inject_mo_reaches_bound_receivers(simulator):
    async with simulator() as sim:
        rx, tx = await RawClient.connect(sim.port), await RawClient.connect(sim.port)
        await rx.bind(CommandId.BIND_RECEIVER)
        await tx.bind(CommandId.BIND_TRANSMITTER)
        assert await sim.inject_mo("8613800000001", "10690", "退订 TD") == 1
        assert await sim.inject_mo("8613800000001", "10690", "TD") == 1
        first, second = await rx.read(), await rx.read()
        for pdu in (first, second):
            rx.ack(pdu)
            assert pdu.command_id == CommandId.DELIVER_SM and pdu.fields["esm_class"] == 0
            assert not is_receipt(pdu)
        assert first.fields["data_coding"] == 8 and second.fields["data_coding"] == 0
        assert decode_text(first.fields["short_message"], 8, 0)[0] == "退订 TD"
        assert decode_text(second.fields["short_message"], 0, 0)[0] == "TD"
        assert first.fields["source_addr"] == "8613800000001"
        assert first.fields["destination_addr"] == "10690"
        await rx.close()
        await tx.close()
