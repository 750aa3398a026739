"""``smsgate smsc-sim``: run the SMSC simulator standalone, and inject MOs into a running one.

    smsgate smsc-sim --port 2775 --record sent.jsonl          # runs until Ctrl-C / SIGTERM
    smsgate smsc-sim mo --port 2775 --from 8613800000000 --to 10690 --text TD

The second command talks to the first over its control port (SMPP port + 1 unless
``--control-port``; protocol in :mod:`smsgate.smsc.control`).
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated, Optional

import typer

from smsgate.smsc.config import SimConfig
from smsgate.smsc.control import request, start_control
from smsgate.smsc.simulator import Simulator

__all__ = ["app"]

app = typer.Typer(
    help="The built-in SMSC simulator (an SMPP 3.4 server).",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)

Port = Annotated[int, typer.Option("--port", help="SMPP port (0: any free port).")]
ControlPort = Annotated[
    Optional[int], typer.Option("--control-port", help="Control port on 127.0.0.1 [default: SMPP port + 1].")
]


@app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    port: Port = 2775,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    record: Annotated[Optional[Path], typer.Option(help="JSON Lines file: one line per accepted submit_sm.")] = None,
    deliver_ratio: Annotated[float, typer.Option(help="Share of DELIVRD receipts.")] = 0.97,
    latency_ms: Annotated[int, typer.Option(help="Delay before each submit_sm_resp.")] = 0,
    receipt_delay_ms: Annotated[int, typer.Option(help="Delay before each receipt.")] = 200,
    throttle_every: Annotated[int, typer.Option(help="Throttle every Nth submit_sm per connection.")] = 0,
    drop_after: Annotated[int, typer.Option(help="Cut a connection after N accepted submit_sm.")] = 0,
    system_id: Annotated[str, typer.Option(help="Our system_id; with --password the only one accepted.")] = "smsgate",
    password: Annotated[str, typer.Option(help="Required password (empty: accept any).")] = "",
    seed: Annotated[Optional[int], typer.Option(help="Seed for reproducible outcomes and ids.")] = None,
    pdu_timeout: Annotated[float, typer.Option(help="Seconds a PDU may take to arrive whole.")] = 5.0,
    remember: Annotated[int, typer.Option(help="Recent messages query_sm/cancel_sm can reach.")] = 100_000,
    control_port: ControlPort = None,
) -> None:
    """Run the simulator until SIGINT/SIGTERM, then unbind everyone and flush the record."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        config = SimConfig(host=host, port=port, system_id=system_id, password=password,
                           deliver_ratio=deliver_ratio, receipt_delay_ms=receipt_delay_ms,
                           latency_ms=latency_ms, throttle_every=throttle_every,
                           drop_after=drop_after, record=record, seed=seed,
                           pdu_timeout=pdu_timeout, remember=remember)  # fmt: skip
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    try:
        asyncio.run(_serve(config, _control_port(port, control_port)))
    except OSError as e:  # port taken, record path not writable
        typer.echo(f"smsc-sim: {e}", err=True)
        raise typer.Exit(1) from e


@app.command("mo")
def mo(
    from_: Annotated[str, typer.Option("--from", help="The handset number.")],
    to: Annotated[str, typer.Option("--to", help="The short code it replies to.")],
    text: Annotated[str, typer.Option("--text", help="The reply text.")],
    port: Port = 2775,
    control_port: ControlPort = None,
) -> None:
    """Make a running simulator send an MO (deliver_sm) to every bound receiver."""
    body = {"op": "mo", "from": from_, "to": to, "text": text}
    try:
        answer = request(_control_port(port, control_port), body)
    except OSError as e:
        typer.echo(f"cannot reach the simulator's control port: {e}", err=True)
        raise typer.Exit(2) from e
    typer.echo(json.dumps(answer))
    if not answer.get("ok"):
        raise typer.Exit(1)


def _control_port(port: int, control_port: int | None) -> int:
    if control_port is not None:
        return control_port
    return port + 1 if port else 0


async def _serve(config: SimConfig, control_port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sim = Simulator(config)
    await sim.start()
    control = await start_control(sim, control_port)
    bound = control.sockets[0].getsockname()[1]
    typer.echo(f"smsc-sim listening on {config.host}:{sim.port} (control 127.0.0.1:{bound})")
    try:
        await stop.wait()
    finally:
        control.close()
        await sim.close()
        typer.echo(f"smsc-sim stopped after {sim.accepted} accepted submit_sm")
