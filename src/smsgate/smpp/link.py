"""One TCP connection to an SMSC and its bind: framing, sequence numbers, per-request timeouts,
enquire_link, and the answers the protocol itself requires (enquire_link_resp, unbind_resp,
generic_nack).  Its states and their transitions live in ``_TRANSITIONS``.

What the traffic means (submits, receipts, reconnecting) is :mod:`smsgate.smpp.session`'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import Enum

from smsgate.smpp.config import SmppConfig
from smsgate.smpp.commands import RESP
from smsgate.smpp.pdu import (CommandId, Pdu, PduError, Status, decode, encode, encode_body, error_response,
                              pdu_length, response_to)

__all__ = ["ESME_RX_P_APPN", "ESME_RX_T_APPN", "BindRefused", "Link", "LinkLost", "State", "status_name"]

log = logging.getLogger("smsgate.smpp")

_MAX_SEQUENCE = 0x7FFFFFFF
_READ_SIZE = 1 << 16
ESME_RX_P_APPN = 0x64  # "ESME receiver permanent app error": we can never use this deliver_sm
ESME_RX_T_APPN = 0x65  # "ESME receiver temporary app error": send it again later

def status_name(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return f"0x{status:08x}"



class State(Enum):
    CLOSED = "closed"
    CONNECTING = "connecting"
    BINDING = "binding"
    BOUND = "bound"
    UNBINDING = "unbinding"


_TRANSITIONS: dict[State, frozenset[State]] = {
    State.CLOSED: frozenset({State.CONNECTING}),
    State.CONNECTING: frozenset({State.BINDING, State.CLOSED}),
    State.BINDING: frozenset({State.BOUND, State.CLOSED}),
    State.BOUND: frozenset({State.UNBINDING, State.CLOSED}),
    State.UNBINDING: frozenset({State.CLOSED}),
}


class LinkLost(Exception):
    """The connection ended (or misbehaved) before the request was answered."""


class BindRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status_name(status))
        self.status = status


class _EndOfLink(Exception):
    """Raised inside the read loop to end the connection (bad framing, unbind from the SMSC)."""


class Link:
    """One TCP connection and its bind (see the module docstring).

    ``on_deliver`` is called synchronously for each deliver_sm and returns the command_status
    to answer with; the link answers after it returns, so an acknowledged message has been
    handed over.  ``on_state`` hears every transition as it happens, so the owner never acts
    on a stale state.
    """

    def __init__(self, config: SmppConfig, role: str, bind: CommandId,
                 on_deliver: Callable[[Pdu], int | Awaitable[object]],
                 on_state: Callable[[Link], None]) -> None:
        self.config = config
        self.role = role
        self.label = f"{config.name}/{role}"
        self._on_state = on_state
        self.state = State.CLOSED
        self.closed = asyncio.Event()
        self._bind = bind
        self._on_deliver = on_deliver
        self._answering: set[asyncio.Future[object]] = set()  # handlers' tasks still storing
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        # requests with the default timeout, in the order sent (so in deadline order): one
        # timer per link instead of one per request (see _expire)
        self._deadlines: deque[tuple[float, asyncio.Future[Pdu]]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._out: list[bytes] = []  # PDUs for the next write (see _send)
        self._sequence = 0
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_rx = time.monotonic()

    def _move(self, new: State) -> None:
        """The one place a link changes state; an impossible transition is a bug."""
        if new not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"{self.label}: {self.state.name} -> {new.name}")
        log.debug("smpp_state", extra={"link": self.label, "from": self.state.name, "to": new.name})
        self.state = new
        self._on_state(self)

    # --- lifecycle ---

    async def open(self) -> None:
        """Connect and bind.  Raises OSError, TimeoutError, LinkLost or BindRefused, and leaves
        the link CLOSED whenever it raises (including on cancellation)."""
        self._move(State.CONNECTING)
        try:
            await self._connect()
            resp = await self.request(self._bind, self._bind_fields())
            if resp.status or resp.command_id == CommandId.GENERIC_NACK:
                raise BindRefused(resp.status)
            if self.state is not State.BINDING:  # dropped between bind_resp and now
                raise LinkLost("closed while binding")
        except BaseException as exc:
            self.drop(f"bind failed: {exc!r}")
            raise
        self._move(State.BOUND)
        self._tasks.append(asyncio.create_task(self._keepalive()))
        log.info("smpp_bound", extra={"link": self.label})

    async def _connect(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.config.host, self.config.port), self.config.response_timeout)
        if self.state is not State.CONNECTING:  # dropped (closed) while connecting
            writer.transport.abort()
            raise LinkLost("closed while connecting")
        self._writer = writer
        self._tasks.append(asyncio.create_task(self._read_loop(reader)))
        self._move(State.BINDING)

    def _bind_fields(self) -> dict[str, object]:
        c = self.config
        return {"system_id": c.system_id, "password": c.password, "system_type": c.system_type}

    async def unbind(self) -> None:
        """Unbind politely if bound (waiting briefly for unbind_resp), then drop the link."""
        if self.state is State.BOUND:
            self._move(State.UNBINDING)
            try:
                await self.request(CommandId.UNBIND, timeout=self.config.close_timeout)
            except (TimeoutError, LinkLost) as exc:
                log.info("smpp_unbind_unanswered", extra={"link": self.label, "reason": repr(exc)})
        self.drop("closed by us")

    def drop(self, reason: str) -> None:
        """Close the socket now and fail every outstanding request with LinkLost."""
        if self.state is State.CLOSED:
            return
        log.info("smpp_link_down", extra={"link": self.label, "reason": reason})
        self._write_out()  # what is queued (an unbind_resp, a generic_nack) goes first
        self._move(State.CLOSED)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadlines.clear()
        if self._writer is not None:
            self._writer.transport.abort()  # close() would wait on a peer that is not reading
        for future in self._pending.values():
            if not future.done():
                future.set_exception(LinkLost(reason))
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self.closed.set()

    async def wait_closed(self) -> None:
        await self.closed.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- requests we send ---

    async def request(self, command: CommandId, fields: dict[str, object] | None = None,
                      timeout: float | None = None, *, body: bytes | None = None) -> Pdu:
        """Send a request and return its response (or generic_nack) within ``timeout``; its
        ``fields``, or its ``body`` already encoded (:class:`~smsgate.smpp.pdu.SubmitTemplate`).

        Raises ValueError (nothing sent) if the PDU cannot be encoded, TimeoutError, LinkLost.
        """
        sequence = self._next_sequence()
        if body is None:
            data = encode(Pdu(command, sequence, 0, fields or {}))
        else:
            data = encode_body(command, sequence, body)
        if self._writer is None or self.state is State.CLOSED:
            raise LinkLost("not connected")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Pdu] = loop.create_future()
        self._pending[sequence] = future
        try:
            self._send(data)
            limit = timeout or self.config.response_timeout
            if self._writer.transport.get_write_buffer_size():  # the SMSC reads slower than we
                async with asyncio.timeout(limit):  # write: wait for it (within the deadline)
                    await self._drain()
            if timeout is None:  # the common case: the link's one timer (measured: asyncio.timeout
                # per request was a twentieth of the dispatcher's CPU at 2,000 submit_sm/s)
                self._expire_at(loop.time() + limit, future)
                resp = await future
            else:
                async with asyncio.timeout(timeout):
                    resp = await future
        finally:
            self._pending.pop(sequence, None)
            if not future.done():  # left behind (drain timed out): never failed unheard
                future.cancel()
        if resp.command_id not in (command | RESP, CommandId.GENERIC_NACK):
            self.drop(f"{resp.command_id.name} answered {command.name}")
            raise LinkLost(f"{resp.command_id.name} answered {command.name}")
        return resp

    def _expire_at(self, deadline: float, future: asyncio.Future[Pdu]) -> None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][1].done():  # answered: forget them as we go
            deadlines.popleft()
        deadlines.append((deadline, future))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._expire)

    def _expire(self) -> None:
        """Fail with TimeoutError every request past its deadline; arm for the next one."""
        self._timer = None
        deadlines = self._deadlines
        now = asyncio.get_running_loop().time()
        while deadlines and (deadlines[0][0] <= now or deadlines[0][1].done()):
            _, future = deadlines.popleft()
            if not future.done():
                future.set_exception(TimeoutError())
        if deadlines:
            self._timer = asyncio.get_running_loop().call_at(deadlines[0][0], self._expire)

    def _send(self, data: bytes) -> None:
        """Queue a PDU for this loop iteration's one write: the PDUs of a burst (a window of
        submits, the answers to a flush of receipts) leave in one send() instead of one each."""
        if not self._out:
            asyncio.get_running_loop().call_soon(self._write_out)
        self._out.append(data)

    def _write_out(self) -> None:
        out, self._out = self._out, []
        if out and self._writer is not None and self.state is not State.CLOSED:
            self._writer.write(b"".join(out))

    async def _drain(self) -> None:
        assert self._writer is not None
        try:
            await self._writer.drain()
        except OSError as exc:  # ConnectionResetError and friends
            raise LinkLost(repr(exc)) from exc

    def _next_sequence(self) -> int:
        """1..0x7FFFFFFF, wrapping, skipping numbers still awaiting an answer."""
        while True:
            self._sequence = self._sequence % _MAX_SEQUENCE + 1
            if self._sequence not in self._pending:
                return self._sequence

    async def _keepalive(self) -> None:
        """enquire_link after ``enquire_link_interval`` without hearing from the SMSC; an
        unanswered one means the link is dead (a half-open TCP connection looks just like an
        idle one)."""
        interval = self.config.enquire_link_interval
        while True:
            idle = time.monotonic() - self._last_rx
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            try:
                await self.request(CommandId.ENQUIRE_LINK)
            except (TimeoutError, LinkLost):
                self.drop("enquire_link unanswered")
                return

    # --- what the SMSC sends ---

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        reason = "closed by the SMSC"
        try:
            buffer = bytearray()
            while True:
                chunk = await reader.read(_READ_SIZE)
                if not chunk:
                    break
                buffer += chunk
                self._last_rx = time.monotonic()
                await self._take_pdus(buffer)
        except (OSError, LinkLost, _EndOfLink) as exc:
            reason = str(exc) or repr(exc)
        finally:
            self.drop(reason)

    async def _take_pdus(self, buffer: bytearray) -> None:
        """Handle every whole PDU at the head of ``buffer`` and remove it: a read brings many
        (a window of submit_sm_resp, a burst of receipts), so they are framed from one chunk
        rather than read with two awaits each."""
        pos, size = 0, len(buffer)
        try:
            while size - pos >= 4:
                try:
                    length = pdu_length(buffer[pos:pos + 16])
                except PduError as exc:  # the stream cannot be resynchronised: answer and give up
                    self._answer(error_response(exc))
                    raise _EndOfLink(f"bad framing: {exc}") from exc
                if size - pos < length:
                    break
                data = bytes(buffer[pos:pos + length])
                pos += length
                try:
                    pdu = decode(data)
                except PduError as exc:
                    self._reject(exc)
                    continue
                await self._dispatch(pdu)
        finally:
            del buffer[:pos]

    def _reject(self, exc: PduError) -> None:
        """A well-framed PDU we cannot read: answer a request (a known one with its own *_resp,
        SMPP 3.4 §4.3); fail the request a response was for (answering a response is not
        allowed, and its outcome is unknown)."""
        log.warning("smpp_undecodable_pdu", extra={"link": self.label, "status": status_name(exc.status),
                                                    "reason": str(exc)})
        if exc.command_id is not None and exc.command_id & RESP:
            future = self._pending.get(exc.sequence or 0)
            if future is not None and not future.done():
                future.set_exception(LinkLost(f"undecodable response: {exc}"))
            return
        self._answer(error_response(exc))

    async def _dispatch(self, pdu: Pdu) -> None:
        if pdu.is_response:
            future = self._pending.get(pdu.sequence)
            if future is None or future.done():
                log.info("smpp_unexpected_response", extra={
                    "link": self.label, "command": pdu.command_id.name, "sequence": pdu.sequence})
            else:
                future.set_result(pdu)
        elif pdu.command_id == CommandId.DELIVER_SM:
            status = self._on_deliver(pdu)
            if isinstance(status, int):
                self._answer(response_to(pdu, status))
            else:  # answered once the handler has stored it; reading goes on meanwhile (the
                # dispatcher gives one future for every receipt of a flush: no task per receipt)
                stored = asyncio.ensure_future(status)
                if stored is not status:  # a coroutine, now a task: keep it until it is done
                    self._answering.add(stored)
                    stored.add_done_callback(self._answering.discard)
                stored.add_done_callback(lambda done: self._answer_stored(pdu, done))
        elif pdu.command_id == CommandId.ENQUIRE_LINK:
            self._answer(response_to(pdu))
        elif pdu.command_id == CommandId.UNBIND:
            self._answer(response_to(pdu))
            raise _EndOfLink("unbound by the SMSC")
        else:  # a known command an ESME is never sent (submit_sm, bind_*, query_sm)
            self._answer(Pdu(CommandId.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID))
        if self._writer is not None and self._writer.transport.get_write_buffer_size():
            await self._drain()  # the SMSC does not read our answers: stop reading its PDUs

    def _answer_stored(self, pdu: Pdu, stored: asyncio.Future[object]) -> None:
        """ESME_ROK once the receipt is stored; a temporary error if storing failed, so the
        SMSC sends it again.  If the link is gone by then, the SMSC still owes it to us."""
        ok = not stored.cancelled() and stored.exception() is None
        self._answer(response_to(pdu, Status.ESME_ROK if ok else ESME_RX_T_APPN))

    def _answer(self, pdu: Pdu) -> None:
        if self._writer is not None and self.state is not State.CLOSED:
            self._send(encode(pdu))
