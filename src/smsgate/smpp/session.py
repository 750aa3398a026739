"""Our side of a carrier link: an asyncio SMPP 3.4 ESME client (transceiver, or tx+rx binds).

Written by hand: no maintained asyncio SMPP client library exists on PyPI (smpplib is blocking
and owns its socket, Jasmin's client is Twisted, the asyncio ones are unmaintained), and the part
of the protocol an ESME needs is small once the codec (:mod:`smsgate.smpp.pdu`) exists.

Two layers, as aiosmtpd separates protocol from hooks:

* :class:`_Link` is one TCP connection and its bind: framing, sequence numbers, per-request
  timeouts, enquire_link, and the answers the protocol itself requires (enquire_link_resp,
  unbind_resp, generic_nack).  Its states and their transitions live in ``_TRANSITIONS``.
* :class:`SmppChannel` decides what the traffic means: it reconnects with backoff, limits the
  window, the TPS and the pace after throttling, maps submit_sm_resp statuses to
  :class:`ChannelError`, and turns deliver_sm into :class:`Inbound` for the dispatcher.

Abuse limits are built in: the codec refuses PDUs over ``MAX_PDU``; every request has a deadline;
a link that stops answering enquire_link is dropped; a stream whose framing cannot be trusted is
dropped rather than resynchronised.  Logs name the channel, sequence numbers and statuses,
never message text or phone numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smsgate.dispatch.channel import ChannelError, ChannelStopping, Inbound, Submit
from smsgate.domain.carrier_ids import FORMATS
from smsgate.latency import Latency
from smsgate.smpp import dlr
from smsgate.smpp.parts import decode_text
from smsgate.smpp.pdu import (CommandId, Pdu, PduError, Status, Tag, decode, encode, error_response,
                              pdu_length, response_to)
from smsgate.smpp.throttle import Pause, TokenBucket

__all__ = ["SessionStats", "SmppChannel", "SmppConfig", "State"]

log = logging.getLogger("smsgate.smpp")

_RESP = 0x80000000
_MAX_SEQUENCE = 0x7FFFFFFF
ESME_RX_P_APPN = 0x64  # "ESME receiver permanent app error": we can never use this deliver_sm
ESME_RX_T_APPN = 0x65  # "ESME receiver temporary app error": send it again later

_THROTTLING = frozenset({Status.ESME_RTHROTTLED, Status.ESME_RMSGQFUL})
# Refusals that will not change on retry: the message itself is wrong for this carrier.  Every
# other status (ESME_RSYSERR, ESME_RINVBNDSTS, vendor codes 0x400-0x4FF, ...) is transient, so a
# part is retried until its validity ends rather than failed by a status we do not know.
_PERMANENT = frozenset({
    Status.ESME_RINVMSGLEN, Status.ESME_RINVCMDLEN, Status.ESME_RINVPRTFLG,
    Status.ESME_RINVREGDLVFLG, Status.ESME_RINVSRCADR, Status.ESME_RINVDSTADR,
    Status.ESME_RINVESMCLASS, Status.ESME_RSUBMITFAIL, Status.ESME_RINVSRCTON,
    Status.ESME_RINVSRCNPI, Status.ESME_RINVDSTTON, Status.ESME_RINVDSTNPI,
    Status.ESME_RINVSERTYP, Status.ESME_RINVSCHED, Status.ESME_RINVEXPIRY,
    Status.ESME_RINVTLVSTREAM, Status.ESME_ROPTPARNOTALLWD, Status.ESME_RINVPARLEN,
    Status.ESME_RMISSINGOPTPARAM, Status.ESME_RINVOPTPARAMVAL,
})  # fmt: skip


def _status_name(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return f"0x{status:08x}"


# --- configuration and counters -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmppConfig:
    """One carrier link.  Times are seconds.

    ``source_ton``/``source_npi`` None means "by the address": letters → alphanumeric (5/0),
    a leading '+' → international (1/1), digits → unknown/ISDN (0/1), which is what SMSCs
    expect of service numbers such as 106xxxx.  ``receipt_tz`` is the zone the SMSC writes
    receipt dates in (SMPP gives none; Chinese carriers use local time, UTC+8).
    ``receipt_id_format`` is how the carrier spells message ids (see
    :mod:`smsgate.domain.carrier_ids`): "auto", "hex", "decimal" or "string".
    """

    name: str
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    source_addr: str = ""  # our sender; extend_src_id digits are appended (source_address())
    source_ton: int | None = None
    source_npi: int | None = None
    window: int = 64  # outstanding submit_sm at most
    tps: float = 0  # per-connection submits per second, 0 = unlimited
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    throttle_backoff: float = 1.0  # pause after ESME_RTHROTTLED / ESME_RMSGQFUL, doubling ...
    throttle_backoff_max: float = 30.0  # ... while they continue, up to this
    bind: str = "transceiver"  # or "tx+rx": a transmitter for submits, a receiver for deliver_sm
    receipt_tz: str = "Asia/Shanghai"
    receipt_id_format: str = "auto"
    close_timeout: float = 2.0  # how long close() waits for unbind_resp
    binds: int = 1  # binds the whole cluster keeps to this link, each owned by one worker
    cluster_tps: float = 0  # submits/s over all its binds in all workers (Redis), 0 = unlimited

    def __post_init__(self) -> None:
        """Fail at start-up, not at the first bind, on what the SMSC could never accept."""
        if self.bind not in ("transceiver", "tx+rx"):
            raise ValueError(f"bind must be 'transceiver' or 'tx+rx', not {self.bind!r}")
        for name, limit in (("system_id", 15), ("password", 8), ("system_type", 12)):
            if len(getattr(self, name)) > limit:
                raise ValueError(f"{name} is longer than SMPP's {limit} characters")
        if self.window < 1 or self.response_timeout <= 0 or self.enquire_link_interval <= 0:
            raise ValueError("window, response_timeout and enquire_link_interval must be positive")
        if self.receipt_id_format not in FORMATS:
            raise ValueError(f"receipt_id_format must be one of {', '.join(FORMATS)},"
                             f" not {self.receipt_id_format!r}")
        try:
            ZoneInfo(self.receipt_tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"receipt_tz {self.receipt_tz!r} is not a time zone name (such as"
                             " 'Asia/Shanghai' or 'UTC')") from None


@dataclass(slots=True)
class SessionStats:
    """Counters for metrics; plain ints, read at will."""

    submitted: int = 0  # submit_sm accepted (ESME_ROK)
    submit_errors: int = 0  # submits that raised ChannelError, for any reason
    receipts: int = 0
    mo: int = 0
    reconnects: int = 0  # connection attempts after a lost or failed one
    window_in_use: int = 0  # submits holding a window slot now
    submit_latency: Latency = field(default_factory=Latency)  # submit_sm -> its response

    def add(self, other: SessionStats) -> None:
        """Count ``other``'s totals in too (a bind given back keeps its share of a channel's)."""
        for name in ("submitted", "submit_errors", "receipts", "mo", "reconnects"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.submit_latency.add(other.submit_latency)


# --- one connection -----------------------------------------------------------------------------


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
        super().__init__(_status_name(status))
        self.status = status


class _EndOfLink(Exception):
    """Raised inside the read loop to end the connection (bad framing, unbind from the SMSC)."""


class _Link:
    """One TCP connection and its bind (see the module docstring).

    ``on_deliver`` is called synchronously for each deliver_sm and returns the command_status
    to answer with; the link answers after it returns, so an acknowledged message has been
    handed over.  ``on_state`` hears every transition as it happens, so the owner never acts
    on a stale state.
    """

    def __init__(self, config: SmppConfig, role: str, bind: CommandId,
                 on_deliver: Callable[[Pdu], int | Awaitable[object]],
                 on_state: Callable[[_Link], None]) -> None:
        self.config = config
        self.role = role
        self.label = f"{config.name}/{role}"
        self._on_state = on_state
        self.state = State.CLOSED
        self.closed = asyncio.Event()
        self._bind = bind
        self._on_deliver = on_deliver
        self._answering: set[asyncio.Task[None]] = set()  # deliver_sm_resp waiting on a store
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
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
        self._move(State.CLOSED)
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
                      timeout: float | None = None) -> Pdu:
        """Send a request and return its response (or generic_nack) within ``timeout``.

        Raises ValueError (nothing sent) if the PDU cannot be encoded, TimeoutError, LinkLost.
        """
        sequence = self._next_sequence()
        data = encode(Pdu(command, sequence, 0, fields or {}))
        if self._writer is None or self.state is State.CLOSED:
            raise LinkLost("not connected")
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self._pending[sequence] = future
        try:
            self._writer.write(data)
            # asyncio.timeout arms one timer; wait_for made a task per PDU (measured: a tenth
            # of the dispatcher's CPU at 6,000 submit_sm/s)
            async with asyncio.timeout(timeout or self.config.response_timeout):
                await self._drain()
                resp = await future
        finally:
            self._pending.pop(sequence, None)
        if resp.command_id not in (command | _RESP, CommandId.GENERIC_NACK):
            self.drop(f"{resp.command_id.name} answered {command.name}")
            raise LinkLost(f"{resp.command_id.name} answered {command.name}")
        return resp

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
            while True:
                pdu = await self._read_pdu(reader)
                if pdu is not None:
                    await self._dispatch(pdu)
        except asyncio.IncompleteReadError:
            pass
        except (OSError, LinkLost, _EndOfLink) as exc:
            reason = str(exc) or repr(exc)
        finally:
            self.drop(reason)

    async def _read_pdu(self, reader: asyncio.StreamReader) -> Pdu | None:
        """One PDU, or None for one that could not be decoded (answered and skipped)."""
        head = await reader.readexactly(4)
        try:
            length = pdu_length(head)
        except PduError as exc:  # the stream cannot be resynchronised: answer and give up
            await self._answer(error_response(exc))
            raise _EndOfLink(f"bad framing: {exc}") from exc
        data = head + await reader.readexactly(length - 4)
        self._last_rx = time.monotonic()
        try:
            return decode(data)
        except PduError as exc:
            await self._reject(exc)
            return None

    async def _reject(self, exc: PduError) -> None:
        """A well-framed PDU we cannot read: answer a request (a known one with its own *_resp,
        SMPP 3.4 §4.3); fail the request a response was for (answering a response is not
        allowed, and its outcome is unknown)."""
        log.warning("smpp_undecodable_pdu", extra={"link": self.label, "status": _status_name(exc.status),
                                                    "reason": str(exc)})
        if exc.command_id is not None and exc.command_id & _RESP:
            future = self._pending.get(exc.sequence or 0)
            if future is not None and not future.done():
                future.set_exception(LinkLost(f"undecodable response: {exc}"))
            return
        await self._answer(error_response(exc))

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
                await self._answer(response_to(pdu, status))
            else:  # answered once the handler has stored it: reading goes on meanwhile
                task = asyncio.create_task(self._answer_when_stored(pdu, status))
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)
        elif pdu.command_id == CommandId.ENQUIRE_LINK:
            await self._answer(response_to(pdu))
        elif pdu.command_id == CommandId.UNBIND:
            await self._answer(response_to(pdu))
            raise _EndOfLink("unbound by the SMSC")
        else:  # a known command an ESME is never sent (submit_sm, bind_*, query_sm)
            await self._answer(Pdu(CommandId.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID))

    async def _answer_when_stored(self, pdu: Pdu, stored: Awaitable[object]) -> None:
        """ESME_ROK once the receipt is stored; a temporary error if storing failed, so the
        SMSC sends it again.  If the link is gone by then, the SMSC still owes it to us."""
        try:
            await stored
            status = Status.ESME_ROK
        except Exception:
            status = ESME_RX_T_APPN
        await self._answer(response_to(pdu, status))

    async def _answer(self, pdu: Pdu) -> None:
        if self._writer is not None and self.state is not State.CLOSED:
            self._writer.write(encode(pdu))
            await self._drain()


# --- the channel --------------------------------------------------------------------------------


_ROLES = {
    "transceiver": {"trx": CommandId.BIND_TRANSCEIVER},
    "tx+rx": {"tx": CommandId.BIND_TRANSMITTER, "rx": CommandId.BIND_RECEIVER},
}


class SmppChannel:
    """A carrier link as the dispatcher sees it (satisfies ``dispatch.channel.Channel``)."""

    def __init__(self, config: SmppConfig) -> None:
        self.name = config.name
        self.config = config
        self.stats = SessionStats()
        self._handler: Callable[[Inbound], None] | None = None
        self._roles = _ROLES[config.bind]
        self._submit_role = next(iter(self._roles))  # "trx" or "tx"
        self._links: dict[str, _Link] = {}
        self._bound = {role: asyncio.Event() for role in self._roles}
        self._closing = asyncio.Event()
        self._runners: list[asyncio.Task[None]] = []
        self._window = asyncio.Semaphore(config.window)
        self._bucket = TokenBucket(config.tps)
        self._pause = Pause(config.throttle_backoff, config.throttle_backoff_max)
        self._zone = ZoneInfo(config.receipt_tz)
        self._stopping = False  # see stop_submitting

    # --- lifecycle ---

    @property
    def state(self) -> State:
        """The state of the link submits go over."""
        link = self._links.get(self._submit_role)
        return link.state if link is not None else State.CLOSED

    @property
    def up(self) -> bool:
        return self.state is State.BOUND and not self._closing.is_set()

    async def start(self) -> None:
        """Start connecting (and reconnecting) in the background; does not wait for the bind."""
        if self._runners or self._closing.is_set():
            return
        self._runners = [asyncio.create_task(self._run(role, command), name=f"smpp {self.name}/{role}")
                         for role, command in self._roles.items()]

    async def wait_bound(self, timeout: float) -> None:
        """Wait until every bind of the channel is up; raises TimeoutError."""
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in self._bound.values())), timeout)

    async def close(self, drain: float = 0.0) -> None:
        """Stop reconnecting, unbind every link, fail outstanding submits as transient.  With
        ``drain``, first take no new submit (:class:`ChannelStopping`) and wait up to that many
        seconds for the answers of the parts already sent: an SMSC may answer the unbind before
        them, and a part whose answer is lost is sent again."""
        if drain > 0:
            self.stop_submitting()
            await self._drained(drain)
        self._closing.set()
        links = list(self._links.values())
        await asyncio.gather(*(link.unbind() for link in links))
        for runner in self._runners:
            runner.cancel()
        await asyncio.gather(*self._runners, *(link.wait_closed() for link in links),
                             return_exceptions=True)

    async def _run(self, role: str, command: CommandId) -> None:
        """Connect, bind, wait for the link to end, back off, repeat until closed."""
        delay = self.config.reconnect_min
        while not self._closing.is_set():
            link = self._links[role] = _Link(self.config, role, command, self._on_deliver,
                                             self._on_state)
            if await self._open(link):
                delay = self.config.reconnect_min
                await link.closed.wait()
            if self._closing.is_set():
                return
            await self._backoff(delay)
            delay = min(delay * 2, self.config.reconnect_max)
            self.stats.reconnects += 1

    def _on_state(self, link: _Link) -> None:
        if link.state is State.BOUND:
            self._bound[link.role].set()
        else:
            self._bound[link.role].clear()

    async def _open(self, link: _Link) -> bool:
        try:
            await link.open()
            return True
        except BindRefused as exc:
            log.warning("smpp_bind_refused", extra={"link": link.label, "reason": str(exc)})
        except (OSError, TimeoutError, LinkLost) as exc:
            log.warning("smpp_connect_failed", extra={"link": link.label, "reason": repr(exc)})
        return False

    async def _backoff(self, delay: float) -> None:
        """Sleep ``delay`` with jitter (so many gateways do not return at once), or until close."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay * random.uniform(0.5, 1.0))

    # --- submitting ---

    async def submit(self, submit: Submit) -> str:
        """The carrier's message id for the part; raises ChannelError (see the module doc)."""
        try:
            return await self._submit(submit)
        except ChannelError:
            self.stats.submit_errors += 1
            raise

    async def _submit(self, submit: Submit) -> str:
        if self._stopping:  # no wait for a window slot: nothing more is sent on this channel
            raise ChannelStopping()
        if not self.up:
            raise ChannelError("not bound", transient=True)
        fields = self._submit_fields(submit)
        async with self._window_slot():
            await self._pause.wait()
            await self._bucket.acquire()
            if self._stopping:  # waited for a slot while the worker began to stop
                raise ChannelStopping()
            resp = await self._exchange(fields)
        return self._outcome(resp)

    async def _drained(self, timeout: float) -> None:
        """Wait (bounded) until no submit holds a window slot: every part sent is answered."""
        taken = 0
        try:
            async with asyncio.timeout(timeout):
                for _ in range(self.config.window):
                    await self._window.acquire()
                    taken += 1
        except TimeoutError:
            log.info("smpp_close_undrained",
                     extra={"channel": self.name, "outstanding": self.stats.window_in_use})
        finally:
            for _ in range(taken):
                self._window.release()

    def stop_submitting(self) -> None:
        """Submits not yet sent raise :class:`ChannelStopping` from now on; those sent still
        get their submit_sm_resp (a part whose answer is dropped would be sent twice)."""
        self._stopping = True

    @contextlib.asynccontextmanager
    async def _window_slot(self) -> AsyncIterator[None]:
        async with self._window:
            self.stats.window_in_use += 1
            try:
                yield
            finally:
                self.stats.window_in_use -= 1

    def _submit_fields(self, submit: Submit) -> dict[str, object]:
        ton, npi = self._source_ton_npi(submit.source)
        return {
            "source_addr_ton": ton, "source_addr_npi": npi, "source_addr": submit.source.lstrip("+"),
            "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": submit.destination.lstrip("+"),
            "esm_class": submit.esm_class, "registered_delivery": 1,
            "data_coding": submit.data_coding, "short_message": submit.short_message,
        }

    def _source_ton_npi(self, source: str) -> tuple[int, int]:
        if source.startswith("+"):
            auto = (1, 1)
        elif source.isdigit():
            auto = (0, 1)
        else:
            auto = (5, 0)
        c = self.config
        return (auto[0] if c.source_ton is None else c.source_ton,
                auto[1] if c.source_npi is None else c.source_npi)

    async def _exchange(self, fields: dict[str, object]) -> Pdu:
        """submit_sm over the submit link (re-checked: it may have dropped while we waited)."""
        link = self._links.get(self._submit_role)
        if link is None or not self.up:
            raise ChannelError("not bound", transient=True)
        started = time.perf_counter()
        try:
            resp = await link.request(CommandId.SUBMIT_SM, fields)
            self.stats.submit_latency.observe(time.perf_counter() - started)
        except TimeoutError:
            raise ChannelError("no submit_sm_resp in time", transient=True) from None
        except LinkLost as exc:
            raise ChannelError(f"link lost: {exc}", transient=True) from exc
        except ValueError as exc:  # the codec refused it: it would never be accepted
            raise ChannelError(f"unencodable submit_sm: {exc}", transient=False) from exc
        if resp.status == Status.ESME_RINVBNDSTS:  # the SMSC forgot our bind: only a rebind helps
            link.drop("ESME_RINVBNDSTS from the SMSC")
        return resp

    def _outcome(self, resp: Pdu) -> str:
        status = resp.status
        if resp.command_id == CommandId.GENERIC_NACK:
            raise ChannelError(f"generic_nack {_status_name(status)}", transient=True, status=status)
        if status == Status.ESME_ROK:
            self._pause.reset()
            self.stats.submitted += 1
            return str(resp.fields.get("message_id", ""))
        if status in _THROTTLING:
            pause = self._pause.trip()
            log.warning("smpp_throttled", extra={"channel": self.name, "status": _status_name(status),
                                                "pause_s": round(pause, 1)})
        raise ChannelError(_status_name(status), transient=status not in _PERMANENT, status=status)

    # --- addresses and ids ---

    def source_address(self, extend_src_id: str | None) -> str:
        """Our number followed by the extension digits.  An alphanumeric sender cannot be
        extended, and a non-digit extension is ignored, so the result is always sendable."""
        base = self.config.source_addr
        if extend_src_id and extend_src_id.isdigit() and base.lstrip("+").isdigit():
            return base + extend_src_id
        return base

    # --- what the SMSC sends us ---

    def on_inbound(self, handler: Callable[[Inbound], Awaitable[object] | None]) -> None:
        """Register the (synchronous, quick) handler for receipts and MOs; one at a time.
        If it returns an awaitable, the deliver_sm is acknowledged only once that resolves
        (the receipt is stored), so a crash in between makes the SMSC send it again."""
        self._handler = handler

    def _on_deliver(self, pdu: Pdu) -> int | Awaitable[object]:
        """Hand a deliver_sm over; the status to acknowledge it with (or what to wait for
        first).  A temporary error makes the SMSC send it again, so nothing is acknowledged
        that was not handed over."""
        if self._handler is None:
            log.warning("smpp_deliver_unhandled", extra={"channel": self.name})
            return ESME_RX_T_APPN
        try:
            inbound = self._inbound(pdu)
        except ValueError as exc:
            log.warning("smpp_deliver_unusable", extra={"channel": self.name, "sequence": pdu.sequence,
                                                       "reason": str(exc)})
            return ESME_RX_P_APPN
        try:
            stored = self._handler(inbound)
        except Exception:
            log.exception("smpp_inbound_handler_failed", extra={"channel": self.name})
            return ESME_RX_T_APPN
        if inbound.is_receipt:
            self.stats.receipts += 1
        else:
            self.stats.mo += 1
        return Status.ESME_ROK if stored is None else stored

    def _inbound(self, pdu: Pdu) -> Inbound:
        """A receipt or an MO as plain data; raises ValueError if it cannot be read."""
        source = _address(pdu, "source_addr", "source_addr_ton")
        destination = _address(pdu, "destination_addr", "dest_addr_ton")
        if dlr.is_receipt(pdu):
            receipt = dlr.parse_receipt(pdu)
            return Inbound(self.name, source, destination, receipt.text or "",
                           receipt_id=receipt.raw_id, id_format=self.config.receipt_id_format,
                           stat=receipt.stat, err=receipt.err, done_at=self._done_at(receipt.done_date))
        text, _ = decode_text(_payload(pdu), _int(pdu, "data_coding"), _int(pdu, "esm_class"))
        return Inbound(self.name, source, destination, text)

    def _done_at(self, done_date: str | None) -> int:
        """Epoch ms of the receipt's done date (YYMMDDhhmm[ss], in ``receipt_tz``); now if the
        carrier left it out or wrote an impossible date, and never later than now (a receipt
        cannot report what has not happened; a later date means ``receipt_tz`` is wrong).
        The store never lets it fall before the part's submission either."""
        now = time.time_ns() // 1_000_000
        if done_date:
            with contextlib.suppress(ValueError):
                return min(_receipt_time(done_date, self._zone), now)
        return now


@functools.lru_cache(maxsize=256)
def _receipt_time(done_date: str, zone: ZoneInfo) -> int:
    """Cached: receipts of one minute share their done date, and strptime is slow."""
    fmt = "%y%m%d%H%M%S" if len(done_date) == 12 else "%y%m%d%H%M"
    return int(datetime.strptime(done_date, fmt).replace(tzinfo=zone).timestamp() * 1000)


def _address(pdu: Pdu, name: str, ton_field: str) -> str:
    """An address as given, with '+' when the SMSC says it is international (TON 1)."""
    address = str(pdu.fields.get(name, ""))
    if pdu.fields.get(ton_field) == 1 and address and not address.startswith("+"):
        return "+" + address
    return address


def _payload(pdu: Pdu) -> bytes:
    """short_message, or message_payload for carriers that send long text that way."""
    value = pdu.fields.get("short_message") or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD) or b""
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else b""


def _int(pdu: Pdu, name: str) -> int:
    value = pdu.fields.get(name, 0)
    return value if isinstance(value, int) else 0
