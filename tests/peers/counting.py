"""SMSCs whose message ids are plain counters, as many small carriers hand them out: ``1, 2, …
9, a, b, … 10, 11`` in hex or ``1 … 10 …`` in decimal, spelt one way in submit_sm_resp and
perhaps another in the receipts.

Built on :class:`~tests.peers.smpplib_smsc.SmpplibSmsc`, so smpplib (not our codec) reads every
PDU we send and writes every PDU we get.  Every accepted submit_sm gets a receipt, later and out
of order as on a real network: receipts are held back until more than ``lag`` are waiting, then
one picked at random (seeded) goes out; :meth:`release` sends the rest.  Thousands of parts are
therefore open at once, and small counters spelt in hex and decimal collide ("10" and "a").
What a receipt says (stat, err) is a function of the destination, so a test can tell whose
receipt a part got.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.peers.smpplib_smsc import Conn, SmpplibSmsc, Submitted, receipt_text

Spelling = Callable[[int], str]
Outcome = Callable[[str], tuple[str, str]]  # destination -> (stat, err)

_STATE = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "REJECTD": 8}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def lower_hex(n: int) -> str:
    return format(n, "x")


def upper_hex_padded(n: int) -> str:
    return format(n, "08X")


def decimal(n: int) -> str:
    return str(n)


def delivered(destination: str) -> tuple[str, str]:
    return "DELIVRD", "000"


@dataclass(frozen=True)
class Reported:
    """A receipt this SMSC sent and the ESME acknowledged."""

    message_id: str  # as submit_sm_resp spelt it
    receipt_id: str  # as the receipt spelt it
    destination: str
    stat: str
    err: str


class CountingSmsc(SmpplibSmsc):
    def __init__(self, resp_id: Spelling, receipt_id: Spelling | None = None, *, first: int = 1,
                 lag: int = 1000, seed: int = 10, outcome: Outcome = delivered) -> None:
        super().__init__()
        self.first = first
        self.lag = lag
        self.outcome = outcome
        self.reported: list[Reported] = []
        self.refusals = 0  # deliver_sm_resp with an error status (the receipt is sent again)
        self._resp_id = resp_id
        self._receipt_id = receipt_id or resp_id
        self._next = first
        self._numbers: dict[str, int] = {}  # id answered -> the counter's value
        self._held: list[tuple[Submitted, int]] = []
        self._random = random.Random(seed)
        self._reporting: set[asyncio.Task[None]] = set()

    def restart_ids(self) -> None:
        """Count from ``first`` again, as an SMSC that lost its counter on a restart does."""
        self._next = self.first

    def next_message_id(self) -> str:
        n, self._next = self._next, self._next + 1
        message_id = self._resp_id(n)
        self._numbers[message_id] = n
        return message_id

    def answered(self, conn: Conn, submitted: Submitted) -> None:
        self._held.append((submitted, self._numbers[submitted.message_id]))
        while len(self._held) > self.lag:
            i = self._random.randrange(len(self._held))
            self._held[i], self._held[-1] = self._held[-1], self._held[i]
            self._report(*self._held.pop())

    async def release(self, timeout: float = 60.0) -> None:
        """Send every receipt still held back (in a random order) and wait until the ESME has
        acknowledged all of them."""
        held, self._held = self._held, []
        self._random.shuffle(held)
        for submitted, n in held:
            self._report(submitted, n)
        async with asyncio.timeout(timeout):
            while self._reporting:
                await asyncio.gather(*self._reporting)

    def _report(self, submitted: Submitted, n: int) -> None:
        task = asyncio.create_task(self._send_receipt(submitted, n))
        self._reporting.add(task)
        task.add_done_callback(self._reporting.discard)

    async def _send_receipt(self, submitted: Submitted, n: int) -> None:
        pdu = submitted.pdu
        destination = pdu.destination_addr.decode("ascii")
        stat, err = self.outcome(destination)
        receipt_id = self._receipt_id(n)
        date = datetime.now(SHANGHAI).strftime("%y%m%d%H%M")
        fields = dict(
            esm_class=0x04, source_addr_ton=1, source_addr_npi=1, source_addr=destination,
            dest_addr_ton=0, dest_addr_npi=1, destination_addr=pdu.source_addr.decode("ascii"),
            data_coding=0, short_message=receipt_text(receipt_id, stat, err, date, date),
            receipted_message_id=receipt_id, message_state=_STATE[stat])
        for _ in range(20):  # refused for now, or the link dropped: a real SMSC sends it again
            try:
                resp = await self.request("deliver_sm", timeout=30.0, **fields)
            except (TimeoutError, ConnectionError, LookupError):
                resp = None
            if resp is not None and resp.status == 0:
                self.reported.append(Reported(submitted.message_id, receipt_id, destination, stat, err))
                return
            self.refusals += 1
            await asyncio.sleep(0.2)
        raise AssertionError(f"receipt {receipt_id} not acknowledged after 20 tries")
