"""The control port: how another shell talks to a running simulator.

Protocol: line-based JSON over TCP on 127.0.0.1 (by default the SMPP port + 1).  Each request is
one JSON object on one line; each gets one JSON line back, and the connection may carry many.

    → {"op": "mo", "from": "8613800000000", "to": "10690", "text": "TD"}
    ← {"ok": true, "sessions": 1}          (how many bound receivers got the deliver_sm)
    → {"op": "stats"}
    ← {"ok": true, "accepted": 1200, "sessions": 2}
    ← {"ok": false, "error": "…"}          (bad JSON, unknown op, missing field)

It listens on loopback only: anyone who can reach it can make the simulator send MOs.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from smsgate.domain.errors import SmsgateError
from smsgate.smsc.simulator import Simulator

__all__ = ["request", "start_control"]

_MAX_LINE = 64 * 1024


async def start_control(sim: Simulator, port: int, host: str = "127.0.0.1") -> asyncio.Server:
    """Serve the control protocol for ``sim`` until the returned server is closed."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(json.dumps(await _answer(sim, line)).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError):  # ValueError: a line over the limit
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, host, port, limit=_MAX_LINE)


async def _answer(sim: Simulator, line: bytes) -> dict[str, Any]:
    try:
        req = json.loads(line)
        if not isinstance(req, dict):
            raise ValueError("a request is a JSON object")
        op = req.get("op")
        if op == "mo":
            sent = await sim.inject_mo(str(req["from"]), str(req["to"]), str(req["text"]))
            return {"ok": True, "sessions": sent}
        if op == "stats":
            return {"ok": True, "accepted": sim.accepted, "sessions": sim.session_count}
        raise ValueError(f"unknown op {op!r}")
    except (ValueError, KeyError, SmsgateError) as e:  # SmsgateError: unencodable text
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def request(port: int, body: dict[str, Any], host: str = "127.0.0.1", timeout: float = 5.0) -> dict[str, Any]:
    """One blocking request/answer (for the ``mo`` command, which has no event loop)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(json.dumps(body).encode() + b"\n")
        with sock.makefile("rb") as answers:
            line = answers.readline(_MAX_LINE)
    if not line:
        raise ConnectionError("the simulator closed the control connection without answering")
    answer: dict[str, Any] = json.loads(line)
    return answer
