"""An SMSC whose every PDU is decoded and encoded by smpplib, a third-party SMPP codec.

smpplib is a (blocking) client library, but its PDU classes work in both directions:
``smpp.parse_pdu(data, client=...)`` decodes a whole PDU and ``smpp.make_pdu(name, client=...,
sequence=..., **fields).generate()`` builds one.  This peer only frames the stream by
command_length; nothing from :mod:`smsgate.smpp` touches the bytes, so what it records is what
an independent implementation made of our client's PDUs, and what our client receives was
written by that implementation.

smpplib's conventions, for readers of the tests: C-Octet string fields are given as ``str`` and
come back parsed as ``bytes``; ``short_message`` is bytes both ways; TLVs are plain keyword
fields named as in ``smpplib.consts.OPTIONAL_PARAMS`` (``receipted_message_id``,
``message_state``, ``sc_interface_version``).  Parsing is strict (unknown TLVs raise), so a
TLV smpplib does not know in one of our PDUs shows up in :attr:`SmpplibSmsc.errors`.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from dataclasses import dataclass, field

from smpplib import consts, smpp
from smpplib.command import Command

from tests.peers.loopback import LoopbackServer

BIND_REQUESTS = ("bind_transceiver", "bind_transmitter", "bind_receiver")


class _Sequencer:
    """What smpplib wants as ``client``: something with ``next_sequence()``.

    Deliberately no ``sequence`` attribute: smpplib's ``PDU.sequence`` falls back to
    ``client.sequence`` while unset, and ``Command._set_vars`` only fills attributes that read
    as None, so with one a ``make_pdu(..., sequence=n)`` response silently kept the client's
    last number instead of ``n`` (see :func:`_build`).
    """

    def __init__(self) -> None:
        self._count = itertools.count(1)

    def next_sequence(self) -> int:
        return next(self._count)


def _build(command: str, client: _Sequencer, sequence: int, **fields: object) -> bytes:
    """smpplib's bytes for ``command``, checked to carry ``sequence``."""
    pdu = smpp.make_pdu(command, client=client, sequence=sequence, **fields)
    pdu.sequence = sequence
    data = pdu.generate()
    assert struct.unpack_from(">I", data, 12)[0] == sequence
    return data


@dataclass
class Conn:
    """One ESME connection as this SMSC sees it."""

    number: int  # 1 for the first connection accepted, 2 for the next, ...
    writer: asyncio.StreamWriter
    received: list[Command] = field(default_factory=list)  # every PDU from the ESME, parsed
    bound_as: str | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # the ESME's side is gone
    pending: dict[int, asyncio.Future[Command]] = field(default_factory=dict)

    def commands(self) -> list[str]:
        return [p.command for p in self.received]

    def abort(self) -> None:
        self.writer.transport.abort()


@dataclass(frozen=True)
class Submitted:
    """A submit_sm as smpplib decoded it, with the id this SMSC answered."""

    pdu: Command
    message_id: str
    conn: int


class SmpplibSmsc(LoopbackServer[Conn]):
    """Answers binds, submit_sm, enquire_link and unbind; pushes deliver_sm on request."""

    def __init__(self, system_id: str = "SMSC") -> None:
        super().__init__()
        self.system_id = system_id
        self.binds: list[Command] = []
        self.submits: list[Submitted] = []
        self.errors: list[str] = []  # PDUs smpplib could not parse, and generic_nacks we got
        self.refuse: dict[str, int] = {}  # destination -> command_status its submits get
        self._sequencer = _Sequencer()
        self._ids = itertools.count(0x1A2B3C)

    # --- hooks for SMSCs with other habits ---

    def next_message_id(self) -> str:
        """The id for the next accepted submit_sm: upper-case hex, as many carriers answer."""
        return f"{next(self._ids):X}"

    def answered(self, conn: Conn, submitted: Submitted) -> None:
        """Called once a submit_sm has been answered with ``submitted.message_id``."""

    # --- what tests look at ---

    def received(self, command: str) -> list[Command]:
        return [p for c in self.conns for p in c.received if p.command == command]

    @property
    def bound(self) -> Conn:
        """The newest connection that is bound and still open."""
        for conn in reversed(self.conns):
            if conn.bound_as is not None and not conn.ended.is_set():
                return conn
        raise LookupError("no bound connection")

    # --- pushing requests to the ESME (encoded by smpplib) ---

    async def request(self, command: str, conn: Conn | None = None, timeout: float = 3.0,
                      **fields: object) -> Command:
        """Send ``command`` built by smpplib; return the ESME's answer as smpplib parsed it."""
        conn = conn or self.bound
        sequence = self._sequencer.next_sequence()
        data = _build(command, self._sequencer, sequence, **fields)
        future: asyncio.Future[Command] = asyncio.get_running_loop().create_future()
        conn.pending[sequence] = future
        try:
            conn.writer.write(data)
            await conn.writer.drain()
            return await asyncio.wait_for(future, timeout)
        finally:
            conn.pending.pop(sequence, None)

    async def deliver(self, **fields: object) -> Command:
        """A deliver_sm (fields and TLVs by smpplib's names); returns the deliver_sm_resp."""
        return await self.request("deliver_sm", **fields)

    # --- serving ---

    def _send(self, conn: Conn, command: str, sequence: int, **fields: object) -> None:
        conn.writer.write(_build(command, self._sequencer, sequence, **fields))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(len(self.conns) + 1, writer)
        self.conns.append(conn)
        await self.changed()
        try:
            while True:
                head = await reader.readexactly(4)
                (length,) = struct.unpack(">I", head)
                if not 16 <= length <= 65536:
                    self.errors.append(f"bad command_length {length}")
                    return
                data = head + await reader.readexactly(length - 4)
                try:
                    pdu = smpp.parse_pdu(data, client=self._sequencer)
                except Exception as exc:  # smpplib could not make sense of our PDU
                    self.errors.append(f"smpplib cannot parse {data.hex()}: {exc!r}")
                    return
                conn.received.append(pdu)
                await self._handle(conn, pdu)
                await conn.writer.drain()
                await self.changed()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            conn.ended.set()
            writer.transport.abort()
            await self.changed()

    async def _handle(self, conn: Conn, pdu: Command) -> None:
        if pdu.command == "generic_nack":
            self.errors.append(f"the ESME sent generic_nack status 0x{pdu.status:x} seq {pdu.sequence}")
        if pdu.is_response():
            future = conn.pending.get(pdu.sequence)
            if future is not None and not future.done():
                future.set_result(pdu)
        elif pdu.command in BIND_REQUESTS:
            self.binds.append(pdu)
            conn.bound_as = pdu.command
            self._send(conn, pdu.command + "_resp", pdu.sequence, system_id=self.system_id,
                       sc_interface_version=consts.SMPP_VERSION_34)
        elif pdu.command == "submit_sm":
            status = self.refuse.get(pdu.destination_addr.decode("latin-1"), consts.SMPP_ESME_ROK)
            if status != consts.SMPP_ESME_ROK:  # smpplib still writes an (empty) message_id
                self.submits.append(Submitted(pdu, "", conn.number))
                self._send(conn, "submit_sm_resp", pdu.sequence, status=status)
                return
            message_id = self.next_message_id()
            self.submits.append(Submitted(pdu, message_id, conn.number))
            self._send(conn, "submit_sm_resp", pdu.sequence, message_id=message_id)
            self.answered(conn, self.submits[-1])
        elif pdu.command == "enquire_link":
            self._send(conn, "enquire_link_resp", pdu.sequence)
        elif pdu.command == "unbind":
            self._send(conn, "unbind_resp", pdu.sequence)
        else:
            self._send(conn, "generic_nack", pdu.sequence, status=consts.SMPP_ESME_RINVCMDID)


def receipt_text(message_id: str, stat: str, err: str, submit_date: str, done_date: str) -> bytes:
    """The SMPP 3.4 Appendix B receipt text, as carriers write it."""
    return (f"id:{message_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
            f"submit date:{submit_date} done date:{done_date} stat:{stat} err:{err} text:").encode("ascii")
