"""The simulated SMSC: accepts submit_sm, answers with carrier-style ids, sends receipts later.

Policy lives here, protocol in :mod:`smsgate.smsc.session`.  Receipts are store-and-forward, as
at a real SMSC: one due while no receiver of its system_id is bound (or whose deliver_sm was
never answered before the link dropped) waits, up to ``PENDING_LIMIT`` per system_id, and goes
out on the next bind_receiver/bind_transceiver of that system_id.  Receipts go back on the
submitting session when it can receive, else round-robin over that system_id's receivers.
Only ``registered_delivery`` bits 0-1 are honoured: 1 = always, 2 = on failure only.

Every accepted message's fate (outcome, and when it becomes final) is drawn at once, receipt or
not, and kept in a :class:`~smsgate.smsc.ledger.Ledger` of recent messages, which answers
query_sm and cancel_sm.  A submit_sm is refused as a carrier would: ESME_RINVDSTADR for an empty
destination, ESME_RMISSINGOPTPARAM when it carries some but not all of the sar_* TLVs
(SMPP 3.4 §5.3.2.22-24 go together).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections import deque
from datetime import UTC, datetime, timedelta

from smsgate.smpp.pdu import Pdu, Status, Tag, encode, response_to
from smsgate.smsc.config import SimConfig
from smsgate.smsc.ledger import INVALID, Ledger
from smsgate.smsc.messages import mo_pdu, preview, receipt_pdu
from smsgate.smsc.outcome import DELIVERED, OutcomePicker, first_id, receipt_id, resp_id
from smsgate.smsc.record import Recorder
from smsgate.smsc.session import Delivery, Session
from smsgate.smsc.timers import TimerQueue

__all__ = ["PENDING_LIMIT", "Simulator"]

log = logging.getLogger(__name__)

PENDING_LIMIT = 100_000  # receipts kept per system_id while nobody can receive them
REDELIVER_AFTER_S = 1.0  # a deliver_sm refused with a temporary error is offered again then
_CLOSE_GRACE = 1.0  # seconds given to ESMEs to answer our unbind on close()
_MAX_ADDR = 20  # source_addr/destination_addr octets (SMPP 3.4 §4.4.1)
_SAR = (Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM)


class Simulator:
    """An SMPP 3.4 SMSC on ``config.host:config.port``; see the package docstring."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.system_id = config.system_id
        self.port = config.port
        self.pdu_timeout = config.pdu_timeout
        self.accepted = 0
        first = first_id(config.seed)
        self._ids = itertools.count(first)
        self._ledger = Ledger(config.remember, first)
        self._outcomes = OutcomePicker(config.deliver_ratio, config.seed)
        self._jitter = random.Random(config.seed)
        self._sessions: set[Session] = set()
        self._pending: dict[str, deque[Delivery]] = {}
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._timers: TimerQueue | None = None
        self._recorder: Recorder | None = None

    @property
    def session_count(self) -> int:
        """Connections currently open (bound or not)."""
        return len(self._sessions)

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._timers = TimerQueue(loop)
        self._recorder = Recorder(self.config.record)
        self._server = await loop.create_server(self._new_session, self.config.host, self.config.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("simulator_listening", extra={"host": self.config.host, "port": self.port})

    async def close(self) -> None:
        """Stop listening, ask every ESME to unbind (closing the stragglers after a grace
        period), and write the rest of the record.  Receipts not yet sent are dropped."""
        if self._server is None:
            return
        self._server.close()
        assert self._timers is not None and self._recorder is not None
        self._timers.close()
        sessions = list(self._sessions)
        for session in sessions:
            session.shutdown()
        if sessions:
            await asyncio.wait([s.closed for s in sessions], timeout=_CLOSE_GRACE)
        for session in sessions:
            session.abort()
        await self._server.wait_closed()
        self._recorder.close()
        self._server = None

    def _new_session(self) -> Session:
        session = Session(self)
        self._sessions.add(session)
        return session

    # --- Hub: what sessions call -----------------------------------------------------------------

    def authenticate(self, system_id: str, password: str) -> int:
        """0, or the bind error: with no password configured every ESME is welcome."""
        if not self.config.password:
            return 0
        if system_id != self.config.system_id:
            return Status.ESME_RINVSYSID
        return 0 if password == self.config.password else Status.ESME_RINVPASWD

    def on_bound(self, session: Session) -> None:
        pending = self._pending.get(session.system_id)
        while pending and session.deliver(pending[0]):
            pending.popleft()

    def on_closed(self, session: Session) -> None:
        self._sessions.discard(session)
        unacked = list(session.unacked.values())
        session.unacked.clear()
        for item in unacked:  # never answered: the SMSC still owes them
            self._route(item)

    def on_refused(self, session: Session, item: Delivery) -> None:
        """The ESME could not take a deliver_sm for now: offer it again a little later."""
        assert self._timers is not None
        self._timers.call_later(REDELIVER_AFTER_S, self._route, item)

    def on_submit(self, session: Session, pdu: Pdu) -> None:
        cfg = self.config
        if cfg.throttle_every and session.submits % cfg.throttle_every == 0:
            self._respond(session, encode(response_to(pdu, Status.ESME_RTHROTTLED)))
            return
        status = _submit_error(pdu)
        if status:
            self._respond(session, encode(response_to(pdu, status)))
            return
        n = next(self._ids)
        self.accepted += 1
        session.accepted += 1
        now = datetime.now(UTC)
        self._record(session, pdu, resp_id(n), now)
        last = bool(cfg.drop_after) and session.accepted >= cfg.drop_after
        self._respond(session, encode(response_to(pdu, message_id=resp_id(n))), close=last)
        self._decide(session, pdu, n, now)

    def on_query(self, session: Session, pdu: Pdu) -> None:
        """query_sm: the message's state from the ledger (SMPP 3.4 §4.8)."""
        message_id = str(pdu.fields["message_id"])
        slot = self._ledger.find(message_id, session.system_id, str(pdu.fields["source_addr"]))
        if slot < 0:
            status = Status.ESME_RINVMSGID if slot == INVALID else Status.ESME_RQUERYFAIL
            session.send(encode(response_to(pdu, status)))
            return
        state, final_date, error = self._ledger.state(slot, time.time())
        session.send(encode(response_to(pdu, message_id=message_id, final_date=final_date,
                                        message_state=state, error_code=error)))

    def on_cancel(self, session: Session, pdu: Pdu) -> None:
        """cancel_sm of one message by its id (SMPP 3.4 §4.9); cancelling every message between
        two addresses (an empty message_id) is not offered and fails with ESME_RCANCELFAIL."""
        message_id = str(pdu.fields["message_id"])
        slot = self._ledger.find(message_id, session.system_id, str(pdu.fields["source_addr"]))
        if slot == INVALID and message_id:
            status = Status.ESME_RINVMSGID
        elif slot < 0 or not self._ledger.cancel(slot, time.time()):
            status = Status.ESME_RCANCELFAIL
        else:
            status = Status.ESME_ROK
        session.send(encode(response_to(pdu, status)))

    # --- submit_sm -------------------------------------------------------------------------------

    def _respond(self, session: Session, data: bytes, close: bool = False) -> None:
        """Answer now, or after latency_ms; ``close`` cuts the link once the answer is out."""
        send = session.send_and_close if close else session.send
        if not self.config.latency_ms:
            send(data)
            return
        if close:
            session.mute()  # read nothing more; the delayed answer closes the link
        assert self._timers is not None
        self._timers.call_later(self.config.latency_ms / 1000, send, data)

    def _record(self, session: Session, pdu: Pdu, message_id: str, now: datetime) -> None:
        assert self._recorder is not None
        f = pdu.fields
        message = bytes(f["short_message"]) or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD, b"")  # type: ignore[call-overload]
        self._recorder.write({
            "time": now.isoformat(timespec="milliseconds"), "system_id": session.system_id,
            "source": f["source_addr"], "destination": f["destination_addr"],
            "data_coding": f["data_coding"], "esm_class": f["esm_class"],
            "message_hex": message.hex(), "message_id": message_id,
        })  # fmt: skip

    def _decide(self, session: Session, pdu: Pdu, n: int, now: datetime) -> None:
        """Draw message ``n``'s fate, remember it, and schedule its receipt if one is wanted."""
        text, concat = preview(pdu)
        outcome = self._outcomes.pick(str(pdu.fields["destination_addr"]), concat)
        delay = self.config.receipt_delay_ms / 1000 * self._jitter.uniform(0.8, 1.2)
        wanted = int(pdu.fields["registered_delivery"]) & 0x03  # type: ignore[call-overload]
        receipt = wanted == 1 or (wanted == 2 and outcome is not DELIVERED)
        self._ledger.add(n, session.system_id, str(pdu.fields["source_addr"]), outcome,
                         now.timestamp() + delay, receipt)
        if not receipt:
            return
        wire = receipt_pdu(pdu, receipt_id(n), outcome, text=text, submitted=now,
                           done=now + timedelta(seconds=delay))
        assert self._timers is not None
        self._timers.call_later(delay, self._receipt_due, Delivery(session.system_id, wire, session, n))

    def _receipt_due(self, item: Delivery) -> None:
        if self._ledger.settle(item.message):  # False: the message was cancelled
            self._route(item)

    # --- deliver_sm ------------------------------------------------------------------------------

    def _route(self, item: Delivery) -> None:
        """Send a receipt where the module docstring says, or keep it pending."""
        origin = item.origin
        if origin is not None and origin.deliver(item):
            return
        receivers = [s for s in self._sessions if s.system_id == item.system_id and s.can_receive and s.open]
        if receivers and receivers[next(self._turn) % len(receivers)].deliver(item):
            return
        self._pending.setdefault(item.system_id, deque(maxlen=PENDING_LIMIT)).append(item)

    async def inject_mo(self, source: str, destination: str, text: str) -> int:
        """Send an MO to every bound receiver/transceiver; how many sessions it went to."""
        wire = mo_pdu(source, destination, text)
        receivers = [s for s in self._sessions if s.can_receive and s.open]
        return sum(s.deliver(Delivery(s.system_id, wire)) for s in receivers)


def _submit_error(pdu: Pdu) -> int:
    """The submit_sm_resp error for a submit_sm a carrier would refuse (see the module
    docstring), else 0.  Over-long fields are refused before, by the strict decode."""
    destination, source = str(pdu.fields["destination_addr"]), str(pdu.fields["source_addr"])
    if not destination or len(destination) > _MAX_ADDR:
        return Status.ESME_RINVDSTADR
    if len(source) > _MAX_ADDR:
        return Status.ESME_RINVSRCADR
    if pdu.tlvs:
        sar = sum(tag in pdu.tlvs for tag in _SAR)
        if sar and sar < len(_SAR):
            return Status.ESME_RMISSINGOPTPARAM
    return 0

