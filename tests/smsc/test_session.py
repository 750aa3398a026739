"""Binding, framing and the answers every SMSC gives, driven with our own codec."""

from __future__ import annotations

import asyncio
import struct

from smsgate.smpp.pdu import CommandId, Status
from tests.smsc.raw import RawClient


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


async def test_undecodable_body_is_nacked_with_its_sequence(simulator):
    async with simulator() as sim:
        client = await RawClient.connect(sim.port)
        client.writer.write(struct.pack(">IIII", 20, CommandId.SUBMIT_SM, 0, 9) + b"ab\0c")
        nack = await client.read()
        assert (nack.command_id, nack.sequence) == (CommandId.GENERIC_NACK, 9)
        assert nack.status == Status.ESME_RINVMSGLEN
        assert (await client.call(CommandId.ENQUIRE_LINK)).status == 0
        await client.close()


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
