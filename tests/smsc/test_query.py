"""query_sm and cancel_sm: the simulator's memory of recent messages (SMPP 3.4 §4.8, §4.9)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from smsgate.smpp.dlr import normalize_id, parse_receipt
from smsgate.smpp.pdu import CommandId, Pdu, Status, Tag
from tests.smsc.raw import RawClient

ENROUTE, DELIVERED, DELETED = 1, 2, 4
FINAL_STATES = {2, 3, 5, 8}  # what the simulator's outcomes end in


async def submitted(client: RawClient, **fields: object) -> str:
    """Submit one message and return its id as submit_sm_resp spelt it."""
    seq = client.submit(**fields)
    resp = await client.read()
    assert (resp.command_id, resp.sequence, resp.status) == (CommandId.SUBMIT_SM_RESP, seq, 0)
    return str(resp.fields["message_id"])


async def next_receipt(client: RawClient) -> Pdu:
    pdu = await client.read()
    assert pdu.command_id == CommandId.DELIVER_SM, pdu
    client.ack(pdu)
    return pdu


def final_date(resp: Pdu) -> datetime:
    """query_sm_resp's final_date, which the simulator writes in UTC ("…t00+")."""
    text = str(resp.fields["final_date"])
    assert len(text) == 16 and text.endswith("00+"), text
    return datetime.strptime(text[:12], "%y%m%d%H%M%S").replace(tzinfo=UTC)


async def test_query_sm_says_enroute_then_what_the_receipt_said(simulator):
    async with simulator(receipt_delay_ms=500) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        before = datetime.now(UTC).replace(microsecond=0)
        message_id = await submitted(client)
        resp = await client.query(message_id)
        assert (resp.command_id, resp.status) == (CommandId.QUERY_SM_RESP, 0)
        assert resp.fields == {"message_id": message_id, "final_date": "", "message_state": ENROUTE,
                               "error_code": 0}
        receipt = await next_receipt(client)
        tlv_id = receipt.tlv_str(Tag.RECEIPTED_MESSAGE_ID)
        assert normalize_id(tlv_id) == normalize_id(message_id)
        for spelling in (message_id, tlv_id, message_id.lower()):  # "1A2B3C1", "0001a2b3c1", …
            resp = await client.query(spelling)
            assert resp.status == 0 and resp.fields["message_id"] == spelling
            assert resp.fields["message_state"] == receipt.tlv_int(Tag.MESSAGE_STATE)
            assert resp.fields["error_code"] == int(parse_receipt(receipt).err)
            assert before <= final_date(resp) <= datetime.now(UTC)
        await client.close()


async def test_a_message_without_a_receipt_has_a_state_too(simulator):
    async with simulator(receipt_delay_ms=0, deliver_ratio=1.0) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        message_id = await submitted(client, registered_delivery=0)
        resp = await client.query(message_id)
        assert (resp.fields["message_state"], resp.fields["error_code"]) == (DELIVERED, 0)
        await client.close()


async def test_query_sm_refusals(simulator):
    async with simulator(remember=3, receipt_delay_ms=60_000) as sim:
        client, other, receiver = [await RawClient.connect(sim.port) for _ in range(3)]
        assert (await client.query("1")).status == Status.ESME_RINVBNDSTS  # not bound yet
        await client.bind()
        await other.bind(system_id="someone-else")
        await receiver.bind(CommandId.BIND_RECEIVER)
        ids = [await submitted(client) for _ in range(4)]
        assert (await receiver.query(ids[-1])).status == Status.ESME_RINVBNDSTS
        assert (await client.query("not-an-id")).status == Status.ESME_RINVMSGID
        assert (await client.query("")).status == Status.ESME_RINVMSGID
        assert (await client.query(format(int(ids[-1], 16) + 1, "X"))).status == Status.ESME_RINVMSGID
        assert (await client.query(ids[0])).status == Status.ESME_RQUERYFAIL  # past remember=3
        assert (await other.query(ids[-1])).status == Status.ESME_RQUERYFAIL  # not theirs
        assert (await client.query(ids[-1], source_addr="10691")).status == Status.ESME_RQUERYFAIL
        for message_id, source in ((ids[1], "10690"), (ids[-1], "")):  # an empty source is "unknown"
            resp = await client.query(message_id, source_addr=source)
            assert (resp.status, resp.fields["message_state"]) == (0, ENROUTE)
        for c in (client, other, receiver):
            await c.close()


async def test_cancel_sm_deletes_a_pending_message_and_its_receipt_never_comes(simulator):
    delay = 0.3  # receipts fall due 0.24-0.36 s after their submit (±20 % jitter)
    async with simulator(receipt_delay_ms=int(delay * 1000)) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        submitted_at = time.monotonic()
        cancelled = await submitted(client)
        resp = await client.cancel(cancelled)
        assert (resp.command_id, resp.status, resp.fields) == (CommandId.CANCEL_SM_RESP, 0, {})
        assert (await client.cancel(cancelled)).status == Status.ESME_RCANCELFAIL  # already
        query = await client.query(cancelled)
        assert (query.fields["message_state"], query.fields["error_code"]) == (DELETED, 0)
        assert final_date(query) <= datetime.now(UTC)
        # Not synchronisation but the timeline: a message submitted 0.4 × delay later falls due
        # after the cancelled one would have, and receipts leave in the order they fall due.
        await asyncio.sleep(max(0.0, submitted_at + 0.5 * delay - time.monotonic()))
        kept = await submitted(client)
        receipt = await next_receipt(client)
        assert normalize_id(receipt.tlv_str(Tag.RECEIPTED_MESSAGE_ID)) == normalize_id(kept)
        assert (await client.query(cancelled)).fields["message_state"] == DELETED
        await client.close()


async def test_a_message_already_final_cannot_be_cancelled(simulator):
    async with simulator(receipt_delay_ms=0) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        message_id = await submitted(client)
        receipt = await next_receipt(client)
        assert (await client.cancel(message_id)).status == Status.ESME_RCANCELFAIL
        state = (await client.query(message_id)).fields["message_state"]
        assert state == receipt.tlv_int(Tag.MESSAGE_STATE) and state in FINAL_STATES
        await client.close()


async def test_cancel_sm_refusals(simulator):
    async with simulator(receipt_delay_ms=60_000) as sim:
        client, other, receiver = [await RawClient.connect(sim.port) for _ in range(3)]
        await client.bind()
        await other.bind(system_id="someone-else")
        await receiver.bind(CommandId.BIND_RECEIVER)
        message_id = await submitted(client)
        assert (await receiver.cancel(message_id)).status == Status.ESME_RINVBNDSTS
        assert (await client.cancel("zz")).status == Status.ESME_RINVMSGID
        assert (await client.cancel("")).status == Status.ESME_RCANCELFAIL  # cancel-by-address: not offered
        assert (await other.cancel(message_id)).status == Status.ESME_RCANCELFAIL
        assert (await client.cancel(message_id, source_addr="10691")).status == Status.ESME_RCANCELFAIL
        assert (await client.query(message_id)).fields["message_state"] == ENROUTE  # none of them took
        assert (await client.cancel(message_id)).status == 0
        for c in (client, other, receiver):
            await c.close()


async def test_cancel_sm_as_the_spec_writes_it(simulator):
    """cancel_sm bytes written by hand from SMPP 3.4 §4.9.1, answer compared as bytes."""
    async with simulator(receipt_delay_ms=60_000) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        message_id = await submitted(client, registered_delivery=0)
        body = (b"\0" + message_id.encode() + b"\0" + b"\x00\x01" + b"10690\0"
                + b"\x01\x01" + b"8613800000001\0")  # service_type, id, source, destination
        client.writer.write((16 + len(body)).to_bytes(4, "big") + bytes.fromhex("00000008 00000000 0000abcd") + body)
        answer = await asyncio.wait_for(client.reader.readexactly(16), 10)
        assert answer == bytes.fromhex("00000010 80000008 00000000 0000abcd")
        await client.close()
