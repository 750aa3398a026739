"""The dispatcher's other half: what the SMSC answered and sent back, written to the store.

Parts answered, receipts and replies are kept in memory and written in one transaction per
flush, with the callbacks they cause queued in the same transaction (an event is queued exactly
when the change it reports is stored); receipts that named no part are looked at again, and
messages whose receipt never came are given up on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from smsgate.callbacks.events import reply_event, status_event
from smsgate.callbacks.poster import lease_ms
from smsgate.domain import phone
from smsgate.domain.channel import Inbound
from smsgate.domain.errors import EndpointInvalid
from smsgate.domain.records import now_ms
from smsgate.domain.replies import is_opt_out
from smsgate.latency import Latency
from smsgate.store.db import transaction
from smsgate.store.delivery import DeliveryStore, Final, PartSubmitted, Receipt, Unmatched, Waited
from smsgate.store.outbox import OutboxStore, Pending

if TYPE_CHECKING:
    from smsgate.dispatch.dispatcher import DispatchSettings

log = logging.getLogger("smsgate.dispatch")


def _e164(source: str) -> str:
    """The handset's number as we store it, whether the SMSC wrote it national or international."""
    try:
        return phone.normalize(source).e164
    except EndpointInvalid:
        return source if source.startswith("+") else f"+{source}"


class Settling:
    """Receipts, replies and giving up (a part of :class:`~smsgate.dispatch.dispatcher.Dispatcher`,
    which sets these attributes)."""

    _write: Callable[..., Awaitable[Any]]
    _delivery: DeliveryStore
    _outbox: OutboxStore
    settings: DispatchSettings
    _inbound: list[Inbound]
    _submitted: list[PartSubmitted]
    _stored: asyncio.Future[None] | None  # resolves when _inbound is written
    delivery_latency: Latency  # accepted -> final, for the messages settled here
    unmatched: Counter[tuple[str, str]]  # (channel, reason) -> receipts
    #: the poster of this process (``Poster.hand``): the status events of receipts are handed
    #: to it once committed, leased to it, instead of waiting in the outbox to be read back
    handoff: Callable[[list[Pending]], None] | None = None

    def _recorded(self, parts: int) -> None:
        """``parts`` answered parts are now in the store (the dispatcher counts what waits)."""

    async def sweep(self, now: int | None = None) -> int:
        """Give up on receipts that did not come within ``receipt_wait_ms`` (EXPIRED,
        NO_RECEIPT), telling subscribers; returns how many."""
        now = now or now_ms()
        return len(self._time_settling(await self._write(self._expire_unreceipted, now)))

    async def check_waiting(self, now: int | None = None) -> list[Final]:
        """Look again at receipts that named no open part when they came, once they have
        waited for their part (see ``DeliveryStore.match_waiting``); count and log those
        credited to no one.  Returns the messages that became final."""
        now = now or now_ms()
        waited = await self._write(self._match_waiting, now)
        self._count_unmatched(waited.unmatched)
        return self._time_settling(waited.finals)

    def _match_waiting(self, now: int) -> Waited:
        with transaction(self._delivery.db):
            waited = self._delivery.match_waiting(now)
            self._notify(waited.finals, now)
        return waited

    def _count_unmatched(self, unmatched: list[Unmatched]) -> None:
        """(Once committed.) An ambiguous receipt is logged on its own (it means a carrier
        whose ids need ``receipt_id_format``); duplicates and unknown ones in a sum."""
        counts: Counter[tuple[str, str]] = Counter()
        for u in unmatched:
            counts[(u.channel, u.reason)] += 1
            if u.reason == "ambiguous":
                log.warning("receipt_ambiguous", extra={
                    "channel": u.channel, "receipt_id": u.carrier_id,
                    "parts": [f"{message_id}/{idx}" for message_id, idx in u.parts]})
        for (channel, reason), n in counts.items():
            if reason != "ambiguous":
                log.info("receipts_unmatched", extra={"channel": channel, "reason": reason, "receipts": n})
        self.unmatched.update(counts)

    def _time_settling(self, finals: list[Final]) -> list[Final]:
        """(Once their transaction committed.) How long the messages took to settle."""
        at = now_ms()
        for f in finals:
            self.delivery_latency.observe(max(at - f.accepted_at, 0) / 1000)
        return finals

    def _expire_unreceipted(self, now: int) -> list[Final]:
        with transaction(self._delivery.db):
            finals = self._delivery.expire_unreceipted(now - self.settings.receipt_wait_ms, now)
            self._notify(finals, now)
        if finals:
            log.info("receipts_given_up", extra={"messages": len(finals)})
        return finals

    def _receive(self, inbound: Inbound) -> asyncio.Future[None]:
        """Keep a receipt or reply for the next flush; the channel acknowledges it to the SMSC
        when the returned future resolves, i.e. once it is stored (exactly once, crash or not)."""
        self._inbound.append(inbound)
        if self._stored is None:
            self._stored = asyncio.get_running_loop().create_future()
        return self._stored

    async def flush(self) -> None:
        """Write what the SMSC answered and what it sent back, in one transaction."""
        submitted, self._submitted = self._submitted, []
        inbound, self._inbound[:] = list(self._inbound), []
        stored, self._stored = self._stored, None
        if submitted or inbound:
            try:
                finals, handed = await self._write(self._settle, submitted, inbound)
                self._time_settling(finals)
            except BaseException as exc:
                # parts are kept for the next flush (a stored part is never resent); receipts
                # and replies are refused to the SMSC, which sends them again
                self._submitted[:0] = submitted
                if stored is not None and not stored.done():
                    stored.set_exception(RuntimeError("the store is unavailable"))
                    stored.exception()  # retrieved: no "never retrieved" warning
                raise exc
            self._recorded(len(submitted))
            if handed and self.handoff is not None:
                self.handoff(handed)
        if stored is not None and not stored.done():
            stored.set_result(None)

    def _settle(self, submitted: list[PartSubmitted], inbound: list[Inbound]) -> tuple[list[Final], list[Pending]]:
        """(On the writer.) Record parts, apply receipts (including ones that had arrived before
        their part was recorded) and replies, and queue the events they cause: an event is
        queued exactly when the change it reports is stored.  Returns the messages made final
        and the status events leased to :attr:`handoff`, if any."""
        handed: list[Pending] = []
        at = now_ms()
        receipts = [Receipt(i.channel, i.receipt_id, i.stat or "", i.err, i.done_at or at, i.id_format)
                    for i in inbound if i.is_receipt]
        with transaction(self._delivery.db):
            finals = self._delivery.record_parts(submitted)
            if receipts:
                finals += self._delivery.apply_receipts(receipts, at)
            if self.handoff is None:
                self._notify(finals, at)
            else:
                handed = self._outbox.enqueue_leased(self._events(finals), at, lease_ms())
            for reply in (i for i in inbound if not i.is_receipt):
                self._reply(reply, at)
        return finals, handed

    def _notify(self, finals: list[Final], at: int) -> None:
        self._outbox.enqueue(self._events(finals), at)

    @staticmethod
    def _events(finals: list[Final]) -> list[tuple[str, str, bytes, str | None]]:
        return [(f.project_id, *status_event(f), f.message_id) for f in finals]

    def _reply(self, mo: Inbound, at: int) -> None:
        e164 = _e164(mo.source)
        origin = self._delivery.record_reply(e164, mo.text, at)
        if origin is None:
            log.info("reply_unmatched")  # no message was sent to that number
            return
        project_id, sign_id, nation_code = origin
        body = reply_event(sign_id, nation_code, e164, mo.text, at)
        self._outbox.enqueue([(project_id, "sms_reply_event", body, None)], at)
        if is_opt_out(mo.text):
            self._delivery.opt_out(project_id, sign_id, e164, at)
