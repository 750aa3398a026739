"""The simulator against smpplib, an SMPP client that is not ours (blocking, run in a thread)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

smpplib = pytest.importorskip("smpplib")
from smpplib import consts, gsm, smpp  # noqa: E402
from smpplib.client import Client  # noqa: E402

LONG_CHINESE = "尊敬的客户，" + "您的订单已发货，感谢您的支持。" * 6  # 96 chars: two UCS-2 parts
DEADLINE = 15.0


def as_str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def converse(port: int) -> dict[str, object]:
    """Bind, submit a GSM text and a UCS-2 long message, collect receipts, enquire, unbind."""
    resps: list[str] = []
    receipts: list[tuple[str, str, int]] = []
    client = Client("127.0.0.1", port, timeout=0.5, allow_unknown_opt_params=True)
    client.set_message_sent_handler(lambda pdu: resps.append(as_str(pdu.message_id)))
    client.set_message_received_handler(lambda pdu: receipts.append(
        (as_str(pdu.receipted_message_id), as_str(pdu.short_message), pdu.message_state)))
    client.connect()
    try:
        bind = client.bind_transceiver(system_id="shop", password="pw")
        parts, coding, esm_class = gsm.make_parts(LONG_CHINESE)
        messages = [([b"Your code is 1234"], consts.SMPP_ENCODING_DEFAULT, 0), (parts, coding, esm_class)]
        for chunks, data_coding, esm in messages:
            for chunk in chunks:
                client.send_message(source_addr="10690", dest_addr_ton=1, destination_addr="8613800000001",
                                    short_message=chunk, data_coding=data_coding, esm_class=esm,
                                    registered_delivery=True)
        _read_until(client, lambda: len(resps) == 1 + len(parts) and len(receipts) == 1 + len(parts))
        client.send_pdu(smpp.make_pdu("enquire_link", client=client))
        enquire = client.read_pdu()
        unbind = client.unbind()
    finally:
        client.disconnect()
    return {"bind": bind, "parts": len(parts), "resps": resps, "receipts": receipts,
            "enquire": enquire.command, "unbind": unbind.command}


def _read_until(client: Client, done) -> None:
    deadline = time.monotonic() + DEADLINE
    while not done():
        assert time.monotonic() < deadline, "timed out waiting for the simulator"
        try:
            client.read_once(auto_send_enquire_link=False)
        except socket.timeout:
            pass


async def test_smpplib_transceiver_round_trip(simulator):
    async with simulator(deliver_ratio=1.0, system_id="carrier") as sim:
        result = await asyncio.wait_for(asyncio.to_thread(converse, sim.port), DEADLINE + 5)
        assert sim.accepted == 1 + result["parts"]
    assert result["parts"] == 2
    assert as_str(result["bind"].system_id) == "carrier"
    assert (result["enquire"], result["unbind"]) == ("enquire_link_resp", "unbind_resp")
    resps = result["resps"]
    assert all(r == r.upper() for r in resps) and len(set(resps)) == 3
    receipts = result["receipts"]
    for tlv_id, text, state in receipts:
        assert tlv_id == tlv_id.lower() and tlv_id.startswith("0")
        assert f"id:{tlv_id} " in text and "stat:DELIVRD" in text and state == 2
    assert sorted(t.lstrip("0") for t, _, _ in receipts) == sorted(r.lower().lstrip("0") for r in resps)
    assert any("text:Your code is 1234" in text for _, text, _ in receipts)


def query(port: int) -> dict[str, object]:
    """Submit without a receipt, then ask for its state with smpplib's query_sm, twice: by the
    id submit_sm_resp gave, and by one never issued."""
    client = Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id="shop", password="pw")
        client.send_message(source_addr="10690", dest_addr_ton=1, destination_addr="8613800000001",
                            short_message=b"Your code is 1234", registered_delivery=False)
        resp = client.read_pdu()
        message_id = as_str(resp.message_id)
        client.query_message(message_id=message_id, source_addr_ton=0, source_addr_npi=0, source_addr="10690")
        known = client.read_pdu()
        client.query_message(message_id="FFFFFFFFFFFF", source_addr_ton=0, source_addr_npi=0, source_addr="10690")
        unknown = client.read_pdu()
        client.unbind()
    finally:
        client.disconnect()
    return {"id": message_id, "known": known, "unknown": unknown}


async def test_smpplib_query_sm(simulator):
    async with simulator(deliver_ratio=1.0, receipt_delay_ms=0) as sim:
        result = await asyncio.wait_for(asyncio.to_thread(query, sim.port), DEADLINE)
    known, unknown = result["known"], result["unknown"]
    assert (known.command, known.status) == ("query_sm_resp", 0)
    assert as_str(known.message_id) == result["id"]
    assert (known.message_state, known.error_code) == (2, 0)  # DELIVERED
    assert len(as_str(known.final_date)) == 16 and as_str(known.final_date).endswith("00+")
    assert (unknown.command, unknown.status) == ("query_sm_resp", consts.SMPP_ESME_RINVMSGID)
