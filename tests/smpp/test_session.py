"""The SMPP client session against small SMSCs on loopback, each misbehaving in one way.

Every wait is bounded and, where something can be awaited, it is (``Smsc.until``,
``wait_bound``); timing assertions have generous upper bounds for loaded CI machines.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from datetime import datetime, timedelta, timezone

import pytest

from smsgate.domain.channel import ChannelError, ChannelStopping, Inbound, Submit
from smsgate.logs import JsonFormatter
from smsgate.domain.carrier_ids import reading
from smsgate.smpp.pdu import CommandId, Status
from smsgate.smpp.session import SmppChannel, SmppConfig
from tests.peers.misbehaving import (DroppingSmsc, GarbageSmsc, HoldingSmsc, LazyEnquireSmsc,
                                     NackingSmsc, RefusingBindSmsc, SilentSmsc, ThrottlingSmsc)
from tests.peers.smsc import Smsc
from tests.wait import wait_until_async

HANDSET = "8613800138000"


def part(destination: str = HANDSET, text: str = "hello", source: str = "10690001") -> Submit:
    return Submit(source, destination, text, "gsm7", 1, 1, 0)


def config_for(smsc: Smsc, **overrides: object) -> SmppConfig:
    settings: dict[str, object] = dict(
        name="cmcc", host="127.0.0.1", port=smsc.port, system_id="esme", password="secret",
        source_addr="10690001", response_timeout=1.0, enquire_link_interval=30.0,
        reconnect_min=0.05, reconnect_max=0.2, throttle_backoff=0.2, close_timeout=0.5)
    settings.update(overrides)
    return SmppConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def peers():
    started: list[Smsc] = []

    async def serve(smsc: Smsc) -> Smsc:
        started.append(await smsc.start())
        return smsc

    yield serve
    for smsc in started:
        await smsc.close()


@pytest.fixture
async def connect(peers):
    """Start a channel to a peer (bound unless bound=False); closed before the peers."""
    channels: list[SmppChannel] = []

    async def make(smsc: Smsc, *, bound: bool = True, **overrides: object) -> SmppChannel:
        channel = SmppChannel(config_for(smsc, **overrides))
        channels.append(channel)
        await channel.start()
        if bound:
            await channel.wait_bound(3)
        return channel

    yield make
    for channel in channels:
        await asyncio.wait_for(channel.close(), 3)


def elapsed_since(start: float) -> float:
    return time.monotonic() - start


# --- submitting ---------------------------------------------------------------------------------


async def test_submit_sends_what_carriers_expect_and_returns_their_id(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc)
    assert channel.up

    assert await channel.submit(part(text="hello")) == "00A1B2C3"

    sent = smsc.submits[0].fields
    assert (sent["destination_addr"], sent["dest_addr_ton"], sent["dest_addr_npi"]) == (HANDSET, 1, 1)
    assert (sent["source_addr"], sent["source_addr_ton"], sent["source_addr_npi"]) == ("10690001", 0, 1)
    assert sent["registered_delivery"] == 1
    assert (sent["short_message"], sent["data_coding"], sent["esm_class"]) == (b"hello", 0, 0)
    assert channel.stats.submitted == 1


async def test_source_address_is_extended_and_alphanumeric_senders_are_marked(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc)
    assert channel.source_address("12") == "1069000112"
    assert channel.source_address(None) == "10690001"

    await channel.submit(part(source="ACME"))
    sent = smsc.submits[0].fields
    assert (sent["source_addr"], sent["source_addr_ton"], sent["source_addr_npi"]) == ("ACME", 5, 0)


async def test_window_limits_outstanding_and_out_of_order_answers_reach_their_submits(peers, connect):
    smsc = await peers(HoldingSmsc())
    channel = await connect(smsc, window=3)
    destinations = [f"86138000000{i:02d}" for i in range(8)]
    tasks = [asyncio.create_task(channel.submit(part(d))) for d in destinations]

    await smsc.until(lambda: smsc.outstanding == 3)
    await asyncio.sleep(0.1)  # not synchronisation: time for a broken window to send more
    assert smsc.outstanding == 3 and channel.stats.window_in_use == 3

    smsc.release()  # answers the held three newest first
    ids = await asyncio.wait_for(asyncio.gather(*tasks), 3)
    assert ids == [smsc.ids[d] for d in destinations]
    assert len(set(ids)) == 8
    assert smsc.max_outstanding == 3
    assert channel.stats.window_in_use == 0


async def test_a_timeout_fails_only_the_unanswered_submit(peers, connect):
    smsc = await peers(SilentSmsc(ignore={"8613800000000"}))
    channel = await connect(smsc, response_timeout=0.3)
    start = time.monotonic()

    results = await asyncio.gather(
        channel.submit(part("8613800000001")), channel.submit(part("8613800000000")),
        channel.submit(part("8613800000002")), return_exceptions=True)

    assert results[0] == smsc.ids["8613800000001"] and results[2] == smsc.ids["8613800000002"]
    assert isinstance(results[1], ChannelError) and results[1].transient
    assert elapsed_since(start) < 2.5
    assert channel.up
    assert channel.stats.submit_errors == 1
    assert await channel.submit(part("8613800000003")) == smsc.ids["8613800000003"]


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (Status.ESME_RINVDSTADR, False),
        (Status.ESME_RINVSRCADR, False),
        (Status.ESME_RINVMSGLEN, False),
        (Status.ESME_RSUBMITFAIL, False),
        (Status.ESME_RSYSERR, True),
        (Status.ESME_RMSGQFUL, True),
        (0x0401, True),  # a vendor code we do not know: retried rather than failed for good
    ],
)
async def test_refusals_are_transient_or_permanent_by_status(peers, connect, status, transient):
    smsc = await peers(Smsc())
    smsc.refuse[HANDSET] = status
    channel = await connect(smsc)

    with pytest.raises(ChannelError) as refused:
        await channel.submit(part())
    assert (refused.value.transient, refused.value.status) == (transient, status)


async def test_esme_rinvbndsts_makes_us_bind_again(peers, connect):
    smsc = await peers(Smsc())
    smsc.refuse[HANDSET] = Status.ESME_RINVBNDSTS
    channel = await connect(smsc)

    with pytest.raises(ChannelError) as refused:
        await channel.submit(part())
    assert refused.value.transient

    await smsc.until(lambda: len(smsc.binds) == 2)
    await channel.wait_bound(3)
    assert await channel.submit(part("8613800000001"))


async def test_generic_nack_for_a_submit_is_transient(peers, connect):
    smsc = await peers(NackingSmsc())
    channel = await connect(smsc)

    with pytest.raises(ChannelError) as refused:
        await channel.submit(part())
    assert refused.value.transient and refused.value.status == Status.ESME_RSYSERR
    assert channel.up


async def test_an_unencodable_part_is_refused_for_good(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc)

    with pytest.raises(ChannelError) as refused:
        await channel.submit(part(text="x" * 255))  # over short_message's 254 octets
    assert not refused.value.transient
    assert smsc.submits == []


async def test_submit_while_not_bound_is_transient(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc, bound=False, port=1)  # nothing listens on port 1

    with pytest.raises(ChannelError) as refused:
        await channel.submit(part())
    assert refused.value.transient
    assert not channel.up


async def test_sequence_numbers_wrap_to_one(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc)
    channel._links["trx"]._sequence = 0x7FFFFFFE  # white box: a link that has lived long

    await channel.submit(part())
    await channel.submit(part())
    assert [p.sequence for p in smsc.submits] == [0x7FFFFFFF, 1]


# --- pacing -------------------------------------------------------------------------------------


async def test_throttling_pauses_new_submits_then_recovers(peers, connect):
    smsc = await peers(ThrottlingSmsc(every=2))
    channel = await connect(smsc, throttle_backoff=0.3)

    await channel.submit(part())
    with pytest.raises(ChannelError) as throttled:
        await channel.submit(part())
    assert throttled.value.transient and throttled.value.status == Status.ESME_RTHROTTLED

    start = time.monotonic()
    assert await channel.submit(part())  # waits out the pause, then is accepted
    assert 0.25 <= elapsed_since(start) < 2.0
    assert smsc.arrivals[2] - smsc.arrivals[1] >= 0.25


@pytest.mark.parametrize("status", [Status.ESME_RTHROTTLED, Status.ESME_RMSGQFUL])
async def test_the_pause_doubles_while_refusals_continue(peers, connect, status):
    smsc = await peers(ThrottlingSmsc(every=1, status=status))
    channel = await connect(smsc, throttle_backoff=0.15)

    for _ in range(3):
        with pytest.raises(ChannelError):
            await channel.submit(part())
    gaps = [b - a for a, b in zip(smsc.arrivals, smsc.arrivals[1:])]
    assert gaps[0] >= 0.12 and gaps[1] >= 0.27  # 0.15 s, then 0.3 s
    assert gaps[1] < 2.0


async def test_tps_limits_submits_per_second(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc, tps=20)
    start = time.monotonic()

    await asyncio.wait_for(asyncio.gather(*(channel.submit(part()) for _ in range(11))), 5)

    assert 0.45 <= elapsed_since(start) < 3.0  # 10 intervals of 50 ms after the first


# --- the link -----------------------------------------------------------------------------------


async def test_a_dropped_link_fails_its_submit_and_reconnects(peers, connect):
    smsc = await peers(DroppingSmsc(after=3))
    channel = await connect(smsc)
    await channel.submit(part())
    await channel.submit(part())

    with pytest.raises(ChannelError) as lost:
        await channel.submit(part())
    assert lost.value.transient
    assert not channel.up

    await channel.wait_bound(3)
    assert await channel.submit(part())
    assert len(smsc.binds) == 2 and channel.stats.reconnects >= 1


async def test_garbage_drops_the_link_and_it_comes_back(peers, connect):
    smsc = await peers(GarbageSmsc())
    channel = await connect(smsc)

    await smsc.until(lambda: len(smsc.binds) >= 2 and bool(smsc.of(CommandId.GENERIC_NACK)))
    assert smsc.of(CommandId.GENERIC_NACK)[0].status == Status.ESME_RINVCMDLEN
    await channel.wait_bound(3)
    assert await channel.submit(part())


async def test_an_undecodable_deliver_sm_gets_deliver_sm_resp_with_its_sequence_and_the_link_stays(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc)
    truncated = struct.pack(">IIII", 19, CommandId.DELIVER_SM, 0, 78) + b"\x00\x01\x02"

    answer = await smsc.bound().exchange(truncated, 78)

    assert (answer.command_id, answer.status) == (CommandId.DELIVER_SM_RESP, Status.ESME_RINVCMDLEN)
    assert await channel.submit(part())
    assert len(smsc.binds) == 1


async def test_an_unknown_command_gets_generic_nack(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc)
    data_sm = struct.pack(">IIII", 16, 0x00000103, 0, 77)

    nack = await smsc.bound().exchange(data_sm, 77)

    assert (nack.command_id, nack.status) == (CommandId.GENERIC_NACK, Status.ESME_RINVCMDID)
    assert await channel.submit(part())


async def test_a_refused_bind_is_retried_with_backoff(peers, connect, caplog):
    smsc = await peers(RefusingBindSmsc(refusals=2))
    channel = await connect(smsc)

    assert [status for _, status in smsc.binds] == [Status.ESME_RINVPASWD] * 2 + [0]
    assert channel.up and channel.stats.reconnects == 2
    assert any("ESME_RINVPASWD" in getattr(r, "reason", "") for r in caplog.records
               if r.getMessage() == "smpp_bind_refused")


@pytest.mark.parametrize("delay", [None, 0.8], ids=["never", "late"])
async def test_an_unanswered_enquire_link_means_a_dead_link(peers, connect, delay):
    smsc = await peers(LazyEnquireSmsc(delay))
    await connect(smsc, enquire_link_interval=0.2, response_timeout=0.3)

    await smsc.until(lambda: len(smsc.binds) >= 2)
    assert smsc.of(CommandId.ENQUIRE_LINK)


async def test_enquire_link_keeps_an_idle_link(peers, connect):
    smsc = await peers(LazyEnquireSmsc(0.02))
    channel = await connect(smsc, enquire_link_interval=0.1, response_timeout=0.5)

    await smsc.until(lambda: len(smsc.of(CommandId.ENQUIRE_LINK)) >= 3)
    assert len(smsc.binds) == 1 and channel.up


async def test_the_smscs_enquire_link_is_answered(peers, connect):
    smsc = await peers(Smsc())
    await connect(smsc)

    resp = await smsc.bound().request(CommandId.ENQUIRE_LINK)
    assert resp.command_id == CommandId.ENQUIRE_LINK_RESP and resp.status == 0


async def test_an_unbind_from_the_smsc_is_answered_and_we_bind_again(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc)

    resp = await smsc.bound().request(CommandId.UNBIND)
    assert resp.command_id == CommandId.UNBIND_RESP

    await smsc.until(lambda: len(smsc.binds) == 2)
    await channel.wait_bound(3)
    assert await channel.submit(part())


async def test_close_unbinds_and_fails_outstanding_submits(peers, connect):
    smsc = await peers(SilentSmsc())
    channel = await connect(smsc)
    pending = asyncio.create_task(channel.submit(part()))
    await smsc.until(lambda: smsc.outstanding == 1)

    start = time.monotonic()
    await channel.close()
    assert elapsed_since(start) < 2.0

    with pytest.raises(ChannelError) as failed:
        await asyncio.wait_for(pending, 1)
    assert failed.value.transient
    await smsc.until(lambda: bool(smsc.of(CommandId.UNBIND)))
    assert not channel.up
    with pytest.raises(ChannelError):
        await channel.submit(part())


# --- what the SMSC sends us ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "tlv"),
    [
        ("A1B2C3", False),  # no leading zeros
        ("00a1b2c3", False),  # lower case
        (str(0xA1B2C3), False),  # decimal
        ("0x00A1B2C3", True),  # in receipted_message_id
    ],
)
async def test_receipts_match_the_submit_however_the_id_is_spelt(peers, connect, spelling, tlv):
    smsc = await peers(Smsc())
    channel = await connect(smsc)
    got: list[Inbound] = []
    channel.on_inbound(got.append)
    carrier_id = await channel.submit(part())

    resp = await smsc.receipt(spelling, "DELIVRD", tlv=tlv)

    assert resp.command_id == CommandId.DELIVER_SM_RESP and resp.status == 0
    [receipt] = got
    # the id as the carrier spelt it, which reads as the id the part was given
    assert receipt.receipt_id == spelling and receipt.id_format == "auto"
    assert reading(receipt.receipt_id, carrier_id, "auto") is not None
    assert receipt.is_receipt and receipt.stat == "DELIVRD" and receipt.channel == "cmcc"
    assert channel.stats.receipts == 1


async def test_a_receipts_done_date_is_read_as_utc_plus_8(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc)
    got: list[Inbound] = []
    channel.on_inbound(got.append)

    await smsc.receipt("00A1B2C3", "UNDELIV", done=datetime(2024, 3, 5, 14, 30))
    await smsc.receipt("00A1B2C4", "DELIVRD", tlv=True)  # no date at all: now

    expected = int(datetime(2024, 3, 5, 6, 30, tzinfo=timezone.utc).timestamp() * 1000)
    assert (got[0].stat, got[0].done_at) == ("UNDELIV", expected)
    assert abs(got[1].done_at - time.time() * 1000) < 60_000


async def test_receipt_dates_are_read_in_the_channels_receipt_tz(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc, receipt_tz="UTC", receipt_id_format="hex")
    got: list[Inbound] = []
    channel.on_inbound(got.append)

    await smsc.receipt("00A1B2C3", "DELIVRD", done=datetime(2024, 3, 5, 14, 30))

    [receipt] = got
    assert receipt.done_at == int(datetime(2024, 3, 5, 14, 30, tzinfo=timezone.utc).timestamp() * 1000)
    assert (receipt.receipt_id, receipt.id_format) == ("00A1B2C3", "hex")


async def test_a_done_date_still_to_come_is_taken_as_the_time_the_receipt_came(peers, connect):
    """A date in the future means the carrier writes another zone than ``receipt_tz`` says."""
    smsc = await peers(Smsc())
    channel = await connect(smsc, receipt_tz="UTC")
    got: list[Inbound] = []
    channel.on_inbound(got.append)

    before = time.time_ns() // 1_000_000
    await smsc.receipt("00A1B2C3", "DELIVRD", done=datetime.now(timezone.utc).replace(tzinfo=None)
                       + timedelta(hours=8))
    after = time.time_ns() // 1_000_000

    [receipt] = got
    assert before <= receipt.done_at <= after


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("receipt_id_format", "hexadecimal", "receipt_id_format must be one of auto, hex, decimal, string"),
    ("receipt_tz", "Mars/Olympus_Mons", "receipt_tz 'Mars/Olympus_Mons' is not a time zone"),
    ("receipt_tz", "+08:00", "is not a time zone"),
])
def test_receipt_settings_are_checked_at_start_up(setting, value, message):
    with pytest.raises(ValueError, match=message):
        SmppConfig(name="c", host="127.0.0.1", port=1, system_id="x", password="y", **{setting: value})


async def test_an_mo_in_ucs2_is_decoded(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc)
    got: list[Inbound] = []
    channel.on_inbound(got.append)

    resp = await smsc.deliver({"source_addr_ton": 1, "source_addr_npi": 1, "source_addr": HANDSET,
                               "destination_addr": "1069000112", "data_coding": 8,
                               "short_message": "退订，谢谢".encode("utf-16-be")})
    await smsc.deliver({"source_addr_ton": 2, "source_addr": "13800138000",
                        "destination_addr": "10690001", "short_message": b"R"})

    assert resp.command_id == CommandId.DELIVER_SM_RESP and resp.status == 0
    assert got == [Inbound("cmcc", f"+{HANDSET}", "1069000112", "退订，谢谢"),
                   Inbound("cmcc", "13800138000", "10690001", "R")]
    assert not got[0].is_receipt and channel.stats.mo == 2


async def test_a_deliver_sm_with_no_handler_is_refused_for_now(peers, connect):
    smsc = await peers(Smsc())
    await connect(smsc)

    resp = await smsc.deliver({"source_addr": HANDSET, "short_message": b"R"})
    assert resp.status == 0x65  # ESME_RX_T_APPN: the SMSC delivers it again later


async def test_tx_rx_submits_on_the_transmitter_and_hears_on_both(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc, bind="tx+rx")
    got: list[Inbound] = []
    channel.on_inbound(got.append)
    assert sorted(command for command, _ in smsc.binds) == [CommandId.BIND_RECEIVER,
                                                           CommandId.BIND_TRANSMITTER]

    carrier_id = await channel.submit(part())
    transmitter = smsc.bound((CommandId.BIND_TRANSMITTER,))
    assert [p.command_id for p in transmitter.received].count(CommandId.SUBMIT_SM) == 1

    await smsc.receipt(carrier_id)  # on the receiver
    await smsc.receipt(carrier_id, conn=transmitter)
    assert len(got) == 2
    assert [i.receipt_id for i in got] == [carrier_id, carrier_id]


async def test_logs_hold_no_numbers_and_no_text(peers, connect, caplog):
    caplog.set_level(logging.DEBUG, logger="smsgate.smpp")
    smsc = await peers(DroppingSmsc(after=2))
    channel = await connect(smsc)
    channel.on_inbound(lambda inbound: None)

    await channel.submit(part(text="secret offer"))
    await smsc.deliver({"source_addr": HANDSET, "short_message": b"secret reply"})
    with pytest.raises(ChannelError):
        await channel.submit(part(text="secret offer"))
    await channel.wait_bound(3)

    assert caplog.records
    lines = "\n".join(JsonFormatter(pii=True).format(r) for r in caplog.records)  # fields too, unmasked
    assert "smpp_link_down" in lines
    assert HANDSET not in lines and "secret" not in lines


async def test_a_draining_close_gets_the_answers_of_the_parts_already_sent(peers, connect):
    """A bind given up while its lease holds (a rebalance, an unconfirmed renewal): the parts
    already sent get their answers before the unbind (they would be sent again otherwise),
    and a part not yet sent is refused as ChannelStopping, to go back to the queue."""
    smsc = await peers(HoldingSmsc())
    channel = await connect(smsc)
    sent = [asyncio.create_task(channel.submit(part(f"86138000000{i:02d}"))) for i in range(3)]
    await smsc.until(lambda: smsc.outstanding == 3)  # all three sent, their answers held back
    closing = asyncio.create_task(channel.close(drain=3))
    await asyncio.sleep(0)  # one turn of the loop: the close begins
    with pytest.raises(ChannelStopping):
        await channel.submit(part("8613800000099"))
    smsc.release()
    ids = await asyncio.wait_for(asyncio.gather(*sent), 3)
    assert len(set(ids)) == 3
    await asyncio.wait_for(closing, 3)
    assert not channel.up


async def test_a_receipt_is_acknowledged_only_once_the_handler_has_stored_it(peers, connect):
    smsc = await peers(Smsc())
    channel = await connect(smsc)
    stored: list[asyncio.Future[None]] = []

    def handler(inbound: Inbound) -> asyncio.Future[None]:
        stored.append(asyncio.get_running_loop().create_future())
        return stored[-1]

    channel.on_inbound(handler)
    first = asyncio.create_task(smsc.receipt("00A1B2C3", "DELIVRD"))
    second = asyncio.create_task(smsc.receipt("00A1B2C4", "DELIVRD"))
    # reading went on although the first is not answered yet
    await wait_until_async(lambda: len(stored) == 2, 5, "both receipts reach the handler")
    assert not first.done() and not second.done()  # a crash now: the SMSC still owes them
    stored[0].set_result(None)
    stored[1].set_exception(RuntimeError("the store is down"))
    assert (await first).status == 0
    assert (await second).status == 0x65  # ESME_RX_T_APPN: the SMSC sends it again later
