"""Our SMPP client against a peer whose PDUs are all decoded and encoded by smpplib.

tests/smpp/test_session.py checks the client against SMSCs built on our own codec, which would
agree with any mistake the codec makes on both sides.  Here the other end is a third-party
implementation (:mod:`tests.peers.smpplib_smsc`): what it records is what smpplib made of our
bytes, and what our client receives was written by smpplib.  Every wait is bounded and awaits a
condition rather than sleeping; the fixture fails a test if smpplib could not parse one of our
PDUs or our client answered one of smpplib's with generic_nack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip("smpplib")

from smsgate.domain.channel import ChannelError, Inbound, Submit  # noqa: E402
from smsgate.domain.carrier_ids import Reading, reading  # noqa: E402
from smsgate.domain.segments import segment  # noqa: E402
from smsgate.smpp.parts import build_parts  # noqa: E402
from smsgate.smpp.session import SmppChannel, SmppConfig, State  # noqa: E402
from tests.peers.smpplib_smsc import SmpplibSmsc, receipt_text  # noqa: E402

HANDSET = "8613800138000"
SERVICE = "10690001"
DEADLINE = 10.0  # per test; each step inside has its own, shorter bound
LONG_CHINESE = ("尊敬的客户您好，您的订单已经发货，感谢您一直以来的支持与信任。" * 6)[:150]


def config_for(smsc: SmpplibSmsc, **overrides: object) -> SmppConfig:
    settings: dict[str, object] = dict(
        name="interop", host="127.0.0.1", port=smsc.port, system_id="esme", password="secret",
        system_type="SMS", source_addr=SERVICE, response_timeout=2.0, enquire_link_interval=30.0,
        reconnect_min=0.05, reconnect_max=0.2, close_timeout=2.0)
    settings.update(overrides)
    return SmppConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def smsc():
    peer = await SmpplibSmsc().start()
    yield peer
    await peer.close()
    assert peer.errors == [], "smpplib and our client disagreed on the wire"


@pytest.fixture
async def connect(smsc):
    """Start a channel to the smpplib SMSC and wait for its bind; closed before the SMSC."""
    channels: list[SmppChannel] = []

    async def make(**overrides: object) -> SmppChannel:
        channel = SmppChannel(config_for(smsc, **overrides))
        channels.append(channel)
        await channel.start()
        await channel.wait_bound(3)
        return channel

    yield make
    for channel in channels:
        await asyncio.wait_for(channel.close(), 5)


def submits_of(text: str, reference: int = 0, destination: str = HANDSET) -> list[Submit]:
    """The parts the dispatcher hands a channel for ``text``."""
    seg = segment(text)
    return [Submit(SERVICE, destination, chunk, seg.encoding, i, len(seg.parts), reference)
            for i, chunk in enumerate(seg.parts, 1)]


# --- bind and submit ------------------------------------------------------------------------------


async def test_bind_is_read_by_smpplib_and_its_bind_resp_accepted(smsc, connect):
    async with asyncio.timeout(DEADLINE):
        channel = await connect()
    assert channel.up and channel.state is State.BOUND
    [bind] = smsc.binds
    assert bind.command == "bind_transceiver"
    assert (bind.system_id, bind.password, bind.system_type) == (b"esme", b"secret", b"SMS")
    assert bind.interface_version == 0x34
    # the bind_transceiver_resp carried smpplib's sc_interface_version TLV; it did not upset us
    assert channel.stats.reconnects == 0 and len(smsc.conns) == 1


async def test_gsm_and_ucs2_multipart_submits_as_smpplib_decodes_them(smsc, connect):
    async with asyncio.timeout(DEADLINE):
        channel = await connect()
        [gsm] = submits_of("Your code is 1234")
        long_parts = build_parts(LONG_CHINESE, reference=0x2A)  # what must arrive, octet for octet
        assert len(long_parts) == 3
        gsm_id = await channel.submit(gsm)
        long_ids = await asyncio.gather(*(channel.submit(p) for p in submits_of(LONG_CHINESE, 0x2A)))

    assert len(smsc.submits) == 4
    by_payload = {s.pdu.short_message: s for s in smsc.submits}
    assert len(by_payload) == 4

    # the GSM part: plain default alphabet, no UDH
    sent = by_payload[b"Your code is 1234"]
    assert gsm_id == sent.message_id
    pdu = sent.pdu
    assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == (HANDSET.encode(), 1, 1)
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == (SERVICE.encode(), 0, 1)
    assert (pdu.esm_class, pdu.data_coding, pdu.registered_delivery) == (0x00, 0x00, 1)
    assert pdu.sm_length == len(b"Your code is 1234")

    # the UCS-2 parts: UDHI set, one concatenation UDH each, the text back in order
    received = [by_payload[p.short_message] for p in long_parts]
    assert list(long_ids) == [s.message_id for s in received]  # each submit got its own id back
    assert len(set(long_ids) | {gsm_id}) == 4
    text = ""
    for index, sent in enumerate(received, 1):
        pdu = sent.pdu
        assert pdu.destination_addr == HANDSET.encode()
        assert (pdu.esm_class, pdu.data_coding) == (0x40, 0x08)
        assert pdu.short_message[:6] == bytes((0x05, 0x00, 0x03, 0x2A, 3, index))
        assert pdu.sm_length == len(pdu.short_message) <= 140
        text += pdu.short_message[6:].decode("utf-16-be")
    assert text == LONG_CHINESE
    assert channel.stats.submitted == 4 and channel.stats.submit_errors == 0


async def test_smpplib_error_responses_become_channel_errors(smsc, connect):
    """smpplib writes an error submit_sm_resp with an empty message_id body; the status is what
    counts: a bad address is refused for good, a system error is worth retrying."""
    smsc.refuse = {"8613800000001": 0x0B, "8613800000002": 0x08}  # RINVDSTADR, RSYSERR
    [part] = submits_of("hello")
    async with asyncio.timeout(DEADLINE):
        channel = await connect()
        with pytest.raises(ChannelError) as refused:
            await channel.submit(part._replace(destination="8613800000001"))
        with pytest.raises(ChannelError) as failed:
            await channel.submit(part._replace(destination="8613800000002"))
        carrier_id = await channel.submit(part)
    assert (refused.value.status, refused.value.transient) == (0x0B, False)
    assert (failed.value.status, failed.value.transient) == (0x08, True)
    assert carrier_id == smsc.submits[-1].message_id != ""
    assert (channel.stats.submitted, channel.stats.submit_errors) == (1, 2)
    assert channel.up and channel.stats.reconnects == 0


# --- what the SMSC sends us -----------------------------------------------------------------------


SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("form", ["text and TLVs", "text only", "TLVs only"])
async def test_receipt_encoded_by_smpplib_reaches_the_handler(smsc, connect, form):
    inbound: list[Inbound] = []
    async with asyncio.timeout(DEADLINE):
        channel = await connect()
        channel.on_inbound(inbound.append)
        [part] = submits_of("Your code is 1234")
        carrier_id = await channel.submit(part)
        assert carrier_id == smsc.submits[0].message_id == carrier_id.upper()

        receipt_id = carrier_id.lower().zfill(10)  # "00001a2b3c": how carriers spell it back
        fields: dict[str, object] = dict(
            esm_class=0x04, source_addr_ton=1, source_addr_npi=1, source_addr=HANDSET,
            dest_addr_ton=0, dest_addr_npi=1, destination_addr=SERVICE, data_coding=0)
        if form == "TLVs only":  # UNDELIV, with the network's error code and no text at all
            fields.update(receipted_message_id=receipt_id, message_state=5,
                          network_error_code=b"\x03\x00\x01")
        else:
            fields["short_message"] = receipt_text(receipt_id, "DELIVRD", "000",
                                                   "2405011229", "2405011230")
            if form == "text and TLVs":
                fields.update(receipted_message_id=receipt_id, message_state=2)
        resp = await smsc.deliver(**fields)

    assert (resp.command, resp.status) == ("deliver_sm_resp", 0)
    [receipt] = inbound  # handed over before the deliver_sm_resp was sent
    assert receipt.is_receipt and receipt.channel == "interop"
    assert receipt.receipt_id == receipt_id  # as smpplib wrote it ...
    assert reading(receipt_id, carrier_id, receipt.id_format) is Reading.SPELLING  # ... read as ours
    assert (receipt.source, receipt.destination) == ("+" + HANDSET, SERVICE)
    if form == "TLVs only":
        assert (receipt.stat, receipt.err) == ("UNDELIV", "001")
    else:
        assert (receipt.stat, receipt.err) == ("DELIVRD", "000")
        done = datetime(2024, 5, 1, 12, 30, tzinfo=SHANGHAI)
        assert receipt.done_at == int(done.timestamp() * 1000)
    assert (channel.stats.receipts, channel.stats.mo) == (1, 0)


@pytest.mark.parametrize("carrier", ["short_message", "message_payload"])
async def test_ucs2_mo_encoded_by_smpplib_reaches_the_handler(smsc, connect, carrier):
    inbound: list[Inbound] = []
    async with asyncio.timeout(DEADLINE):
        channel = await connect()
        channel.on_inbound(inbound.append)
        resp = await smsc.deliver(
            esm_class=0x00, source_addr_ton=1, source_addr_npi=1, source_addr=HANDSET,
            dest_addr_ton=0, dest_addr_npi=1, destination_addr=SERVICE + "12",
            data_coding=0x08, **{carrier: "退订".encode("utf-16-be")})

    assert (resp.command, resp.status) == ("deliver_sm_resp", 0)
    [mo] = inbound
    assert not mo.is_receipt and mo.receipt_id == ""
    assert mo.text == "退订"
    assert (mo.source, mo.destination) == ("+" + HANDSET, SERVICE + "12")
    assert (channel.stats.mo, channel.stats.receipts) == (1, 0)


async def test_deliver_sm_without_a_handler_is_refused_temporarily(smsc, connect):
    """smpplib reads our refusal as an error status, so the SMSC will send it again."""
    async with asyncio.timeout(DEADLINE):
        await connect()
        resp = await smsc.deliver(esm_class=0, source_addr=HANDSET, destination_addr=SERVICE,
                                  data_coding=0, short_message=b"STOP")
    assert resp.command == "deliver_sm_resp"
    assert resp.status == 0x65  # ESME_RX_T_APPN


# --- keep-alive and unbind ------------------------------------------------------------------------


async def test_our_enquire_links_get_smpplib_responses_without_reconnecting(smsc, connect):
    async with asyncio.timeout(DEADLINE):
        channel = await connect(enquire_link_interval=0.1)
        # each enquire_link is sent only once the previous one was answered and accepted
        # (an unaccepted answer would time out and drop the link), so three on the first
        # connection mean smpplib's enquire_link_resp was understood twice at least
        await smsc.until(lambda: len(smsc.received("enquire_link")) >= 3, timeout=5)
    assert smsc.conns[0].commands().count("enquire_link") >= 3
    assert len(smsc.conns) == 1 and channel.stats.reconnects == 0
    assert channel.up


async def test_smpplib_enquire_link_is_answered(smsc, connect):
    async with asyncio.timeout(DEADLINE):
        channel = await connect()
        first = await smsc.request("enquire_link")
        second = await smsc.request("enquire_link")
    for resp in (first, second):  # matched to its request by sequence number, or it times out
        assert (resp.command, resp.status) == ("enquire_link_resp", 0)
    assert channel.up and channel.stats.reconnects == 0


async def test_close_sends_an_unbind_smpplib_reads_and_its_unbind_resp_ends_it(smsc, connect, caplog):
    caplog.set_level(logging.INFO, logger="smsgate.smpp")
    async with asyncio.timeout(DEADLINE):
        channel = await connect(close_timeout=5.0)
        conn = smsc.bound
        started = time.monotonic()
        await channel.close()
        took = time.monotonic() - started
        await asyncio.wait_for(conn.ended.wait(), 3)  # we hung up after the unbind_resp
    assert conn.commands() == ["bind_transceiver", "unbind"]
    assert channel.state is State.CLOSED and not channel.up
    # close_timeout is 5 s: returning well before it means the unbind_resp was accepted
    assert took < 4.0
    assert not any(r.getMessage() == "smpp_unbind_unanswered" for r in caplog.records)
    assert len(smsc.conns) == 1 and channel.stats.reconnects == 0


async def test_unbind_from_smpplib_is_answered_and_we_bind_again(smsc, connect):
    async with asyncio.timeout(DEADLINE):
        channel = await connect()
        first = smsc.bound
        resp = await smsc.request("unbind")
        await asyncio.wait_for(first.ended.wait(), 3)
        await smsc.until(lambda: len(smsc.binds) == 2, timeout=5)
        await channel.wait_bound(3)
        [part] = submits_of("after the rebind")
        carrier_id = await channel.submit(part)
    assert (resp.command, resp.status) == ("unbind_resp", 0)
    assert channel.stats.reconnects == 1
    assert smsc.submits[-1].conn == 2 and smsc.submits[-1].message_id == carrier_id
