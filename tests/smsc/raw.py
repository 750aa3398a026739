"""A bare SMPP client over asyncio streams, built on our codec, for driving the simulator
byte by byte (the interop tests use smpplib instead)."""

from __future__ import annotations

import asyncio

from smsgate.smpp.pdu import CommandId, Pdu, decode, encode, pdu_length, response_to

TIMEOUT = 10.0  # generous: a loaded 2-core CI box must not fail a test by slowness


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.seq = 0

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def send(self, command: CommandId, **fields: object) -> int:
        self.seq += 1
        self.writer.write(encode(Pdu(command, self.seq, fields=dict(fields))))
        return self.seq

    async def read(self, timeout: float = TIMEOUT) -> Pdu:
        header = await asyncio.wait_for(self.reader.readexactly(16), timeout)
        rest = await asyncio.wait_for(self.reader.readexactly(pdu_length(header) - 16), timeout)
        return decode(header + rest)

    async def call(self, command: CommandId, **fields: object) -> Pdu:
        seq = self.send(command, **fields)
        pdu = await self.read()
        assert pdu.sequence == seq, pdu
        return pdu

    async def bind(self, command: CommandId = CommandId.BIND_TRANSCEIVER, system_id: str = "esme",
                   password: str = "pw") -> Pdu:
        return await self.call(command, system_id=system_id, password=password)

    def submit(self, text: bytes = b"hello", destination: str = "8613800000001",
               registered_delivery: int = 1, **fields: object) -> int:
        return self.send(CommandId.SUBMIT_SM, source_addr="10690", destination_addr=destination,
                         short_message=text, registered_delivery=registered_delivery, **fields)

    async def query(self, message_id: str, source_addr: str = "10690") -> Pdu:
        return await self.call(CommandId.QUERY_SM, message_id=message_id, source_addr=source_addr)

    async def cancel(self, message_id: str, source_addr: str = "10690",
                     destination: str = "8613800000001") -> Pdu:
        return await self.call(CommandId.CANCEL_SM, message_id=message_id, source_addr=source_addr,
                               destination_addr=destination)

    def ack(self, deliver: Pdu) -> None:
        self.writer.write(encode(response_to(deliver, message_id="")))

    async def closed(self, timeout: float = TIMEOUT) -> bool:
        """True once the server has closed the connection (unread PDUs are skipped)."""
        async with asyncio.timeout(timeout):
            while await self.reader.read(65536):
                pass
        await self.close()
        return True

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass
