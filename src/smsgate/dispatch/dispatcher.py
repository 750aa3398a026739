"""The worker loop: claim queued messages, hold them outside the sending window, submit their
parts through a channel, retry what failed for a passing reason, and settle receipts.

The store is the queue of record: everything the dispatcher knows it writes there, in batches,
through the single ``write`` gate the API uses too, so the loop can be killed at any point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from smsgate.config import UNRECORDED_MAX
from smsgate.dispatch.channel import Channel
from smsgate.dispatch.router import Router
from smsgate.dispatch.settling import Settling
from smsgate.domain import zones
from smsgate.domain.channel import ChannelError, ChannelStopping, Inbound, Submit
from smsgate.domain.errors import ServiceUnavailable
from smsgate.domain.records import now_ms
from smsgate.domain.segments import segment
from smsgate.domain.states import MessageState
from smsgate.domain.window import SendWindow
from smsgate.latency import Latency
from smsgate.limits.rate import TokenReserve
from smsgate.store.binds import new_owner
from smsgate.store.delivery import Claimed, DeliveryStore, Final, PartSubmitted
from smsgate.store.outbox import OutboxStore
from smsgate.store.db import transaction

log = logging.getLogger("smsgate.dispatch")

Write = Callable[..., Awaitable[Any]]
STORE_RETRY_S = 1.0  # pause after a failed write before trying again
HAND_OVER_MS = 1_000  # a message this worker cannot route waits this long for another's


async def _settled(task: asyncio.Task[list[Claimed]] | None) -> list[Claimed] | None:
    """What a claim running ahead got, once it is done (None if it failed, was cancelled
    with the loop, or there was none)."""
    if task is None:
        return None
    await asyncio.wait([task])
    if task.cancelled() or task.exception() is not None:
        return None
    return task.result()


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    batch: int = 500  # messages claimed at a time
    lease_ms: int = 60_000  # how long a claim lasts if this process dies
    validity_ms: int = 72 * 3_600_000  # a message not submitted by then is EXPIRED
    receipt_wait_ms: int = 72 * 3_600_000  # a submitted message with no receipt by then too
    sweep_s: float = 60.0  # how often submitted messages are checked for that
    first_retry_ms: int = 1_000
    max_retry_ms: int = 300_000
    poll_s: float = 0.2  # idle wait when nothing is due
    flush_s: float = 0.05  # how often receipts are written
    check_s: float = 1.0  # how often receipts that named no part are looked at again
    # parts sent whose answer is not yet in the store, at most: what a crash can make this
    # worker's successor send twice, whatever the machine's load (a write that takes long
    # makes the sends wait, instead of letting the exposure grow with the delay)
    unrecorded_max: int = UNRECORDED_MAX


class Dispatcher(Settling):
    def __init__(
        self,
        write: Write,
        delivery: DeliveryStore,
        outbox: OutboxStore,
        router: Router,
        window_for: Callable[[str], SendWindow],
        zone: ZoneInfo,
        settings: DispatchSettings = DispatchSettings(),
        owner: str | None = None,
        rates: dict[str, TokenReserve] | None = None,
    ) -> None:
        self._write = write
        self.owner = owner or new_owner()  # whose leases these are
        self._rates = rates or {}  # channel name -> its cluster-wide submit rate
        self._delivery = delivery
        self._outbox = outbox
        self._router = router
        self._window_for = window_for
        self._zone = zone
        self.settings = settings
        self._inbound: list[Inbound] = []
        self._submitted: list[PartSubmitted] = []
        self._unrecorded = 0  # parts being submitted, or answered and not yet stored
        self._room = asyncio.Event()  # set when a part is answered, stored or failed
        self._recording = asyncio.Lock()  # one sender at a time writes answered parts itself
        self._stopping = asyncio.Event()
        # claimed by this dispatcher and not yet released, by id: the claim that holds it (a
        # message retried in the batch in hand may be claimed again by the batch ahead, which
        # then holds it, while the batch in hand is still finishing)
        self._in_hand: dict[str, Claimed] = {}
        self._given_back: list[str] = []  # not sent because the channel is stopping
        self._stored: asyncio.Future[None] | None = None  # resolves when _inbound is written
        self.delivery_latency = Latency()  # accepted -> final, for the messages settled here
        self.unmatched: Counter[tuple[str, str]] = Counter()  # (channel, reason) -> receipts
        for channel in router.channels:
            channel.on_inbound(self._receive)

    def add_channel(self, channel: Channel, prefixes: list[str]) -> None:
        """A channel bound while running (a bind slot freed by another worker)."""
        channel.on_inbound(self._receive)
        self._router.add(channel, prefixes)

    def remove_channel(self, channel: Channel) -> None:
        self._router.remove(channel)

    def set_elsewhere(self, prefixes: list[list[str]]) -> None:
        self._router.set_elsewhere(prefixes)

    # --- the loops ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch until :meth:`stop` (the batch in hand is finished) or cancellation,
        settling receipts on the side.

        Pipelined: while one batch is being submitted, the store writes the previous batch's
        answers and claims the next, so the binds do not sit idle through the writes (they
        took ~45% of a step: 160 ms sending, 45 ms claiming, 85 ms writing, per 500).

        On the way out every answer is recorded, then every claim this dispatcher still holds
        goes back to the queue (unless the store failed: then their leases run out)."""
        settle = asyncio.create_task(self._settle_forever())
        renew = asyncio.create_task(self._renew_forever())
        ahead: asyncio.Task[list[Claimed]] | None = None
        try:
            while not self._stopping.is_set():
                try:
                    claimed = await (ahead or self._claim(now_ms(), reclaim_own=True))
                    ahead = None
                    if claimed:
                        ahead = asyncio.create_task(self._flush_and_claim())
                        await self._dispatch(claimed, now_ms())
                except Exception as exc:  # the store is down or restarting, or a channel's
                    # shared rate cannot be checked (Redis down: nothing is sent past it): wait,
                    # then go on, taking this worker's unfinished messages back
                    if isinstance(exc, ServiceUnavailable):
                        log.warning("dispatch_paused", extra={"reason": str(exc)})
                    else:
                        log.warning("dispatch_step_failed", exc_info=True)
                    claimed = []
                    await self._release(await _settled(ahead))
                    ahead = None
                    await asyncio.sleep(STORE_RETRY_S)
                if not claimed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self.settings.poll_s)
        finally:
            settle.cancel()
            renew.cancel()
            # the settle loop may be writing answered parts it took: they are back in
            # _submitted once it has ended, and the last flush writes them (again, if its
            # write had gone through: recording a part twice changes nothing)
            await asyncio.wait([settle, renew])
            await self._release(await _settled(ahead))
            try:
                await self.flush()
            except Exception:  # parts answered but not stored: their lease protects them
                log.warning("dispatch_final_flush_failed", exc_info=True)
            else:
                await self._give_back()

    async def _flush_and_claim(self) -> list[Claimed]:
        """Beside the batch in hand: write what is waiting, then claim the next batch (not
        taking back this worker's own messages: some are the batch in hand)."""
        await self.flush()
        if self._stopping.is_set():
            return []
        return await self._claim(now_ms(), reclaim_own=False)

    async def _release(self, claimed: list[Claimed] | None) -> None:
        """Messages claimed ahead that will not be sent by this worker: queued again now."""
        if claimed:
            self._let_go(claimed)
            with contextlib.suppress(Exception):  # else their lease runs out
                await self._write(self._delivery.hold, [m.id for m in claimed], now_ms(), self.owner)

    def _let_go(self, claimed: list[Claimed]) -> None:
        """This claim of each message is over (a later claim of it stays in hand)."""
        for m in claimed:
            if self._in_hand.get(m.id) is m:
                del self._in_hand[m.id]

    async def _give_back(self) -> None:
        """(Stopping, every answer recorded.)  Whatever this dispatcher still holds in the
        store goes back to the queue now, for another worker, instead of waiting out its
        lease: a step that failed before the stop, a message no batch finished."""
        try:
            given = await self._write(self._delivery.give_back, self.owner, now_ms())
        except Exception:  # their lease runs out instead
            log.warning("dispatch_give_back_failed", exc_info=True)
            return
        self._in_hand.clear()
        if given:
            log.info("claims_given_back", extra={"messages": given})

    def stop(self) -> None:
        """Take no new batch; :meth:`run` returns once the one in hand is submitted, its
        answers recorded and what it still holds given back."""
        self._stopping.set()

    async def _settle_forever(self) -> None:
        swept = checked = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.flush_s)
            try:
                await self.flush()
                if time.monotonic() - checked > self.settings.check_s:
                    checked = time.monotonic()
                    await self.check_waiting()
                if time.monotonic() - swept > self.settings.sweep_s:
                    swept = time.monotonic()
                    await self.sweep()
            except Exception:
                log.warning("settle_failed", exc_info=True)
                await asyncio.sleep(STORE_RETRY_S)

    async def _renew_forever(self) -> None:
        """Keep the lease on messages in hand while a step takes long (a throttling SMSC), so
        that no other worker takes them over while this one still sends them."""
        every = self.settings.lease_ms / 3000
        while True:
            await asyncio.sleep(every)
            if self._in_hand:
                asked = dict(self._in_hand)
                try:
                    held = await self._write(self._delivery.renew, self.owner, sorted(asked),
                                             now_ms() + self.settings.lease_ms)
                except Exception:  # the store is down: the next round tries again
                    log.warning("lease_renewal_failed", exc_info=True)
                    continue
                lost = [m for i, m in asked.items() if i not in held]
                if lost:  # taken over while this worker was held up: it sends none of them
                    self._let_go(lost)
                    log.warning("leases_lost", extra={"messages": len(lost)})

    async def step(self, now: int | None = None) -> int:
        """Claim one batch and try every message in it once; returns how many were claimed.
        (One step at a time, for tests and ``drain``; :meth:`run` overlaps them.)"""
        now = now or now_ms()
        claimed = await self._claim(now, reclaim_own=True)
        if claimed:
            await self._dispatch(claimed, now)
            await self.flush()
        return len(claimed)

    async def _claim(self, now: int, reclaim_own: bool) -> list[Claimed]:
        if not self._router.channels:
            return []  # no bind here (other workers hold them): claim nothing
        if reclaim_own and self._submitted:  # answered parts go to the store before this
            await self.flush()  # worker takes back its own unfinished messages
        claimed = await self._write(self._delivery.claim, now, self.settings.batch,
                                    self.settings.lease_ms, self.owner, reclaim_own)
        self._in_hand.update((m.id, m) for m in claimed)  # renewed from now on, in hand or ahead
        return claimed

    async def _dispatch(self, claimed: list[Claimed], now: int) -> None:
        """Hold, expire or submit every message of a claimed batch once.  Every send is over
        before this returns or raises: a failed step's messages are taken back by this worker's
        next claim, and a send still running behind it could then submit a part twice."""
        try:
            sendable = await self._hold_or_expire(claimed, now)
            results = await asyncio.gather(*(self._send(m) for m in sendable), return_exceptions=True)
            failure = next((r for r in results if isinstance(r, BaseException)), None)
            if failure is not None:
                raise failure
            given_back, self._given_back = self._given_back, []
            if given_back:  # queued again now, their answered parts stored first
                await self.flush()
                await self._write(self._delivery.hold, given_back, now_ms(), self.owner)
        finally:
            self._let_go(claimed)

    async def drain(self, timeout: float = 30.0) -> None:
        """Run steps until nothing is due (tests and one-shot workers wait on this)."""
        deadline = time.monotonic() + timeout
        while await self.step():
            if time.monotonic() > deadline:
                raise TimeoutError("the queue did not drain")
        await self.flush()

    # --- sending -----------------------------------------------------------------------------

    async def _hold_or_expire(self, claimed: list[Claimed], now: int) -> list[Claimed]:
        local = datetime.fromtimestamp(now / 1000, self._zone)
        held: dict[int, list[str]] = {}
        sendable: list[Claimed] = []
        # the window applies in the recipient's zones: once per project and zones, per batch
        opening: dict[tuple[str, tuple[ZoneInfo, ...]], datetime] = {}
        for m in claimed:
            if now - m.accepted_at > self.settings.validity_ms:
                await self._finish(m.id, MessageState.EXPIRED, "EXPIRED", now)
                continue
            key = (m.project_id, zones.zones_for(m.e164, self._zone))
            if key not in opening:
                opening[key] = self._window_for(m.project_id).opens(local, key[1])
            opens = opening[key]
            if opens > local:
                held.setdefault(int(opens.timestamp() * 1000), []).append(m.id)
            else:
                sendable.append(m)
        for until, ids in held.items():
            await self._write(self._delivery.hold, ids, until, self.owner)
        return sendable

    async def _send(self, m: Claimed) -> None:
        channel = self._router.pick(m.e164)
        if channel is None:
            if self._router.elsewhere(m.e164):  # another worker holds the binds for it
                await self._write(self._delivery.hold, [m.id], now_ms() + HAND_OVER_MS, self.owner)
            else:
                await self._retry(m, "no channel is up for this number")
            return
        # the concatenation reference comes from the message id, so a retry that sends the
        # missing parts uses the same one and the handset can still put the parts together
        seg = segment(m.text)  # the split fee_num counted: what is billed is what is sent
        total = len(seg.parts)
        if all(index in m.done_parts for index in range(1, total + 1)):  # answered under an earlier owner
            await self._write(self._delivery.mark_submitted, m.id, self.owner)
            return
        source = channel.source_address(m.extend_src_id)
        reference = int(m.id[-2:], 16)
        try:
            for index, text in enumerate(seg.parts, 1):
                if index in m.done_parts:
                    continue
                if self._in_hand.get(m.id) is not m:  # its lease lapsed and another worker has it
                    return
                rate = self._rates.get(channel.name)
                if rate is not None:
                    await rate.take()
                await self._slot()
                try:
                    carrier_id = await channel.submit(
                        Submit(source, m.e164.lstrip("+"), text, seg.encoding, index, total, reference))
                except BaseException:
                    self._recorded(1)  # not sent, or not known to be: nothing to store
                    raise
                self._submitted.append(
                    PartSubmitted(m.id, index, total, channel.name, carrier_id, now_ms()))
                self._room.set()
        except ChannelStopping:
            self._given_back.append(m.id)
        except ChannelError as exc:
            if exc.transient:
                await self._retry(m, exc.reason)
            else:
                await self._finish(m.id, MessageState.FAILED, exc.reason[:64], now_ms())

    async def _slot(self) -> None:
        """Wait until fewer than ``unrecorded_max`` parts are sent and not yet stored.  With
        answered parts waiting, the sender writes them itself (no deadlock without the settle
        loop, as in :meth:`step`); else it waits for an answer or a failure."""
        while self._unrecorded >= self.settings.unrecorded_max:
            if self._submitted:
                async with self._recording:
                    if self._unrecorded >= self.settings.unrecorded_max and self._submitted:
                        await self.flush()
                continue
            self._room.clear()
            await self._room.wait()
        self._unrecorded += 1

    def _recorded(self, parts: int) -> None:
        """(Called by :meth:`flush` too.) ``parts`` no longer wait for the store."""
        self._unrecorded -= parts
        self._room.set()

    async def _retry(self, m: Claimed, reason: str) -> None:
        delay = min(self.settings.first_retry_ms * 2 ** m.attempts, self.settings.max_retry_ms)
        await self._write(self._delivery.retry, m.id, now_ms() + delay, reason[:64], self.owner)

    async def _finish(self, message_id: str, state: MessageState, desc: str, at: int) -> None:
        self._time_settling(await self._write(self._finish_and_notify, message_id, state, desc, at))

    def _finish_and_notify(self, message_id: str, state: MessageState, desc: str, at: int) -> list[Final]:
        with transaction(self._delivery.db):
            final = self._delivery.finish(message_id, state, desc, at, self.owner)
            if final is None:
                return []
            self._notify([final], at)
        return [final]
