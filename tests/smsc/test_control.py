"""The control port and the ``smsc-sim`` command line."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from smsgate.smpp.parts import decode_text
from smsgate.smpp.pdu import CommandId, Pdu, encode
from smsgate.smsc.cli import app
from smsgate.smsc.control import request, start_control
from tests.smsc.raw import RawClient


async def test_mo_and_stats_over_the_control_port(simulator):
    async with simulator() as sim:
        control = await start_control(sim, 0)
        port = control.sockets[0].getsockname()[1]
        try:
            rx = await RawClient.connect(sim.port)
            await rx.bind(CommandId.BIND_RECEIVER)
            body = {"op": "mo", "from": "8613800000001", "to": "10690", "text": "R"}
            assert await asyncio.to_thread(request, port, body) == {"ok": True, "sessions": 1}
            mo = await rx.read()
            assert decode_text(mo.fields["short_message"], mo.fields["data_coding"], 0)[0] == "R"
            stats = await asyncio.to_thread(request, port, {"op": "stats"})
            assert stats == {"ok": True, "accepted": 0, "sessions": 1}
            bad = await asyncio.to_thread(request, port, {"op": "reboot"})
            assert bad["ok"] is False and "reboot" in bad["error"]
            await rx.close()
        finally:
            control.close()
            await control.wait_closed()


async def test_cli_mo_command_talks_to_the_control_port(simulator):
    async with simulator() as sim:
        control = await start_control(sim, 0)
        port = control.sockets[0].getsockname()[1]
        try:
            args = ["mo", "--control-port", str(port), "--from", "8613800000001", "--to", "10690",
                    "--text", "TD"]
            result = await asyncio.to_thread(CliRunner().invoke, app, args)
            assert result.exit_code == 0, result.output
            assert '"sessions": 0' in result.output
        finally:
            control.close()
            await control.wait_closed()


def test_cli_mo_without_a_simulator_fails_cleanly():
    args = ["mo", "--control-port", "1", "--from", "1", "--to", "2", "--text", "x"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2


@pytest.mark.slow  # starts an smsgate process
async def test_standalone_run_stops_on_sigterm_and_keeps_the_record(tmp_path):
    import re
    import signal
    import sys

    record = tmp_path / "sent.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from smsgate.smsc.cli import app; app()", "--port", "0",
        "--control-port", "0", "--record", str(record), stdout=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        port = int(re.search(r":(\d+) \(control", line).group(1))
        client = await RawClient.connect(port)
        await client.bind()
        for _ in range(25):
            client.submit(registered_delivery=0)
        for _ in range(25):
            assert (await client.read()).status == 0
        proc.send_signal(signal.SIGTERM)
        unbind = await client.read()  # a clean close asks us to unbind first
        assert unbind.command_id == CommandId.UNBIND
        client.writer.write(encode(Pdu(CommandId.UNBIND_RESP, unbind.sequence)))
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        await client.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert len(record.read_text().splitlines()) == 25


def test_an_mo_from_a_national_number_is_not_sent_as_international():
    from smsgate.dispatch.settling import _e164
    from smsgate.smpp.pdu import decode
    from smsgate.smsc.messages import mo_pdu

    national = decode(mo_pdu("13412345678", "10690", "TD"))
    international = decode(mo_pdu("+8613412345678", "10690", "TD"))
    assert (national.fields["source_addr_ton"], national.fields["source_addr"]) == (0, "13412345678")
    assert (international.fields["source_addr_ton"], international.fields["source_addr"]) == (1, "8613412345678")
    assert _e164("13412345678") == "+8613412345678"  # the reply finds the message sent to that number
