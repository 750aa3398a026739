"""Callback delivery: signed posts, retries with backoff from the persisted outbox, giving up;
kept-alive connections, a bounded number of posts per destination, batched delivery, and no
event posted again once its post got a 2xx.  Posts go over real loopback sockets to
``tests.callbacks.hooks`` (the standard library's HTTP server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import msgspec
import pytest

from smsgate.callbacks import poster as poster_module
from smsgate.callbacks.events import verify
from smsgate.callbacks.poster import MAX_ATTEMPTS, Poster, backoff_ms
from smsgate.callbacks.targets import CallbackGuard, CallbackPolicy, parse_allow
from smsgate.store.outbox import Batching, OutboxStore
from tests.callbacks.hooks import Hook
from tests.conftest import World

SECRET = "s3cret"
#: these tests post to 127.0.0.1, which the service refuses unless told (SMSGATE_CALLBACK_ALLOW)
LOOPBACK = CallbackGuard(CallbackPolicy(parse_allow("127.0.0.0/8")))


async def write(fn, *args):
    return fn(*args)


@pytest.fixture
def hook() -> Iterator[Hook]:
    hook = Hook().start()
    yield hook
    hook.stop()


def make(world: World, hook: Hook, batching: Batching | None = None, project_id: str | None = None,
         **options: int) -> tuple[Poster, OutboxStore]:
    outbox = OutboxStore(world.store.db)
    outbox.subscribe(project_id or world.project_id, [("sms_success_event", hook.url, batching)])
    return Poster(write, outbox, lambda _p: SECRET, LOOPBACK, **options), outbox


def queue_event(world: World, outbox: OutboxStore, n: int = 1, at: int = 0, project_id: str | None = None,
                first: int = 0) -> None:
    events = [(project_id or world.project_id, "sms_success_event", msgspec.json.encode({"n": first + i}), None)
              for i in range(n)]
    assert outbox.enqueue(events, at) == n


def states(world: World) -> list[tuple[str, int]]:
    return world.store.db.execute("SELECT state, attempts FROM outbox ORDER BY id").fetchall()


def numbers(body: bytes) -> list[int]:
    decoded = msgspec.json.decode(body)
    return [e["n"] for e in decoded] if isinstance(decoded, list) else [decoded["n"]]


async def test_events_are_posted_signed(world: World, hook: Hook) -> None:
    poster, outbox = make(world, hook)
    queue_event(world, outbox, 3)
    assert await poster.run_once(now=1) == 3
    await poster.close()
    assert states(world) == [("DONE", 1)] * 3
    assert sorted(n for r in hook.requests for n in numbers(r.body)) == [0, 1, 2]
    for request in hook.requests:
        assert msgspec.json.decode(request.body).keys() == {"n"}  # one event, as SMN posts it
        assert verify(SECRET, request.signature, request.body)
        assert not verify("other", request.signature, request.body)
    assert await poster.run_once(now=10**13) == 0  # nothing posted twice


async def test_failures_are_retried_with_growing_backoff_then_given_up(world: World, hook: Hook) -> None:
    hook.status = 503
    poster, outbox = make(world, hook)
    queue_event(world, outbox)
    now = 1
    delays = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await poster.run_once(now=now) == 1
        (due,) = world.store.db.execute("SELECT next_attempt_at FROM outbox").fetchone()
        if attempt < MAX_ATTEMPTS:
            assert await poster.run_once(now=due - 1) == 0  # not before its time
            delays.append(due - now)
            now = due
    await poster.close()
    assert delays == sorted(delays) and delays[0] == backoff_ms(1)
    assert states(world) == [("FAILED", MAX_ATTEMPTS)]
    assert world.store.db.execute("SELECT last_error FROM outbox").fetchone() == ("HTTP 503",)
    assert poster.stats.given_up == 1 and poster.stats.errors == MAX_ATTEMPTS


async def test_a_connection_error_is_retried_and_a_later_success_sticks(world: World, hook: Hook) -> None:
    hook.hang_up_first = 1
    poster, outbox = make(world, hook)
    queue_event(world, outbox)
    await poster.run_once(now=1)
    assert states(world) == [("PENDING", 1)]
    await poster.run_once(now=1 + backoff_ms(1))
    await poster.close()
    assert states(world) == [("DONE", 2)]


async def test_a_restart_loses_no_queued_event(world: World, hook: Hook) -> None:
    hook.statuses = [500]
    poster, outbox = make(world, hook)
    queue_event(world, outbox)
    await poster.run_once(now=1)
    await poster.close()
    # a new process: a new poster on a fresh connection to the same database
    from smsgate.store import open_store

    again = open_store(world.settings)
    fresh = Poster(write, OutboxStore(again.db), lambda _p: SECRET, LOOPBACK)
    await fresh.run_once(now=10**13)
    await fresh.close()
    assert [numbers(r.body) for r in hook.requests] == [[0], [0]]
    assert states(world) == [("DONE", 2)]
    again.close()


def test_backoff_is_capped() -> None:
    assert backoff_ms(1) == poster_module.FIRST_BACKOFF_MS
    assert backoff_ms(50) == poster_module.MAX_BACKOFF_MS


async def test_connections_are_kept_alive_between_posts(world: World, hook: Hook) -> None:
    poster, outbox = make(world, hook, per_project=2)
    for round_ in range(6):
        queue_event(world, outbox, 2, first=2 * round_)
        assert await poster.run_once(now=1 + round_) == 2
    await poster.close()
    assert len(hook.requests) == 12 and states(world) == [("DONE", 1)] * 12
    assert hook.connections == 2  # two posts in flight at most: two connections, reused


async def test_a_slow_endpoint_holds_its_own_slots_and_no_one_elses(world: World, hook: Hook) -> None:
    """Customer A's endpoint holds every request, with a backlog far larger than what the poster
    may hold at once (4 posts in flight in all, so 8 taken).  A gets its 2 posts in flight, and
    customer B's events, queued while A holds, go out all the same."""
    other = Hook().start()
    try:
        b_project = world.store.create_project("other", True, ["promotion"]).id
        hook.hold()
        poster, outbox = make(world, hook, per_project=2, in_flight=4)
        outbox.subscribe(b_project, [("sms_success_event", other.url)])
        queue_event(world, outbox, 600, at=0)
        running = asyncio.create_task(poster.run(idle=0.02))
        await asyncio.to_thread(hook.wait_for, lambda h: h.in_flight == 2)
        queue_event(world, outbox, 5, at=1, project_id=b_project)
        await asyncio.to_thread(other.wait_for, lambda h: len(h.requests) == 5)
        assert hook.most_in_flight == 2 and len(hook.requests) == 2  # A: its cap, nothing more
        hook.release()
        await asyncio.to_thread(hook.wait_for, lambda h: len(h.requests) == 600, 30)
        deadline = time.monotonic() + 10
        while world.store.db.execute("SELECT count(*) FROM outbox WHERE state='DONE'").fetchone()[0] < 605:
            assert time.monotonic() < deadline, states(world)
            await asyncio.sleep(0.02)
        running.cancel()
        await poster.close()
    finally:
        other.stop()
    assert hook.most_in_flight == 2 and other.most_in_flight <= 2
    assert sorted(n for r in hook.requests for n in numbers(r.body)) == list(range(600))


async def test_batched_delivery_posts_n_events_or_what_waited_t_ms(world: World, hook: Hook) -> None:
    poster, outbox = make(world, hook, Batching(max_events=100, max_wait_ms=200))
    queue_event(world, outbox, 250, at=1000)
    assert await poster.run_once(now=1100) == 200  # two full batches; 50 wait for more
    assert sorted(numbers(r.body) for r in hook.requests) == [list(range(100)), list(range(100, 200))]
    assert await poster.run_once(now=1199) == 0  # the oldest of the 50 has waited 199 ms
    assert await poster.run_once(now=1200) == 50
    await poster.close()
    assert numbers(hook.requests[2].body) == list(range(200, 250))
    for request in hook.requests:  # one signature over the whole array, as posted
        assert request.body.startswith(b"[") and verify(SECRET, request.signature, request.body)
    assert states(world) == [("DONE", 1)] * 250
    assert poster.stats.delivered == 3 and poster.stats.events == 250


async def test_a_failed_batch_is_retried_whole_and_alone(world: World, hook: Hook) -> None:
    hook.statuses = [503]
    poster, outbox = make(world, hook, Batching(max_events=5, max_wait_ms=0))
    queue_event(world, outbox, 3)
    assert await poster.run_once(now=1) == 3  # [0, 1, 2] fails
    queue_event(world, outbox, 3, at=2, first=3)  # due with the retry: never mixed into it
    assert await poster.run_once(now=1 + backoff_ms(1)) == 6
    await poster.close()
    first, *again = [numbers(r.body) for r in hook.requests]
    assert first == [0, 1, 2] and sorted(again) == [[0, 1, 2], [3, 4, 5]]
    assert next(r.body for r in hook.requests[1:] if numbers(r.body) == first) == hook.requests[0].body
    assert states(world) == [("DONE", 2)] * 3 + [("DONE", 1)] * 3


async def test_a_batch_is_given_up_whole(world: World, hook: Hook) -> None:
    hook.status = 500
    poster, outbox = make(world, hook, Batching(max_events=10, max_wait_ms=0))
    queue_event(world, outbox, 4)
    now = 1
    for _ in range(MAX_ATTEMPTS):
        assert await poster.run_once(now=now) == 4
        now += poster_module.MAX_BACKOFF_MS
    await poster.close()
    assert states(world) == [("FAILED", MAX_ATTEMPTS)] * 4 and len(hook.requests) == MAX_ATTEMPTS
    assert poster.stats.given_up == 4


async def test_no_event_is_posted_again_after_a_2xx_whose_outcome_could_not_be_written(
        world: World, hook: Hook) -> None:
    """The customer took the batch, then the store failed to record it: the outcome is kept and
    written before anything is taken again, however late."""
    outbox = OutboxStore(world.store.db)
    outbox.subscribe(world.project_id, [("sms_success_event", hook.url, Batching(10, 0))])
    failures = [1]

    async def flaky_write(fn, *args):
        if fn == outbox.settle_and_claim and any(args[0]) and failures:  # a write with outcomes
            failures.pop()
            raise OSError("the disk is full")
        return fn(*args)

    poster = Poster(flaky_write, outbox, lambda _p: SECRET, LOOPBACK)
    queue_event(world, outbox, 3)
    with pytest.raises(OSError):
        await poster.run_once(now=1)
    assert await poster.run_once(now=10**13) == 0  # long after the lease: nothing taken again
    await poster.close()
    assert len(hook.requests) == 1 and states(world) == [("DONE", 1)] * 3


async def test_no_other_poster_takes_events_while_their_post_may_still_succeed(
        world: World, hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lease outlasts the longest a post may wait for a slot and then take."""
    monkeypatch.setattr(poster_module, "POST_DEADLINE_S", 0.5)
    hook.hold()
    first, outbox = make(world, hook, Batching(10, 0))
    second = Poster(write, outbox, lambda _p: SECRET, LOOPBACK)
    queue_event(world, outbox, 3)
    posting = asyncio.create_task(first.run_once(now=1))
    await asyncio.to_thread(hook.wait_for, lambda h: h.in_flight == 1)
    latest = 1 + (poster_module.QUEUE_S + poster_module.POST_DEADLINE_S) * 1000
    assert await second.run_once(now=latest) == 0  # the first post may still succeed until then
    assert await posting == 3  # cut at its deadline
    hook.release()
    await first.close(), await second.close()
    assert len(hook.requests) == 1
    assert world.store.db.execute("SELECT DISTINCT state, last_error FROM outbox").fetchall() == [
        ("PENDING", "no answer within 0.5 s")]


async def test_a_post_that_waited_too_long_for_a_slot_is_given_back_not_posted_late(
        world: World, hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    """Posts are taken ahead of free slots; one that could only start after ``QUEUE_S`` gives its
    events back (due again, no attempt counted) rather than post past what its lease covers."""
    monkeypatch.setattr(poster_module, "QUEUE_S", 0.2)
    hook.hold()
    poster, outbox = make(world, hook, per_project=1)
    queue_event(world, outbox, 2)
    running = asyncio.create_task(poster.run(idle=0.02))
    await asyncio.to_thread(hook.wait_for, lambda h: h.in_flight == 1)
    taken = world.store.db.execute("SELECT next_attempt_at FROM outbox ORDER BY id").fetchall()
    assert taken[0] == taken[1] and taken[0][0] > 10**12  # both taken (leased): one waits for the slot
    await asyncio.sleep(0.3)  # past QUEUE_S: let the held post finish only now
    hook.release()
    await asyncio.to_thread(hook.wait_for, lambda h: len(h.requests) == 2)
    deadline = time.monotonic() + 10
    while states(world) != [("DONE", 1)] * 2:
        assert time.monotonic() < deadline, states(world)
        await asyncio.sleep(0.02)
    running.cancel()
    await poster.close()
    assert poster.stats.released == 1 and len(hook.requests) == 2


def test_the_posters_unsynced_writes_leave_the_connection_as_it_was(world: World) -> None:
    """The poster's bookkeeping commits without waiting for the disk; the writer connection it
    shares with the API and the receipts keeps its own durability, even when a write fails."""
    db = world.store.db
    outbox = OutboxStore(db)

    def level() -> object:
        sql = "SHOW synchronous_commit" if db.dialect == "postgresql" else "PRAGMA synchronous"
        return db.execute(sql).fetchone()[0]

    if db.dialect != "postgresql":
        db.execute("PRAGMA synchronous=FULL")  # the service's default (the tests' store syncs less)
    before = level()
    assert before in ("on", 2)
    outbox.subscribe(world.project_id, [("sms_success_event", "http://127.0.0.1:9/cb")])
    queue_event(world, outbox, 1)
    assert outbox.settle_and_claim(([1], [], [], []), 1, 1000, None) == []
    assert level() == before and states(world) == [("DONE", 1)]
    with pytest.raises(Exception):
        outbox.settle_and_claim(([], [(1,)], [], []), 1, 1000, None)  # a malformed outcome
    assert level() == before
