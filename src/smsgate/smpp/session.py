"""Our side of a carrier link: an asyncio SMPP 3.4 ESME client (transceiver, or tx+rx binds).

Written by hand: no maintained asyncio SMPP client library exists on PyPI (smpplib is blocking
and owns its socket, Jasmin's client is Twisted, the asyncio ones are unmaintained), and the part
of the protocol an ESME needs is small once the codec (:mod:`smsgate.smpp.pdu`) exists.

Two layers, as aiosmtpd separates protocol from hooks:

* :class:`Link` is one TCP connection and its bind: framing, sequence numbers, per-request
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from smsgate.domain.records import now_ms
from smsgate.domain.channel import ChannelError, ChannelStopping, Inbound, Submit
from smsgate.latency import Latency
from smsgate.smpp import dlr
from smsgate.smpp.config import SmppConfig
from smsgate.smpp.link import (ESME_RX_P_APPN, ESME_RX_T_APPN, BindRefused, Link, LinkLost, State,
                               status_name)
from smsgate.smpp.parts import decode_text, wire_part
from smsgate.smpp.pdu import CommandId, Pdu, Status, SubmitTemplate, Tag
from smsgate.smpp.throttle import Pause, TokenBucket

__all__ = ["SessionStats", "SmppChannel", "SmppConfig", "State"]

log = logging.getLogger("smsgate.smpp")

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


# --- counters -----------------------------------------------------------------------------------


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
        self._links: dict[str, Link] = {}
        self._bound = {role: asyncio.Event() for role in self._roles}
        self._closing = asyncio.Event()
        self._runners: list[asyncio.Task[None]] = []
        self._window = asyncio.Semaphore(config.window)
        self._bucket = TokenBucket(config.tps)
        self._pause = Pause(config.throttle_backoff, config.throttle_backoff_max)
        self._zone = ZoneInfo(config.receipt_tz)
        self._stopping = False  # see stop_submitting
        self._templates: dict[str, SubmitTemplate] = {}  # source address -> its submit_sm head

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
            link = self._links[role] = Link(self.config, role, command, self._on_deliver,
                                             self._on_state)
            if await self._open(link):
                delay = self.config.reconnect_min
                await link.closed.wait()
            if self._closing.is_set():
                return
            await self._backoff(delay)
            delay = min(delay * 2, self.config.reconnect_max)
            self.stats.reconnects += 1

    def _on_state(self, link: Link) -> None:
        if link.state is State.BOUND:
            self._bound[link.role].set()
        else:
            self._bound[link.role].clear()

    async def _open(self, link: Link) -> bool:
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
        body = self._submit_body(submit)
        await self._window.acquire()  # (not an asynccontextmanager: a part's every await counts)
        self.stats.window_in_use += 1
        try:
            await self._pause.wait()
            await self._bucket.acquire()
            if self._stopping:  # waited for a slot while the worker began to stop
                raise ChannelStopping()
            resp = await self._exchange(body)
        finally:
            self.stats.window_in_use -= 1
            self._window.release()
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

    def _submit_body(self, submit: Submit) -> bytes:
        """submit_sm's body for a part, from its source's prepared template; raises a
        permanent ChannelError for a part SMPP cannot carry (past 255 parts, an address too
        long)."""
        try:
            part = wire_part(submit.text, submit.encoding, submit.index, submit.total, submit.reference)
            template = self._templates.get(submit.source)
            if template is None:
                if len(self._templates) >= 1024:  # extension digits: bounded, rebuilt as needed
                    self._templates.clear()
                ton, npi = self._source_ton_npi(submit.source)
                template = self._templates[submit.source] = SubmitTemplate(
                    submit.source.lstrip("+"), ton, npi)
            return template.body(submit.destination.lstrip("+"), part.esm_class, part.data_coding,
                                 part.short_message)
        except ValueError as exc:
            raise ChannelError(f"unencodable submit_sm: {exc}", transient=False) from exc

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

    async def _exchange(self, body: bytes) -> Pdu:
        """submit_sm over the submit link (re-checked: it may have dropped while we waited)."""
        link = self._links.get(self._submit_role)
        if link is None or not self.up:
            raise ChannelError("not bound", transient=True)
        started = time.perf_counter()
        try:
            resp = await link.request(CommandId.SUBMIT_SM, body=body)
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
            raise ChannelError(f"generic_nack {status_name(status)}", transient=True, status=status)
        if status == Status.ESME_ROK:
            self._pause.reset()
            self.stats.submitted += 1
            return str(resp.fields.get("message_id", ""))
        if status in _THROTTLING:
            pause = self._pause.trip()
            log.warning("smpp_throttled", extra={"channel": self.name, "status": status_name(status),
                                                "pause_s": round(pause, 1)})
        raise ChannelError(status_name(status), transient=status not in _PERMANENT, status=status)

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
        now = now_ms()
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

