"""One SMPP connection seen from the SMSC side: framing, bind state, and the answers that need
no simulator policy (bind, enquire_link, unbind, generic_nack, deliver_sm_resp).

Strict as a carrier's SMSC: requests are decoded with ``strict=True``; a request whose body is
malformed gets its own ``*_resp`` with the status naming the fault (ESME_RINVCMDLEN,
ESME_RINVOPTPARSTREAM, ESME_RINVSRCADR …) and the session goes on; an unknown command_id gets
generic_nack ESME_RINVCMDID.  A command_length below 16 or above 64 KiB loses the framing: it is
answered the same way and the connection closed.  A PDU must arrive whole within the hub's
``pdu_timeout`` seconds of its first octet (time spent while we are not reading, because the ESME
does not read our answers, does not count); otherwise it is answered as a length error and the
connection closed, since the rest of it, if it ever came, could no longer be told from the next
PDU.  So a slow sender holds at most one PDU (64 KiB) for ``pdu_timeout`` seconds.

What to do with a submit_sm is the simulator's business (the :class:`Hub` hooks), as aiosmtpd
keeps the protocol apart from the handling of a message.

Written as an ``asyncio.Protocol`` rather than with streams: a benchmark pushes 5,000+
submit_sm/s through one bind, and a protocol handles every PDU of one read without a task or an
``await`` per PDU.  Outgoing PDUs are collected and written once per loop iteration.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import typing
from dataclasses import dataclass
from typing import Protocol

from smsgate.smpp.pdu import CommandId, Pdu, PduError, Status, decode, encode, error_response, pdu_length, response_to

__all__ = ["Delivery", "Hub", "Session"]

log = logging.getLogger(__name__)

_HEADER = 16
_MAX_SEQ = 0x7FFFFFFF
_LINGER_S = 2.0  # after our FIN, how long the ESME may take to close its side
# deliver_sm_resp statuses that mean "not now": ESME_RX_T_APPN, ESME_RMSGQFUL, ESME_RTHROTTLED
_RETRY_LATER = frozenset({0x65, 0x14, 0x58})
# bind command -> (may submit, may receive)
_BINDS = {
    CommandId.BIND_TRANSMITTER: (True, False),
    CommandId.BIND_RECEIVER: (False, True),
    CommandId.BIND_TRANSCEIVER: (True, True),
}


@dataclass(slots=True)
class Delivery:
    """A deliver_sm waiting to go out or for its deliver_sm_resp.

    ``wire`` is encoded once with sequence 0; each send patches in the session's sequence.
    ``origin`` is the session that submitted the message a receipt is about (None for an MO),
    ``message`` the simulator's number of that message (-1 for an MO).
    """

    system_id: str
    wire: bytes
    origin: Session | None = None
    message: int = -1


class Hub(Protocol):
    """The simulator as a session sees it."""

    system_id: str
    pdu_timeout: float  # seconds a PDU may take to arrive whole

    def authenticate(self, system_id: str, password: str) -> int: ...
    def on_bound(self, session: Session) -> None: ...
    def on_submit(self, session: Session, pdu: Pdu) -> None: ...
    def on_query(self, session: Session, pdu: Pdu) -> None: ...
    def on_cancel(self, session: Session, pdu: Pdu) -> None: ...
    def on_closed(self, session: Session) -> None: ...
    def on_refused(self, session: Session, item: Delivery) -> None: ...


class Session(asyncio.Protocol):
    """The state of one ESME connection; created by the simulator's server per connection."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.system_id = ""
        self.can_submit = self.can_receive = False
        self.submits = 0  # submit_sm received while bound (throttle_every counts these)
        self.accepted = 0  # of which accepted (drop_after counts these)
        self.unacked: dict[int, Delivery] = {}
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._partial_since: float | None = None  # loop time the unfinished PDU in _buf began
        self._partial_timer: asyncio.TimerHandle | None = None
        self._reading_paused = False
        self._linger_handle: asyncio.TimerHandle | None = None
        self._out: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._seq = 0
        self._deaf = False  # stop reading: the connection is being cut
        self._close_when_flushed = False

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._close_when_flushed

    # --- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same methods
        self._transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._deaf:
            return
        self._buf += data
        consumed = self._read_frames()
        del self._buf[:consumed]
        if not self._buf:
            self._partial_since = None
        elif consumed or self._partial_since is None:  # a new PDU has begun and not yet ended
            self._partial_since = self._loop.time()
            if self._partial_timer is None:
                self._check_partial_later(self.hub.pdu_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.can_submit = self.can_receive = False
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for handle in (self._partial_timer, self._linger_handle):
            if handle is not None:
                handle.cancel()
        self.hub.on_closed(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        """A client that does not read must slow the one that writes: stop reading it too."""
        if self._transport is not None:
            self._transport.pause_reading()
            self._reading_paused = True

    def resume_writing(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()
            self._reading_paused = False
            if self._partial_since is not None:  # its sender was waiting for us: start afresh
                self._partial_since = self._loop.time()

    # --- output ----------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue bytes for the next write; one write per loop iteration, however many PDUs."""
        if self._transport is None:
            return
        self._out.append(data)
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def send_and_close(self, data: bytes) -> None:
        """Send a last PDU, then close once it has been written (drop_after, unbind)."""
        self.send(data)
        self._deaf = self._close_when_flushed = True

    def mute(self) -> None:
        """Ignore everything the ESME sends from now on (the link is about to be cut)."""
        self._deaf = True

    def deliver(self, item: Delivery) -> bool:
        """Send a deliver_sm and keep it until its deliver_sm_resp; False if the link is gone."""
        if not self.open or not self.can_receive:
            return False
        seq = self._next_seq()
        self.unacked[seq] = item
        self.send(item.wire[:12] + seq.to_bytes(4, "big") + item.wire[16:])
        return True

    def shutdown(self) -> None:
        """Ask the ESME to unbind (the simulator is closing); close on its unbind_resp."""
        if self._transport is None:
            return
        if not (self.can_submit or self.can_receive):
            self._close_when_flushed = True
            self.send(b"")
            return
        self.can_submit = self.can_receive = False
        self.send(encode(Pdu(CommandId.UNBIND, self._next_seq())))

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _flush(self) -> None:
        self._flush_handle = None
        if self._transport is None or self._transport.is_closing() or self._linger_handle is not None:
            return
        if self._out:
            self._transport.write(b"".join(self._out))
            self._out.clear()
        if self._close_when_flushed:
            self._linger()

    def _linger(self) -> None:
        """Close so that our last answer stays readable: send FIN, drop whatever the ESME still
        sends, and close when it closes too, or abort after ``_LINGER_S``.  A plain close()
        while the ESME is still writing (a slow sender cut off, a pipelining client past
        drop_after) makes our kernel answer its next octets with a reset, and a reset can
        destroy the answer in the ESME's receive buffer before it has read it."""
        assert self._transport is not None
        if not self._transport.can_write_eof():
            self._transport.close()
            return
        self._transport.write_eof()
        self._linger_handle = self._loop.call_later(_LINGER_S, self._transport.abort)

    def _next_seq(self) -> int:
        self._seq = self._seq % _MAX_SEQ + 1
        return self._seq

    # --- input -----------------------------------------------------------------------------------

    def _read_frames(self) -> int:
        """Handle every whole PDU in the buffer; return how many octets were used."""
        buf, pos = self._buf, 0
        while not self._deaf and len(buf) - pos >= _HEADER:
            try:
                length = pdu_length(buf[pos:pos + _HEADER])
            except PduError as error:  # framing is lost: nothing after this can be trusted
                self.send_and_close(encode(error_response(error)))
                return len(buf)
            if len(buf) - pos < length:
                break
            self._handle(bytes(buf[pos:pos + length]))
            pos += length
        return pos

    def _check_partial_later(self, delay: float) -> None:
        self._partial_timer = self._loop.call_later(delay, self._check_partial)

    def _check_partial(self) -> None:
        """Cut the link if the PDU begun at ``_partial_since`` is overdue (module docstring).

        One timer per session at most, re-armed rather than cancelled as PDUs complete, so the
        submit path pays nothing for it."""
        self._partial_timer = None
        if self._partial_since is None or self._deaf or self._transport is None:
            return
        timeout = self.hub.pdu_timeout
        if self._reading_paused:
            self._check_partial_later(timeout)
            return
        overdue = self._loop.time() - self._partial_since - timeout
        if overdue < 0:
            self._check_partial_later(-overdue)
            return
        sequence = command_id = None
        if len(self._buf) >= _HEADER:  # answer the command itself when its header is known
            _, command_id, _, sequence = struct.unpack_from(">IIII", self._buf)
        log.info("smsc_pdu_timeout", extra={"system_id": self.system_id, "octets": len(self._buf),
                                            "timeout_s": timeout})
        error = PduError(Status.ESME_RINVCMDLEN, f"PDU incomplete after {timeout} s", sequence, command_id)
        self._buf.clear()
        self._partial_since = None
        self.send_and_close(encode(error_response(error)))

    def _handle(self, frame: bytes) -> None:
        is_request = not frame[4] & 0x80
        try:
            pdu = decode(frame, strict=is_request)
        except PduError as error:
            if is_request or error.status == Status.ESME_RINVCMDID:
                self.send(encode(error_response(error)))
            elif error.command_id == CommandId.DELIVER_SM_RESP:  # unreadable: not delivered
                self._refused(error.sequence)
            return
        command = pdu.command_id
        if command == CommandId.SUBMIT_SM:
            self._on_submit(pdu)
        elif command == CommandId.DELIVER_SM_RESP:
            if pdu.status in _RETRY_LATER:
                self._refused(pdu.sequence)
            else:
                self.unacked.pop(pdu.sequence, None)
        elif command == CommandId.ENQUIRE_LINK:
            self.send(encode(response_to(pdu)))
        elif command in _BINDS:
            self._on_bind(pdu)
        elif command == CommandId.QUERY_SM or command == CommandId.CANCEL_SM:
            self._on_query_or_cancel(pdu)
        elif command == CommandId.UNBIND:
            self.can_submit = self.can_receive = False
            self.send_and_close(encode(response_to(pdu)))
        elif command == CommandId.UNBIND_RESP:
            self.send_and_close(b"")
        elif not pdu.is_response:  # a request an SMSC does not take (deliver_sm)
            self.send(encode(Pdu(CommandId.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID)))

    def _refused(self, sequence: int | None) -> None:
        item = self.unacked.pop(sequence or 0, None)
        if item is not None:
            self.hub.on_refused(self, item)

    def _on_submit(self, pdu: Pdu) -> None:
        if not self.can_submit:
            self.send(encode(response_to(pdu, Status.ESME_RINVBNDSTS)))
            return
        self.submits += 1
        self.hub.on_submit(self, pdu)

    def _on_query_or_cancel(self, pdu: Pdu) -> None:
        """query_sm and cancel_sm act on messages this ESME submitted: a transmitter's (or a
        transceiver's) operations, refused to a receiver or before bind."""
        if not self.can_submit:
            self.send(encode(response_to(pdu, Status.ESME_RINVBNDSTS)))
        elif pdu.command_id == CommandId.QUERY_SM:
            self.hub.on_query(self, pdu)
        else:
            self.hub.on_cancel(self, pdu)

    def _on_bind(self, pdu: Pdu) -> None:
        if self.can_submit or self.can_receive:
            status = int(Status.ESME_RALYBND)
        else:
            status = self.hub.authenticate(str(pdu.fields["system_id"]), str(pdu.fields["password"]))
        if status:
            self.send(encode(response_to(pdu, status)))
            return
        self.system_id = str(pdu.fields["system_id"])
        self.can_submit, self.can_receive = _BINDS[CommandId(pdu.command_id)]
        self.send(encode(response_to(pdu, system_id=self.hub.system_id)))
        self.hub.on_bound(self)
