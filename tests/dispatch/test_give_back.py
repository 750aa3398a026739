"""A stopped dispatcher hands back every claim it holds, whatever moment the stop comes, and the
batch claimed ahead never loses a message to the batch in hand.

These drive the pipelined loop (:meth:`Dispatcher.run`) through a scripted store gate: the
store's writes and the channel's submits are where it waits, so holding one of them, or
stopping the loop just before or just after the Nth of them, reaches the moments a SIGTERM can
arrive at without relying on timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from smsgate.domain.channel import ChannelError, ChannelStopping
from smsgate.dispatch.dispatcher import Dispatcher, DispatchSettings
from smsgate.dispatch.router import Router
from smsgate.domain.errors import ServiceUnavailable
from smsgate.domain.records import now_ms
from smsgate.store.delivery import DeliveryStore
from smsgate.store.outbox import OutboxStore
from tests.conftest import UNSUB, World
from tests.dispatch.fakes import FakeChannel
from tests.dispatch.test_dispatcher import ALWAYS, queue
from tests.wait import wait_until_async


class Script:
    """The dispatcher's store gate, with hooks: ``before`` and ``after`` run around each write
    (given the write's function and arguments) and may wait or stop the dispatcher; a
    ``before`` hook may return other arguments for the write (a claim made later)."""

    def __init__(self) -> None:
        self.before: list[Callable] = []
        self.after: list[Callable] = []

    async def write(self, fn, *args):
        for hook in self.before:
            args = await hook(fn, args) or args
        for _ in range(10):  # a real write waits its turn and for the store: others run meanwhile
            await asyncio.sleep(0)
        result = fn(*args)
        for hook in self.after:
            await hook(fn, args)
        await asyncio.sleep(0)
        return result


def make(world: World, channel: FakeChannel, script: Script, **settings) -> Dispatcher:
    db = world.store.db
    return Dispatcher(script.write, DeliveryStore(db), OutboxStore(db), Router([(channel, ["*"])]),
                      lambda _p: ALWAYS, world.settings.zone, DispatchSettings(**settings))


def rows(world: World, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    marks = ",".join("?" * len(ids))
    return {r[0]: (r[1], r[2]) for r in world.store.db.execute(
        f"SELECT id, state, owner FROM messages WHERE id IN ({marks})", ids)}


def is_preclaim(fn, args) -> bool:
    """The claim the loop makes beside the batch in hand (it does not take back its own)."""
    return getattr(fn, "__name__", "") == "claim" and args[-1] is False


class HeldChannel(FakeChannel):
    """Throttles the first submit to ``flaky``; holds every submit to ``held`` until ``go``."""

    def __init__(self, flaky: str, held: str) -> None:
        super().__init__()
        self.flaky, self.held = flaky, held
        self.go = asyncio.Event()
        self.throttled = False

    async def submit(self, submit):
        if submit.destination == self.flaky and not self.throttled:
            self.throttled = True
            raise ChannelError("ESME_RTHROTTLED", transient=True, status=0x58)
        if submit.destination == self.held:
            await self.go.wait()
        return await super().submit(submit)


async def test_a_message_retried_in_the_batch_in_hand_and_claimed_ahead_is_sent_by_the_next(
        world: World) -> None:
    """A part throttled in the batch in hand is queued again (due at once here); the claim
    running ahead takes it back while the batch in hand is still going.  The next batch must
    send it: it used to be skipped as "no longer ours" and stay SENDING under this worker
    until its lease ran out (for ever, once the worker had stopped)."""
    channel = HeldChannel(flaky="8613800000000", held="8613800000001")
    script = Script()
    d = make(world, channel, script, batch=2, first_retry_ms=0)
    [x] = queue(world, f"一{UNSUB}", e164="+8613800000000")
    [y] = queue(world, f"二{UNSUB}", e164="+8613800000001")
    retried, preclaims = asyncio.Event(), []

    async def before(fn, args):
        if is_preclaim(fn, args):
            preclaims.append(args)
            if len(preclaims) == 1:
                await retried.wait()  # the claim ahead runs once x is due again
                return (now_ms(), *args[1:])
            else:
                d.stop()  # beside the second batch: stop once it is done

    async def after(fn, args):
        if getattr(fn, "__name__", "") == "retry":
            retried.set()
        if is_preclaim(fn, args) and len(preclaims) == 1:
            channel.go.set()  # the batch in hand ends only after the claim ahead

    script.before.append(before)
    script.after.append(after)
    await asyncio.wait_for(d.run(), 10)
    assert rows(world, [x, y]) == {x: ("SUBMITTED", None), y: ("SUBMITTED", None)}
    assert sorted(part.destination for _, part in channel.sent) == ["8613800000000", "8613800000001"]


async def test_the_claim_ahead_leaves_alone_the_batch_in_hand_even_past_its_lease(world: World) -> None:
    """A batch in hand whose lease lapsed (renewals held up) is still this worker's to send;
    the claim running ahead must not take it as well, or the next batch would send its parts
    a second time (this guards the fix above: a message claimed again now belongs to the
    newer claim)."""
    channel = HeldChannel(flaky="none", held="8613800000002")
    script = Script()
    d = make(world, channel, script, batch=1)
    [x] = queue(world, f"三{UNSUB}", e164="+8613800000002")
    claims = []

    async def before(fn, args):
        if getattr(fn, "__name__", "") == "claim":
            claims.append(args)
            if is_preclaim(fn, args) and len(claims) == 2:  # beside the batch holding x
                world.store.db.execute("UPDATE messages SET lease_until=0 WHERE id=?", (x,))
            elif len(claims) > 2:
                d.stop()  # the next claim: x's batch is done, and the one after it if any

    async def after(fn, args):
        if is_preclaim(fn, args):
            channel.go.set()

    script.before.append(before)
    script.after.append(after)
    await asyncio.wait_for(d.run(), 10)
    assert [part.destination for _, part in channel.sent] == ["8613800000002"]  # once
    assert rows(world, [x]) == {x: ("SUBMITTED", None)}


async def test_parts_answered_while_the_settle_loop_waits_on_the_store_are_recorded_at_stop(
        world: World) -> None:
    """The settle loop has taken the answered parts and waits on the store when the stop comes
    and cancels it; the final flush must still record them.  It used to find nothing to write
    (the parts were put back only after it had run), so the messages stayed SENDING under the
    stopped worker, and another worker sent them again once their lease ran out."""
    channel = FakeChannel()
    script = Script()
    d = make(world, channel, script, batch=3, flush_s=0.001)
    ids = [m for i in range(3) for m in queue(world, f"{i}{UNSUB}", e164=f"+86134{i:08d}")]
    waiting, never = asyncio.Event(), asyncio.Event()

    async def before(fn, args):
        if getattr(fn, "__name__", "") == "_settle" and not waiting.is_set():
            waiting.set()
            await never.wait()  # the first write of the answers hangs until cancelled

    script.before.append(before)
    run = asyncio.create_task(d.run())
    await asyncio.wait_for(waiting.wait(), 10)
    assert len(channel.sent) == 3
    d.stop()
    await asyncio.wait_for(run, 10)
    assert rows(world, ids) == {m: ("SUBMITTED", None) for m in ids}


async def test_a_batch_whose_step_failed_is_given_back_when_the_worker_stops(world: World) -> None:
    """A step fails half-way (the store refuses one write: a restart) and the worker stops
    before its next step could take the batch back: what the failed step held is queued again
    for another worker at once, instead of staying claimed by a worker that is gone."""
    channel = HeldChannel(flaky="8613300000001", held="none")
    script = Script()
    d = make(world, channel, script, batch=2)
    [x] = queue(world, f"甲{UNSUB}", e164="+8613300000000")
    [y] = queue(world, f"乙{UNSUB}", e164="+8613300000001")
    failed = asyncio.Event()

    async def before(fn, args):
        if getattr(fn, "__name__", "") == "retry" and not failed.is_set():
            failed.set()
            raise ServiceUnavailable("The store cannot take writes now; retry later.")

    script.before.append(before)
    run = asyncio.create_task(d.run())
    await asyncio.wait_for(failed.wait(), 10)
    d.stop()
    await asyncio.wait_for(run, 10)
    assert rows(world, [x, y]) == {x: ("SUBMITTED", None), y: ("QUEUED", None)}


class Stopper:
    """Stops the dispatcher at the Nth event (a write or a submit), before or after it; with
    ``channel_too``, the channel stops taking submits then as well (past the grace period)."""

    def __init__(self, at: int, when: str, channel_too: bool) -> None:
        self.at, self.when, self.channel_too = at, when, channel_too
        self.events = 0
        self.dispatcher: Dispatcher | None = None
        self.channel_stopped = False

    def tick(self, when: str) -> None:
        if when == "before":
            self.events += 1
        if self.events == self.at and when == self.when and self.dispatcher is not None:
            self.dispatcher.stop()
            self.channel_stopped = self.channel_too


class StoppingChannel(FakeChannel):
    """Submits take a turn of the loop; every fourth is throttled once (retried); once the
    stopper says so, submits raise ChannelStopping as a stopping SMPP channel's do."""

    def __init__(self, stopper: Stopper) -> None:
        super().__init__()
        self.stopper = stopper
        self.seen = 0

    async def submit(self, submit):
        self.stopper.tick("before")
        if self.stopper.channel_stopped:
            raise ChannelStopping()
        await asyncio.sleep(0)  # the answer comes later: other tasks run meanwhile
        self.seen += 1
        if self.seen % 4 == 0:
            raise ChannelError("ESME_RTHROTTLED", transient=True, status=0x58)
        carrier_id = await super().submit(submit)
        self.stopper.tick("after")
        return carrier_id


def park_the_rest(world: World) -> None:
    """Messages a round left queued wait far in the future, out of the next round's way."""
    world.store.db.execute("UPDATE messages SET next_attempt_at=? WHERE state='QUEUED'", (2**62,))


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("channel_too", [False, True], ids=["grace", "past-grace"])
async def test_a_stop_at_any_moment_leaves_nothing_claimed_and_nothing_unrecorded(
        world: World, when: str, channel_too: bool) -> None:
    """One round per moment: eight messages (some in two parts, some throttled once) in
    batches of three, stopped at the Nth write or submit (a whole run has 28 of them; the
    last round is never stopped).  Every round ends with no message left SENDING, every
    part the SMSC answered recorded, and no part sent twice."""
    for at in range(1, 30):
        stopper = Stopper(at, when, channel_too)
        channel = StoppingChannel(stopper)
        script = Script()

        async def before(fn, args, stopper=stopper):
            stopper.tick("before")

        async def after(fn, args, stopper=stopper):
            stopper.tick("after")

        script.before.append(before)
        script.after.append(after)
        d = make(world, channel, script, batch=3, first_retry_ms=0, flush_s=0.0, poll_s=0.001)
        stopper.dispatcher = d
        ids = [m for i in range(8) for m in queue(world, ("促" * 80 if i % 3 == 0 else "促") + f"{i}{UNSUB}",
                                                      e164=f"+86135{at:04d}{i:04d}")]
        run = asyncio.create_task(d.run())
        await wait_until_async(
            lambda: run.done() or all(s == "SUBMITTED" for s, _ in rows(world, ids).values()),
            10, f"round {at}: the dispatcher stops or sends everything")
        d.stop()
        await asyncio.wait_for(run, 10)
        moment = f"stopped {when} event {at}"
        states = rows(world, ids)
        claimed = [(m, s) for m, (s, owner) in states.items() if s not in ("QUEUED", "SUBMITTED") or owner]
        assert claimed == [], moment
        sent = [(part.destination, part.index) for _, part in channel.sent]
        assert len(sent) == len(set(sent)), moment  # no part twice
        [(recorded,)] = world.store.db.execute(
            "SELECT count(*) FROM message_parts WHERE carrier_id IS NOT NULL AND message_id IN"
            f" ({','.join('?' * len(ids))})", ids).fetchall()
        assert recorded == len(sent), moment  # every answered part is stored
        park_the_rest(world)
