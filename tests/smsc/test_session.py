"""Binding, framing and the answers every SMSC gives, driven with our own codec."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Callable

import pytest

from smsgate.smpp.pdu import CommandId, Status
from tests.smsc.raw import TIMEOUT, RawClient


async def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_bind_answers_with_our_system_id_and_refuses_a_second_bind(simulator):
    async with simulator(system_id="carrier") as sim:
        client = await RawClient.connect(sim.port)
        resp = await client.bind()
        assert (resp.command_id, resp.status) == (CommandId.BIND_TRANSCEIVER_RESP, 0)
        assert resp.fields["system_id"] == "carrier"
        again = await client.bind(CommandId.BIND_TRANSMITTER)
        assert (again.command_id, again.status) == (CommandId.BIND_TRANSMITTER_RESP, Status.ESME_RALYBND)
        await client.close()


async def test_credentials_are_checked_when_a_password_is_set(simulator):
    async with simulator(system_id="carrier", password="secret") as sim:
        client = await RawClient.connect(sim.port)
        assert (await client.bind(system_id="other", password="secret")).status == Status.ESME_RINVSYSID
        assert (await client.bind(system_id="carrier", password="wrong")).status == Status.ESME_RINVPASWD
        assert (await client.bind(system_id="carrier", password="secret")).status == 0
        await client.close()


async def test_submit_before_bind_and_on_a_receiver_is_refused(simulator):
    async with simulator() as sim:
        client = await RawClient.connect(sim.port)
        client.submit()
        resp = await client.read()
        assert (resp.command_id, resp.status) == (CommandId.SUBMIT_SM_RESP, Status.ESME_RINVBNDSTS)
        await client.bind(CommandId.BIND_RECEIVER)
        client.submit()
        assert (await client.read()).status == Status.ESME_RINVBNDSTS
        assert sim.accepted == 0
        await client.close()


async def test_enquire_link_works_in_any_state_and_unbind_closes(simulator):
    async with simulator() as sim:
        client = await RawClient.connect(sim.port)
        assert (await client.call(CommandId.ENQUIRE_LINK)).command_id == CommandId.ENQUIRE_LINK_RESP
        await client.bind()
        assert (await client.call(CommandId.ENQUIRE_LINK)).command_id == CommandId.ENQUIRE_LINK_RESP
        assert (await client.call(CommandId.UNBIND)).command_id == CommandId.UNBIND_RESP
        assert await client.closed()


async def test_unknown_command_is_nacked_and_the_session_goes_on(simulator):
    async with simulator() as sim:
        client = await RawClient.connect(sim.port)
        client.writer.write(struct.pack(">IIII", 16, 0x00000103, 0, 42))  # data_sm: not ours
        nack = await client.read()
        assert (nack.command_id, nack.status, nack.sequence) == (
            CommandId.GENERIC_NACK, Status.ESME_RINVCMDID, 42)
        assert (await client.call(CommandId.ENQUIRE_LINK)).status == 0
        await client.close()


def _pdu(command: int, sequence: int, body: bytes) -> bytes:
    """A PDU written by hand: header, then ``body`` exactly as given, however broken."""
    return struct.pack(">IIII", 16 + len(body), command, 0, sequence) + body


# service_type "", source 10690, destination 8613800000001
SUBMIT_HEAD = bytes.fromhex("00 01 01 3130363930 00 01 01 38363133383030303030303031 00")
SUBMIT_TAIL = bytes.fromhex("00 00 00 00 00 00 00 00 00 02 4869")  # ... no receipt, "Hi"


SUBMIT = SUBMIT_HEAD + SUBMIT_TAIL
C, S = CommandId, Status


@pytest.mark.parametrize(
    ("command", "body", "status"),
    [
        # a body too short for its mandatory fields
        pytest.param(C.SUBMIT_SM, b"ab\0c", S.ESME_RINVCMDLEN, id="submit_sm-cut"),
        pytest.param(C.BIND_TRANSMITTER, b"esme\0pw", S.ESME_RINVCMDLEN, id="bind-cut"),
        pytest.param(C.QUERY_SM, b"1A\0\x01", S.ESME_RINVCMDLEN, id="query_sm-cut"),
        pytest.param(C.CANCEL_SM, b"\0" + b"1A\0", S.ESME_RINVCMDLEN, id="cancel_sm-cut"),
        # a body where the command has none
        pytest.param(C.ENQUIRE_LINK, b"\0", S.ESME_RINVCMDLEN, id="enquire_link-body"),
        pytest.param(C.UNBIND, b"x", S.ESME_RINVCMDLEN, id="unbind-body"),
        # the field at fault names the status
        pytest.param(C.SUBMIT_SM, SUBMIT[:-3] + b"\x05Hi", S.ESME_RINVMSGLEN, id="sm_length-overruns"),
        pytest.param(C.SUBMIT_SM, SUBMIT + bytes.fromhex("0424 00ff 41"), S.ESME_RINVTLVSTREAM, id="tlv-stream"),
        pytest.param(C.SUBMIT_SM, SUBMIT + bytes.fromhex("020c 0001 07"), S.ESME_RINVPARLEN, id="tlv-size"),
        pytest.param(C.SUBMIT_SM, SUBMIT + bytes.fromhex("020c 0002 0007 020e 0001 02"), S.ESME_RMISSINGOPTPARAM,
                     id="sar-incomplete"),
        pytest.param(C.SUBMIT_SM, b"\0\x01\x01" + b"1" * 21 + SUBMIT[9:], S.ESME_RINVSRCADR, id="source-too-long"),
        pytest.param(C.BIND_TRANSMITTER, b"x" * 16 + b"\0pw\0\0\x34\0\0\0", S.ESME_RINVSYSID, id="system_id-too-long"),
    ],
)  # fmt: skip
async def test_a_malformed_request_gets_its_own_response_and_the_session_goes_on(simulator, command, body, status):
    async with simulator() as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        client.writer.write(_pdu(command, 9, body))
        resp = await client.read()
        assert (resp.command_id, resp.status, resp.sequence) == (command | 0x80000000, status, 9)
        client.submit()  # still bound, still framed
        assert (await client.read()).command_id == CommandId.SUBMIT_SM_RESP
        assert (await client.call(CommandId.ENQUIRE_LINK)).status == 0
        await client.close()
        assert sim.accepted == 1


async def test_a_malformed_bind_leaves_the_session_unbound(simulator):
    async with simulator() as sim:
        client = await RawClient.connect(sim.port)
        client.writer.write(_pdu(CommandId.BIND_TRANSCEIVER, 3, b"esme\0pw"))
        assert (await client.read()).status == Status.ESME_RINVCMDLEN
        client.submit()
        assert (await client.read()).status == Status.ESME_RINVBNDSTS
        assert (await client.bind()).status == 0
        await client.close()


async def test_an_unreadable_deliver_sm_resp_is_not_answered_and_the_receipt_comes_again(simulator):
    async with simulator(receipt_delay_ms=0) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        client.submit()
        first = None
        while first is None:
            pdu = await client.read()
            first = pdu if pdu.command_id == CommandId.DELIVER_SM else None
        client.writer.write(_pdu(CommandId.DELIVER_SM_RESP, first.sequence, b"\0\x04\x27"))  # broken TLV
        again = await client.read()  # no generic_nack: the receipt itself, offered again
        assert again.command_id == CommandId.DELIVER_SM and again.sequence != first.sequence
        assert again.fields == first.fields and again.tlvs == first.tlvs
        client.ack(again)
        assert (await client.call(CommandId.ENQUIRE_LINK)).status == 0
        await client.close()


async def test_a_garbage_length_of_a_known_command_is_answered_by_it_then_the_connection_closed(simulator):
    async with simulator() as sim:
        client = await RawClient.connect(sim.port)
        client.writer.write(struct.pack(">IIII", 70_000, CommandId.SUBMIT_SM, 0, 5))
        resp = await client.read()
        assert (resp.command_id, resp.status, resp.sequence) == (CommandId.SUBMIT_SM_RESP, Status.ESME_RINVCMDLEN, 5)
        assert await client.closed()


async def test_garbage_length_is_nacked_then_the_connection_closed(simulator):
    async with simulator() as sim:
        client = await RawClient.connect(sim.port)
        client.writer.write(b"\xff" * 16 + b"GET / HTTP/1.1\r\n")
        nack = await client.read()
        assert (nack.command_id, nack.status) == (CommandId.GENERIC_NACK, Status.ESME_RINVCMDLEN)
        assert await client.closed()


async def test_close_unbinds_bound_sessions(simulator):
    async with simulator() as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        closing = asyncio.create_task(sim.close())
        unbind = await client.read()
        assert unbind.command_id == CommandId.UNBIND
        client.writer.write(struct.pack(">IIII", 16, CommandId.UNBIND_RESP, 0, unbind.sequence))
        assert await client.closed()
        await asyncio.wait_for(closing, 5)


# --- a PDU that never arrives whole ---------------------------------------------------------------


async def test_a_pdu_that_never_completes_is_answered_then_the_connection_closed(simulator):
    async with simulator(pdu_timeout=0.3) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        start = time.monotonic()
        client.writer.write(struct.pack(">IIII", 60, CommandId.SUBMIT_SM, 0, 7) + b"\0\1\1")
        resp = await client.read()
        assert (resp.command_id, resp.status, resp.sequence) == (CommandId.SUBMIT_SM_RESP, Status.ESME_RINVCMDLEN, 7)
        assert time.monotonic() - start >= 0.3
        assert await client.closed()


async def test_a_header_that_never_completes_gets_generic_nack_then_the_connection_closed(simulator):
    async with simulator(pdu_timeout=0.3) as sim:
        client = await RawClient.connect(sim.port)
        client.writer.write(struct.pack(">II", 60, CommandId.SUBMIT_SM))
        nack = await client.read()
        assert (nack.command_id, nack.status, nack.sequence) == (CommandId.GENERIC_NACK, Status.ESME_RINVCMDLEN, 0)
        assert await client.closed()


async def test_a_sender_dribbling_one_octet_at_a_time_is_cut_off(simulator):
    async with simulator(pdu_timeout=0.3) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        client.writer.write(struct.pack(">IIII", 16 + 100, CommandId.SUBMIT_SM, 0, 8))

        sent = 0

        async def dribble() -> None:  # a body of 100 octets at one per 20 ms: 2 s at least
            nonlocal sent
            with contextlib.suppress(ConnectionError):
                for _ in range(100):
                    client.writer.write(b"\0")
                    await client.writer.drain()
                    sent += 1
                    await asyncio.sleep(0.02)

        dribbler = asyncio.create_task(dribble())
        start = time.monotonic()
        resp = await client.read()
        assert (resp.command_id, resp.status, resp.sequence) == (CommandId.SUBMIT_SM_RESP, Status.ESME_RINVCMDLEN, 8)
        assert time.monotonic() - start >= 0.3
        assert sent < 100  # cut at its own deadline while octets still came, not at its last one
        assert await client.closed()
        dribbler.cancel()


async def test_slow_senders_hold_nothing_past_the_timeout(simulator):
    async with simulator(pdu_timeout=0.5) as sim:
        clients = [await RawClient.connect(sim.port) for _ in range(40)]
        for client in clients:  # nearly a whole 64 KiB PDU each, never finished
            client.writer.write(struct.pack(">IIII", 65536, CommandId.SUBMIT_SM, 0, 1) + b"\0" * 60_000)
        await wait_until(lambda: sim.session_count == 40)
        await wait_until(lambda: sim.session_count == 0)  # every one answered and closed
        for client in clients:
            assert await client.closed()


async def test_a_pdu_split_across_writes_in_time_is_taken_and_the_idle_link_stays(simulator):
    async with simulator(pdu_timeout=0.6) as sim:
        client = await RawClient.connect(sim.port)
        await client.bind()
        wire = _pdu(CommandId.SUBMIT_SM, 11, SUBMIT_HEAD + SUBMIT_TAIL)
        # The sender's pace, not synchronisation: each PDU takes 0.2 s to arrive, well inside
        # the timeout, while the series takes twice the timeout.
        for _ in range(3):
            client.writer.write(wire[:20])
            await asyncio.sleep(0.2)
            client.writer.write(wire[20:] + wire[:20])
            await asyncio.sleep(0.2)
            client.writer.write(wire[20:])
            resps = [await client.read(), await client.read()]
            assert [(r.command_id, r.status) for r in resps] == [(CommandId.SUBMIT_SM_RESP, 0)] * 2
        await asyncio.sleep(0.7)  # idle past the timeout with nothing half-read
        assert (await client.call(CommandId.ENQUIRE_LINK)).status == 0
        await client.close()


async def test_time_spent_not_reading_an_esme_that_does_not_read_does_not_count():
    from types import SimpleNamespace

    from smsgate.smsc.session import Session

    class Transport:
        closed = False

        def write(self, data: bytes) -> None: ...
        def pause_reading(self) -> None: ...
        def resume_reading(self) -> None: ...
        def is_closing(self) -> bool: return self.closed
        def can_write_eof(self) -> bool: return False
        def close(self) -> None: self.closed = True

    hub = SimpleNamespace(system_id="smsc", pdu_timeout=0.1, on_closed=lambda s: None)
    session, transport = Session(hub), Transport()
    session.connection_made(transport)
    session.data_received(struct.pack(">IIII", 60, CommandId.ENQUIRE_LINK, 0, 1))
    session.pause_writing()  # the ESME stopped reading our answers: we stop reading it
    await asyncio.sleep(0.3)  # three timeouts pass while we are not reading
    assert not transport.closed
    session.resume_writing()
    resumed = time.monotonic()
    await wait_until(lambda: transport.closed)
    assert time.monotonic() - resumed >= 0.1
