"""Events handed to the poster in memory (``OutboxStore.enqueue_leased`` then ``Poster.hand``,
as the dispatcher does once a receipt's transaction commits): posted without being read back
from the outbox, yet written there first, leased to this poster, so that a crash loses none, a
failure is retried from the outbox, and no other poster takes them while they may be posted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import msgspec
import pytest

from smsgate.callbacks import poster as poster_module
from smsgate.callbacks.events import verify
from smsgate.callbacks.poster import Poster, backoff_ms, lease_ms
from smsgate.domain.records import now_ms
from smsgate.store.outbox import Batching, OutboxStore, Pending
from tests.callbacks.hooks import Hook
from tests.callbacks.test_poster import LOOPBACK, SECRET, numbers, states, write
from tests.conftest import World


@pytest.fixture
def hook() -> Iterator[Hook]:
    hook = Hook().start()
    yield hook
    hook.stop()


class Reads:
    """The poster's store writes, counting the outbox reads that found something to post."""

    def __init__(self, outbox: OutboxStore) -> None:
        self.outbox = outbox
        self.posts_read = 0
        self.writes = 0

    async def __call__(self, fn, *args):
        result = fn(*args)
        self.writes += 1
        if fn == self.outbox.settle_and_claim:
            self.posts_read += len(result)
        return result


def subscribe(world: World, hook: Hook, batching: Batching | None = None) -> OutboxStore:
    outbox = OutboxStore(world.store.db)
    outbox.subscribe(world.project_id, [("sms_success_event", hook.url, batching)])
    return outbox


def leased(world: World, outbox: OutboxStore, n: int, now: int, first: int = 0) -> list[Pending]:
    events = [(world.project_id, "sms_success_event", msgspec.json.encode({"n": first + i}), f"m{first + i}")
              for i in range(n)]
    return outbox.enqueue_leased(events, now, lease_ms())


async def until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


def test_leased_events_are_written_leased_and_returned_as_stored(world: World, hook: Hook) -> None:
    outbox = subscribe(world, hook, None)
    outbox.subscribe(world.project_id, [("sms_fail_event", "")])  # no subscriber: nothing queued
    now = 10**12
    handed = outbox.enqueue_leased(
        [(world.project_id, "sms_success_event", b'{"n":%d}' % i, f"m{i}") for i in range(300)]
        + [(world.project_id, "sms_fail_event", b"{}", "x")], now, 5_000)
    rows = world.store.db.execute(
        "SELECT id, body, next_attempt_at, state, message_id FROM outbox ORDER BY id").fetchall()
    assert [(e.id, e.body) for e in handed] == [(r[0], bytes(r[1])) for r in rows]  # ids match bodies
    assert {(r[2], r[3]) for r in rows} == {(now + 5_000, "PENDING")}  # leased, not due
    assert [r[4] for r in rows] == [f"m{i}" for i in range(300)]
    assert outbox.claim(now + 4_999, 1000, _Everything()) == []  # no other poster takes them


class _Everything:
    full = False

    def __init__(self) -> None:
        self._posts: list[list[Pending]] = []

    def free(self, _project_id: str) -> int:
        return 10**6

    def add(self, event: Pending) -> None:
        self._posts.append([event])

    def posts(self) -> list[list[Pending]]:
        return self._posts


async def test_handed_events_are_posted_signed_without_reading_the_outbox(world: World, hook: Hook) -> None:
    outbox = subscribe(world, hook)
    reads = Reads(outbox)
    poster = Poster(reads, outbox, lambda _p: SECRET, LOOPBACK)
    running = asyncio.create_task(poster.run(idle=0.02))
    poster.hand(leased(world, outbox, 50, now_ms()))
    await until(lambda: states(world) == [("DONE", 1)] * 50)
    running.cancel()
    await poster.close()
    assert reads.posts_read == 0  # nothing was read back from the outbox to be posted
    assert reads.writes < 50  # outcomes written many at a time
    assert sorted(n for r in hook.requests for n in numbers(r.body)) == list(range(50))
    assert all(verify(SECRET, r.signature, r.body) for r in hook.requests)
    assert poster.stats.events == 50 and poster.stats.delivered == 50


async def test_a_failed_handed_post_is_retried_from_the_outbox_with_backoff(world: World, hook: Hook) -> None:
    hook.statuses = [503]
    outbox = subscribe(world, hook)
    poster = Poster(write, outbox, lambda _p: SECRET, LOOPBACK)
    running = asyncio.create_task(poster.run(idle=0.02))
    before = now_ms()
    poster.hand(leased(world, outbox, 1, before))
    await until(lambda: states(world) == [("PENDING", 1)])
    running.cancel()
    (due, error) = world.store.db.execute("SELECT next_attempt_at, last_error FROM outbox").fetchone()
    assert before + backoff_ms(1) <= due <= now_ms() + backoff_ms(1) and error == "HTTP 503"
    assert await poster.run_once(now=due) == 1  # due again: read from the outbox, posted again
    await poster.close()
    assert states(world) == [("DONE", 2)] and len(hook.requests) == 2


async def test_events_handed_to_a_poster_that_died_are_posted_once_their_lease_lapses(
        world: World, hook: Hook) -> None:
    outbox = subscribe(world, hook)
    now = now_ms()
    leased(world, outbox, 3, now)  # committed, then the worker died before posting them
    other = Poster(write, outbox, lambda _p: SECRET, LOOPBACK)
    assert await other.run_once(now=now + lease_ms() - 1) == 0  # the dead one's lease still holds
    assert await other.run_once(now=now + lease_ms()) == 3
    await other.close()
    assert states(world) == [("DONE", 1)] * 3 and len(hook.requests) == 3


async def test_handed_events_not_posted_at_close_are_given_back(world: World, hook: Hook) -> None:
    hook.hold()
    outbox = subscribe(world, hook)
    poster = Poster(write, outbox, lambda _p: SECRET, LOOPBACK, per_project=1)
    poster.hand(leased(world, outbox, 3, now_ms()))
    await asyncio.to_thread(hook.wait_for, lambda h: h.in_flight == 1)
    await poster.close(grace=0.1)  # one in flight (cut), two waiting for the slot: given back
    hook.release()
    rows = world.store.db.execute("SELECT next_attempt_at, attempts FROM outbox ORDER BY id").fetchall()
    assert rows[0][0] > now_ms() and [r[0] <= now_ms() for r in rows[1:]] == [True, True]
    assert [r[1] for r in rows] == [0, 0, 0]  # no attempt counted


async def test_a_slow_projects_handed_backlog_past_the_bound_waits_in_the_outbox(
        world: World, hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(poster_module, "MAX_QUEUED", 3)
    hook.hold()
    outbox = subscribe(world, hook)
    poster = Poster(write, outbox, lambda _p: SECRET, LOOPBACK, per_project=1)
    running = asyncio.create_task(poster.run(idle=0.02))
    poster.hand(leased(world, outbox, 10, now_ms()))  # 3 kept (one of them posted), 7 given back at once
    await asyncio.to_thread(hook.wait_for, lambda h: h.in_flight == 1)
    assert poster.stats.released in (0, 7)  # (counted once written)
    hook.release()
    await until(lambda: states(world) == [("DONE", 1)] * 10, 20)
    running.cancel()
    await poster.close()
    assert poster.stats.released == 7
    assert sorted(n for r in hook.requests for n in numbers(r.body)) == list(range(10))


async def test_handed_batched_events_are_posted_by_n_or_after_t_ms_and_retried_whole(
        world: World, hook: Hook) -> None:
    hook.statuses = [500]
    outbox = subscribe(world, hook, Batching(4, 100))
    poster = Poster(write, outbox, lambda _p: SECRET, LOOPBACK)
    running = asyncio.create_task(poster.run(idle=0.02))
    poster.hand(leased(world, outbox, 6, now_ms()))  # a full batch at once, and 2 after 100 ms
    await asyncio.to_thread(hook.wait_for, lambda h: len(h.requests) == 2)
    await until(lambda: poster.stats.errors == 1 and poster.stats.delivered == 1)
    running.cancel()
    assert [numbers(r.body) for r in hook.requests] == [[0, 1, 2, 3], [4, 5]]
    (due,) = world.store.db.execute("SELECT max(next_attempt_at) FROM outbox WHERE state='PENDING'").fetchone()
    assert await poster.run_once(now=due) == 4  # the failed batch again, whole
    await poster.close()
    assert [numbers(r.body) for r in hook.requests][2] == [0, 1, 2, 3]
    assert states(world) == [("DONE", 2)] * 4 + [("DONE", 1)] * 2
