"""A well-behaved SMSC for tests: binds, answers submit_sm with ids, pushes receipts and MOs.

It listens on 127.0.0.1 port 0 and records what the ESME sent, so tests can wait for a
condition (:meth:`Smsc.until`) instead of sleeping.  Subclasses in :mod:`tests.peers.misbehaving`
override one hook each.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime

from smsgate.smpp.dlr import receipt_text
from smsgate.smpp.pdu import CommandId, Pdu, Status, Tag, decode, encode, pdu_length, response_to
from tests.peers.loopback import LoopbackServer

BINDS = (CommandId.BIND_TRANSCEIVER, CommandId.BIND_TRANSMITTER, CommandId.BIND_RECEIVER)
RECEIVES = (CommandId.BIND_TRANSCEIVER, CommandId.BIND_RECEIVER)


class PeerConn:
    """One ESME connection as the SMSC sees it."""

    def __init__(self, smsc: Smsc, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.smsc = smsc
        self.reader = reader
        self.writer = writer
        self.bound_as: CommandId | None = None
        self.closed = False
        self.held: dict[int, Pdu] = {}  # submit_sm not answered yet, by sequence
        self.received: list[Pdu] = []  # every PDU from the ESME on this connection
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._sequence = itertools.count(1)

    def send(self, pdu: Pdu) -> None:
        self.writer.write(encode(pdu))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def answer_submit(self, pdu: Pdu, status: int = 0, message_id: str | None = None) -> str:
        """Answer a submit_sm (with a fresh id unless given); returns the id sent."""
        self.held.pop(pdu.sequence, None)
        if message_id is None:
            message_id = self.smsc.next_id() if status == 0 else ""
        fields = {"message_id": message_id} if status == 0 else {}
        self.send(Pdu(CommandId.SUBMIT_SM_RESP, pdu.sequence, status, fields))
        self.smsc.ids[str(pdu.fields["destination_addr"])] = message_id
        return message_id

    async def request(self, command: int, fields: dict[str, object] | None = None,
                      tlvs: dict[int, bytes] | None = None, timeout: float = 3.0) -> Pdu:
        """Send a request to the ESME and return what answers it (by sequence number)."""
        sequence = next(self._sequence)
        pdu = Pdu(CommandId(command), sequence, 0, fields or {}, tlvs or {})
        return await self.exchange(encode(pdu), sequence, timeout)

    async def exchange(self, data: bytes, sequence: int, timeout: float = 3.0) -> Pdu:
        """Send raw bytes and return the response carrying ``sequence``."""
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self._pending[sequence] = future
        self.send_raw(data)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(sequence, None)

    def answered(self, pdu: Pdu) -> bool:
        future = self._pending.get(pdu.sequence)
        if future is None or future.done():
            return False
        future.set_result(pdu)
        return True

    def abort(self) -> None:
        self.closed = True
        self.writer.transport.abort()


class Smsc(LoopbackServer[PeerConn]):
    """The well-behaved SMSC.  ``refuse`` maps a destination to the status its submits get."""

    system_id = "esme"
    password = "secret"

    def __init__(self) -> None:
        super().__init__()
        self.binds: list[tuple[CommandId, int]] = []  # (bind command, status answered)
        self.submits: list[Pdu] = []
        self.received: list[Pdu] = []  # every PDU from the ESME, in order
        self.ids: dict[str, str] = {}  # destination -> message id answered
        self.refuse: dict[str, int] = {}
        self.max_outstanding = 0
        self._id_counter = itertools.count(0xA1B2C3)

    # --- what the tests look at ---

    def next_id(self) -> str:
        """Upper-case hex with leading zeros, as some carriers spell their ids."""
        return f"{next(self._id_counter):08X}"

    @property
    def outstanding(self) -> int:
        return sum(len(c.held) for c in self.conns if not c.closed)

    def of(self, command: CommandId) -> list[Pdu]:
        return [p for p in self.received if p.command_id == command]

    def bound(self, kinds: tuple[CommandId, ...] = BINDS) -> PeerConn:
        """The newest open connection bound as one of ``kinds``."""
        for conn in reversed(self.conns):
            if not conn.closed and conn.bound_as in kinds:
                return conn
        raise LookupError("no such bound connection")

    @property
    def receiver(self) -> PeerConn:
        return self.bound(RECEIVES)

    # --- pushing to the ESME ---

    async def deliver(self, fields: dict[str, object], tlvs: dict[int, bytes] | None = None,
                      conn: PeerConn | None = None) -> Pdu:
        """Push a deliver_sm and return the ESME's answer."""
        return await (conn or self.receiver).request(CommandId.DELIVER_SM, fields, tlvs)

    async def receipt(self, message_id: str, stat: str = "DELIVRD", *, tlv: bool = False,
                      done: datetime = datetime(2024, 3, 5, 14, 30), conn: PeerConn | None = None) -> Pdu:
        """Push a delivery receipt, the id in the text (default) or in receipted_message_id."""
        fields: dict[str, object] = {"esm_class": 0x04, "source_addr_ton": 1,
                                     "source_addr": "8613800138000", "destination_addr": "10690001"}
        if tlv:
            tlvs = {Tag.RECEIPTED_MESSAGE_ID: message_id.encode() + b"\0", Tag.MESSAGE_STATE: b"\x02"}
            return await self.deliver(fields, tlvs, conn)
        fields["short_message"] = receipt_text(message_id, stat, submit=done, done=done)
        return await self.deliver(fields, conn=conn)

    # --- serving ---

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = PeerConn(self, reader, writer)
        self.conns.append(conn)
        try:
            while not conn.closed:
                head = await reader.readexactly(4)
                pdu = decode(head + await reader.readexactly(pdu_length(head) - 4))
                self.received.append(pdu)
                conn.received.append(pdu)
                await self.handle(conn, pdu)
                await self.changed()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            conn.abort()
            await self.changed()

    async def handle(self, conn: PeerConn, pdu: Pdu) -> None:
        if pdu.is_response:
            conn.answered(pdu)
        elif pdu.command_id in BINDS:
            await self.on_bind(conn, pdu)
        elif pdu.command_id == CommandId.SUBMIT_SM:
            self.submits.append(pdu)
            conn.held[pdu.sequence] = pdu
            self.max_outstanding = max(self.max_outstanding, self.outstanding)
            await self.on_submit(conn, pdu)
        elif pdu.command_id == CommandId.ENQUIRE_LINK:
            await self.on_enquire_link(conn, pdu)
        elif pdu.command_id == CommandId.UNBIND:
            conn.send(response_to(pdu))
            await conn.writer.drain()
            conn.abort()

    # --- hooks the misbehaving peers override ---

    def bind_status(self, pdu: Pdu) -> int:
        ok = pdu.fields["system_id"] == self.system_id and pdu.fields["password"] == self.password
        return Status.ESME_ROK if ok else Status.ESME_RINVPASWD

    async def on_bind(self, conn: PeerConn, pdu: Pdu) -> None:
        status = self.bind_status(pdu)
        self.binds.append((pdu.command_id, status))
        if status == 0:
            conn.bound_as = pdu.command_id
            conn.send(response_to(pdu, status, system_id="peer"))
        else:
            conn.send(response_to(pdu, status))

    async def on_submit(self, conn: PeerConn, pdu: Pdu) -> None:
        conn.answer_submit(pdu, self.refuse.get(str(pdu.fields["destination_addr"]), 0))

    async def on_enquire_link(self, conn: PeerConn, pdu: Pdu) -> None:
        conn.send(response_to(pdu))
