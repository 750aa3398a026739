"""SMSCs that each get one thing wrong, the way real carriers do."""

from __future__ import annotations

import asyncio

from smsgate.smpp.pdu import CommandId, Pdu, Status, response_to
from tests.peers.smsc import PeerConn, Smsc


class HoldingSmsc(Smsc):
    """Holds every submit_sm answer until :meth:`release`, then answers the held ones newest
    first (out of order) and later ones at once."""

    def __init__(self) -> None:
        super().__init__()
        self.released = False

    async def on_submit(self, conn: PeerConn, pdu: Pdu) -> None:
        if self.released:
            conn.answer_submit(pdu)

    def release(self) -> None:
        self.released = True
        for conn in (c for c in self.conns if not c.closed):
            for pdu in sorted(conn.held.values(), key=lambda p: p.sequence, reverse=True):
                conn.answer_submit(pdu)


class ThrottlingSmsc(Smsc):
    """Answers every ``every``-th submit_sm with ``status`` (ESME_RTHROTTLED by default)."""

    def __init__(self, every: int, status: int = Status.ESME_RTHROTTLED) -> None:
        super().__init__()
        self.every = every
        self.status = status
        self.arrivals: list[float] = []  # loop time of each submit_sm

    async def on_submit(self, conn: PeerConn, pdu: Pdu) -> None:
        self.arrivals.append(asyncio.get_running_loop().time())
        throttle = len(self.submits) % self.every == 0
        conn.answer_submit(pdu, self.status if throttle else 0)


class SilentSmsc(Smsc):
    """Never answers submit_sm to destinations in ``ignore`` (every destination if None)."""

    def __init__(self, ignore: set[str] | None = None) -> None:
        super().__init__()
        self.ignore = ignore

    async def on_submit(self, conn: PeerConn, pdu: Pdu) -> None:
        if self.ignore is not None and pdu.fields["destination_addr"] not in self.ignore:
            conn.answer_submit(pdu)


class NackingSmsc(Smsc):
    """Answers every submit_sm with generic_nack (as SMSCs do for PDUs they cannot read)."""

    async def on_submit(self, conn: PeerConn, pdu: Pdu) -> None:
        conn.held.pop(pdu.sequence, None)
        conn.send(Pdu(CommandId.GENERIC_NACK, pdu.sequence, Status.ESME_RSYSERR))


class DroppingSmsc(Smsc):
    """Drops the connection, unanswered, on the ``after``-th submit_sm; fine after that."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    async def on_submit(self, conn: PeerConn, pdu: Pdu) -> None:
        if len(self.submits) == self.after:
            conn.abort()
        else:
            conn.answer_submit(pdu)


class GarbageSmsc(Smsc):
    """Sends bytes that are not SMPP right after the first bind; fine after that."""

    async def on_bind(self, conn: PeerConn, pdu: Pdu) -> None:
        await super().on_bind(conn, pdu)
        if len(self.binds) == 1:
            conn.send_raw(b"\xde\xad\xbe\xef garbage, not a PDU \x00\x01")


class RefusingBindSmsc(Smsc):
    """Refuses the first ``refusals`` binds as a wrong password (ESME_RINVPASWD), then accepts."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    def bind_status(self, pdu: Pdu) -> int:
        if len(self.binds) < self.refusals:
            return Status.ESME_RINVPASWD
        return super().bind_status(pdu)


class LazyEnquireSmsc(Smsc):
    """Answers enquire_link after ``delay`` seconds, or never when ``delay`` is None."""

    def __init__(self, delay: float | None) -> None:
        super().__init__()
        self.delay = delay

    async def on_enquire_link(self, conn: PeerConn, pdu: Pdu) -> None:
        if self.delay is not None:
            asyncio.get_running_loop().call_later(self.delay, _answer_if_open, conn, pdu)


def _answer_if_open(conn: PeerConn, pdu: Pdu) -> None:
    if not conn.closed:
        conn.send(response_to(pdu))
